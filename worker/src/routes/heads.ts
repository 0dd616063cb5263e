/** Heads: upload versions, list, metadata, aliases (with weighted canaries), delete, classify, examples, drift. */
import { BackboneMismatchError, decodeReference, LinearHead, parseHead, type AnyHead } from 'edgehead/heads';
import type { EdgeApiBody as Body } from 'edgehead';
import { Hono, type Context } from 'hono';
import { requireKey } from '../auth.js';
import { sha256Hex } from '../hash.js';
import { ApiError, badRequest, errorData, fromErrorData, notFound } from '../errors.js';
import { ByteLruCache, approxBytes } from '../cache.js';
import type { AppEnv } from '../env.js';
import { DEFAULT_HEAD_CACHE_BYTES, headLimitsOf, limitsOf } from '../limits.js';
import { assertDeclaredFits, assertHeadFits } from '../head-limits.js';
import { assertSealed, integritySecret, sealVersion } from '../integrity.js';
import { classifyKnn, forgetSnapshots } from '../snapshots.js';
import { embeddingsFor, readInputBody } from '../backbones/raw-inputs.js';
import { driftConfigOf, driftRecord, driftReport, rememberThreshold } from '../drift.js';
import { ALIAS_PATTERN, headName, parseRef, readJsonObject, readJsonText } from '../request.js';
import { blobKey, readVerified } from '../store/blobs.js';
import { Store, type VersionRow } from '../store/d1.js';
import type { Outcome } from '../durable/head-state.js';
import { AddExamplesRequest, ClassifyOptions, MAX_LABEL_LENGTH, PutAliasRequest, RemoveExamplesRequest, validated } from '../contract.js';

export const heads = new Hono<AppEnv>();

/**
 * Parsed linear heads, per isolate, by content hash (immutable, so never stale), bounded by
 * their bytes in memory (HEAD_CACHE_BYTES), not by count: a few large heads cannot fill the isolate.
 */
const headCache = new ByteLruCache<AnyHead>(DEFAULT_HEAD_CACHE_BYTES);

/** What the parsed-head cache holds now in this isolate (for tests and diagnostics). */
export const headCacheStats = () => headCache.stats;

const tenant = (c: Context<AppEnv>) => c.get('principal').tenantId;
const versionInfo = (v: VersionRow) => ({
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

heads.post('/:name/versions', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  const alias = c.req.query('alias');
  if (alias !== undefined && !ALIAS_PATTERN.test(alias)) throw badRequest('INVALID_ALIAS', `Alias "${alias}" is invalid: lower-case letters, digits, "_" or "-", starting with a letter.`);
  const { text, bytes } = await readJsonText(c);
  const limits = limitsOf(c.env);
  // What the file declares is checked before anything is built from it, then strict validation
  // before anything is stored: version, shapes, NaN/Inf, truncation (parseHead reports bad JSON).
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    file = undefined;
  }
  if (file !== undefined) assertDeclaredFits(file, limits);
  const { head, backbone } = parseHead(file ?? text);
  if (head.dim > limits.maxDim) throw badRequest('DIM_TOO_LARGE', `The head takes ${head.dim}-d embeddings; the limit is ${limits.maxDim}.`);
  assertHeadFits(head, limits);
  const sha256 = await sha256Hex(bytes);
  const tenantId = tenant(c);
  const uid = `v_${crypto.randomUUID()}`;
  const key = blobKey(tenantId, name, uid);
  const store = new Store(c.env.DB);
  try {
    await c.env.BLOBS.put(key, bytes, { sha256, httpMetadata: { contentType: 'application/json' } });
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
    const secret = integritySecret(c.env);
    for (let attempt = 0; attempt < INSERT_ATTEMPTS && !inserted; attempt++) {
      const base = await store.maxVersion(tenantId, name);
      const seals = await Promise.all(Array.from({ length: SEAL_WINDOW }, (_, i) => sealVersion(secret, { ...row, version: base + 1 + i })));
      inserted = await store.insertVersion(row, { base, seals }, alias);
    }
  } catch (e) {
    // The version row never landed: drop its blob (no other version uses this key).
    await c.env.BLOBS.delete(key).catch(() => undefined);
    if (errorData(e)?.code === 'NOT_MIGRATED') throw e;
    throw new ApiError(503, 'STORAGE_UNAVAILABLE', `Recording the version failed (${(e as Error).message}); nothing was created. Retry.`);
  }
  if (!inserted) {
    await c.env.BLOBS.delete(key).catch(() => undefined);
    throw new ApiError(503, 'STORAGE_BUSY', `Too many concurrent uploads to "${name}" (more than ${SEAL_WINDOW * INSERT_ATTEMPTS}); nothing was created. Retry in a second.`, 1);
  }
  // Answered from what was written, not re-read: a delete racing this upload must not turn a committed upload into a 500.
  return c.json({ name, ...versionInfo(inserted), alias: alias ?? null } satisfies Body<'/v1/heads/{name}/versions', 'post', 201>, 201);
});

heads.get('/', requireKey('read'), async (c) => {
  const rows = await new Store(c.env.DB).listHeads(tenant(c));
  return c.json({ heads: rows.map((r) => ({ name: r.name, latestVersion: r.latest, versions: r.versions, createdAt: r.created_at })) } satisfies Body<'/v1/heads', 'get', 200>);
});

heads.get('/:name', requireKey('read'), async (c) => {
  const name = headName(c.req.param('name'));
  const store = new Store(c.env.DB);
  const versions = await store.versions(tenant(c), name);
  if (versions.length === 0) throw notFound(`No head named "${name}".`);
  const secret = integritySecret(c.env);
  await Promise.all(versions.map((v) => assertSealed(secret, v)));
  const aliases = await store.aliases(tenant(c), name);
  return c.json({
    name,
    versions: versions.map(versionInfo),
    aliases: aliases.map((a) => ({ alias: a.alias, version: a.version, canary: a.canary_version ? { version: a.canary_version, weight: a.canary_weight } : null, updatedAt: a.updated_at })),
  } satisfies Body<'/v1/heads/{name}', 'get', 200>);
});

heads.delete('/:name', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  const store = new Store(c.env.DB);
  const rows = await store.deleteHead(tenant(c), name);
  if (rows === null) throw notFound(`No head named "${name}".`);
  for (const k of [...versionCache.keys()]) if (k.startsWith(`${tenant(c)}/${name}/`)) versionCache.delete(k);
  forgetSnapshots(rows.map((r) => r.uid));
  // The rows are gone, so the head is deleted whatever happens next. Online examples and drift statistics go with
  // their versions, and each blob belonged to the deleted rows only (one per version; rows from
  // before uids shared them within the head). A failure here leaves only unreachable state:
  // uids are never used again.
  const cleanup = await Promise.allSettled([
    ...rows.filter((r) => r.kind !== 'linear').map((r) => stateStub(c, r).clear()),
    ...rows.map((r) => driftStub(c, r).clearDrift()),
    ...[...new Set(rows.map((r) => r.blob_key))].map((k) => c.env.BLOBS.delete(k)),
  ]);
  for (const r of cleanup) if (r.status === 'rejected') console.warn('head delete: cleanup failed (state left unreachable)', r.reason);
  return c.json({ deleted: name, versions: rows.length } satisfies Body<'/v1/heads/{name}', 'delete', 200>);
});

heads.put('/:name/aliases/:alias', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  const alias = c.req.param('alias');
  if (!ALIAS_PATTERN.test(alias)) throw badRequest('INVALID_ALIAS', `Alias "${alias}" is invalid: lower-case letters, digits, "_" or "-", starting with a letter.`);
  const { version, canary: requested } = validated(PutAliasRequest, await readJsonObject(c));
  const canary = requested ?? null;
  const store = new Store(c.env.DB);
  for (const v of [version, canary?.version].filter((x): x is number => x !== undefined)) {
    if (!(await store.version(tenant(c), name, v))) throw notFound(`Head "${name}" has no version ${v}.`);
  }
  await store.setAlias(tenant(c), name, alias, version, canary);
  return c.json({ name, alias, version, canary } satisfies Body<'/v1/heads/{name}/aliases/{alias}', 'put', 200>);
});

heads.delete('/:name/aliases/:alias', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  if (!(await new Store(c.env.DB).deleteAlias(tenant(c), name, c.req.param('alias')))) throw notFound(`Head "${name}" has no alias "${c.req.param('alias')}".`);
  return c.json({ deleted: c.req.param('alias') } satisfies Body<'/v1/heads/{name}/aliases/{alias}', 'delete', 200>);
});

/**
 * Rows of explicitly numbered versions, per isolate. Versions are immutable, so the only way a
 * cached row goes stale is deletion: this isolate forgets at once, others within VERSION_CACHE_MS.
 * Aliases and "latest" are always read from D1, so alias moves are visible immediately.
 */
const VERSION_CACHE_MS = 30_000;
/** Rows carry their labels, so the cache is bounded by bytes (4 MiB), not by count. */
const versionCache = new ByteLruCache<{ row: VersionRow; secret: string }>(4 * 1024 * 1024, VERSION_CACHE_MS);

async function cachedVersion(store: Store, tenantId: string, name: string, version: number, secret: string): Promise<VersionRow | null> {
  // Keyed by the secret too: a row verified under one key says nothing under another.
  const key = `${tenantId}/${name}/${version}`;
  const hit = versionCache.get(key);
  if (hit && hit.secret === secret) return hit.row;
  const row = await store.version(tenantId, name, version);
  if (row) {
    await assertSealed(secret, row);
    versionCache.set(key, { row, secret }, approxBytes(row));
  }
  return row;
}

/**
 * name / name@version / name@alias → the version row that answers. A canary splits classify
 * traffic by weight; writes (`for: 'write'`) always go to the version the alias names.
 */
async function resolve(c: Context<AppEnv>, raw: string, options: { for: 'read' | 'write' } = { for: 'read' }): Promise<VersionRow> {
  const ref = parseRef(raw);
  const store = new Store(c.env.DB);
  const t = tenant(c);
  let row: VersionRow | null;
  if (ref.version !== undefined) row = await cachedVersion(store, t, ref.name, ref.version, integritySecret(c.env));
  else if (ref.alias !== undefined) {
    const a = await store.aliasTargets(t, ref.name, ref.alias);
    if (!a) throw notFound(`Head "${ref.name}" has no alias "${ref.alias}".`);
    row = options.for === 'read' && a.canary && Math.random() < a.weight ? a.canary : a.main;
  } else row = await store.latestVersion(t, ref.name);
  if (!row) throw notFound(ref.version !== undefined ? `Head "${ref.name}" has no version ${ref.version}.` : `No head named "${ref.name}".`);
  // Rows from the version cache were verified before they were cached.
  return ref.version !== undefined ? row : assertSealed(integritySecret(c.env), row);
}

function stateStub(c: Context<AppEnv>, row: VersionRow) {
  return c.env.HEAD_STATE.get(c.env.HEAD_STATE.idFromName(row.uid));
}

/** Keeps the Worker alive for `work` after the answer; without an execution context (app.request), it simply runs on. */
function afterResponse(c: Context<AppEnv>, work: Promise<unknown>): void {
  let ctx: ExecutionContext | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Hono throws when the app was called without one.
  }
  ctx?.waitUntil(work);
}

/** The version's drift statistics live in an object of their own: recording never queues behind a classification. */
function driftStub(c: Context<AppEnv>, row: VersionRow) {
  return c.env.HEAD_STATE.get(c.env.HEAD_STATE.idFromName(`drift:${row.uid}`));
}

/** Unwraps a Durable Object outcome: its status and code survive the RPC boundary. */
function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw fromErrorData(o);
}

heads.post('/:ref/classify', requireKey('read'), async (c) => {
  const input = await readInputBody(c);
  const options = validated(ClassifyOptions, input.fields);
  const row = await resolve(c, c.req.param('ref'));
  if (options.fingerprint !== undefined && row.fingerprint && options.fingerprint !== row.fingerprint) {
    const e = new BackboneMismatchError(row.fingerprint, options.fingerprint, row.backbone_id ?? undefined);
    throw new ApiError(409, e.code, e.message);
  }
  const embeddings = await embeddingsFor(c, row, input);
  let predictions;
  if (row.kind === 'linear') {
    headCache.resize(limitsOf(c.env).headCacheBytes);
    let head = headCache.get(row.sha256);
    if (!head) {
      head = parseHead(await readVerified(c.env.BLOBS, row.blob_key, row.sha256)).head;
      headCache.set(row.sha256, head, approxBytes(head));
    }
    predictions = (head as LinearHead).predict(embeddings, options);
  } else if (row.kind === 'knn') {
    predictions = await classifyKnn(c.env, stateStub(c, row), row, { blobKey: row.blob_key, sha256: row.sha256 }, embeddings, options);
  } else {
    predictions = unwrap(await stateStub(c, row).classify({ blobKey: row.blob_key, sha256: row.sha256 }, embeddings, options, Date.now()));
  }
  const drift = driftConfigOf(c.env);
  if (drift.enabled) {
    // After the answer: the statistics never delay or fail a classification.
    const recorded = driftStub(c, row)
      .recordDrift(driftRecord(row.uid, embeddings, predictions, drift), drift)
      .then((answer) => rememberThreshold(row.uid, answer))
      .catch((e: unknown) => console.warn('drift: not recorded', e));
    afterResponse(c, recorded);
  }
  return c.json({ head: row.name, version: row.version, predictions } satisfies Body<'/v1/heads/{ref}/classify', 'post', 200>);
});

heads.get('/:ref/drift', requireKey('read'), async (c) => {
  // An alias reports on its main version (never a randomly chosen canary).
  const row = await resolve(c, c.req.param('ref'), { for: 'write' });
  const config = driftConfigOf(c.env);
  const raw = c.req.query('windows');
  const pool = raw === undefined ? 1 : Number(raw);
  if (!Number.isInteger(pool) || pool < 1 || pool > config.windows) throw badRequest('INVALID_FIELD', `"windows" must be an integer from 1 to ${config.windows} (the windows kept).`);
  const { training } = parseHead(await readVerified(c.env.BLOBS, row.blob_key, row.sha256));
  const reference = decodeReference(training, row.dim);
  const read = await driftStub(c, row).readDrift(pool);
  return c.json({ head: row.name, version: row.version, ...driftReport(read, reference, training?.nPerClass, config, pool) } satisfies Body<'/v1/heads/{ref}/drift', 'get', 200>);
});

heads.post('/:ref/examples', requireKey('write'), async (c) => {
  const input = await readInputBody(c);
  const { labels } = validated(AddExamplesRequest.pick({ labels: true }), input.fields);
  const row = await resolve(c, c.req.param('ref'), { for: 'write' });
  if (row.kind === 'linear') throw badRequest('NOT_SUPPORTED', 'Online examples apply to knn and centroid heads; re-fit and upload a new version of a linear head.');
  const embeddings = await embeddingsFor(c, row, input, { expectedCount: labels.length });
  if (labels.length !== embeddings.length) {
    throw badRequest('INVALID_FIELD', `"labels" must be ${embeddings.length} non-empty strings (at most ${MAX_LABEL_LENGTH} characters), one per example.`);
  }
  const result = unwrap(await stateStub(c, row).addExamples({ blobKey: row.blob_key, sha256: row.sha256, limits: headLimitsOf(c.env) }, embeddings, labels));
  return c.json({ head: row.name, version: row.version, ...result } satisfies Body<'/v1/heads/{ref}/examples', 'post', 201>, 201);
});

heads.delete('/:ref/examples', requireKey('write'), async (c) => {
  const { ids } = validated(RemoveExamplesRequest, await readJsonObject(c));
  const row = await resolve(c, c.req.param('ref'), { for: 'write' });
  if (row.kind === 'linear') throw badRequest('NOT_SUPPORTED', 'Linear heads have no online examples.');
  const { maxBatch } = limitsOf(c.env);
  if (ids.length > maxBatch) throw badRequest('BATCH_TOO_LARGE', `At most ${maxBatch} ids per request; got ${ids.length}. Split the removal.`);
  const result = unwrap(await stateStub(c, row).removeExamples({ blobKey: row.blob_key, sha256: row.sha256 }, [...new Set(ids)]));
  return c.json({ head: row.name, version: row.version, ...result } satisfies Body<'/v1/heads/{ref}/examples', 'delete', 200>);
});
