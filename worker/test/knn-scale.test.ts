/**
 * kNN heads are classified from per-isolate snapshots brought up to date by the Durable Object's
 * change log (read-your-writes kept), with back-pressure (503 OVERLOADED + Retry-After) instead
 * of queues that end in resets.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { classifyKnn, snapshotStats } from '../src/snapshots.js';
import type { VersionRow } from '../src/store/d1.js';
import { call, headFile, readResponse, tenant, upload } from './helpers.js';

async function versionRef(tenantId: string, name: string) {
  const row = await env.DB.prepare('SELECT uid, blob_key, sha256 FROM versions WHERE tenant_id = ? AND name = ?').bind(tenantId, name).first<{ uid: string; blob_key: string; sha256: string }>();
  if (!row) throw new Error('no row');
  return { ref: { blobKey: row.blob_key, sha256: row.sha256 }, stub: env.HEAD_STATE.get(env.HEAD_STATE.idFromName(row.uid)) };
}

/** A kNN version whose snapshot this isolate holds, for calling classifyKnn directly. */
async function warmKnnVersion(name: string) {
  const t = await tenant();
  await upload(t.write, name, headFile('knn'));
  expect((await call('POST', `/v1/heads/${name}/classify`, { key: t.read, body: { embeddings: [point(1)], rejectUnknown: false } })).status).toBe(200);
  const row = (await env.DB.prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ?').bind(t.id, name).first<VersionRow>()) as VersionRow;
  return { t, row, ...(await versionRef(t.id, name)) };
}

/** A deterministic pseudo-random 4-d point. */
const point = (i: number) => [Math.sin(i * 1.7), Math.cos(i * 2.3), Math.sin(i * 0.7 + 1), Math.cos(i * 3.1 + 2)];

describe('kNN classification from isolate snapshots', () => {
  it('answers exactly as the Durable Object does, through additions and removals, reading its own writes', async () => {
    const t = await tenant();
    await upload(t.write, 'snap', headFile('knn'));
    const { ref, stub } = await versionRef(t.id, 'snap');
    const queries = Array.from({ length: 12 }, (_, i) => point(1000 + i));
    const body = { embeddings: queries, topK: 3, rejectUnknown: false };
    const ids: number[] = [];
    for (let step = 0; step < 8; step++) {
      if (step % 3 === 2 && ids.length) {
        const gone = ids.splice(0, 2);
        expect((await call('DELETE', '/v1/heads/snap/examples', { key: t.write, body: { ids: gone } })).status).toBe(200);
      } else {
        const embeddings = Array.from({ length: 5 }, (_, i) => point(step * 10 + i));
        const added = await call('POST', '/v1/heads/snap/examples', { key: t.write, body: { embeddings, labels: embeddings.map((_, i) => `s${step}-${i % 2}`) } });
        expect(added.status).toBe(201);
        ids.push(...added.body.ids);
      }
      const viaSnapshot = await call('POST', '/v1/heads/snap/classify', { key: t.read, body });
      expect(viaSnapshot.status).toBe(200);
      const viaObject = await stub.classify(ref, queries.map((q) => new Float32Array(q)), { topK: 3, rejectUnknown: false });
      expect(viaObject.ok).toBe(true);
      expect(viaSnapshot.body.predictions).toEqual(JSON.parse(JSON.stringify((viaObject as { value: unknown }).value)));
    }
    expect(snapshotStats().entries).toBeGreaterThan(0);
    // An example added a moment ago is its own nearest neighbour at once.
    const fresh = await call('POST', '/v1/heads/snap/examples', { key: t.write, body: { embeddings: [[9, 9, 9, 9]], labels: ['fresh'] } });
    expect(fresh.status).toBe(201);
    const q = await call('POST', '/v1/heads/snap/classify', { key: t.read, body: { embeddings: [[9, 9, 9, 9]], rejectUnknown: false } });
    expect(q.body.predictions[0].nearest).toBe('fresh');
  });

  it('concurrent classifications are searched together, each answered as the Durable Object answers it alone', async () => {
    const t = await tenant();
    await upload(t.write, 'together', headFile('knn'));
    const { ref, stub } = await versionRef(t.id, 'together');
    expect((await call('POST', '/v1/heads/together/classify', { key: t.read, body: { embeddings: [point(1)], rejectUnknown: false } })).status).toBe(200);
    // An example added just before: every classification below must see it (read-your-writes).
    const added = await call('POST', '/v1/heads/together/examples', { key: t.write, body: { embeddings: [point(4242)], labels: ['late'] } });
    expect(added.status).toBe(201);
    // 32 classifications of 1–4 queries (80 in all): more than one round of at most 64 queries.
    const bodies = Array.from({ length: 32 }, (_, i) => ({
      embeddings: Array.from({ length: 1 + (i % 4) }, (_, j) => (j === 0 && i % 3 === 0 ? point(4242) : point(300 + 10 * i + j))),
      topK: 1 + (i % 3),
      rejectUnknown: i % 2 === 0,
    }));
    const before = snapshotStats();
    const answers = await Promise.all(bodies.map((body) => call('POST', '/v1/heads/together/classify', { key: t.read, body })));
    const after = snapshotStats();
    expect(after.roundMembers - before.roundMembers).toBe(32);
    expect(after.rounds - before.rounds).toBeGreaterThanOrEqual(2);
    expect(after.rounds - before.rounds).toBeLessThan(32);
    for (const [i, body] of bodies.entries()) {
      expect(answers[i].status).toBe(200);
      const alone = await stub.classify(ref, body.embeddings.map((q) => new Float32Array(q)), { topK: body.topK, rejectUnknown: body.rejectUnknown });
      expect(answers[i].body.predictions).toEqual(JSON.parse(JSON.stringify((alone as { value: unknown }).value)));
      if (i % 3 === 0) expect(answers[i].body.predictions[0].nearest).toBe('late');
    }
  });

  it('a round whose request never comes back (cancelled mid-sync) holds up the next ones for KNN_WAIT_MS only', async () => {
    const { t, row, ref, stub } = await warmKnnVersion('stuck');
    const settings = { ...env, KNN_WAIT_MS: '100' };
    // Leads a round whose sync does not answer, as a request cancelled mid-sync would (until
    // the end of this test, so that it leaves nothing in flight for the next).
    let cancel: (e: Error) => void = () => undefined;
    const hung = { sync: () => new Promise((_, reject) => (cancel = reject)) } as unknown as typeof stub;
    const first = classifyKnn(settings, hung, row, ref, [new Float32Array(point(1))], {}).catch((e: unknown) => e);
    const next = await classifyKnn(settings, stub, row, ref, [new Float32Array(point(2))], { rejectUnknown: false });
    const alone = await stub.classify(ref, [new Float32Array(point(2))], { rejectUnknown: false });
    expect(next).toEqual((alone as { value: unknown }).value);
    // And the rounds after it run as before.
    expect((await call('POST', '/v1/heads/stuck/classify', { key: t.read, body: { embeddings: [point(3)], rejectUnknown: false } })).status).toBe(200);
    cancel(new Error('request cancelled'));
    expect(await first).toBeInstanceOf(Error);
    expect(snapshotStats().inFlight).toBe(0);
  });

  it('a round slower than KNN_WAIT_MS is abandoned and its classifications answered by the next, none twice, none left spinning', async () => {
    const { row, ref, stub } = await warmKnnVersion('slow');
    const settings = { ...env, KNN_WAIT_MS: '100' };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Every sync answers after 150 ms: the first round is abandoned at 100 ms, the next is led by
    // one of the others, and the first round's answer still comes back (at 150 ms) while the
    // second is running.
    const slow = { sync: async (...args: Parameters<typeof stub.sync>) => (await sleep(150), stub.sync(...args)) } as unknown as typeof stub;
    const q = (i: number) => [new Float32Array(point(i))];
    const leader = classifyKnn(settings, slow, row, ref, q(11), { rejectUnknown: false });
    await sleep(5);
    const others = [12, 13].map((i) => classifyKnn(settings, slow, row, ref, q(i), { rejectUnknown: false }));
    const answers = await Promise.all([leader, ...others]);
    for (const [j, i] of [11, 12, 13].entries()) {
      const alone = await stub.classify(ref, q(i), { rejectUnknown: false });
      expect(answers[j]).toEqual((alone as { value: unknown }).value);
    }
    expect(snapshotStats().inFlight).toBe(0);
  });

  it("a snapshot load that stalls holds up the other requests for KNN_WAIT_MS only: they are answered by the object, as it answers alone", async () => {
    const t = await tenant();
    await upload(t.write, 'cold', headFile('knn'));
    const row = (await env.DB.prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ?').bind(t.id, 'cold').first<VersionRow>()) as VersionRow;
    const { ref, stub } = await versionRef(t.id, 'cold');
    const settings = { ...env, KNN_WAIT_MS: '100' };
    // The first request's load pages the stored examples from an object that does not answer
    // (until the end of this test); the second finds that load under way.
    let cancel: (e: Error) => void = () => undefined;
    let paging = false;
    const stalled = {
      sync: (...args: Parameters<typeof stub.sync>) => stub.sync(...args),
      page: () => ((paging = true), new Promise((_, reject) => (cancel = reject))),
    } as unknown as typeof stub;
    const first = classifyKnn(settings, stalled, row, ref, [new Float32Array(point(1))], {}).catch((e: unknown) => e);
    while (!paging) await new Promise((r) => setTimeout(r, 5));
    expect(snapshotStats().loading).toBe(1);
    const next = await classifyKnn(settings, stub, row, ref, [new Float32Array(point(2))], { rejectUnknown: false });
    const alone = await stub.classify(ref, [new Float32Array(point(2))], { rejectUnknown: false });
    expect(next).toEqual((alone as { value: unknown }).value);
    // The stalled load is forgotten when a request gives up on it (the first is still stalled):
    // the next classification loads the snapshot afresh and answers from it.
    expect(snapshotStats().loading).toBe(0);
    const entries = snapshotStats().entries;
    expect((await call('POST', '/v1/heads/cold/classify', { key: t.read, body: { embeddings: [point(3)], rejectUnknown: false } })).status).toBe(200);
    expect(snapshotStats().entries).toBe(entries + 1);
    cancel(new Error('request cancelled'));
    expect(await first).toBeInstanceOf(Error);
    expect(snapshotStats().inFlight).toBe(0);
  });

  it("a snapshot that grows with additions is counted at its new size against the isolate's budget", async () => {
    const t = await tenant();
    await upload(t.write, 'grow', headFile('knn'));
    const q = { embeddings: [point(1)], rejectUnknown: false };
    expect((await call('POST', '/v1/heads/grow/classify', { key: t.read, body: q })).status).toBe(200);
    const before = snapshotStats().bytes;
    const embeddings = Array.from({ length: 200 }, (_, i) => point(2000 + i));
    expect((await call('POST', '/v1/heads/grow/examples', { key: t.write, body: { embeddings, labels: embeddings.map(() => 'g') } })).status).toBe(201);
    expect((await call('POST', '/v1/heads/grow/classify', { key: t.read, body: q })).status).toBe(200);
    // 200 more 4-d examples: 200 × (4 × 4 + 36) bytes.
    expect(snapshotStats().bytes - before).toBeGreaterThanOrEqual(200 * 52);
  });

  it('64 concurrent classifications all succeed while examples are being added', async () => {
    const t = await tenant();
    await upload(t.write, 'busy', headFile('knn'));
    const body = { embeddings: [point(1), point(2)], rejectUnknown: false };
    const writes = Array.from({ length: 8 }, (_, i) => call('POST', '/v1/heads/busy/examples', { key: t.write, body: { embeddings: [point(500 + i)], labels: ['w'] } }));
    const reads = Array.from({ length: 64 }, () => call('POST', '/v1/heads/busy/classify', { key: t.read, body }));
    const results = await Promise.all([...writes, ...reads]);
    expect(results.map((r) => r.status).filter((s) => s >= 400)).toEqual([]);
  });

  it('a version over the snapshot budget is classified by its Durable Object, with the same answer', async () => {
    const t = await tenant();
    await upload(t.write, 'large', headFile('knn'));
    const body = JSON.stringify({ embeddings: [point(7)], topK: 2, rejectUnknown: false });
    const tiny = { ...env, SNAPSHOT_CACHE_BYTES: '100' };
    const viaObject = await readResponse(await createApp().request('/v1/heads/large/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body }, tiny));
    const viaSnapshot = await readResponse(await createApp().request('/v1/heads/large/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body }, env));
    expect(viaObject.status).toBe(200);
    expect(viaObject.body.predictions).toEqual(viaSnapshot.body.predictions);
  });
});

describe('back-pressure', () => {
  it('an isolate over MAX_INFLIGHT_KNN answers 503 OVERLOADED with Retry-After, never a reset', async () => {
    const t = await tenant();
    await upload(t.write, 'press', headFile('knn'));
    const tight = { ...env, MAX_INFLIGHT_KNN: '2' };
    const body = JSON.stringify({ embeddings: [point(3)], rejectUnknown: false });
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => createApp().request('/v1/heads/press/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body }, tight)),
    );
    const overloaded = responses.filter((r) => r.status === 503);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(responses.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(responses.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    for (const r of overloaded) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('OVERLOADED');
    }
  });

  it('an isolate refuses kNN work beyond KNN_QUEUE_MS of search queued (the first request always runs)', async () => {
    const t = await tenant();
    await upload(t.write, 'queue', headFile('knn'));
    const body = JSON.stringify({ embeddings: [point(3), point(4)], rejectUnknown: false });
    const send = (settings: Record<string, string>) => createApp().request('/v1/heads/queue/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body }, { ...env, ...settings });
    expect((await send({})).status).toBe(200); // the snapshot is loaded
    // 2 queries × 18 examples × 4-d = 144 multiply-adds a request, at 0.35e6 a millisecond (a
    // head this small is searched in JavaScript); room for one in the queue.
    const responses = await Promise.all(Array.from({ length: 6 }, () => send({ KNN_QUEUE_MS: String(200 / 0.35e6) })));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    const refused = responses.find((r) => r.status === 503) as Response;
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('KNN_QUEUE_MS');
  });

  it('the Durable Object refuses a request that queued too long (503 OVERLOADED, retry after 1 s) instead of serving it late', async () => {
    const t = await tenant();
    await upload(t.write, 'late', headFile('centroid'));
    const { ref, stub } = await versionRef(t.id, 'late');
    const stale = await stub.classify(ref, [new Float32Array(point(1))], {}, Date.now() - 10_000);
    expect(stale).toMatchObject({ ok: false, status: 503, code: 'OVERLOADED', retryAfter: 1 });
    expect(await stub.classify(ref, [new Float32Array(point(1))], {}, Date.now())).toMatchObject({ ok: true });
  });
});
