/**
 * Streaming embeddings for `predict` and `embed`: inputs go through in batches; each input's
 * cache entry is looked up before it is decoded; the next batch is read and decoded while the
 * current one runs through the model; an unreadable input is reported on its own without
 * losing the others. Memory is bounded by two batches whatever the number of inputs.
 */
import type { Backbone } from '../backbone/backbone.js';
import type { AnyBackbone } from '../backbone/create.js';
import { EdgeheadError } from '../core/errors.js';
import { decodeWav } from '../inputs/audio/wav.js';
import { decodeImageBytes, type DecodeOptions } from '../inputs/image/decode-node.js';
import { readInputFile } from '../inputs/read-file.js';
import type { Modality } from '../manifest/manifest.js';
import { EmbeddingCache, fileKey, textKey, type CacheOptions } from './embedding-cache.js';
import { expandFileArgs, readInputs, type ModalityInput } from './inputs.js';

export interface EmbeddedBatch {
  /** The inputs embedded, in order (file paths or sentences). */
  labels: string[];
  embeddings: Float32Array[];
  failed: Array<{ input: string; error: EdgeheadError }>;
  cacheHits: number;
}

export interface StreamOptions extends CacheOptions {
  /** Inputs per batch (default 64). */
  size?: number;
  decode?: DecodeOptions;
}

/** Inputs per batch of the streaming commands: bounds memory and makes output appear early. */
export const STREAM_BATCH = 64;
/** Files read and decoded at once (libvips decodes on its own threads). */
const DECODE_CONCURRENCY = 8;

interface Prepared {
  labels: string[];
  keys: string[];
  cached: Array<Float32Array | undefined>;
  inputs: Array<ModalityInput | undefined>;
  failed: EmbeddedBatch['failed'];
}

export async function* streamEmbeddings(backbone: AnyBackbone, modality: Modality, args: string[], options: StreamOptions = {}): AsyncGenerator<EmbeddedBatch> {
  const size = options.size ?? STREAM_BATCH;
  const names = modality === 'text' ? (await readInputs('text', args)).labels : await expandFileArgs(modality, args);
  const cache = EmbeddingCache.for(backbone, options);

  const prepareOne = async (name: string): Promise<{ key: string; cached?: Float32Array; input?: ModalityInput }> => {
    if (modality === 'text') {
      const key = textKey(name);
      const cached = await cache?.get(key);
      return { key, cached, input: cached ? undefined : name };
    }
    const bytes = await readInputFile(name);
    const key = fileKey(modality, bytes, options.decode);
    const cached = await cache?.get(key);
    if (cached) return { key, cached };
    return { key, input: modality === 'image' ? await decodeImageBytes(bytes, name, options.decode) : decodeWav(bytes, name) };
  };

  const prepare = async (slice: string[]): Promise<Prepared> => {
    const results = await mapLimited(slice, DECODE_CONCURRENCY, (name) => prepareOne(name).then((v) => ({ v }), (e: unknown) => ({ e })));
    const batch: Prepared = { labels: [], keys: [], cached: [], inputs: [], failed: [] };
    results.forEach((r, i) => {
      if ('v' in r) {
        batch.labels.push(slice[i]);
        batch.keys.push(r.v.key);
        batch.cached.push(r.v.cached);
        batch.inputs.push(r.v.input);
      } else if (r.e instanceof EdgeheadError) batch.failed.push({ input: slice[i], error: r.e });
      else throw r.e;
    });
    return batch;
  };

  let next: Promise<Prepared> | undefined = prepare(names.slice(0, size));
  for (let start = 0; next; start += size) {
    const current = await next;
    next = start + size < names.length ? prepare(names.slice(start + size, start + 2 * size)) : undefined;
    // A rejected prefetch must not go unhandled if the consumer stops early; it is awaited next turn.
    next?.catch(() => undefined);
    const misses = current.inputs.flatMap((input, i) => (input === undefined ? [] : [i]));
    const embeddings = current.cached.slice() as Float32Array[];
    if (misses.length) {
      const fresh = await (backbone as Backbone<ModalityInput>).embed(misses.map((i) => current.inputs[i] as ModalityInput));
      for (const [j, i] of misses.entries()) {
        embeddings[i] = fresh[j];
        await cache?.put(current.keys[i], fresh[j]);
      }
    }
    yield { labels: current.labels, embeddings, failed: current.failed, cacheHits: current.labels.length - misses.length };
  }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < items.length) {
      const i = nextIndex++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
