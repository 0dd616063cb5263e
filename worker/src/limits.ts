/**
 * The worker's size and memory limits, read from its settings (wrangler.toml [vars]) with
 * documented defaults. A leaf module: the Durable Object, the routes and the caches all read it.
 */

/** The settings that set limits; every one optional (strings, as Workers pass vars). */
export interface LimitSettings {
  MAX_BODY_BYTES?: string;
  MAX_BATCH?: string;
  MAX_DIM?: string;
  /** Classes per head. */
  MAX_LABELS?: string;
  /** Examples per version: a kNN head's references plus online examples (either kind). */
  MAX_HEAD_EXAMPLES?: string;
  /** A version's estimated working set in memory (parsed head with its online examples). */
  MAX_HEAD_MEMORY_BYTES?: string;
  /** Parsed linear heads kept per isolate, in bytes. */
  HEAD_CACHE_BYTES?: string;
  /** kNN snapshots (head file + online examples) kept per isolate, in bytes. */
  SNAPSHOT_CACHE_BYTES?: string;
  /** kNN classifications in flight per isolate before 503 OVERLOADED. */
  MAX_INFLIGHT_KNN?: string;
  /** kNN search queued per isolate, in milliseconds of one core, before 503 OVERLOADED. */
  KNN_QUEUE_MS?: string;
  /** How long a kNN classification waits for its round of search before 503 OVERLOADED, in ms. */
  KNN_WAIT_MS?: string;
}

/** Limits on what one head may hold (checked at upload, and by the Durable Object on every addition). */
export interface HeadLimits {
  maxLabels: number;
  maxHeadExamples: number;
  maxHeadBytes: number;
}

export interface Limits extends HeadLimits {
  maxBodyBytes: number;
  maxBatch: number;
  maxDim: number;
  headCacheBytes: number;
  snapshotCacheBytes: number;
  maxInflightKnn: number;
  knnQueueMs: number;
  knnWaitMs: number;
}

const MiB = 1024 * 1024;
/** Parsed linear heads kept per isolate unless HEAD_CACHE_BYTES says otherwise. */
export const DEFAULT_HEAD_CACHE_BYTES = 16 * MiB;

/** A setting that must be a positive finite number (a NaN wait would never end): else the default. */
function positiveOr(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

export function limitsOf(env: LimitSettings): Limits {
  return {
    maxBodyBytes: Number(env.MAX_BODY_BYTES ?? 32 * MiB),
    maxBatch: Number(env.MAX_BATCH ?? 256),
    maxDim: Number(env.MAX_DIM ?? 4096),
    maxLabels: Number(env.MAX_LABELS ?? 10_000),
    maxHeadExamples: Number(env.MAX_HEAD_EXAMPLES ?? 20_000),
    maxHeadBytes: Number(env.MAX_HEAD_MEMORY_BYTES ?? 64 * MiB),
    headCacheBytes: Number(env.HEAD_CACHE_BYTES ?? DEFAULT_HEAD_CACHE_BYTES),
    snapshotCacheBytes: Number(env.SNAPSHOT_CACHE_BYTES ?? 64 * MiB),
    maxInflightKnn: Number(env.MAX_INFLIGHT_KNN ?? 64),
    knnQueueMs: Number(env.KNN_QUEUE_MS ?? 2_000),
    knnWaitMs: positiveOr(env.KNN_WAIT_MS, 10_000),
  };
}

export function headLimitsOf(env: LimitSettings): HeadLimits {
  const { maxLabels, maxHeadExamples, maxHeadBytes } = limitsOf(env);
  return { maxLabels, maxHeadExamples, maxHeadBytes };
}
