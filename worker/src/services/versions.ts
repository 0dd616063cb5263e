/**
 * Head versions: upload (immutable, sealed, numbered under concurrency), list, details, delete
 * with everything a version owns, aliases with weighted canaries, and resolving a reference
 * (`name`, `name@3`, `name@prod`) to the version row that answers.
 */
import { parseHead } from 'edgehead/heads';
import { ApiError, badRequest, errorData, notFound } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { ByteLruCache, approxBytes } from '../cache.js';
import type { Env } from '../env.js';
import { limitsOf } from '../limits.js';
import { assertDeclaredFits, assertHeadFits } from '../head-limits.js';
import { assertSealed, integritySecret, sealVersion } from '../integrity.js';
import { forgetSnapshots } from '../snapshots.js';
import { parseRef } from '../request.js';
import { Rounds } from '../rounds.js';
import { ALIAS_DIRECTORY_TTL_MS } from '../durable/alias-directory.js';
import { blobKey } from '../store/blobs.js';
import { Store, type AliasTargets, type VersionRow } from '../store/d1.js';
import { aliasDirectory, driftStub, stateStub } from './objects.js';

export const versionInfo = (v: VersionRow) => ({
  version: v.version,
  kind: v.kind,
  dim: v.dim,
  labels: JSON.parse(v.labels) as string[],
  sha256: v.sha256,
  size: v.size,
  backbone: v.backbone_id ? { id: v.backbone_id, fingerprint: v.fingerprint } : null,
  createdAt: v.created_at,
});

/** Version numbers sealed ahead per insert attempt, and attempts before a 503 STORAGE_BUSY. */
const SEAL_WINDOW = 32;
const INSERT_ATTEMPTS = 20;

/**
 * Stores a head file as the next version of `name` (and points `alias` at it). What the file
 * declares is checked before anything is built from it, then strict validation before anything
 * is stored: version, shapes, NaN/Inf, truncation (parseHead reports bad JSON).
 */
export async function uploadVersion(env: Env, tenantId: string, name: string, alias: string | undefined, file: { text: string; bytes: Uint8Array }) {
  const limits = limitsOf(env);
  let parsed: unknown;
  try {
    parsed = JSON.parse(file.text);
  } catch {
    parsed = undefined;
  }
  if (parsed !== undefined) assertDeclaredFits(parsed, limits);
  const { head, backbone } = parseHead(parsed ?? file.text);
  if (head.dim > limits.maxDim) throw badRequest('DIM_TOO_LARGE', `The head takes ${head.dim}-d embeddings; the limit is ${limits.maxDim}.`);
  assertHeadFits(head, limits);
  const { bytes } = file;
  const sha256 = await sha256Hex(bytes);
  const uid = `v_${crypto.randomUUID()}`;
  const key = blobKey(tenantId, name, uid);
  const store = new Store(env.DB);
  try {
    await env.BLOBS.put(key, bytes, { sha256, httpMetadata: { contentType: 'application/json' } });
  } catch (e) {
    throw new ApiError(503, 'STORAGE_UNAVAILABLE', `Storing the head file failed (${(e as Error).message}); nothing was created. Retry.`);
  }
  const row: Omit<VersionRow, 'version' | 'created_at' | 'seal'> = {
    tenant_id: tenantId,
    name,
    uid,
    blob_key: key,
    sha256,
    size: bytes.length,
    kind: head.kind,
    dim: head.dim,
    labels: JSON.stringify(head.labels),
    backbone_id: backbone?.id ?? null,
    fingerprint: backbone?.fingerprint ?? null,
  };
  let inserted: VersionRow | null = null;
  try {
    // The seal binds the version number, which the insert computes: seal a window of candidates.
    const secret = integritySecret(env);
    for (let attempt = 0; attempt < INSERT_ATTEMPTS && !inserted; attempt++) {
      const base = await store.maxVersion(tenantId, name);
      const seals = await Promise.all(Array.from({ length: SEAL_WINDOW }, (_, i) => sealVersion(secret, { ...row, version: base + 1 + i })));
      inserted = await store.insertVersion(row, { base, seals }, alias);
    }
  } catch (e) {
    // The version row never landed: drop its blob (no other version uses this key).
    await env.BLOBS.delete(key).catch(() => undefined);
    if (errorData(e)?.code === 'NOT_MIGRATED') throw e;
    throw new ApiError(503, 'STORAGE_UNAVAILABLE', `Recording the version failed (${(e as Error).message}); nothing was created. Retry.`);
  }
  if (!inserted) {
    await env.BLOBS.delete(key).catch(() => undefined);
    throw new ApiError(503, 'STORAGE_BUSY', `Too many concurrent uploads to "${name}" (more than ${SEAL_WINDOW * INSERT_ATTEMPTS}); nothing was created. Retry in a second.`, 1);
  }
  if (alias !== undefined) {
    // The version exists whatever happens now: a failed announcement is logged, not answered as
    // a failed upload (a retry would make another version); the move is then seen within the
    // directory's TTL.
    await announceAliasChange(env, tenantId, name).catch((e) => console.warn(`upload: alias "${alias}" of "${name}" moved, announcement failed`, e));
  }
  // Answered from what was written, not re-read: a delete racing this upload must not turn a committed upload into a 500.
  return { name, ...versionInfo(inserted), alias: alias ?? null };
}

export async function listHeads(env: Env, tenantId: string) {
  const rows = await new Store(env.DB).listHeads(tenantId);
  return { heads: rows.map((r) => ({ name: r.name, latestVersion: r.latest, versions: r.versions, createdAt: r.created_at })) };
}

/** Every version (each row's seal checked) and alias of a head. */
export async function headDetails(env: Env, tenantId: string, name: string) {
  const store = new Store(env.DB);
  const versions = await store.versions(tenantId, name);
  if (versions.length === 0) throw notFound(`No head named "${name}".`);
  const secret = integritySecret(env);
  await Promise.all(versions.map((v) => assertSealed(secret, v)));
  const aliases = await store.aliases(tenantId, name);
  return {
    name,
    versions: versions.map(versionInfo),
    aliases: aliases.map((a) => ({ alias: a.alias, version: a.version, canary: a.canary_version ? { version: a.canary_version, weight: a.canary_weight } : null, updatedAt: a.updated_at })),
  };
}

/** Deletes a head: its rows first (then it is gone whatever happens), then what its versions own. */
export async function deleteHead(env: Env, tenantId: string, name: string) {
  const rows = await new Store(env.DB).deleteHead(tenantId, name);
  if (rows === null) throw notFound(`No head named "${name}".`);
  for (const k of [...versionCache.keys()]) if (k.startsWith(`${tenantId}/${name}/`)) versionCache.delete(k);
  forgetSnapshots(rows.map((r) => r.uid));
  // A stale answer would name a deleted upload, which resolving detects by its uid and reads
  // again, so a failure here costs only those reads.
  await announceAliasChange(env, tenantId, name).catch((e) => console.warn('head delete: alias announcement failed', e));
  // Online examples and drift statistics go with their versions, and each blob belonged to the
  // deleted rows only (one per version; rows from before uids shared them within the head). A
  // failure here leaves only unreachable state: uids are never used again.
  const cleanup = await Promise.allSettled([
    ...rows.filter((r) => r.kind !== 'linear').map((r) => stateStub(env, r).clear()),
    ...rows.map((r) => driftStub(env, r).clearDrift()),
    ...[...new Set(rows.map((r) => r.blob_key))].map((k) => env.BLOBS.delete(k)),
  ]);
  for (const r of cleanup) if (r.status === 'rejected') console.warn('head delete: cleanup failed (state left unreachable)', r.reason);
  return { deleted: name, versions: rows.length };
}

export async function setAlias(env: Env, tenantId: string, name: string, alias: string, version: number, canary: { version: number; weight: number } | null) {
  const store = new Store(env.DB);
  for (const v of [version, canary?.version].filter((x): x is number => x !== undefined)) {
    if (!(await store.version(tenantId, name, v))) throw notFound(`Head "${name}" has no version ${v}.`);
  }
  await store.setAlias(tenantId, name, alias, version, canary);
  await announceAliasChange(env, tenantId, name);
  return { name, alias, version, canary };
}

export async function deleteAlias(env: Env, tenantId: string, name: string, alias: string) {
  if (!(await new Store(env.DB).deleteAlias(tenantId, name, alias))) throw notFound(`Head "${name}" has no alias "${alias}".`);
  await announceAliasChange(env, tenantId, name);
  return { deleted: alias };
}

/**
 * Rows of versions, per isolate. Versions are immutable, so the only way a cached row goes stale
 * is deletion: this isolate forgets at once, others within VERSION_CACHE_MS for explicit numbers.
 * Aliases are read from the head's alias directory (as version numbers and ids, told of every
 * move, so moves are visible immediately, and a row cached under a reused number is refetched);
 * "latest" from D1.
 */
const VERSION_CACHE_MS = 30_000;
/** Rows carry their labels, so the cache is bounded by bytes (4 MiB), not by count. */
const versionCache = new ByteLruCache<{ row: VersionRow; secret: string }>(4 * 1024 * 1024, VERSION_CACHE_MS);

/**
 * The verified row of version `version`; with `uid`, only that version (null when the number
 * now belongs to another upload: the head was deleted and uploaded again since `uid` was read).
 */
async function cachedVersion(store: Store, tenantId: string, name: string, version: number, secret: string, uid?: string): Promise<VersionRow | null> {
  // Keyed by the secret too: a row verified under one key says nothing under another.
  const key = `${tenantId}/${name}/${version}`;
  const hit = versionCache.get(key);
  if (hit && hit.secret === secret && (uid === undefined || hit.row.uid === uid)) return hit.row;
  const row = await store.version(tenantId, name, version);
  if (row && uid !== undefined && row.uid !== uid) return null;
  if (row) {
    await assertSealed(secret, row);
    versionCache.set(key, { row, secret }, approxBytes(row));
  }
  return row;
}

/** Attempts at telling a head's alias directory of a committed change before giving up. */
const ANNOUNCE_ATTEMPTS = 3;

/**
 * Tells the head's alias directory that its aliases changed in D1 (after the commit, before the
 * change is acknowledged: that is what keeps moves immediate). Retried; if the directory cannot
 * be reached, a 503 says the change is stored and that repeating the request is safe.
 */
async function announceAliasChange(env: Env, tenantId: string, name: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < ANNOUNCE_ATTEMPTS; attempt++) {
    try {
      await aliasDirectory(env, tenantId, name).moved();
      return;
    } catch (e) {
      last = e;
    }
  }
  throw new ApiError(
    503,
    'STORAGE_UNAVAILABLE',
    `The alias change to "${name}" is stored, but not every worker instance could be told yet (${(last as Error)?.message}); ` +
      `it is seen everywhere within ${ALIAS_DIRECTORY_TTL_MS / 1000} s. Repeating the request is safe and makes it immediate.`,
    1,
  );
}

/** An alias's targets from the head's directory (in memory there), or from D1 when the directory fails. */
async function directoryTargets(env: Env, store: Store, tenantId: string, name: string, alias: string): Promise<AliasTargets | null> {
  try {
    return await aliasDirectory(env, tenantId, name).targets(tenantId, name, alias);
  } catch (e) {
    console.warn('alias directory unavailable; reading D1', e);
    return store.aliasTargets(tenantId, name, alias);
  }
}

/**
 * Alias reads shared by the concurrent requests of an isolate (rounds.ts): one call to the head's
 * alias directory answers every request that arrived before it was sent, so an alias moved before
 * a request arrived is what the request gets (moves stay immediate), while a busy alias costs one
 * in-memory call a round, not a D1 read a request.
 */
const aliasRounds = new Map<string, Rounds<AliasTargets | null>>();
const aliasTally = { rounds: 0, members: 0 };
/** How long an alias lookup waits for its shared read before 503 OVERLOADED (many D1 round trips). */
const ALIAS_WAIT_MS = 2_000;

/** Shared alias reads in this isolate (for tests and diagnostics). */
export const aliasReadStats = () => ({ ...aliasTally, pending: aliasRounds.size });

async function sharedAliasRead(env: Env, store: Store, tenantId: string, name: string, alias: string): Promise<AliasTargets | null> {
  const key = JSON.stringify([tenantId, name, alias]);
  let rounds = aliasRounds.get(key);
  if (!rounds) aliasRounds.set(key, (rounds = new Rounds<AliasTargets | null>(aliasTally)));
  try {
    return await rounds.join(
      {},
      {
        waitMs: ALIAS_WAIT_MS,
        overloaded: 'This alias lookup',
        run: async (members) => {
          const targets = await directoryTargets(env, store, tenantId, name, alias);
          for (const m of members) m.answer = { value: targets };
        },
      },
    );
  } finally {
    if (rounds.idle && aliasRounds.get(key) === rounds) aliasRounds.delete(key);
  }
}

/**
 * The row an alias sends this request to (a canary by weight for reads); undefined when there is
 * no such alias, null when its target's number was taken by a newer upload after the alias was read.
 */
async function aliasRow(
  store: Store,
  tenantId: string,
  name: string,
  alias: string,
  use: 'read' | 'write',
  secret: string,
  readTargets: (store: Store, tenantId: string, name: string, alias: string) => Promise<AliasTargets | null>,
): Promise<VersionRow | null | undefined> {
  const a = await readTargets(store, tenantId, name, alias);
  if (!a) return undefined;
  const target = use === 'read' && a.canary && Math.random() < a.weight ? a.canary : a.main;
  return cachedVersion(store, tenantId, name, target.version, secret, target.uid);
}

/**
 * name / name@version / name@alias → the version row that answers. A canary splits classify
 * traffic by weight; writes (`for: 'write'`) always go to the version the alias names.
 */
export async function resolveRef(env: Env, tenantId: string, raw: string, options: { for: 'read' | 'write' } = { for: 'read' }): Promise<VersionRow> {
  const ref = parseRef(raw);
  const store = new Store(env.DB);
  let row: VersionRow | null;
  if (ref.version !== undefined) row = await cachedVersion(store, tenantId, ref.name, ref.version, integritySecret(env));
  else if (ref.alias !== undefined) {
    let found = await aliasRow(store, tenantId, ref.name, ref.alias, options.for, integritySecret(env), (...key) => sharedAliasRead(env, ...key));
    if (found === null) {
      // The target was deleted (and its number perhaps reused) since the alias was read: read it
      // again from D1, alone, and make the directory forget the answer it gave.
      found = await aliasRow(store, tenantId, ref.name, ref.alias, options.for, integritySecret(env), (s, ...key) => s.aliasTargets(...key));
      await announceAliasChange(env, tenantId, ref.name).catch((e) => console.warn('alias directory: stale answer not forgotten', e));
    }
    if (!found) throw notFound(`Head "${ref.name}" has no alias "${ref.alias}".`);
    row = found;
  } else row = await store.latestVersion(tenantId, ref.name);
  if (!row) throw notFound(ref.version !== undefined ? `Head "${ref.name}" has no version ${ref.version}.` : `No head named "${ref.name}".`);
  // Rows from the version cache were verified before they were cached.
  return ref.version !== undefined || ref.alias !== undefined ? row : assertSealed(integritySecret(env), row);
}
