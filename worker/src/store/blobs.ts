/**
 * Head files in R2, one object per version (keyed by the version's never-reused uid, so a delete
 * racing an upload of the same bytes cannot remove the new version's file); every read is
 * checked against the sha256 in D1. Rows written before uids keep their content-addressed keys.
 */
import { ApiError } from '../errors.js';
import { sha256Hex } from '../hash.js';

export function blobKey(tenantId: string, name: string, uid: string): string {
  return `heads/${tenantId}/${name}/${uid}.json`;
}

export async function readVerified(bucket: R2Bucket, key: string, sha256: string): Promise<string> {
  const obj = await bucket.get(key);
  if (!obj) throw new ApiError(500, 'STORAGE_INCONSISTENT', `The stored head file ${key} is missing; re-upload this version.`);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) throw new ApiError(500, 'STORAGE_CORRUPT', `The stored head file ${key} fails its sha256 check (expected ${sha256}, got ${actual}); re-upload this version.`);
  return new TextDecoder().decode(bytes);
}
