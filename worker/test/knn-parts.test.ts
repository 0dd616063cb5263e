/**
 * A kNN head file over the deployment's request limit: EdgeClient.upload sends it in parts (a
 * smaller head file, then the other references as online examples) and the version answers as
 * the SDK does locally on the whole file. The deployment here has a 256 KiB limit, so a 4,000 ×
 * 64-d head (≈ 1.4 MB: the client asks for the limits before sending) needs parts; a 10,000 ×
 * 1280-d head (≈ 68 MB) against the default 32 MiB is the same case, larger.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { EdgeApiError, EdgeClient } from 'edgehead';
import { KnnHead, LinearHead, headToJson } from 'edgehead/heads';
import { createApp } from '../src/app.js';
import { snapshotStats } from '../src/snapshots.js';
import { FINGERPRINT, tenant } from './helpers.js';

const LIMIT = 256 * 1024;
const app = createApp();
const vars = { ...env, RATE_LIMITER: undefined, MAX_BODY_BYTES: String(LIMIT), MAX_BATCH: '64' };
const client = (apiKey: string) => new EdgeClient({ baseUrl: 'https://edge.test', apiKey, fetch: async (url, init) => app.request(String(url), init, vars) });
const backbone = { id: 'toy', fingerprint: FINGERPRINT };

/** Seeded clusters: `n` rows of `dim`, in `classes` classes with different centres. */
function clusters(n: number, dim: number, classes: number, seed: number): { x: Float32Array[]; y: string[] } {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, rand));
  const x: Float32Array[] = [];
  const y: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    x.push(Float32Array.from(centres[c], (v) => v + 0.9 * rand()));
    y.push(`class-${c}`);
  }
  return { x, y };
}

/** The head file, checked to be over the deployment's limit (else the test would prove nothing). */
function overLimit(head: KnnHead | LinearHead): string {
  const text = headToJson(head, { backbone });
  expect(new TextEncoder().encode(text).byteLength).toBeGreaterThan(LIMIT);
  return text;
}

describe('kNN head files over the request limit', () => {
  it('are uploaded in parts, the alias moved last, and classify as the whole file does', async () => {
    const t = await tenant();
    const train = clusters(4000, 64, 6, 1);
    const head = KnnHead.fit(train.x, train.y, { k: 5 });
    const text = overLimit(head);
    // Refused whole, as the deployment's limit says.
    const whole = await app.request('https://edge.test/v1/heads/direct/versions', { method: 'POST', body: text, headers: { authorization: `Bearer ${t.write}` } }, vars);
    expect(whole.status).toBe(413);

    const created = await client(t.write).upload('big-knn', text, { alias: 'prod' });
    expect([created.version, created.alias, created.labels.length]).toEqual([1, 'prod', 6]);
    const details = await client(t.read).get('big-knn');
    expect(details.aliases.map((a) => [a.alias, a.version])).toEqual([['prod', 1]]);

    const queries = clusters(60, 64, 6, 2).x;
    const searching = snapshotStats().inWebAssembly;
    const remote = (await client(t.read).classify('big-knn@prod', queries)).predictions;
    // The isolate's snapshot (256,000 floats) is searched by the SIMD kernel given in kernels.ts.
    expect(snapshotStats().inWebAssembly).toBe(searching + 1);
    const local = head.predict(queries);
    expect(head.searchesInWebAssembly).toBe(true);
    expect(remote.map((p) => p.label)).toEqual(local.map((p) => p.label));
    remote.forEach((p, i) => {
      expect(p.probability).toBeCloseTo(local[i].probability, 6);
      expect(p.distance).toBeCloseTo(local[i].distance, 5);
    });
  });

  it('other kinds of head over the limit are refused with a clear error, nothing created', async () => {
    const t = await tenant();
    // 300 classes × 96-d: ≈ 310 KB, sent whole first (under the client's pre-check), refused
    // with 413, and then found to be a kind that cannot go in parts.
    const train = clusters(600, 96, 300, 3);
    const text = overLimit(LinearHead.fit(train.x, train.y, { C: 1 }));
    const refused = await client(t.write).upload('big-linear', text).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/only kNN heads can be sent in parts/);
    expect(refused).not.toBeInstanceOf(EdgeApiError);
    expect((await client(t.read).list()).heads).toEqual([]);
  });
});
