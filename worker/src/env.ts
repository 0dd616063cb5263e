/** The worker's bindings (declared in wrangler.toml) and settings. Read only through `c.env`. */
import type { HeadState } from './durable/head-state.js';

export interface Env {
  DB: D1Database;
  BLOBS: R2Bucket;
  HEAD_STATE: DurableObjectNamespace<HeadState>;
  /** Workers rate-limiting binding; absent in setups without it (then no per-key limit). */
  RATE_LIMITER?: RateLimit;
  /**
   * Limits traffic without a valid cached key (missing or unknown keys, before their D1 lookup)
   * and admin routes, per client address. Optional: RATE_LIMITER, keyed `ip:<address>`, otherwise.
   */
  AUTH_RATE_LIMITER?: RateLimit;
  /** Bootstrap secret for /v1/admin (`wrangler secret put ADMIN_TOKEN`, `.dev.vars` locally). */
  ADMIN_TOKEN?: string;
  /**
   * Key for the integrity seals of version rows and online examples (`wrangler secret put
   * INTEGRITY_KEY`); a built-in key otherwise, which catches edits but not forgery.
   */
  INTEGRITY_KEY?: string;
  /** "off" disables the per-key and per-address limits (local load tests only). */
  RATE_LIMIT?: string;
  /**
   * Origins whose pages may call the API from a browser: unset or "off" (default) for none, "*"
   * for any, or a comma-separated list of exact origins. Never applies to /v1/admin.
   */
  CORS_ORIGINS?: string;
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
}

const MiB = 1024 * 1024;
/** Parsed linear heads kept per isolate unless HEAD_CACHE_BYTES says otherwise. */
export const DEFAULT_HEAD_CACHE_BYTES = 16 * MiB;

export function limitsOf(env: Partial<Env>): Limits {
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
  };
}

export function headLimitsOf(env: Env): HeadLimits {
  const { maxLabels, maxHeadExamples, maxHeadBytes } = limitsOf(env);
  return { maxLabels, maxHeadExamples, maxHeadBytes };
}

export interface Principal {
  tenantId: string;
  scope: 'read' | 'write';
  keyHash: string;
}

export type AppEnv = { Bindings: Env; Variables: { principal: Principal } };

export const SERVICE_VERSION = '0.1.0';
