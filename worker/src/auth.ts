/**
 * API keys: random, shown once, stored as SHA-256. A key belongs to one tenant and has a scope
 * (read: classify and list; write: also upload, alias, add examples, delete).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';
import type { AppEnv, Principal } from './env.js';
import { sha256Hex } from './hash.js';
import { Store } from './store/d1.js';

export function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `ehk_${btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

/** A key's public id: listed, revoked and rotated by it; says nothing about the key. */
export function newKeyId(): string {
  return `k_${[...crypto.getRandomValues(new Uint8Array(10))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Constant-time comparison for the admin token. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * Per client address, for what costs the worker without a known key: requests with a missing or
 * not-yet-cached key (each a D1 lookup) and admin requests (right token or wrong).
 */
async function limitByAddress(c: Context<AppEnv>): Promise<void> {
  const limiter = c.env.AUTH_RATE_LIMITER ?? c.env.RATE_LIMITER;
  if (!limiter || c.env.RATE_LIMIT === 'off') return;
  const address = c.req.header('cf-connecting-ip') ?? 'unknown';
  const { success } = await limiter.limit({ key: `ip:${address}` });
  if (!success) {
    throw new ApiError(429, 'RATE_LIMITED', 'Too many requests from this address without a valid API key, or to admin routes; check the key, slow down and retry in a minute.', 60);
  }
}

/** The least an ADMIN_TOKEN must have: long, and not a few characters repeated. */
export const ADMIN_TOKEN_MIN_LENGTH = 32;
export const ADMIN_TOKEN_MIN_DISTINCT = 10;

/**
 * Refuses to serve admin routes under a guessable token ("changeme", a short word, one character
 * repeated): a 503 saying how to make a good one, never naming the token.
 */
function assertStrongAdminToken(token: string): void {
  const distinct = new Set(token).size;
  if (token.length >= ADMIN_TOKEN_MIN_LENGTH && distinct >= ADMIN_TOKEN_MIN_DISTINCT) return;
  throw new ApiError(
    503,
    'ADMIN_TOKEN_WEAK',
    `The configured ADMIN_TOKEN is too weak (${token.length} characters, ${distinct} distinct; needs at least ${ADMIN_TOKEN_MIN_LENGTH} and ${ADMIN_TOKEN_MIN_DISTINCT}), so admin routes are off. ` +
      'Set a random one: `openssl rand -base64 32 | npx wrangler secret put ADMIN_TOKEN` (or ADMIN_TOKEN=<that> in .dev.vars locally).',
  );
}

export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  await limitByAddress(c);
  const token = bearer(c.req.header('authorization'));
  if (!c.env.ADMIN_TOKEN) throw new ApiError(503, 'ADMIN_DISABLED', 'No ADMIN_TOKEN is configured; set it with `wrangler secret put ADMIN_TOKEN` (or .dev.vars locally).');
  assertStrongAdminToken(c.env.ADMIN_TOKEN);
  if (!token || !sameSecret(token, c.env.ADMIN_TOKEN)) throw new ApiError(401, 'UNAUTHORIZED', 'Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`.');
  await next();
};

/**
 * Valid keys are remembered per isolate for up to KEY_CACHE_MS, saving a D1 read on every
 * request; unknown keys are never cached (a key created a moment ago works at once). Every
 * revocation bumps one generation number in D1; an isolate re-reads it at most KEY_RECHECK_MS
 * after its last read, before using a cached key, and drops the keys cached under an older
 * generation. So a revoked key is refused at once by the isolate that revoked it and within
 * KEY_RECHECK_MS (plus D1's own replication) everywhere else, for the cost of one small D1 read
 * per isolate every KEY_RECHECK_MS, however many keys it serves.
 */
const KEY_CACHE_MS = 60_000;
export const KEY_RECHECK_MS = 2_000;
const keyCache = new Map<string, { tenantId: string; scope: 'read' | 'write'; generation: number; until: number }>();
let known = { generation: -1, checkedAt: 0 };

function learnGeneration(generation: number): void {
  if (generation !== known.generation) keyCache.clear();
  known = { generation, checkedAt: Date.now() };
}

/** Makes the next request re-read the generation: this isolate just revoked a key. */
export function forgetCachedKeys(): void {
  keyCache.clear();
  known = { generation: -1, checkedAt: 0 };
}

/** The key's tenant and scope, from the cache or D1; `beforeLookup` runs before a key is looked up in D1. */
async function lookupKey(db: D1Database, keyHash: string, beforeLookup: () => Promise<void>): Promise<{ tenantId: string; scope: 'read' | 'write' } | null> {
  const store = new Store(db);
  const cached = keyCache.get(keyHash);
  if (cached && cached.until > Date.now()) {
    if (Date.now() - known.checkedAt >= KEY_RECHECK_MS) learnGeneration(await store.keyGeneration());
    if (cached.generation === known.generation) return cached;
  }
  await beforeLookup();
  const { key, generation } = await store.keyWithGeneration(keyHash);
  learnGeneration(generation);
  if (!key) return null;
  if (keyCache.size > 10_000) keyCache.clear();
  const entry = { tenantId: key.tenant_id, scope: key.scope, generation, until: Date.now() + KEY_CACHE_MS };
  keyCache.set(keyHash, entry);
  return entry;
}

export function requireKey(scope: Principal['scope']): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = bearer(c.req.header('authorization'));
    if (!key) {
      await limitByAddress(c);
      throw new ApiError(401, 'UNAUTHORIZED', 'Send your API key as `Authorization: Bearer <key>`.');
    }
    const keyHash = await sha256Hex(key);
    const row = await lookupKey(c.env.DB, keyHash, () => limitByAddress(c));
    if (!row) throw new ApiError(401, 'UNAUTHORIZED', 'This API key is not valid (revoked or mistyped).');
    if (scope === 'write' && row.scope !== 'write') throw new ApiError(403, 'FORBIDDEN', 'This is a read-only key; use a write key to change heads.');
    if (c.env.RATE_LIMITER && c.env.RATE_LIMIT !== 'off') {
      const { success } = await c.env.RATE_LIMITER.limit({ key: keyHash });
      if (!success) throw new ApiError(429, 'RATE_LIMITED', 'Too many requests for this API key; slow down and retry in a minute.', 60);
    }
    c.set('principal', { tenantId: row.tenantId, scope: row.scope, keyHash });
    await next();
  };
}
