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
import type { ModalityInput } from './inputs.js';

/** One input of a batch (a file path or a sentence): its embedding, or why it has none. */
export type StreamedInput = { input: string; embedding: Float32Array } | { input: string; error: EdgeheadError };

export interface EmbeddedBatch {
  /** Every input of the batch, in the order given, failures in their place. */
  items: StreamedInput[];
  cacheHits: number;
}

export const isEmbedded = (item: StreamedInput): item is { input: string; embedding: Float32Array } => 'embedding' in item;

export interface StreamOptions extends CacheOptions {
  /** Inputs per batch (default 64). */
  size?: number;
  decode?: DecodeOptions;
}

/** Inputs per batch of the streaming commands: bounds memory and makes output appear early. */
export const STREAM_BATCH = 64;
/** Files read and decoded at once (libvips decodes on its own threads). */
const DECODE_CONCURRENCY = 8;

type Prepared = Array<{ input: string; error: EdgeheadError } | { input: string; key: string; cached?: Float32Array; decoded?: ModalityInput }>;

/**
 * `inputs`: file paths, or sentences for text — already expanded from folders, @lists and
 * @sentence files (expandInputs does that for command-line arguments).
 */
export async function* streamEmbeddings(backbone: AnyBackbone, modality: Modality, inputs: readonly string[], options: StreamOptions = {}): AsyncGenerator<EmbeddedBatch> {
  const size = options.size ?? STREAM_BATCH;
  const names = inputs;
  const cache = EmbeddingCache.for(backbone, options);

  const prepareOne = async (name: string): Promise<{ key: string; cached?: Float32Array; decoded?: ModalityInput }> => {
    if (modality === 'text') {
      const key = textKey(name);
      const cached = await cache?.get(key);
      return { key, cached, decoded: cached ? undefined : name };
    }
    const bytes = await readInputFile(name);
    const key = fileKey(modality, bytes, options.decode);
    const cached = await cache?.get(key);
    if (cached) return { key, cached };
    return { key, decoded: modality === 'image' ? await decodeImageBytes(bytes, name, options.decode) : decodeWav(bytes, name) };
  };

  const prepare = async (slice: string[]): Promise<Prepared> =>
    mapLimited(slice, DECODE_CONCURRENCY, (name) =>
      prepareOne(name).then(
        (v) => ({ input: name, ...v }),
        (e: unknown) => {
          if (e instanceof EdgeheadError) return { input: name, error: e };
          throw e;
        },
      ),
    );

  let next: Promise<Prepared> | undefined = prepare(names.slice(0, size));
  for (let start = 0; next; start += size) {
    const current = await next;
    next = start + size < names.length ? prepare(names.slice(start + size, start + 2 * size)) : undefined;
    // A rejected prefetch must not go unhandled if the consumer stops early; it is awaited next turn.
    next?.catch(() => undefined);
    const misses = current.flatMap((p) => ('decoded' in p && p.decoded !== undefined ? [p] : []));
    const fresh = misses.length ? await (backbone as Backbone<ModalityInput>).embed(misses.map((p) => p.decoded as ModalityInput)) : [];
    const computed = new Map(misses.map((p, j) => [p, fresh[j]]));
    for (const [p, embedding] of computed) await cache?.put(p.key, embedding);
    const items: StreamedInput[] = current.map((p) => ('error' in p ? p : { input: p.input, embedding: (p.cached ?? computed.get(p)) as Float32Array }));
    yield { items, cacheHits: current.filter((p) => 'cached' in p && p.cached).length };
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
