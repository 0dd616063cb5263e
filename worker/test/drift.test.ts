/**
 * Drift at the edge (issue 15, part 4): classify records bounded per-window statistics in the
 * version's Durable Object, and GET /v1/heads/{ref}/drift tests them against the training sample
 * the head file keeps. References: a stream drawn like the training data (no shift expected) and
 * the same stream moved by a fixed offset (a shift any test must see); label shares counted by hand.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { DriftStore, driftRecord, queueDrift, type DriftRecord } from '../src/drift.js';
import { CentroidHead, encodeReference, headToJson } from 'edgehead/heads';
import { call, FINGERPRINT, tenant, upload } from './helpers.js';

const CENTRES: Record<string, number[]> = { a: [1, 0, 0, 0.1], b: [0, 1, 0, 0.1], c: [0, 0, 1, 0.1] };
const LABELS = Object.keys(CENTRES);

/** Row i of a stream around the class centres (deterministic wobble), moved by `offset`. */
function draw(i: number, offset = 0): number[] {
  const c = CENTRES[LABELS[i % 3]];
  return c.map((v, j) => v + 0.15 * Math.sin(12.9898 * i + 78.233 * j) + (j === 3 ? offset : 0));
}

/** A centroid head fitted on 90 rows, keeping 60 of them as its reference sample. */
function headWithReference(keep: boolean): string {
  const x = Array.from({ length: 90 }, (_, i) => draw(i + 10_000));
  const y = x.map((_, i) => LABELS[(i + 10_000) % 3]);
  const head = CentroidHead.fit(x, y, { metric: 'euclidean' });
  const sample = { rows: 60, cols: 4, data: Float32Array.from(x.slice(0, 60).flat()) };
  return headToJson(head, {
    backbone: { id: 'toy', fingerprint: FINGERPRINT },
    training: { nPerClass: { a: 30, b: 30, c: 30 }, createdAt: '2026-11-29T00:00:00Z', ...(keep ? { reference: encodeReference(sample, y.slice(0, 60)) } : {}) },
  });
}

/**
 * Sends `requests` classify calls of 8 rows each, then waits until the drift route has counted
 * them all. 8 rows a request are all offered to the sample, and 6 requests (48 rows) fit in the
 * 64-row sample whole: the sample, and so the test's p-value, is the same on every run.
 */
async function stream(key: string, ref: string, requests: number, offset: number): Promise<any> {
  for (let r = 0; r < requests; r++) {
    const rows = Array.from({ length: 8 }, (_, i) => draw(r * 8 + i, offset));
    expect((await call('POST', `/v1/heads/${ref}/classify`, { key, body: { embeddings: rows, rejectUnknown: false } })).status).toBe(200);
  }
  return settled(key, ref, requests);
}

/**
 * Recording runs after each answer (waitUntil): polls until every request is counted. Pools all
 * kept windows, so a run that crosses a window boundary still sees one sample of all its rows.
 */
async function settled(key: string, ref: string, requests: number): Promise<any> {
  for (let tries = 0; tries < 100; tries++) {
    const drift = await call('GET', `/v1/heads/${ref}/drift?windows=24`, { key });
    if (drift.body.windows?.reduce((n: number, w: { requests: number }) => n + w.requests, 0) === requests) return drift.body;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('drift statistics did not catch up');
}

const config = () => ({ enabled: true, windowMs: 3_600_000, windows: 24, sampleRows: 64, flushMs: 0 });

describe('drift', () => {
  it('a stream like the training data is not flagged; the same stream moved is, with p < 0.05', async () => {
    const t = await tenant();
    await upload(t.write, 'watched', headWithReference(true));
    const calm = await stream(t.read, 'watched@1', 6, 0);
    expect(calm.windows[0]).toMatchObject({ unknownRate: 0 });
    // Rows cycle a, b, c: a third each, and the head recognises its own distribution.
    for (const l of LABELS) expect(calm.windows[0].labels[l]).toBeCloseTo(1 / 3, 1);
    expect(calm.training.labels).toEqual({ a: 1 / 3, b: 1 / 3, c: 1 / 3 });
    expect(calm.shift).toMatchObject({ shifted: false, referenceRows: 60, rows: 48 });
    expect(calm.shift.pValue).toBeGreaterThan(0.05);

    await upload(t.write, 'watched', headWithReference(true));
    const moved = await stream(t.read, 'watched@2', 6, 0.6);
    expect(moved.version).toBe(2);
    expect(moved.shift.shifted).toBe(true);
    expect(moved.shift.pValue).toBeLessThan(0.05);
    // Version 1's statistics are its own.
    expect((await call('GET', '/v1/heads/watched@1/drift?windows=24', { key: t.read })).body.shift.shifted).toBe(false);
  });

  it('label shares and unknown answers are counted; a head without a reference sample says how to get a test', async () => {
    const t = await tenant();
    await upload(t.write, 'plain', headWithReference(false));
    // Two a, one b, and one row far from every class, which the head's gate answers unknown.
    const rows = [draw(0), draw(3), draw(1), [0, 0, 0, 40]];
    const r = await call('POST', '/v1/heads/plain/classify', { key: t.read, body: { embeddings: rows } });
    expect(r.body.predictions.map((p: { label: string | null }) => p.label)).toEqual(['a', 'a', 'b', null]);
    const drift = await settled(t.read, 'plain', 1);
    expect(drift.windows[0]).toMatchObject({ rows: 4, unknownRate: 0.25, labels: { a: 2 / 3, b: 1 / 3 } });
    expect(drift.shift).toBeNull();
    expect(drift.note).toMatch(/--keep-reference/);
    expect(drift.training.labels).toEqual({ a: 1 / 3, b: 1 / 3, c: 1 / 3 });
  });

  it('deleting a head deletes its statistics, and a late record cannot bring them back', async () => {
    const t = await tenant();
    await upload(t.write, 'gone', headWithReference(true));
    await stream(t.read, 'gone', 1, 0);
    const { uid } = (await env.DB.prepare('SELECT uid FROM versions WHERE tenant_id = ? AND name = ?').bind(t.id, 'gone').first<{ uid: string }>())!;
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.idFromName(`drift:${uid}`));
    const windows = () => runInDurableObject(stub, async (_instance, state) => [...(await state.storage.list({ prefix: 'drift:w:' })).keys()]);
    expect(await windows()).toHaveLength(1);
    expect((await call('DELETE', '/v1/heads/gone', { key: t.write })).status).toBe(200);
    expect(await windows()).toEqual([]);
    // A record arriving after the delete (waitUntil, or an isolate's cached row) is dropped.
    await stub.recordDrift(driftRecord(uid, [Float32Array.of(1, 0, 0, 0)], [], config()), config());
    expect(await windows()).toEqual([]);
    expect((await call('GET', '/v1/heads/gone/drift', { key: t.read })).status).toBe(404);
  });

  it('refuses a bad windows parameter and unknown heads', async () => {
    const t = await tenant();
    await upload(t.write, 'w', headWithReference(false));
    const bad = await call('GET', '/v1/heads/w/drift?windows=0', { key: t.read });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/"windows" must be an integer from 1 to 24/);
    expect((await call('GET', '/v1/heads/nothing/drift', { key: t.read })).status).toBe(404);
  });
});

describe('drift storage stays bounded', () => {
  it('keeps the newest DRIFT_WINDOWS windows and DRIFT_SAMPLE_ROWS rows per window, whatever the traffic', async () => {
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.idFromName('drift-bounds-test'));
    await runInDurableObject(stub, async (_instance, state) => {
      const store = new DriftStore(state.storage);
      const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 4, flushMs: 0 };
      const prediction = (label: string) => ({ label, nearest: label, probability: 1, topK: [], unknown: false, distance: 0 });
      for (const at of [0, 10, 1000, 2000, 2500]) {
        const rows = Array.from({ length: 20 }, (_, i) => Float32Array.of(at, i));
        await store.record(driftRecord('bounds', rows, rows.map(() => prediction('a')), config, at), config);
      }
      const { windows, sample } = await store.read(5);
      // Windows at 0, 1000 and 2000: the oldest is gone, with its sample rows.
      expect(windows.map((w) => w.start)).toEqual([2000, 1000]);
      expect(windows[0]).toMatchObject({ requests: 2, rows: 40 });
      expect(sample).toHaveLength(8);
      expect([...(await state.storage.list({ prefix: 'drift:' })).keys()]).toHaveLength(2 + 8);
      // Every kept row belongs to a kept window.
      expect(sample.every((r) => r[0] >= 1000)).toBe(true);
    });
  });

  it('the sample is uniform over rows, not requests: a big request counts by its rows', async () => {
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.idFromName('drift-uniform-test'));
    await runInDurableObject(stub, async (_instance, state) => {
      const store = new DriftStore(state.storage);
      const config = { enabled: true, windowMs: 3_600_000, windows: 24, sampleRows: 64, flushMs: 0 };
      const record = (marker: number, n: number) => {
        const rows = Array.from({ length: n }, () => Float32Array.of(marker));
        return store.record(driftRecord('uniform', rows, [], config, 5), config);
      };
      // Nine small requests around one of 200 rows: 200 of the window's 272 rows are marked 1.
      for (let i = 0; i < 4; i++) await record(0, 8);
      await record(1, 200);
      for (let i = 0; i < 5; i++) await record(0, 8);
      const { sample } = await store.read(1);
      const big = sample.filter((r) => r[0] === 1).length;
      // Uniform over rows: hypergeometric, mean 64 · 200/272 = 47, sd 3.1; per request it would be 6.
      expect(sample).toHaveLength(64);
      expect(big).toBeGreaterThan(35);
    });
  });
});

describe('drift records gathered per isolate (DRIFT_FLUSH_MS)', () => {
  const prediction = (label: string | null) => ({ label, nearest: label ?? 'a', probability: 1, topK: [], unknown: label === null, distance: 0 });
  const record = (at: number, rows: number[][], labels: (string | null)[]): DriftRecord => ({
    ...driftRecord('gathered', rows.map((r) => Float32Array.from(r)), labels.map(prediction), { enabled: true, windowMs: 1000, windows: 2, sampleRows: 3, flushMs: 50 }, at),
  });

  it('requests within DRIFT_FLUSH_MS of the first are sent as one record: counts summed, the largest keys kept', async () => {
    const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 3, flushMs: 50 };
    const sent: DriftRecord[] = [];
    const send = async (r: DriftRecord) => void sent.push(structuredClone(r));
    const records = [
      record(100, [[1], [2]], ['a', 'b']),
      record(110, [[3]], [null]),
      record(120, [[4], [5], [6]], ['a', 'a', null]),
    ];
    // By hand: every key drawn, the three largest with their rows.
    const offered = records.flatMap((r) => r.keys.map((key, i) => ({ key, row: r.offered[i][0] }))).sort((a, b) => b.key - a.key).slice(0, 3);
    const first = queueDrift('u1', records[0], config, send);
    expect(queueDrift('u1', records[1], config, send)).toBeUndefined();
    expect(queueDrift('u1', records[2], config, send)).toBeUndefined();
    // Another window of the same version is sent apart.
    const later = queueDrift('u1', record(1500, [[7]], ['b']), config, send);
    expect(first).toBeInstanceOf(Promise);
    expect(later).toBeInstanceOf(Promise);
    expect(sent).toEqual([]);
    await Promise.all([first, later]);
    expect(sent).toHaveLength(2);
    const [one, other] = sent[0].at === 100 ? sent : [sent[1], sent[0]];
    expect(one).toMatchObject({ requests: 3, rows: 6, unknown: 2, labels: { a: 3, b: 1 } });
    expect(one.keys).toEqual(offered.map((o) => o.key));
    expect(one.offered.map((r) => r[0])).toEqual(offered.map((o) => o.row));
    expect(other).toMatchObject({ requests: 1, rows: 1, labels: { b: 1 } });
  });

  it('an isolate gathers at most 4 MiB of sample rows: past that, records are sent at once', async () => {
    const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 64, flushMs: 50 };
    let sent = 0;
    const send = async () => void sent++;
    // 64 rows of 1280 floats offered per record (the threshold is 0): 327,680 bytes each, so 12
    // records fit in 4,194,304 bytes and the other 8 of 20 versions' records go at once.
    const rows = Array.from({ length: 64 }, () => new Float32Array(1280));
    const queued = Array.from({ length: 20 }, (_, v) => queueDrift(`bytes-${v}`, driftRecord(`bytes-${v}`, rows, [], config, 100), config, send));
    expect(sent).toBe(8);
    await Promise.all(queued);
    expect(sent).toBe(20);
  });

  it('a gathering its request left unsent (ended before its timer) is sent by the next record, once', async () => {
    const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 3, flushMs: 50 };
    const sent: DriftRecord[] = [];
    const send = async (r: DriftRecord) => void sent.push(structuredClone(r));
    const opener = queueDrift('orphan', record(100, [[1]], ['a']), config, send);
    // The next record comes 10 s later by the clock, as if the opener's timer never fired.
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 10_000);
    try {
      const next = queueDrift('orphan', record(200, [[2]], ['b']), config, send);
      expect(next).toBeInstanceOf(Promise);
      await next;
    } finally {
      clock.mockRestore();
    }
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ requests: 2, rows: 2, labels: { a: 1, b: 1 } });
    // The opener's timer, when it fires, finds its gathering sent and sends nothing.
    await opener;
    expect(sent).toHaveLength(1);
  });

  it('a record without a request count (from an isolate on the previous version) counts as one request', async () => {
    const stub = env.HEAD_STATE.get(env.HEAD_STATE.idFromName('drift-legacy-test'));
    await runInDurableObject(stub, async (_instance, state) => {
      const store = new DriftStore(state.storage);
      const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 4, flushMs: 0 };
      const { requests: _, ...legacy } = driftRecord('legacy', [Float32Array.of(1)], [], config, 10);
      await store.record(legacy as DriftRecord, config);
      expect((await store.read(1)).windows[0]).toMatchObject({ requests: 1, rows: 1 });
    });
  });

  it('DRIFT_FLUSH_MS = 0 sends each record at once', async () => {
    const config = { enabled: true, windowMs: 1000, windows: 2, sampleRows: 3, flushMs: 0 };
    let sends = 0;
    const send = async () => void sends++;
    await Promise.all([queueDrift('u2', record(100, [[1]], ['a']), config, send), queueDrift('u2', record(101, [[2]], ['a']), config, send)]);
    expect(sends).toBe(2);
  });

  it('twenty concurrent classifications, gathered, are all counted', async () => {
    const t = await tenant();
    await upload(t.write, 'gather', headWithReference(false));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, r) => call('POST', '/v1/heads/gather/classify', { key: t.read, body: { embeddings: [draw(r)], rejectUnknown: false } })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const drift = await settled(t.read, 'gather', 20);
    expect(drift.windows[0].rows).toBe(20);
  });
});
