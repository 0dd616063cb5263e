/**
 * Integrity of stored state beyond the blob's sha256. A version row is sealed with an HMAC over
 * everything that decides an answer (tenant, name, version, uid, blob key, sha256, size, kind,
 * dim, labels, backbone, fingerprint), and each online example with an HMAC over its Durable
 * Object, id, label and bytes. The key is the INTEGRITY_KEY secret; without one a built-in key
 * is used, which still catches edits by hand or by other tools but not someone who recomputes
 * the seal. A row or example that does not verify is STORAGE_CORRUPT, never served.
 */
import { ByteLruCache } from './cache.js';
import { ApiError } from './errors.js';
import type { VersionRow } from './store/d1.js';

const BUILT_IN_KEY = 'edgehead-integrity-v1: set INTEGRITY_KEY so that a seal cannot be forged';
const SEAL_PREFIX = 'v1:';

const MIGRATE = 'Apply the migrations in worker/migrations: `npx wrangler d1 migrations apply edgehead --local` for `wrangler dev` (`--remote` for a deployed worker), then retry.';

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    if (keys.size > 4) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

async function hmacHex(secret: string, data: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.sign('HMAC', await hmacKey(secret), data));
}

/** Constant-time comparison of two hex strings. */
function same(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

export const integritySecret = (env: { INTEGRITY_KEY?: string }) => env.INTEGRITY_KEY || BUILT_IN_KEY;

/** The fields a seal covers (everything of a version row but its seal and creation time). */
export type SealedFields = Omit<VersionRow, 'seal' | 'created_at'>;

const canonicalOf = (r: SealedFields) => JSON.stringify(['version', r.tenant_id, r.name, r.version, r.uid, r.blob_key, r.sha256, r.size, r.kind, r.dim, r.labels, r.backbone_id, r.fingerprint]);

export async function sealVersion(secret: string, r: SealedFields): Promise<string> {
  return SEAL_PREFIX + (await hmacHex(secret, new TextEncoder().encode(canonicalOf(r))));
}

/**
 * Seals this isolate verified, with the exact content and key they were verified for: a row read
 * again (aliases and "latest" are read from D1 for every request, or round of requests) costs a
 * string comparison, not an HMAC.
 */
const verified = new ByteLruCache<string>(2 * 1024 * 1024);

/** Throws 500 STORAGE_CORRUPT unless the row carries a seal that verifies. */
export async function assertSealed(secret: string, row: VersionRow): Promise<VersionRow> {
  const where = `${row.name}@${row.version}`;
  if (row.seal === undefined) {
    // The column itself is missing: the database was not migrated (not a tampered row).
    throw new ApiError(503, 'NOT_MIGRATED', `The D1 database is missing migration 0004 (no versions.seal). ${MIGRATE}`);
  }
  if (!row.seal) {
    throw new ApiError(
      500,
      'STORAGE_CORRUPT',
      `Version ${where} has no integrity seal: it was written before seals existed (migration 0004), or its seal was removed. ` +
        'If its row is known to be intact, an admin seals such rows once with `POST /v1/admin/seal-versions`; otherwise re-upload it.',
    );
  }
  const canonical = `${secret.length}:${secret}\n${canonicalOf(row)}`;
  if (verified.get(row.seal) === canonical) return row;
  if (!same(row.seal, await sealVersion(secret, row))) {
    throw new ApiError(
      500,
      'STORAGE_CORRUPT',
      `The stored record of version ${where} fails its integrity seal (its kind, dimension, labels, fingerprint, file reference or number were changed outside the API, or INTEGRITY_KEY changed). It is not served; re-upload the head or restore the database.`,
    );
  }
  return row;
}

/** An online example's checksum: bound to its Durable Object (one per version), id, label and float32 bytes. */
export async function exampleChecksum(secret: string, objectId: string, id: number, label: string, embedding: Float32Array): Promise<string> {
  const header = new TextEncoder().encode(`${JSON.stringify(['example', objectId, id, label])}\n`);
  const bytes = new Uint8Array(header.length + embedding.byteLength);
  bytes.set(header);
  bytes.set(new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength), header.length);
  return hmacHex(secret, bytes);
}

export const sameChecksum = same;
