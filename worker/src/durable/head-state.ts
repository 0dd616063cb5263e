/**
 * One Durable Object per version of a kNN or centroid head (named by the version's never-reused
 * uid): it holds the head in memory with the examples added online, stores each addition
 * transactionally, and serves classification — so a classify right after an add sees it
 * (read-your-writes), and many concurrent additions are serialised and all kept.
 *
 * Examples are validated before they are stored, and stored state is validated again when it is
 * loaded: an example that fails is moved aside (quarantined) and reported once as
 * STORAGE_CORRUPT, so bad state can never make the version fail on every request.
 */
import { DurableObject } from 'cloudflare:workers';
import '../kernels.js';
import { CentroidHead, InvalidInputError, KnnHead, parseHead, type Prediction } from 'edgehead/heads';
import { headLimitsOf, type HeadLimits, type LimitSettings } from '../limits.js';
import { ApiError, errorData, type ErrorData } from '../errors.js';
import { exampleBytes, workingSetBytes } from '../head-limits.js';
import { exampleChecksum, integritySecret, sameChecksum } from '../integrity.js';
import { readVerified } from '../store/blobs.js';
import { DriftStore, type DriftConfig, type DriftRecord, type WindowSummary } from '../drift.js';
import { MAX_LABEL_LENGTH } from '../contract.js';

export interface BlobRef {
  blobKey: string;
  sha256: string;
  /** The calling worker's limits; the object's own settings when absent. */
  limits?: HeadLimits;
}

/** Stored examples are read back this many at a time: loading never holds more than one page beside the head. */
export const LOAD_PAGE = 256;

/** Recent changes kept for isolates' snapshots to catch up with (by bytes); one further behind reloads in full. */
const LOG_BYTES = 8 * 1024 * 1024;

/** A request that waited longer than this in the object's queue is refused (503, retry) instead of served late. */
export const MAX_QUEUE_MS = 2_000;

export interface OnlineExample {
  id: number;
  embedding: Float32Array;
  label: string;
}

/** One addition or removal of online examples, numbered by the object's generation. */
export interface Change {
  generation: number;
  added?: OnlineExample[];
  removed?: number[];
}

/**
 * Where a snapshot stands against this object: `epoch` names one loading of the object's state
 * (it changes when the object restarts or reloads), `generation` counts changes within it.
 */
export interface SyncState {
  epoch: string;
  generation: number;
  /** Examples in the head (file references plus online examples). */
  size: number;
  /** Changes after the caller's generation, or reset: the caller must load in full. */
  changes?: Change[];
  reset?: boolean;
}

function shed(sentAt: number | undefined): void {
  if (sentAt !== undefined && Date.now() - sentAt > MAX_QUEUE_MS) {
    throw new ApiError(503, 'OVERLOADED', `This head version is overloaded: the request waited over ${MAX_QUEUE_MS} ms for its turn. Retry in a second, or spread traffic over time.`, 1);
  }
}

interface StoredExample {
  embedding: Float32Array;
  label: string;
  /** HMAC over this object's id, the example's id, label and bytes (integrity.ts). */
  sum: string;
}

/** RPC results: errors the API reports travel as data with their status and code (thrown errors lose their type across RPC). */
export type Outcome<T> = { ok: true; value: T } | ({ ok: false } & ErrorData);

async function outcome<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const data = errorData(e);
    if (data) return { ok: false, ...data };
    throw e;
  }
}

const EXAMPLE_PREFIX = 'ex:';
const QUARANTINE_PREFIX = 'quarantine:';
const exampleKey = (id: number) => `${EXAMPLE_PREFIX}${String(id).padStart(12, '0')}`;

/** Why this example may not be stored in a head of this dimension, or undefined when it may. */
function exampleProblem(embedding: unknown, label: unknown, dim: number): string | undefined {
  if (!(embedding instanceof Float32Array)) return 'the embedding is not a float32 array';
  if (embedding.length !== dim) return `the embedding has ${embedding.length} values, the head takes ${dim}`;
  const bad = embedding.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) return `the embedding has ${embedding[bad]} at position ${bad} (values must be finite as float32)`;
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_LABEL_LENGTH) return `the label must be a string of 1–${MAX_LABEL_LENGTH} characters`;
  return undefined;
}

/** The bindings and settings the Durable Object reads (a subset of the worker's Env). */
export interface HeadStateEnv extends LimitSettings {
  BLOBS: R2Bucket;
  INTEGRITY_KEY?: string;
}

export class HeadState extends DurableObject<HeadStateEnv> {
  private head?: KnnHead | CentroidHead;
  private loadedFrom?: string;
  /** Online example id → the head's own id for it (kNN). */
  private headIds = new Map<number, number>();
  /** Online examples stored for this version (either kind). */
  private onlineCount = 0;
  private nextId = 0;
  private epoch = crypto.randomUUID();
  private generation = 0;
  private log: (Change & { bytes: number })[] = [];
  private logBytes = 0;
  /** In the object named `drift:<uid>` only: what the version was asked, per time window. */
  private readonly drift = new DriftStore(this.ctx.storage);

  /** A new epoch: snapshots taken before reload in full (called whenever the state is rebuilt or cleared). */
  private newEpoch(): void {
    this.epoch = crypto.randomUUID();
    this.generation = 0;
    this.log = [];
    this.logBytes = 0;
  }

  private record(change: Omit<Change, 'generation'>): void {
    const bytes = 64 + (change.added?.reduce((n, e) => n + e.embedding.byteLength + 2 * e.label.length + 64, 0) ?? 0) + 8 * (change.removed?.length ?? 0);
    this.log.push({ generation: ++this.generation, ...change, bytes });
    this.logBytes += bytes;
    while (this.logBytes > LOG_BYTES && this.log.length > 1) this.logBytes -= (this.log.shift() as { bytes: number }).bytes;
  }

  /**
   * The head with its stored examples. A failure while loading is returned from the blocked
   * section and thrown after it: a throw inside `blockConcurrencyWhile` would reset the object.
   */
  private async ensureLoaded(ref: BlobRef): Promise<KnnHead | CentroidHead> {
    if (this.head && this.loadedFrom === ref.sha256) return this.head;
    const failure = await this.ctx.blockConcurrencyWhile(async () => {
      if (this.head && this.loadedFrom === ref.sha256) return undefined;
      try {
        return await this.rebuild(ref);
      } catch (e) {
        return e;
      }
    });
    if (failure) throw failure;
    return this.head as KnnHead | CentroidHead;
  }

  /**
   * Base head from R2, then every stored example replayed in id order. Examples that fail
   * validation are quarantined; the head loads without them and the report is returned.
   */
  private async rebuild(ref: BlobRef): Promise<ApiError | undefined> {
    this.head = undefined;
    this.loadedFrom = undefined;
    this.newEpoch();
    const { head } = parseHead(await readVerified(this.env.BLOBS, ref.blobKey, ref.sha256));
    if (!(head instanceof KnnHead) && !(head instanceof CentroidHead)) {
      throw new InvalidInputError('Online examples apply to knn and centroid heads only.');
    }
    this.headIds.clear();
    this.onlineCount = 0;
    const quarantined: { key: string; id: string; why: string }[] = [];
    let next = 0;
    // A page at a time, in id order: the examples are never all in memory twice (stored and in the head).
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.ctx.storage.list<unknown>({ prefix: EXAMPLE_PREFIX, limit: LOAD_PAGE, ...(startAfter ? { startAfter } : {}) });
      if (page.size === 0) break;
      const bad: { key: string; id: string; why: string }[] = [];
      const good: { id: number; ex: StoredExample }[] = [];
      for (const [key, value] of page) {
        startAfter = key;
        const idText = key.slice(EXAMPLE_PREFIX.length);
        const id = /^\d{12}$/.test(idText) ? Number(idText) : NaN;
        const ex = value as Partial<StoredExample> | null;
        const why = Number.isNaN(id) ? 'the key is not an example id' : (exampleProblem(ex?.embedding, ex?.label, head.dim) ?? (await this.checksumProblem(id, ex as StoredExample)));
        if (why) {
          bad.push({ key, id: Number.isNaN(id) ? JSON.stringify(idText) : String(id), why });
          continue;
        }
        good.push({ id, ex: ex as StoredExample });
        next = Math.max(next, id + 1);
      }
      if (good.length) {
        const added = head.add(
          good.map((g) => g.ex.embedding),
          good.map((g) => g.ex.label),
        );
        if (Array.isArray(added)) good.forEach((g, i) => this.headIds.set(g.id, added[i]));
        this.onlineCount += good.length;
      }
      if (bad.length) {
        // Moved, not deleted: kept for inspection under `quarantine:ex:<id>`. One implicit transaction.
        const moved: Record<string, unknown> = {};
        for (const q of bad) moved[QUARANTINE_PREFIX + q.key] = page.get(q.key);
        await Promise.all([this.ctx.storage.put(moved), this.ctx.storage.delete(bad.map((q) => q.key))]);
        next = Math.max(next, ...bad.map((q) => Number(q.id) + 1).filter(Number.isFinite));
        quarantined.push(...bad);
      }
      if (page.size < LOAD_PAGE) break;
    }
    this.nextId = Math.max(next, (await this.ctx.storage.get<number>('next-id')) ?? 0);
    this.head = head;
    this.loadedFrom = ref.sha256;
    if (!quarantined.length) return undefined;
    const detail = quarantined.map((q) => `${q.id}: ${q.why}`).join('; ');
    return new ApiError(
      500,
      'STORAGE_CORRUPT',
      `${quarantined.length} stored online example(s) of this head version failed validation and were quarantined (ids ${quarantined.map((q) => q.id).join(', ')}; ${detail}). ` +
        'The version now serves without them; add them again if they were wanted, then retry this request.',
    );
  }

  classify(ref: BlobRef, embeddings: Float32Array[], options: { topK?: number; threshold?: number; rejectUnknown?: boolean }, sentAt?: number): Promise<Outcome<Prediction[]>> {
    return outcome(async () => {
      shed(sentAt);
      return (await this.ensureLoaded(ref)).predict(embeddings, options);
    });
  }

  /**
   * For a snapshot in a Worker isolate: the changes after `since`, or `reset` when the snapshot
   * is from another epoch or too far behind. Cheap (no prediction here), so many isolates can
   * classify in parallel while this object only orders the writes.
   */
  sync(ref: BlobRef, since: { epoch: string; generation: number } | null, sentAt?: number): Promise<Outcome<SyncState>> {
    return outcome(async () => {
      shed(sentAt);
      const head = await this.ensureLoaded(ref);
      const state = { epoch: this.epoch, generation: this.generation, size: head instanceof KnnHead ? head.size : this.onlineCount };
      const covered = since && since.epoch === this.epoch && since.generation <= this.generation && (since.generation === this.generation || (this.log[0]?.generation ?? Infinity) <= since.generation + 1);
      if (!covered) return { ...state, reset: true };
      return { ...state, changes: this.log.filter((c) => c.generation > since.generation).map(({ bytes: _, ...c }) => c) };
    });
  }

  /** Stored online examples with ids after `afterId`, at most LOAD_PAGE, checked against their checksums. */
  page(ref: BlobRef, afterId: number, sentAt?: number): Promise<Outcome<{ examples: OnlineExample[]; done: boolean }>> {
    return outcome(async () => {
      shed(sentAt);
      await this.ensureLoaded(ref);
      const page = await this.ctx.storage.list<StoredExample>({ prefix: EXAMPLE_PREFIX, limit: LOAD_PAGE, ...(afterId >= 0 ? { startAfter: exampleKey(afterId) } : {}) });
      const examples: OnlineExample[] = [];
      for (const [key, ex] of page) {
        const id = Number(key.slice(EXAMPLE_PREFIX.length));
        if (exampleProblem(ex?.embedding, ex?.label, this.head?.dim ?? 0) || (await this.checksumProblem(id, ex))) {
          // Changed since this object loaded it: reload (which quarantines and reports it).
          this.loadedFrom = undefined;
          await this.ensureLoaded(ref);
          throw new ApiError(503, 'STORAGE_CHANGED', 'Stored examples changed while being read; retry.', 1);
        }
        examples.push({ id, embedding: ex.embedding, label: ex.label });
      }
      return { examples, done: page.size < LOAD_PAGE };
    });
  }

  addExamples(ref: BlobRef, embeddings: Float32Array[], labels: string[]): Promise<Outcome<{ ids: number[]; total: number }>> {
    return outcome(() => this.add(ref, embeddings, labels));
  }

  removeExamples(ref: BlobRef, ids: number[]): Promise<Outcome<{ removed: number }>> {
    return outcome(() => this.remove(ref, ids));
  }

  /** Drift object: adds one classify request's statistics (sent after the answer). */
  recordDrift(record: DriftRecord, config: DriftConfig): Promise<{ windowStart: number; threshold: number }> {
    return this.drift.record(record, config);
  }

  /** Drift object: the windows kept, and a sample of the newest `pool` windows with data. */
  readDrift(pool: number): Promise<{ windows: WindowSummary[]; sample: Float32Array[] }> {
    return this.drift.read(pool);
  }

  /** Drift object: forgets the statistics and refuses late records (the version is deleted). */
  clearDrift(): Promise<void> {
    return this.drift.clear();
  }

  /** Forgets everything: called when the version is deleted. */
  async clear(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.head = undefined;
    this.loadedFrom = undefined;
    this.headIds.clear();
    this.onlineCount = 0;
    this.nextId = 0;
    this.newEpoch();
  }

  private async add(ref: BlobRef, embeddings: Float32Array[], labels: string[]): Promise<{ ids: number[]; total: number }> {
    const head = await this.ensureLoaded(ref);
    // Validate before storing anything: what is stored must load again.
    if (!Array.isArray(embeddings) || !Array.isArray(labels) || embeddings.length === 0 || embeddings.length !== labels.length) {
      throw new InvalidInputError('Send one label per embedding, at least one of each.');
    }
    embeddings.forEach((e, i) => {
      const why = exampleProblem(e, labels[i], head.dim);
      if (why) throw new InvalidInputError(`Example ${i} cannot be stored: ${why}. Nothing was stored.`);
    });
    this.assertRoom(head, embeddings.length, ref.limits ?? headLimitsOf(this.env));
    const ids = embeddings.map(() => this.nextId++);
    const sums = await Promise.all(ids.map((id, i) => this.checksum(id, labels[i], embeddings[i])));
    const added = head.add(embeddings, labels);
    const entries: Record<string, StoredExample | number> = { 'next-id': this.nextId };
    ids.forEach((id, i) => (entries[exampleKey(id)] = { embedding: embeddings[i], label: labels[i], sum: sums[i] }));
    try {
      await this.ctx.storage.put(entries);
    } catch (e) {
      // The head in memory has examples that were not stored: reload it on the next request.
      this.head = undefined;
      this.loadedFrom = undefined;
      throw e;
    }
    if (Array.isArray(added)) ids.forEach((id, i) => this.headIds.set(id, added[i]));
    this.onlineCount += ids.length;
    this.record({ added: ids.map((id, i) => ({ id, embedding: embeddings[i], label: labels[i] })) });
    const total = head instanceof KnnHead ? head.size : ids.length;
    return { ids, total };
  }

  private readonly objectId = this.ctx.id.toString();

  private checksum(id: number, label: string, embedding: Float32Array): Promise<string> {
    return exampleChecksum(integritySecret(this.env), this.objectId, id, label, embedding);
  }

  /** Why a stored example fails its checksum (changed, moved to another id or object, or written without one). */
  private async checksumProblem(id: number, ex: StoredExample): Promise<string | undefined> {
    if (typeof ex.sum !== 'string') return 'it has no checksum (written outside the API, or before checksums)';
    if (!sameChecksum(ex.sum, await this.checksum(id, ex.label, ex.embedding))) return 'it fails its checksum (its label, values or id were changed)';
    return undefined;
  }

  /** A 409 HEAD_FULL, before anything is stored, when `adding` more examples would pass the version's limits. */
  private assertRoom(head: KnnHead | CentroidHead, adding: number, limits: HeadLimits): void {
    // kNN: references from the file plus online examples, all in memory; centroid: online examples replayed on load.
    const examples = (head instanceof KnnHead ? head.size : this.onlineCount) + adding;
    const bytes = head instanceof KnnHead ? workingSetBytes(head) + adding * exampleBytes(head.dim) : 0;
    const full = (what: string) =>
      new ApiError(409, 'HEAD_FULL', `${what}; nothing was stored. Remove examples (DELETE …/examples), or fit the examples into a new version, or raise the setting.`);
    if (examples > limits.maxHeadExamples) {
      throw full(`This version would hold ${examples} examples; the limit is ${limits.maxHeadExamples} per version, the head file's references included (MAX_HEAD_EXAMPLES)`);
    }
    if (bytes > limits.maxHeadBytes) throw full(`This version would need about ${bytes} bytes of memory; the limit is ${limits.maxHeadBytes} (MAX_HEAD_MEMORY_BYTES)`);
  }

  private async remove(ref: BlobRef, ids: number[]): Promise<{ removed: number }> {
    await this.ensureLoaded(ref);
    const keys = ids.map(exampleKey);
    const present = await this.ctx.storage.get<StoredExample>(keys);
    const missing = ids.filter((_, i) => !present.has(keys[i]));
    if (missing.length) throw new InvalidInputError(`No online example with id ${missing.join(', ')}; nothing was removed.`);
    await this.ctx.storage.delete(keys);
    this.onlineCount -= ids.length;
    if (this.head instanceof KnnHead) {
      this.head.remove(ids.map((id) => this.headIds.get(id) as number));
      ids.forEach((id) => this.headIds.delete(id));
      this.record({ removed: ids });
    } else {
      // Centroid sums cannot forget an example exactly in float32; rebuild from the stored ones.
      this.loadedFrom = undefined;
      await this.ensureLoaded(ref);
    }
    return { removed: ids.length };
  }
}
