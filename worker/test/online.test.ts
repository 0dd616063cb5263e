import { describe, expect, it } from 'vitest';
import { CentroidHead, headToJson } from 'edgehead/heads';
import { ADMIN, call, FINGERPRINT, headFile, tenant, upload } from './helpers.js';

describe('online examples on kNN and centroid heads', () => {
  it('the next classify sees an added example (read-your-writes), and removal undoes it', async () => {
    const t = await tenant();
    await upload(t.write, 'live', headFile('knn'));
    const query = { embeddings: [[0.7, 0.7, 0.7, 0.1]], rejectUnknown: false, topK: 4 };
    const before = await call('POST', '/v1/heads/live/classify', { key: t.read, body: query });
    expect(before.body.predictions[0].label).not.toBe('d');
    const added = await call('POST', '/v1/heads/live/examples', { key: t.write, body: { embeddings: Array(3).fill([0.7, 0.7, 0.7, 0.1]), labels: ['d', 'd', 'd'] } });
    expect(added.status).toBe(201);
    expect(added.body.ids).toHaveLength(3);
    const after = await call('POST', '/v1/heads/live/classify', { key: t.read, body: query });
    expect(after.body.predictions[0].label).toBe('d');
    const removed = await call('DELETE', '/v1/heads/live/examples', { key: t.write, body: { ids: added.body.ids } });
    expect(removed.body).toMatchObject({ removed: 3 });
    const again = await call('POST', '/v1/heads/live/classify', { key: t.read, body: query });
    expect(again.body.predictions[0].label).toBe(before.body.predictions[0].label);
    expect((await call('DELETE', '/v1/heads/live/examples', { key: t.write, body: { ids: [12345] } })).status).toBe(400);
  });

  it('centroid heads move their centroid with added examples', async () => {
    const t = await tenant();
    await upload(t.write, 'proto', headFile('centroid'));
    const q = { embeddings: [[0, 0, 0, 5]], rejectUnknown: false };
    await call('POST', '/v1/heads/proto/examples', { key: t.write, body: { embeddings: [[0, 0, 0, 5]], labels: ['e'] } });
    expect((await call('POST', '/v1/heads/proto/classify', { key: t.read, body: q })).body.predictions[0].label).toBe('e');
  });

  it('a zero-shot head (centroids = label descriptions) learns from online examples as hand-computed', async () => {
    // Descriptions a = [1,0,0,0], b = [0,1,0,0], each counting as one example. One online example
    // of a at [0,1,0,0] moves a's centroid to [0.5,0.5,0,0]: then [0.2,1,0,0] stays b (cosine 0.98
    // vs 0.83) and [0.6,0.4,0,0] is a (0.98 vs 0.55); before it, [0.45,0.55,0,0] was b, after, a.
    const t = await tenant();
    const head = CentroidHead.fromDescriptions({ embeddings: [[1, 0, 0, 0], [0, 1, 0, 0]], labels: ['a', 'b'] });
    await upload(t.write, 'described', headToJson(head, { backbone: { id: 'toy', fingerprint: FINGERPRINT } }));
    const classify = async (row: number[]) => (await call('POST', '/v1/heads/described/classify', { key: t.read, body: { embeddings: [row] } })).body.predictions[0].label;
    expect(await classify([0.45, 0.55, 0, 0])).toBe('b');
    expect((await call('POST', '/v1/heads/described/examples', { key: t.write, body: { embeddings: [[0, 1, 0, 0]], labels: ['a'] } })).status).toBe(201);
    expect(await classify([0.45, 0.55, 0, 0])).toBe('a');
    expect(await classify([0.2, 1, 0, 0])).toBe('b');
    expect(await classify([0.6, 0.4, 0, 0])).toBe('a');
  });

  it('200 concurrent additions from 10 clients are all kept', async () => {
    const t = await tenant();
    // Ten clients, each with its own write key (the per-key rate limit is 100/min in tests).
    const keys = await Promise.all(
      Array.from({ length: 10 }, async () => (await call('POST', `/v1/admin/tenants/${t.id}/keys`, { key: ADMIN, body: { scope: 'write' } })).body.key as string),
    );
    await upload(t.write, 'crowd', headFile('knn'));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call('POST', '/v1/heads/crowd/examples', { key: keys[i % 10], body: { embeddings: [[i / 200, 1 - i / 200, 0.5, 0.1]], labels: [`c${i % 7}`] } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(200).fill(201));
    const ids = results.flatMap((r) => r.body.ids as number[]);
    expect(new Set(ids).size).toBe(200);
    // The base head had 18 examples; every addition is there.
    expect(Math.max(...results.map((r) => r.body.total as number))).toBe(18 + 200);
  });
});

describe('online examples through an alias', () => {
  it('land on the alias’s main version, never on its canary', async () => {
    const t = await tenant();
    await upload(t.write, 'split', headFile('knn'));
    await upload(t.write, 'split', headFile('knn'));
    // Even with all classify traffic on the canary, writes go to the version the alias names.
    await call('PUT', '/v1/heads/split/aliases/prod', { key: t.write, body: { version: 1, canary: { version: 2, weight: 1 } } });
    const versions: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('POST', '/v1/heads/split@prod/examples', { key: t.write, body: { embeddings: [[0.5, 0.5, 0.5, 0.5]], labels: ['new'] } });
      expect(r.status).toBe(201);
      versions.push(r.body.version);
    }
    expect(versions).toEqual([1, 1, 1, 1, 1]);
    const q = { embeddings: [[0.5, 0.5, 0.5, 0.5]], rejectUnknown: false };
    expect((await call('POST', '/v1/heads/split@1/classify', { key: t.read, body: q })).body.predictions[0].label).toBe('new');
    expect((await call('POST', '/v1/heads/split@2/classify', { key: t.read, body: q })).body.predictions[0].label).not.toBe('new');
    const removed = await call('DELETE', '/v1/heads/split@prod/examples', { key: t.write, body: { ids: [0] } });
    expect(removed.body).toMatchObject({ version: 1, removed: 1 });
  });
});
