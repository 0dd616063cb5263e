/** Memory is bounded by bytes: the parsed-head cache, per-head limits, and how online examples are loaded. */
import { env, runInDurableObject } from 'cloudflare:test';
import { KnnHead, LinearHead, encodeTensor, headToJson } from 'edgehead/heads';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import type { HeadState } from '../src/durable/head-state.js';
import { headCacheStats } from '../src/services/classify.js';
import { limitsOf } from '../src/limits.js';
import { FINGERPRINT, headFile, readResponse, tenant, upload } from './helpers.js';
import { toyData } from './toy-data.js';

const backbone = { id: 'toy', fingerprint: FINGERPRINT };

async function request(path: string, init: { method?: string; key: string; body?: unknown; raw?: string }, settings: Record<string, string> = {}) {
  const res = await createApp().request(
    path,
    { method: init.method ?? 'POST', headers: { authorization: `Bearer ${init.key}` }, body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)) },
    { ...env, ...settings },
  );
  return readResponse(res);
}

/** A linear head over `dim`-d embeddings with `classes` classes (weights: classes × dim float32). */
function linearHead(dim: number, classes: number): string {
  const x: number[][] = [];
  const y: string[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < 3; i++) {
      x.push(Array.from({ length: dim }, (_, j) => (j % classes === c ? 1 : 0) + 0.01 * Math.sin(i + j + c)));
      y.push(`c${c}`);
    }
  }
  return headToJson(LinearHead.fit(x, y, { C: 1 }), { backbone });
}

describe('the parsed-head cache is bounded by bytes, not by count', () => {
  it('keeps at most HEAD_CACHE_BYTES of parsed heads, evicting the least recently used; a head over the budget is served uncached', async () => {
    const t = await tenant();
    const budget = 40_000;
    const settings = { HEAD_CACHE_BYTES: String(budget) };
    // Each ≈ 10 classes × 256-d float32 ≈ 10 KB (+ its open-set gate): eight of them are twice the budget.
    for (let i = 0; i < 8; i++) expect((await upload(t.write, `lin${i}`, linearHead(256, 10))).status).toBe(201);
    expect((await upload(t.write, 'huge', linearHead(2048, 10))).status).toBe(201);
    for (let i = 0; i < 8; i++) {
      const r = await request(`/v1/heads/lin${i}/classify`, { key: t.read, body: { embeddings: [Array.from({ length: 256 }, (_, j) => (j % 10 === 3 ? 1 : 0))], rejectUnknown: false } }, settings);
      expect(r.status).toBe(200);
      expect(r.body.predictions[0].label).toBe('c3');
      const stats = headCacheStats();
      expect(stats.bytes).toBeLessThanOrEqual(budget);
    }
    const stats = headCacheStats();
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.entries).toBeLessThan(8);
    const big = await request('/v1/heads/huge/classify', { key: t.read, body: { embeddings: [Array.from({ length: 2048 }, (_, j) => (j % 10 === 7 ? 1 : 0))], rejectUnknown: false } }, settings);
    expect(big.status).toBe(200);
    expect(big.body.predictions[0].label).toBe('c7');
    expect(headCacheStats().bytes).toBeLessThanOrEqual(budget);
  });
});

describe('per-head limits, enforced at upload with a 413 naming the limit', () => {
  it('too many classes (MAX_LABELS)', async () => {
    const t = await tenant();
    const r = await request('/v1/heads/wide/versions', { key: t.write, raw: linearHead(8, 6) }, { MAX_LABELS: '5' });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('HEAD_TOO_LARGE');
    expect(r.body.error.message).toContain('MAX_LABELS');
  });

  it('a kNN head with more reference examples than MAX_HEAD_EXAMPLES', async () => {
    const t = await tenant();
    const r = await request('/v1/heads/many/versions', { key: t.write, raw: headFile('knn') }, { MAX_HEAD_EXAMPLES: '10' });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('HEAD_TOO_LARGE');
    expect(r.body.error.message).toContain('18 reference examples');
  });

  it('a head whose working set is over MAX_HEAD_MEMORY_BYTES', async () => {
    const t = await tenant();
    const r = await request('/v1/heads/fat/versions', { key: t.write, raw: linearHead(512, 10) }, { MAX_HEAD_MEMORY_BYTES: '10000' });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('HEAD_TOO_LARGE');
    expect(r.body.error.message).toContain('MAX_HEAD_MEMORY_BYTES');
    expect((await request('/v1/heads/fat', { method: 'GET', key: t.read })).status).toBe(404);
  });
});

describe('a kNN head file with 130,000 references', () => {
  it('is a 413 HEAD_TOO_LARGE from its declared shape, before anything builds it (it crashed with a 500)', async () => {
    const t = await tenant();
    const file = JSON.parse(headFile('knn')) as { params: Record<string, unknown> };
    const n = 130_000;
    file.params.references = encodeTensor(new Float32Array(n * 4).fill(0.5), [n, 4]);
    file.params.referenceLabels = encodeTensor(new Int32Array(n), [n], 'int32');
    file.params.ids = encodeTensor(Int32Array.from({ length: n }, (_, i) => i), [n], 'int32');
    const r = await request('/v1/heads/huge/versions', { key: t.write, raw: JSON.stringify(file) }, { MAX_HEAD_EXAMPLES: String(200_000), MAX_HEAD_MEMORY_BYTES: String(1 << 30) });
    // With limits raised this far the file is still refused by its own count, not by a crash.
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('HEAD_TOO_LARGE');
    const d = await request('/v1/heads/huge/versions', { key: t.write, raw: JSON.stringify(file) });
    expect(d.status).toBe(413);
    expect(d.body.error.message).toContain('130000 reference examples');
  });
});

describe('online examples per version are capped (examples and bytes)', () => {
  it('an addition past MAX_HEAD_EXAMPLES is a 409 HEAD_FULL storing nothing; removing makes room', async () => {
    const t = await tenant();
    await upload(t.write, 'cap', headFile('knn')); // 18 references
    const settings = { MAX_HEAD_EXAMPLES: '20' };
    const add = (n: number) => request('/v1/heads/cap/examples', { key: t.write, body: { embeddings: Array.from({ length: n }, () => [1, 0, 0, 0.1]), labels: Array(n).fill('a') } }, settings);
    const ok = await add(2);
    expect(ok.status).toBe(201);
    const full = await add(1);
    expect(full.status).toBe(409);
    expect(full.body.error.code).toBe('HEAD_FULL');
    expect(full.body.error.message).toContain('20');
    expect((await request('/v1/heads/cap/examples', { method: 'DELETE', key: t.write, body: { ids: [ok.body.ids[0]] } }, settings)).status).toBe(200);
    expect((await add(1)).status).toBe(201);
    expect((await add(1)).status).toBe(409);
  });

  it('centroid heads count their online examples too', async () => {
    const t = await tenant();
    await upload(t.write, 'capc', headFile('centroid'));
    const add = () => request('/v1/heads/capc/examples', { key: t.write, body: { embeddings: [[1, 0, 0, 0.1]], labels: ['a'] } }, { MAX_HEAD_EXAMPLES: '2' });
    expect((await add()).status).toBe(201);
    expect((await add()).status).toBe(201);
    expect((await add()).status).toBe(409);
  });
});

describe('the Durable Object loads stored examples a page at a time', () => {
  it('never lists more than one page of examples at once, and serves all of them', async () => {
    const t = await tenant();
    const { x, y } = toyData();
    await upload(t.write, 'paged', headToJson(KnnHead.fit(x, y, { k: 1 }), { backbone }));
    const total = 600;
    for (let start = 0; start < total; start += 200) {
      const n = Math.min(200, total - start);
      const embeddings = Array.from({ length: n }, (_, i) => [0, 0, 0, 1 + start + i]);
      const r = await request('/v1/heads/paged/examples', { key: t.write, body: { embeddings, labels: embeddings.map((_, i) => `e${start + i}`) } });
      expect(r.status).toBe(201);
    }
    const row = await env.DB.prepare("SELECT uid, blob_key, sha256 FROM versions WHERE tenant_id = ? AND name = 'paged'").bind(t.id).first<{ uid: string; blob_key: string; sha256: string }>();
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.idFromName(row?.uid ?? ''));
    const seen = await runInDurableObject(stub, async (instance, state) => {
      // Forget the loaded head and watch the reload.
      const internals = instance as unknown as { loadedFrom?: string; head?: KnnHead };
      internals.loadedFrom = undefined;
      const limits: (number | undefined)[] = [];
      const list = state.storage.list.bind(state.storage);
      state.storage.list = ((options?: DurableObjectListOptions) => {
        limits.push(options?.limit);
        return list(options);
      }) as typeof state.storage.list;
      const out = await (instance as HeadState).classify({ blobKey: row?.blob_key ?? '', sha256: row?.sha256 ?? '' }, [new Float32Array([0, 0, 0, 450])], { rejectUnknown: false });
      state.storage.list = list;
      expect(out.ok).toBe(true);
      return { limits, size: internals.head?.size };
    });
    expect(seen.size).toBe(18 + total);
    expect(seen.limits.length).toBeGreaterThan(1);
    for (const limit of seen.limits) {
      expect(limit).toBeDefined();
      expect(limit).toBeLessThanOrEqual(256);
    }
  });
});

describe('settings', () => {
  it('a wait that is not a positive number falls back to its default (a NaN wait would never end)', () => {
    for (const bad of ['10s', '0', '-5', 'Infinity', '']) expect(limitsOf({ KNN_WAIT_MS: bad }).knnWaitMs).toBe(10_000);
    expect(limitsOf({ KNN_WAIT_MS: '250' }).knnWaitMs).toBe(250);
  });
});
