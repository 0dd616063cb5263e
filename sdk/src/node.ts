/**
 * Node additions: manifests from disk, model files from packages/shared folder/cache, image
 * decoding with sharp, and one call from a manifest id to a ready backbone.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackbone, type AnyBackbone, type CreateBackboneOptions } from './backbone/create.js';
import { decodeModel, summarizeModel } from './backbone/onnx/graph.js';
import { NotFoundError, InvalidManifestError } from './core/errors.js';
import { sha256Hex } from './core/hash.js';
import { loadModelFilesNode, type NodeFilesOptions } from './manifest/files-node.js';
import { parseManifest, type ImageManifest, type Manifest } from './manifest/manifest.js';

export * from './index.js';
export { decodeImageBytes, readImageFile } from './inputs/image/decode-node.js';
export { loadModelFilesNode, defaultSharedDir, defaultCacheDir, type NodeFilesOptions } from './manifest/files-node.js';
export { startLocalWorker, bootstrapTenant, type LocalWorker, type LocalWorkerOptions } from './cli/local-worker.js';

/** models/manifests of this repository (or $EDGEHEAD_MANIFESTS_DIR). */
export function manifestsDir(): string {
  if (process.env.EDGEHEAD_MANIFESTS_DIR) return resolve(process.env.EDGEHEAD_MANIFESTS_DIR);
  const here = dirname(fileURLToPath(import.meta.url));
  // The published package carries a copy in dist/manifests (npm run build); in the repository,
  // sdk/src and sdk/dist both sit two levels below models/.
  const bundled = join(here, 'manifests');
  return existsSync(bundled) ? bundled : join(here, '..', '..', 'models', 'manifests');
}

export async function listManifests(): Promise<Manifest[]> {
  const dir = manifestsDir();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(names.map((n) => readManifestFile(join(dir, n))));
}

async function readManifestFile(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new NotFoundError(`Cannot read manifest ${path}.`, { cause });
  }
  try {
    return parseManifest(JSON.parse(text));
  } catch (cause) {
    if (cause instanceof InvalidManifestError) throw cause;
    throw new InvalidManifestError(`${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/** ImageNet-style defaults for an ONNX image model given as a bare file. */
async function manifestForOnnxFile(path: string, cut?: string): Promise<{ manifest: ImageManifest; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new NotFoundError(`Cannot read model file ${path}.`, { cause });
  }
  const summary = summarizeModel(decodeModel(bytes));
  const input = summary.inputs[0];
  if (!input) throw new InvalidManifestError(`${path} has no inputs.`);
  const nhwc = input.shape[3] === 3;
  const size = Number(nhwc ? input.shape[1] : input.shape[2]) > 0 ? Number(nhwc ? input.shape[1] : input.shape[2]) : 224;
  const output = cut ?? summary.outputs[0]?.name ?? '';
  const manifest: ImageManifest = {
    id: basename(path, extname(path)).toLowerCase().replace(/[^a-z0-9._-]/g, '-'),
    name: `${basename(path)} (ad-hoc: ImageNet preprocessing assumed)`,
    modality: 'image',
    format: 'onnx',
    license: { name: 'unknown (bare model file; check its source)' },
    files: { model: { sha256: await sha256Hex(bytes), size: bytes.length, sources: [{ file: resolve(path) }] } },
    input: {
      name: input.name,
      image: {
        width: size, height: size, resize: 'bilinear', resizeShorterTo: Math.round((size * 256) / 224),
        channelOrder: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
        layout: nhwc ? 'NHWC' : 'NCHW',
      },
    },
    output: { tensor: output, cut: cut !== undefined, pooling: 'none', dim: 0 },
  };
  return { manifest, bytes };
}

/** A manifest id from models/manifests, a manifest .json path, or a bare .onnx image model. */
export async function resolveManifest(idOrPath: string, cut?: string): Promise<Manifest> {
  if (idOrPath.endsWith('.json')) return readManifestFile(idOrPath);
  if (idOrPath.endsWith('.onnx')) return (await manifestForOnnxFile(idOrPath, cut)).manifest;
  const path = join(manifestsDir(), `${idOrPath}.json`);
  try {
    return await readManifestFile(path);
  } catch (cause) {
    if (!(cause instanceof NotFoundError)) throw cause;
    const known = (await listManifests()).map((m) => m.id);
    throw new NotFoundError(`Unknown backbone "${idOrPath}". Known: ${known.join(', ')}; or pass a manifest .json or an .onnx file.`);
  }
}

export interface LoadBackboneOptions extends CreateBackboneOptions, NodeFilesOptions {}

/** Manifest id/path → verified files → a ready backbone. */
export async function loadBackbone(idOrPath: string, options: LoadBackboneOptions = {}): Promise<{ backbone: AnyBackbone; manifest: Manifest }> {
  const manifest = await resolveManifest(idOrPath, options.cut);
  const files = await loadModelFilesNode(manifest, options);
  const backbone = await createBackbone(manifest, files, options);
  return { backbone, manifest };
}
