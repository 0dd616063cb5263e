/** Online examples of kNN and centroid versions, kept by the version's Durable Object. */
import { MAX_LABEL_LENGTH } from '../contract.js';
import type { Env } from '../env.js';
import { badRequest } from '../errors.js';
import { headLimitsOf, limitsOf } from '../limits.js';
import type { VersionRow } from '../store/d1.js';
import { stateStub, unwrap } from './objects.js';

export function assertTakesExamples(row: VersionRow): void {
  if (row.kind === 'linear') throw badRequest('NOT_SUPPORTED', 'Online examples apply to knn and centroid heads; re-fit and upload a new version of a linear head.');
}

export async function addExamples(env: Env, row: VersionRow, embeddings: Float32Array[], labels: string[]) {
  if (labels.length !== embeddings.length) {
    throw badRequest('INVALID_FIELD', `"labels" must be ${embeddings.length} non-empty strings (at most ${MAX_LABEL_LENGTH} characters), one per example.`);
  }
  const result = unwrap(await stateStub(env, row).addExamples({ blobKey: row.blob_key, sha256: row.sha256, limits: headLimitsOf(env) }, embeddings, labels));
  return { head: row.name, version: row.version, ...result };
}

export async function removeExamples(env: Env, row: VersionRow, ids: number[]) {
  const { maxBatch } = limitsOf(env);
  if (ids.length > maxBatch) throw badRequest('BATCH_TOO_LARGE', `At most ${maxBatch} ids per request; got ${ids.length}. Split the removal.`);
  const result = unwrap(await stateStub(env, row).removeExamples({ blobKey: row.blob_key, sha256: row.sha256 }, [...new Set(ids)]));
  return { head: row.name, version: row.version, ...result };
}
