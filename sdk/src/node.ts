/**
 * Node additions: manifests from disk, model files from packages/shared folder/cache, image
 * decoding with sharp, and one call from a manifest id to a ready backbone.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { createBackbone, type AnyBackbone, type BackboneFor, type CreateBackboneOptions, type ImageBackbone } from './backbone/create.js';
import { summarizeModel } from './backbone/onnx/graph.js';
import { setPlatformDefaults } from './backbone/onnx/runtime.js';
import { NotFoundError, InvalidManifestError, InvalidInputError } from './core/errors.js';
import { sha256Hex } from './core/hash.js';
import { loadModelFilesNode, type NodeFilesOptions } from './manifest/files-node.js';
import { parseManifest, type ImageManifest, type Manifest, type Modality } from './manifest/manifest.js';

export * from './index.js';
export { decodeImageBytes, readImageFile, type DecodeOptions } from './inputs/image/decode-node.js';
export { loadModelFilesNode, defaultSharedDir, defaultCacheDir, type NodeFilesOptions } from './manifest/files-node.js';
export { startLocalWorker, bootstrapTenant, type LocalWorker, type LocalWorkerOptions } from './cli/local-worker.js';

// WASM threads default to the cores Node has (capped: more threads stop helping past 4 here).
setPlatformDefaults({ threads: () => Math.max(1, Math.min(4, availableParallelism())) });

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where manifest ids are looked up, in order: $EDGEHEAD_MANIFESTS_DIR alone when set; else the
 * repository's models/manifests (when this package runs from an edgehead checkout) and the
 * catalogue shipped in the package (dist/manifests: the backbones a package user can obtain).
 */
export function manifestDirs(): string[] {
  if (process.env.EDGEHEAD_MANIFESTS_DIR) return [resolve(process.env.EDGEHEAD_MANIFESTS_DIR)];
  // sdk/src and sdk/dist both sit two levels below the repository root.
  const repoRoot = join(here, '..', '..');
  const inRepo = existsSync(join(repoRoot, 'sdk', 'package.json')) && existsSync(join(repoRoot, 'models', 'manifests'));
  const dirs = inRepo ? [join(repoRoot, 'models', 'manifests')] : [];
  const bundled = join(here, 'manifests');
  if (existsSync(bundled)) dirs.push(bundled);
  return dirs;
}

/** The first of `manifestDirs()` (kept for callers that want one folder). */
export function manifestsDir(): string {
  return manifestDirs()[0] ?? join(here, 'manifests');
}

export async function listManifests(): Promise<Manifest[]> {
  const byId = new Map<string, Manifest>();
  for (const dir of manifestDirs()) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
    for (const manifest of await Promise.all(names.map((n) => readManifestFile(join(dir, n))))) {
      if (!byId.has(manifest.id)) byId.set(manifest.id, manifest);
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

async function readManifestFile(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new NotFoundError(`Cannot read manifest ${path}.`, { cause });
  }
  try {
    const manifest = parseManifest(JSON.parse(text));
    // A relative `file` source is relative to the manifest (a model written beside it travels with it).
    for (const file of Object.values(manifest.files)) {
      for (const source of file.sources) if ('file' in source && !isAbsolute(source.file)) source.file = resolve(dirname(path), source.file);
    }
    return manifest;
  } catch (cause) {
    if (cause instanceof InvalidManifestError) throw cause;
    throw new InvalidManifestError(`${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Which tensor of a bare .onnx file is the embedding. */
export interface OnnxFileOutput {
  /** Cut the graph at this inner tensor (it becomes the only output). */
  cut?: string;
  /** Use this declared graph output. Required when the file has several outputs and no `cut`. */
  output?: string;
}

/** ImageNet-style defaults for an ONNX image model given as a bare file. */
async function manifestForOnnxFile(path: string, choice: OnnxFileOutput): Promise<{ manifest: ImageManifest; bytes: Uint8Array }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new NotFoundError(`Cannot read model file ${path}.`, { cause });
  }
  const summary = summarizeModel(bytes);
  const input = summary.inputs[0];
  if (!input) throw new InvalidManifestError(`${path} has no inputs.`);
  const nhwc = input.shape[3] === 3;
  const size = Number(nhwc ? input.shape[1] : input.shape[2]) > 0 ? Number(nhwc ? input.shape[1] : input.shape[2]) : 224;
  const outputs = summary.outputs.map((o) => `${o.name} [${o.shape.join(',')}]`).join(', ');
  let output: string;
  if (choice.cut !== undefined) output = choice.cut;
  else if (choice.output !== undefined) {
    if (!summary.outputs.some((o) => o.name === choice.output)) {
      throw new InvalidInputError(`${path} has no output "${choice.output}"; its outputs are ${outputs}. To use an inner tensor, pass it as cut instead.`);
    }
    output = choice.output;
  } else if (summary.outputs.length === 1) output = summary.outputs[0].name;
  else {
    // Guessing would silently embed with e.g. 1000-d logits instead of the features.
    throw new InvalidInputError(
      `${path} has ${summary.outputs.length} outputs: ${outputs}. Say which one is the embedding: ` +
        '`{ output: "<name>" }` (CLI: --output <name>), or cut at an inner tensor with `{ cut: "<name>" }` (--cut).',
    );
  }
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
    output: { tensor: output, cut: choice.cut !== undefined, pooling: 'none', dim: 0 },
  };
  return { manifest, bytes };
}

/**
 * A manifest id from the catalogue, a manifest .json path, or a bare .onnx image model.
 * `choice` (or a plain cut tensor name) applies to bare .onnx files.
 */
export async function resolveManifest(idOrPath: string, choice: OnnxFileOutput | string = {}): Promise<Manifest> {
  if (idOrPath.endsWith('.json')) return readManifestFile(idOrPath);
  if (idOrPath.endsWith('.onnx')) return (await manifestForOnnxFile(idOrPath, typeof choice === 'string' ? { cut: choice } : choice)).manifest;
  for (const dir of manifestDirs()) {
    try {
      return await readManifestFile(join(dir, `${idOrPath}.json`));
    } catch (cause) {
      if (!(cause instanceof NotFoundError)) throw cause;
    }
  }
  const known = (await listManifests()).map((m) => m.id);
  throw new NotFoundError(`Unknown backbone "${idOrPath}". Known: ${known.join(', ')}; or pass a manifest .json or an .onnx file.`);
}

/**
 * The published catalogue's backbone ids and their modalities, so `loadBackbone('use-lite')` is
 * typed as a text backbone. (A test checks this table against the shipped manifests.)
 */
export interface KnownBackbones {
  'mobilenetv2-int8': 'image';
  'use-lite': 'text';
  'openwakeword-embedding': 'audio';
}

export interface LoadBackboneOptions extends CreateBackboneOptions, NodeFilesOptions {
  /** For a bare .onnx file: the declared output to use when it has several. */
  output?: string;
  /** Fail unless the backbone has this modality (and type the result accordingly). */
  modality?: Modality;
}

export interface LoadedBackbone<B extends AnyBackbone = AnyBackbone> {
  backbone: B;
  manifest: Manifest;
}

/**
 * Manifest id/path → verified files → a ready backbone. Known ids and `.onnx` files are typed
 * by modality; for other paths pass `modality` or narrow with `backbone.modality === …`.
 */
export function loadBackbone<Id extends keyof KnownBackbones>(id: Id, options?: LoadBackboneOptions): Promise<LoadedBackbone<BackboneFor<KnownBackbones[Id]>>>;
export function loadBackbone(path: `${string}.onnx`, options?: LoadBackboneOptions): Promise<LoadedBackbone<ImageBackbone>>;
export function loadBackbone<M extends Modality>(idOrPath: string, options: LoadBackboneOptions & { modality: M }): Promise<LoadedBackbone<BackboneFor<M>>>;
export function loadBackbone(idOrPath: string, options?: LoadBackboneOptions): Promise<LoadedBackbone>;
export async function loadBackbone(idOrPath: string, options: LoadBackboneOptions = {}): Promise<LoadedBackbone> {
  const manifest = await resolveManifest(idOrPath, { cut: options.cut, output: options.output });
  if (options.modality && manifest.modality !== options.modality) {
    throw new InvalidInputError(`Backbone "${manifest.id}" takes ${manifest.modality} inputs, not ${options.modality}.`);
  }
  const files = await loadModelFilesNode(manifest, options);
  const backbone = await createBackbone(manifest, files, options);
  return { backbone, manifest };
}
