/**
 * The on-disk embedding cache shared by fit, eval, predict and embed: one `.f32` file per
 * input, keyed by the input's content (file bytes or text) and how it is decoded, in a folder
 * per backbone fingerprint. Lookups happen before decoding, so a warm cache costs a hash.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnyBackbone } from '../backbone/create.js';
import type { DecodeOptions } from '../inputs/image/decode-node.js';
import { defaultCacheDir } from '../manifest/files-node.js';
import type { Modality } from '../manifest/manifest.js';
import { warn } from './io.js';

/**
 * Bumped when the SDK computes different embeddings for a fingerprint it already had, so that a
 * cache filled by an older version is not served beside fresh vectors. 2: image resampling in
 * float32, as the SIMD kernels compute it (int8 MobileNetV2 moves with rounding-level changes).
 * 3: int8 weights made exact on CPUs without VNNI (backbone/onnx/exact-int8.ts).
 */
const EMBEDDING_EPOCH = 3;

export interface CacheOptions {
  /** false disables the embedding cache (`--no-cache`). */
  cache?: boolean;
  cacheDir?: string;
}

export class EmbeddingCache {
  private disabled = false;

  private constructor(
    private readonly dir: string,
    private readonly dim: number,
  ) {}

  static for(backbone: AnyBackbone, options: CacheOptions): EmbeddingCache | undefined {
    if (options.cache === false) return undefined;
    const fp = createHash('sha256').update(`${EMBEDDING_EPOCH}:${backbone.fingerprint}`).digest('hex').slice(0, 16);
    return new EmbeddingCache(join(options.cacheDir ?? defaultCacheDir(), 'embeddings', fp), backbone.dim);
  }

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.f32`);
  }

  async get(key: string): Promise<Float32Array | undefined> {
    try {
      const b = await readFile(this.path(key));
      if (b.byteLength !== this.dim * 4) return undefined;
      return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    } catch {
      return undefined;
    }
  }

  /**
   * Stores an embedding. A cache folder that cannot be written (read-only disk, a file in the
   * way, full disk) is not an error: the command runs on without caching, after one warning.
   */
  async put(key: string, value: Float32Array): Promise<void> {
    if (this.disabled) return;
    const path = this.path(key);
    // Write then rename: a concurrent reader never sees half a vector.
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await mkdir(join(this.dir, key.slice(0, 2)), { recursive: true });
      await writeFile(tmp, new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      await rename(tmp, path);
    } catch (e) {
      this.disabled = true;
      await rm(tmp, { force: true }).catch(() => undefined);
      warn(`edgehead: the embedding cache ${this.dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); continuing without caching. Set EDGEHEAD_CACHE_DIR or pass --no-cache.`);
    }
  }
}

export const hashKey = (...parts: Array<string | Uint8Array>): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

export const textKey = (text: string): string => hashKey('text\0', text);

/** A file's key: its bytes, and for images the decode size (a shrunk decode embeds differently). */
export function fileKey(modality: Exclude<Modality, 'text'>, bytes: Uint8Array, decode: DecodeOptions = {}): string {
  return modality === 'image' && decode.shrinkTo ? hashKey('image\0shrink:', String(decode.shrinkTo), '\0', bytes) : hashKey(modality, '\0', bytes);
}
