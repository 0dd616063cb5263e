/** The worker's bindings (declared in wrangler.toml) and settings. Read only through `c.env`. */
import type { BackboneSettings } from './backbones/served.js';
import type { AliasDirectory } from './durable/alias-directory.js';
import type { HeadState } from './durable/head-state.js';
import type { DriftSettings } from './drift.js';
import type { LimitSettings } from './limits.js';

/**
 * The worker's bindings and settings. Every binding wrangler.toml declares must appear here with
 * its type: `npm run types` regenerates worker/bindings.d.ts (wrangler types), `npm test` checks it
 * is current, and worker/test/bindings.test.ts fails to compile when Env lacks one. Settings
 * are optional strings (limits: LimitSettings); secrets and optional bindings wrangler cannot see
 * are declared here only.
 */
export interface Env extends LimitSettings, DriftSettings, BackboneSettings {
  DB: D1Database;
  BLOBS: R2Bucket;
  HEAD_STATE: DurableObjectNamespace<HeadState>;
  ALIASES: DurableObjectNamespace<AliasDirectory>;
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
}

export interface Principal {
  tenantId: string;
  scope: 'read' | 'write';
  keyHash: string;
}

export type AppEnv = { Bindings: Env; Variables: { principal: Principal } };

export const SERVICE_VERSION = '0.1.0';
