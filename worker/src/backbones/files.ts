/**
 * Backbone files in R2 under `backbones/<id>/<file>`, uploaded once per deployment (`edgehead push
 * --backbone`, or PUT /v1/admin/backbones/{id}/files/{name}) and sha256-checked against the
 * manifest both on upload and on every read.
 */
import type { ModelFiles } from 'edgehead';
import { ApiError, badRequest } from '../errors.js';
import { sha256Hex } from '../hash.js';
import type { ServableManifest } from './served.js';

export function backboneFileKey(id: string, name: string): string {
  return `backbones/${id}/${name}`;
}

function expected(manifest: ServableManifest, name: string) {
  const file = (manifest.files as Record<string, { sha256: string; size?: number } | undefined>)[name];
  if (!file) throw badRequest('UNKNOWN_FILE', `Backbone "${manifest.id}" has no file "${name}"; its files are ${Object.keys(manifest.files).join(', ')}.`);
  return file;
}

/** Stores one file after checking it is byte for byte the manifest's. */
export async function putBackboneFile(bucket: R2Bucket, manifest: ServableManifest, name: string, bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
  const want = expected(manifest, name);
  if (want.size !== undefined && bytes.length !== want.size) {
    throw badRequest('CHECKSUM_MISMATCH', `"${name}" of backbone "${manifest.id}" is ${want.size} bytes; got ${bytes.length}. Upload the file the manifest names.`);
  }
  const sha256 = await sha256Hex(bytes);
  if (sha256 !== want.sha256) {
    throw badRequest('CHECKSUM_MISMATCH', `"${name}" of backbone "${manifest.id}" has sha256 ${sha256}; the manifest says ${want.sha256}. Upload the file the manifest names.`);
  }
  await bucket.put(backboneFileKey(manifest.id, name), bytes, { sha256 });
  return { sha256, size: bytes.length };
}

/** Which of a backbone's files are stored (without reading them). */
export async function storedFiles(bucket: R2Bucket, manifest: ServableManifest): Promise<{ present: string[]; missing: string[] }> {
  const listed = await bucket.list({ prefix: `backbones/${manifest.id}/` });
  const have = new Set(listed.objects.map((o) => o.key.slice(`backbones/${manifest.id}/`.length)));
  const names = Object.keys(manifest.files);
  return { present: names.filter((n) => have.has(n)), missing: names.filter((n) => !have.has(n)) };
}

/** All of a backbone's files, each checked against the manifest. */
export async function readBackboneFiles(bucket: R2Bucket, manifest: ServableManifest): Promise<ModelFiles> {
  const files: ModelFiles = {};
  for (const name of Object.keys(manifest.files)) {
    const obj = await bucket.get(backboneFileKey(manifest.id, name));
    if (!obj) {
      throw new ApiError(
        503,
        'BACKBONE_NOT_UPLOADED',
        `Backbone "${manifest.id}" is served here but its file "${name}" was never uploaded. An operator runs \`edgehead push --backbone ${manifest.id} --url <worker> --key <ADMIN_TOKEN>\` once.`,
      );
    }
    const bytes = new Uint8Array(await obj.arrayBuffer());
    const sha256 = await sha256Hex(bytes);
    if (sha256 !== expected(manifest, name).sha256) {
      throw new ApiError(500, 'STORAGE_CORRUPT', `Stored file "${name}" of backbone "${manifest.id}" fails its sha256 check; upload it again with \`edgehead push --backbone ${manifest.id}\`.`);
    }
    files[name] = bytes;
  }
  return files;
}
