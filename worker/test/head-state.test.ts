import { CentroidHead, headToJson } from 'edgehead/heads';
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, headFile, isErrorBody, tenant, upload } from './helpers.js';

/** The version's row in D1 and its Durable Object (named by the version's never-reused uid). */
async function versionState(tenantId: string, name: string, version = 1) {
  const row = await env.DB.prepare('SELECT uid, blob_key, sha256 FROM versions WHERE tenant_id = ? AND name = ? AND version = ?')
    .bind(tenantId, name, version)
    .first<{ uid: string; blob_key: string; sha256: string }>();
  if (!row) throw new Error(`no version ${name}@${version}`);
  return { row, ref: { blobKey: row.blob_key, sha256: row.sha256 }, stub: env.HEAD_STATE.get(env.HEAD_STATE.idFromName(row.uid)) };
}

describe('online examples cannot poison a head version', () => {
  it('an example that overflows float32 is rejected before it is stored; the version keeps working', async () => {
    const t = await tenant();
    await upload(t.write, 'proto', headFile('centroid'));
    const first = await call('POST', '/v1/heads/proto/examples', { key: t.write, body: { embeddings: [[1, 0, 0, 0.1]], labels: ['a'] } });
    expect(first.status).toBe(201);
    expect(first.body.ids).toEqual([0]);
    // 1e39 is a finite JSON number but Infinity as float32.
    const bad = await call('POST', '/v1/heads/proto/examples', { key: t.write, body: { embeddings: [[1e39, 0, 0, 0]], labels: ['a'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_EMBEDDING');
    expect(bad.body.error.message).toContain('float32');
    const removed = await call('DELETE', '/v1/heads/proto/examples', { key: t.write, body: { ids: [0] } });
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ removed: 1 });
    const q = await call('POST', '/v1/heads/proto/classify', { key: t.read, body: { embeddings: [[0, 1, 0, 0.1]], rejectUnknown: false } });
    expect(q.status).toBe(200);
    expect(q.body.predictions[0].label).toBe('b');
    // The next id continues after the removed one: ids are never reused.
    const next = await call('POST', '/v1/heads/proto/examples', { key: t.write, body: { embeddings: [[0, 0, 1, 0.1]], labels: ['c'] } });
    expect(next.body.ids).toEqual([1]);
  });

  it('base64 float32 Infinity or NaN is rejected too, for kNN heads', async () => {
    const t = await tenant();
    await upload(t.write, 'near', headFile('knn'));
    const bytes = new Float32Array([Infinity, 0, 0, 0]);
    const base64 = btoa(String.fromCharCode(...new Uint8Array(bytes.buffer)));
    const bad = await call('POST', '/v1/heads/near/examples', { key: t.write, body: { embeddings: { base64, dim: 4 }, labels: ['x'] } });
    expect(bad.status).toBe(400);
    expect(isErrorBody(bad.body)).toBe(true);
    const q = await call('POST', '/v1/heads/near/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]], rejectUnknown: false } });
    expect(q.status).toBe(200);
    expect(q.body.predictions[0].label).toBe('a');
  });
});

describe('the Durable Object guards its own storage', () => {
  it('validates examples (float32-finite, dimension, labels) before storing anything', async () => {
    const t = await tenant();
    await upload(t.write, 'guard', headFile('centroid'));
    const { ref } = await versionState(t.id, 'guard');
    // A fresh object, called directly over RPC as the routes do, without the routes' checks.
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.newUniqueId());
    const rejected = await Promise.all([
      stub.addExamples(ref, [new Float32Array([Infinity, 0, 0, 0])], ['a']),
      stub.addExamples(ref, [new Float32Array([0, NaN, 0, 0])], ['a']),
      stub.addExamples(ref, [new Float32Array(3)], ['a']),
      stub.addExamples(ref, [new Float32Array(4)], ['']),
      stub.addExamples(ref, [new Float32Array(4)], ['x'.repeat(201)]),
      stub.addExamples(ref, [new Float32Array(4), new Float32Array(4)], ['a']),
    ]);
    for (const r of rejected) expect(r).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    await runInDurableObject(stub, async (_, state) => {
      expect([...(await state.storage.list()).keys()]).toEqual([]);
    });
    expect(await stub.addExamples(ref, [new Float32Array([1, 0, 0, 0.1])], ['a'])).toMatchObject({ ok: true, value: { ids: [0] } });
    expect(await stub.removeExamples(ref, [0])).toEqual({ ok: true, value: { removed: 1 } });
  });

  it('quarantines stored examples that fail validation, reports STORAGE_CORRUPT once, then serves again', async () => {
    const t = await tenant();
    await upload(t.write, 'tampered', headFile('centroid'));
    const { stub } = await versionState(t.id, 'tampered');
    expect((await call('POST', '/v1/heads/tampered/examples', { key: t.write, body: { embeddings: [[0, 0, 0, 5]], labels: ['e'] } })).body.ids).toEqual([0]);
    // State written by an older worker without validation, or altered by hand.
    await runInDurableObject(stub, async (instance, state) => {
      (instance as unknown as { loadedFrom?: string }).loadedFrom = undefined;
      await state.storage.put({
        'ex:000000000001': { embedding: new Float32Array([Infinity, 0, 0, 0]), label: 'a' },
        'ex:000000000002': { embedding: new Float32Array(3), label: 'b' },
        'ex:000000000003': { embedding: 'not an embedding', label: 7 },
        'next-id': 4,
      });
    });
    const q = { embeddings: [[0, 0, 0, 5]], rejectUnknown: false };
    const first = await call('POST', '/v1/heads/tampered/classify', { key: t.read, body: q });
    expect(first.status).toBe(500);
    expect(first.body.error.code).toBe('STORAGE_CORRUPT');
    expect(first.body.error.message).toContain('1, 2, 3');
    // Reported once: the bad examples are set aside, the good one (label "e") is served.
    const second = await call('POST', '/v1/heads/tampered/classify', { key: t.read, body: q });
    expect(second.status).toBe(200);
    expect(second.body.predictions[0].label).toBe('e');
    expect((await call('DELETE', '/v1/heads/tampered/examples', { key: t.write, body: { ids: [0] } })).status).toBe(200);
    const added = await call('POST', '/v1/heads/tampered/examples', { key: t.write, body: { embeddings: [[0, 1, 0, 0.1]], labels: ['b'] } });
    expect(added.body.ids).toEqual([4]);
    await runInDurableObject(stub, async (_, state) => {
      expect([...(await state.storage.list({ prefix: 'quarantine:' })).keys()]).toEqual(['quarantine:ex:000000000001', 'quarantine:ex:000000000002', 'quarantine:ex:000000000003']);
    });
  });

  it('a tampered head file behind a kNN head keeps its STORAGE_CORRUPT code across the Durable Object boundary', async () => {
    const t = await tenant();
    await upload(t.write, 'swapped', headFile('knn'));
    const { row } = await versionState(t.id, 'swapped');
    await env.BLOBS.put(row.blob_key, headFile('centroid'));
    const r = await call('POST', '/v1/heads/swapped/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('STORAGE_CORRUPT');
    expect(r.body.error.message).toContain('sha256');
  });
});

describe('deleting a head deletes its online examples', () => {
  it('a head re-uploaded under the same name does not serve the old examples', async () => {
    const t = await tenant();
    await upload(t.write, 'reborn', headFile('knn'));
    const secret = Array(5).fill([0.5, 0.5, 0.5, 0.5]);
    const added = await call('POST', '/v1/heads/reborn/examples', { key: t.write, body: { embeddings: secret, labels: Array(5).fill('SECRET') } });
    expect(added.status).toBe(201);
    expect(added.body.total).toBe(18 + 5);
    const q = { embeddings: [[0.5, 0.5, 0.5, 0.5]], rejectUnknown: false, topK: 5 };
    expect((await call('POST', '/v1/heads/reborn/classify', { key: t.read, body: q })).body.predictions[0].label).toBe('SECRET');
    const old = await versionState(t.id, 'reborn');
    expect((await call('DELETE', '/v1/heads/reborn', { key: t.write })).status).toBe(200);
    // The deleted version's Durable Object holds nothing any more.
    await runInDurableObject(old.stub, async (_, state) => {
      expect([...(await state.storage.list()).keys()]).toEqual([]);
    });
    const again = await upload(t.write, 'reborn', headFile('knn'));
    expect(again.body.version).toBe(1);
    const r = await call('POST', '/v1/heads/reborn/classify', { key: t.read, body: q });
    expect(r.status).toBe(200);
    expect(r.body.predictions[0].topK.map((p: { label: string }) => p.label)).not.toContain('SECRET');
    // The fresh version starts with no online examples: its first addition is id 0, total 18 + 1.
    const fresh = await call('POST', '/v1/heads/reborn/examples', { key: t.write, body: { embeddings: [[0, 0, 1, 0.1]], labels: ['c'] } });
    expect(fresh.body).toMatchObject({ ids: [0], total: 19 });
  });

  it('a re-uploaded head with another dimension works (no stale examples of the old dimension)', async () => {
    const t = await tenant();
    await upload(t.write, 'shape', headFile('centroid'));
    await call('POST', '/v1/heads/shape/examples', { key: t.write, body: { embeddings: [[1, 0, 0, 0]], labels: ['a'] } });
    await call('DELETE', '/v1/heads/shape', { key: t.write });
    // A 2-d centroid head: classes left and right.
    const head = CentroidHead.fit(
      [
        [-1, 0],
        [-1.1, 0.1],
        [1, 0],
        [1.1, -0.1],
      ],
      ['left', 'left', 'right', 'right'],
    );
    expect((await upload(t.write, 'shape', headToJson(head))).status).toBe(201);
    const added = await call('POST', '/v1/heads/shape/examples', { key: t.write, body: { embeddings: [[0, 5]], labels: ['up'] } });
    expect(added.status).toBe(201);
    const r = await call('POST', '/v1/heads/shape/classify', { key: t.read, body: { embeddings: [[0, 4.5], [0.9, 0]], rejectUnknown: false } });
    expect(r.status).toBe(200);
    expect(r.body.predictions.map((p: { label: string }) => p.label)).toEqual(['up', 'right']);
  });
});

describe('removing online examples in bulk', () => {
  it('removes 200 examples in one request, and refuses more ids than a batch (MAX_BATCH)', async () => {
    const t = await tenant();
    await upload(t.write, 'bulk', headFile('knn'));
    const embeddings = Array.from({ length: 200 }, (_, i) => [0.5, 0.5, 0.5, i / 200]);
    const added = await call('POST', '/v1/heads/bulk/examples', { key: t.write, body: { embeddings, labels: embeddings.map(() => 'bulk') } });
    expect(added.body.total).toBe(18 + 200);
    const removed = await call('DELETE', '/v1/heads/bulk/examples', { key: t.write, body: { ids: added.body.ids } });
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ removed: 200 });
    const q = await call('POST', '/v1/heads/bulk/classify', { key: t.read, body: { embeddings: [[0.5, 0.5, 0.5, 0.5]], rejectUnknown: false, topK: 4 } });
    // The label stays known to the head, with no example left behind it.
    expect(q.body.predictions[0].label).not.toBe('bulk');
    expect(q.body.predictions[0].topK.find((p: { label: string }) => p.label === 'bulk')?.probability ?? 0).toBe(0);
    const tooMany = await call('DELETE', '/v1/heads/bulk/examples', { key: t.write, body: { ids: Array.from({ length: 300 }, (_, i) => i) } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.code).toBe('BATCH_TOO_LARGE');
  });
});
