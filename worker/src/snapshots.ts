/**
 * kNN classification that is not serialised through one Durable Object. Each isolate keeps an
 * immutable-base snapshot of a version (the head file from R2 plus the online examples, paged in
 * from the object) and, per request, asks the object only for the changes since its generation:
 * a cheap call, so the object orders writes while the isolates do the searching in parallel. The
 * changes are applied before the search with no await in between, so a classify sees every
 * addition or removal acknowledged before it started (read-your-writes).
 *
 * Back-pressure instead of resets: an isolate with too many kNN requests in flight answers 503
 * OVERLOADED with Retry-After, and so does the object for a request that queued too long.
 */
import './kernels.js';
import { KnnHead, parseHead, type Prediction } from 'edgehead/heads';
import { ByteLruCache } from './cache.js';
import type { BlobRef, Change, OnlineExample, Outcome, SyncState } from './durable/head-state.js';
import type { Env } from './env.js';
import { limitsOf } from './limits.js';
import { ApiError, fromErrorData } from './errors.js';
import { keepAlive, pause, Rounds, type Member } from './rounds.js';
import { exampleBytes, workingSetBytes } from './head-limits.js';
import { readVerified } from './store/blobs.js';
import type { VersionRow } from './store/d1.js';

interface Snapshot {
  sha256: string;
  epoch: string;
  generation: number;
  head: KnnHead;
  /** Online example id → the head's id for it. */
  ids: Map<number, number>;
  /** Classifications of this snapshot, searched together (searchTogether). */
  rounds: Rounds<Searched, Waiting>;
}

type Searched = { predictions: Prediction[] } | { stale: SyncState };

/** A classification waiting for its round of search. */
interface Waiting extends Member<Searched> {
  embeddings: Float32Array[];
  options: Options;
}

type Options = { topK?: number; threshold?: number; rejectUnknown?: boolean };

const snapshots = new ByteLruCache<Snapshot>(limitsOf({}).snapshotCacheBytes);
/**
 * Snapshot loads under way in this isolate, by version uid. The request that starts one awaits
 * it; the others poll its outcome on their own timers (as round members do, rounds.ts), never
 * resuming on its promise.
 */
interface Load {
  outcome?: { snap: Snapshot | null } | { error: unknown };
}
const loading = new Map<string, Load>();
let inFlight = 0;
/** Rounds of searchTogether run in this isolate, and the classifications they took. */
const searchRounds = { rounds: 0, members: 0 };
/** Estimated milliseconds of the kNN searches admitted and not finished in this isolate. */
let queuedMs = 0;

/**
 * Multiply-adds (queries × examples × dim) one search does per millisecond on one core,
 * measured in Node: about 7e6 on the SIMD kernel (16 × 10,000 × 1280-d in ~29 ms) and 0.35e6 in
 * its JavaScript twin (small heads). KNN_QUEUE_MS is converted with them, since a Worker's clock
 * does not advance during computation and cannot time a search.
 */
export const MULTIPLY_ADDS_PER_MS = { webAssembly: 7e6, javaScript: 0.35e6 };

/** What this isolate holds (for tests and diagnostics); `inWebAssembly`: snapshots searched by the SIMD kernel. */
export const snapshotStats = () => ({
  ...snapshots.stats,
  inFlight,
  /** Snapshot loads under way. */
  loading: loading.size,
  queuedMs,
  rounds: searchRounds.rounds,
  roundMembers: searchRounds.members,
  inWebAssembly: [...snapshots.values()].filter((s) => s.head.searchesInWebAssembly).length,
});

function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw fromErrorData(o);
}

/** Applies changes newer than the snapshot, idempotently (ids are never reused). */
function apply(snap: Snapshot, changes: Change[], generation: number): void {
  for (const c of changes) {
    if (c.generation <= snap.generation) continue;
    if (c.added) addExamples(snap, c.added);
    if (c.removed) {
      const present = c.removed.filter((id) => snap.ids.has(id));
      if (present.length) snap.head.remove(present.map((id) => snap.ids.get(id) as number));
      present.forEach((id) => snap.ids.delete(id));
    }
    snap.generation = c.generation;
  }
  snap.generation = Math.max(snap.generation, generation);
}

function addExamples(snap: Snapshot, examples: OnlineExample[]): void {
  const fresh = examples.filter((e) => !snap.ids.has(e.id));
  if (!fresh.length) return;
  const headIds = snap.head.add(
    fresh.map((e) => e.embedding),
    fresh.map((e) => e.label),
  );
  fresh.forEach((e, i) => snap.ids.set(e.id, headIds[i]));
}

type Stub = DurableObjectStub<import('./durable/head-state.js').HeadState>;

/** The head file plus every online example, then the changes made meanwhile; null if it cannot settle. */
async function load(env: Env, stub: Stub, ref: BlobRef, sha256: string): Promise<Snapshot | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = unwrap(await stub.sync(ref, null, Date.now()));
    const { head } = parseHead(await readVerified(env.BLOBS, ref.blobKey, ref.sha256));
    if (!(head instanceof KnnHead)) throw new ApiError(500, 'STORAGE_INCONSISTENT', 'This version is recorded as kNN but its head file is not; re-upload it.');
    const snap: Snapshot = { sha256, epoch: start.epoch, generation: start.generation, head, ids: new Map(), rounds: new Rounds(searchRounds) };
    for (let after = -1; ; ) {
      const { examples, done } = unwrap(await stub.page(ref, after, Date.now()));
      addExamples(snap, examples);
      if (examples.length) after = examples[examples.length - 1].id;
      if (done) break;
    }
    // Changes made while paging: applied idempotently on top.
    const since = unwrap(await stub.sync(ref, { epoch: start.epoch, generation: start.generation }, Date.now()));
    if (since.reset) continue;
    snap.generation = start.generation;
    apply(snap, since.changes ?? [], since.generation);
    return snap;
  }
  return null;
}

/**
 * Classifies with this isolate's snapshot of the version, brought up to date first; a version
 * too large for the snapshot budget (SNAPSHOT_CACHE_BYTES) is classified by its Durable Object.
 */
export async function classifyKnn(env: Env, stub: Stub, row: VersionRow, ref: BlobRef, embeddings: Float32Array[], options: Options): Promise<Prediction[]> {
  const limits = limitsOf(env);
  if (inFlight >= limits.maxInflightKnn) {
    throw new ApiError(503, 'OVERLOADED', `This worker instance has ${inFlight} kNN classifications in flight (limit ${limits.maxInflightKnn}, MAX_INFLIGHT_KNN). Retry in a second.`, 1);
  }
  // The search work ahead of this request: refused when it would wait longer than KNN_QUEUE_MS
  // (the first request always runs, however large).
  const cached = snapshots.get(row.uid);
  const rate = cached?.head.searchesInWebAssembly ? MULTIPLY_ADDS_PER_MS.webAssembly : MULTIPLY_ADDS_PER_MS.javaScript;
  const ms = (embeddings.length * (cached?.head.size ?? 0) * row.dim) / rate;
  if (inFlight > 0 && queuedMs + ms > limits.knnQueueMs) {
    throw new ApiError(
      503,
      'OVERLOADED',
      `This worker instance has about ${Math.round(queuedMs)} ms of kNN search queued (limit ${limits.knnQueueMs} ms, KNN_QUEUE_MS). Retry in a second.`,
      1,
    );
  }
  inFlight++;
  queuedMs += ms;
  // Counted out when the work ends, even if the client disconnects meanwhile: a cancelled
  // request's finally would never run, and the counts would refuse kNN work for good.
  const work = classifyAdmitted(env, stub, row, ref, embeddings, options, cached, rate).finally(() => {
    inFlight--;
    queuedMs -= ms;
  });
  keepAlive(work);
  return work;
}

async function classifyAdmitted(env: Env, stub: Stub, row: VersionRow, ref: BlobRef, embeddings: Float32Array[], options: Options, cached: Snapshot | undefined, rate: number): Promise<Prediction[]> {
  const limits = limitsOf(env);
  snapshots.resize(limits.snapshotCacheBytes);
  if (cached && cached.sha256 === row.sha256) {
    const size = cached.head.size;
    const answer = await searchTogether(cached, stub, ref, { embeddings, options }, rate, limits.knnWaitMs);
    if ('predictions' in answer) {
      // Counted again at its new size (additions grow it, and the budget is in bytes), unless
      // it left the cache meanwhile (evicted, replaced, or its head deleted).
      if (cached.head.size !== size && snapshots.peek(row.uid) === cached) snapshots.set(row.uid, cached, workingSetBytes(cached.head));
      return answer.predictions;
    }
    const state = answer.stale;
    if (state.size * exampleBytes(row.dim) > limits.snapshotCacheBytes) {
      snapshots.delete(row.uid);
      return unwrap(await stub.classify(ref, embeddings, options, Date.now()));
    }
  } else {
    // Too large to keep per isolate: the object classifies (one at a time, with shedding).
    const state = unwrap(await stub.sync(ref, null, Date.now()));
    if (state.size * exampleBytes(row.dim) > limits.snapshotCacheBytes) return unwrap(await stub.classify(ref, embeddings, options, Date.now()));
  }
  const snap = await sharedLoad(env, stub, row, ref, limits.knnWaitMs);
  if (!snap) return unwrap(await stub.classify(ref, embeddings, options, Date.now()));
  snapshots.set(row.uid, snap, workingSetBytes(snap.head));
  // Another request may have moved the object on while this one waited for the load.
  const state = unwrap(await stub.sync(ref, { epoch: snap.epoch, generation: snap.generation }, Date.now()));
  if (state.reset) return unwrap(await stub.classify(ref, embeddings, options, Date.now()));
  apply(snap, state.changes ?? [], state.generation);
  return snap.head.predict(embeddings, options);
}

/**
 * This isolate's snapshot of the version, loaded once for the requests that want it at the same
 * time: the first loads (kept alive past its own request), the others poll. Null, for the
 * object to answer, when the load kept resetting or another request's load ran past `waitMs`.
 */
async function sharedLoad(env: Env, stub: Stub, row: VersionRow, ref: BlobRef, waitMs: number): Promise<Snapshot | null> {
  let entry = loading.get(row.uid);
  if (!entry) {
    const mine: Load = {};
    loading.set(row.uid, mine);
    const work = load(env, stub, ref, row.sha256).then(
      (snap) => void (mine.outcome = { snap }),
      (error: unknown) => void (mine.outcome = { error }),
    );
    work.finally(() => loading.get(row.uid) === mine && loading.delete(row.uid));
    keepAlive(work);
    await work;
    entry = mine;
  } else {
    const giveUpAt = Date.now() + waitMs;
    for (let sleep = 2; !entry.outcome; sleep = Math.min(2 * sleep, 50)) {
      if (Date.now() >= giveUpAt) {
        // Its request may have been cancelled mid-load: the next classification loads afresh.
        if (loading.get(row.uid) === entry) loading.delete(row.uid);
        return null;
      }
      await pause(sleep);
    }
  }
  const outcome = entry.outcome!;
  if ('error' in outcome) throw outcome.error;
  return outcome.snap;
}

/** Queries one round searches at most: a round's search is paid by its leader's request. */
const MAX_ROUND_QUERIES = 64;

/**
 * Classifies with a cached snapshot together with the other classifications of it waiting in
 * this isolate (rounds.ts): a round is one sync with the object and one search for all their
 * queries. The kernel scores four queries in one pass over the references for little more than
 * the cost of one (a single query is bound by reading them), and one sync serves the round.
 */
function searchTogether(snap: Snapshot, stub: Stub, ref: BlobRef, request: Waiting, rate: number, waitMs: number): Promise<Searched> {
  const queries = (members: readonly Waiting[]) => members.reduce((n, w) => n + w.embeddings.length, 0);
  return snap.rounds.join(request, {
    waitMs,
    overloaded: 'This kNN classification (KNN_WAIT_MS)',
    // At most MAX_ROUND_QUERIES (and at least one classification): the leader's request pays.
    take: (queued) => {
      let take = 1;
      for (let n = queued[0].embeddings.length; take < queued.length && n + queued[take].embeddings.length <= MAX_ROUND_QUERIES; take++) n += queued[take].embeddings.length;
      return take;
    },
    expectedMs: (members) => (queries(members) * snap.head.size * snap.head.dim) / rate,
    run: async (members) => {
      const state = unwrap(await stub.sync(ref, { epoch: snap.epoch, generation: snap.generation }, Date.now()));
      if (state.reset || state.epoch !== snap.epoch) {
        for (const w of members) w.answer = { value: { stale: state } };
        return;
      }
      apply(snap, state.changes ?? [], state.generation);
      const neighbours = snap.head.kneighbors(members.flatMap((w) => w.embeddings), snap.head.effectiveK);
      let at = 0;
      for (const w of members) {
        const mine = neighbours.slice(at, (at += w.embeddings.length));
        try {
          w.answer = { value: { predictions: snap.head.predictFromNeighbours(mine, w.options) } };
        } catch (error) {
          w.answer = { error };
        }
      }
    },
  });
}

/** Forgets this isolate's snapshots of these versions (their head was deleted). */
export function forgetSnapshots(uids: string[]): void {
  for (const uid of uids) snapshots.delete(uid);
}
