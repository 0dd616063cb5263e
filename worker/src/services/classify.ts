/**
 * Classification of a version's rows: linear heads from a per-isolate cache of parsed heads,
 * kNN heads from per-isolate snapshots (snapshots.ts), centroid heads by their Durable Object;
 * then, after the answer, the version's drift statistics. And the drift report.
 */
import { BackboneMismatchError, decodeReference, LinearHead, parseHead, type AnyHead, type Prediction } from 'edgehead/heads';
import { ByteLruCache, approxBytes } from '../cache.js';
import type { z } from 'zod';
import type { ClassifyOptions } from '../contract.js';
import { driftConfigOf, driftRecord, driftReport, queueDrift, rememberThreshold } from '../drift.js';
import type { Env } from '../env.js';
import { ApiError, badRequest } from '../errors.js';
import { DEFAULT_HEAD_CACHE_BYTES, limitsOf } from '../limits.js';
import { classifyKnn } from '../snapshots.js';
import { readVerified } from '../store/blobs.js';
import type { VersionRow } from '../store/d1.js';
import { driftStub, stateStub, unwrap } from './objects.js';

/**
 * Parsed linear heads, per isolate, by content hash (immutable, so never stale), bounded by
 * their bytes in memory (HEAD_CACHE_BYTES), not by count: a few large heads cannot fill the isolate.
 */
const headCache = new ByteLruCache<AnyHead>(DEFAULT_HEAD_CACHE_BYTES);

/** What the parsed-head cache holds now in this isolate (for tests and diagnostics). */
export const headCacheStats = () => headCache.stats;

/** A fingerprint the client sends must be the version's: embeddings of another backbone are 409. */
export function assertFingerprint(row: VersionRow, fingerprint: string | undefined): void {
  if (fingerprint === undefined || !row.fingerprint || fingerprint === row.fingerprint) return;
  const e = new BackboneMismatchError(row.fingerprint, fingerprint, row.backbone_id ?? undefined);
  throw new ApiError(409, e.code, e.message);
}

/**
 * One prediction per embedding. `afterResponse` keeps the Worker alive for work that must not
 * delay the answer (recording drift statistics, which never delays or fails a classification).
 */
export async function classifyRows(
  env: Env,
  row: VersionRow,
  embeddings: Float32Array[],
  options: Omit<z.output<typeof ClassifyOptions>, 'fingerprint'>,
  afterResponse: (work: Promise<unknown>) => void,
): Promise<Prediction[]> {
  let predictions: Prediction[];
  if (row.kind === 'linear') {
    headCache.resize(limitsOf(env).headCacheBytes);
    let head = headCache.get(row.sha256);
    if (!head) {
      head = parseHead(await readVerified(env.BLOBS, row.blob_key, row.sha256)).head;
      headCache.set(row.sha256, head, approxBytes(head));
    }
    predictions = (head as LinearHead).predict(embeddings, options);
  } else if (row.kind === 'knn') {
    predictions = await classifyKnn(env, stateStub(env, row), row, { blobKey: row.blob_key, sha256: row.sha256 }, embeddings, options);
  } else {
    predictions = unwrap(await stateStub(env, row).classify({ blobKey: row.blob_key, sha256: row.sha256 }, embeddings, options, Date.now()));
  }
  const drift = driftConfigOf(env);
  if (drift.enabled) {
    // Gathered per isolate for DRIFT_FLUSH_MS: one Durable Object call (and one storage write) for many classifications.
    const sending = queueDrift(row.uid, driftRecord(row.uid, embeddings, predictions, drift), drift, (record) =>
      driftStub(env, row)
        .recordDrift(record, drift)
        .then((answer) => rememberThreshold(row.uid, answer)),
    );
    if (sending) afterResponse(sending.catch((e: unknown) => console.warn('drift: not recorded', e)));
  }
  return predictions;
}

/** Drift statistics of a version: its windows, and a shift test of the newest `windows` against the head file's training sample. */
export async function driftOf(env: Env, row: VersionRow, windows: string | undefined) {
  const config = driftConfigOf(env);
  const pool = windows === undefined ? 1 : Number(windows);
  if (!Number.isInteger(pool) || pool < 1 || pool > config.windows) throw badRequest('INVALID_FIELD', `"windows" must be an integer from 1 to ${config.windows} (the windows kept).`);
  const { training } = parseHead(await readVerified(env.BLOBS, row.blob_key, row.sha256));
  const reference = decodeReference(training, row.dim);
  const read = await driftStub(env, row).readDrift(pool);
  return { head: row.name, version: row.version, ...driftReport(read, reference, training?.nPerClass, config, pool) };
}
