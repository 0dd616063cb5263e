/**
 * Embeds dataset items (files or texts) in chunks, with progress, skipping unreadable files,
 * and an on-disk cache keyed by the input's content and the backbone fingerprint — re-running
 * `fit` with another head, or `eval` on the same files, does not recompute embeddings.
 */
import type { Backbone } from '../backbone/backbone.js';
import type { AnyBackbone } from '../backbone/create.js';
import { UnreadableInputError } from '../core/errors.js';
import type { Matrix } from '../heads/matrix.js';
import { decodeWav } from '../inputs/audio/wav.js';
import { decodeImageBytes, type DecodeOptions } from '../inputs/image/decode-node.js';
import { EmbeddingCache, fileKey, hashKey, textKey, type CacheOptions } from './embedding-cache.js';
import type { DecodedImage } from '../inputs/image/image.js';
import type { Modality } from '../manifest/manifest.js';
import { progress } from './io.js';
import { readInputFile } from '../inputs/read-file.js';

export interface EmbeddedItems {
  embeddings: Matrix;
  /** Indices (into the input list) that were embedded, in order. */
  kept: number[];
  skipped: Array<{ item: string; reason: string }>;
  cacheHits: number;
  /** true for rows that are augmented views (not the original input). */
  augmented: boolean[];
}

export interface EmbedItemsOptions extends CacheOptions {
  strict?: boolean;
  label?: string;
  /** How images are decoded (the CLI shrinks big photos on load to what the model needs). */
  decode?: DecodeOptions;
  /** Extra image views per item (augmentation); returns the views to embed for one decoded image. */
  views?: (image: DecodedImage, itemIndex: number) => DecodedImage[];
  /** How many views `views` returns per item (known before decoding, so cached views skip it). */
  viewCount?: number;
  /** Part of the cache key for augmented views (parameters and seed). */
  viewsKey?: string;
}

const CHUNK = 64;

/** One row to produce: an item's original or one of its views; `input` set when the cache missed. */
interface Entry {
  item: number;
  key: string;
  value?: Float32Array;
  input?: unknown;
  view?: boolean;
}

/**
 * One embedding per item — or, with `views`, one per view, all labelled as their item. The
 * returned `kept` lists the item index of every row. Items are read one at a time: the cache is
 * looked up by the file's bytes first, only misses are decoded, and the bytes are dropped before
 * the next file is read — a chunk holds decoded (shrunk) images, never 64 encoded camera files.
 */
export async function embedItems(backbone: AnyBackbone, modality: Modality, items: readonly string[], options: EmbedItemsOptions = {}): Promise<EmbeddedItems> {
  const bar = progress(options.label ?? 'embedding');
  const cache = EmbeddingCache.for(backbone, options);
  const rows: Float32Array[] = [];
  const kept: number[] = [];
  const augmented: boolean[] = [];
  const skipped: EmbeddedItems['skipped'] = [];
  let cacheHits = 0;
  const lookup = async (entry: Entry): Promise<Entry> => {
    entry.value = await cache?.get(entry.key);
    if (entry.value) cacheHits++;
    return entry;
  };
  for (let start = 0; start < items.length; start += CHUNK) {
    const slice = items.slice(start, start + CHUNK);
    const pending: Entry[] = [];
    for (let j = 0; j < slice.length; j++) {
      const item = start + j;
      try {
        if (modality === 'text') {
          const entry = await lookup({ item, key: textKey(slice[j]) });
          if (!entry.value) entry.input = slice[j];
          pending.push(entry);
          continue;
        }
        const bytes = await readInputFile(slice[j]);
        const contentKey = fileKey(modality, bytes, options.decode);
        const original = await lookup({ item, key: contentKey });
        const views: Entry[] = [];
        for (let v = 0; v < (options.views ? (options.viewCount ?? 0) : 0); v++) {
          views.push(await lookup({ item, key: hashKey(contentKey, '\0', options.viewsKey ?? '', '\0', String(v)), view: true }));
        }
        // Decode only when something is missing; an undecodable item is skipped whole (all its views).
        if (!original.value || views.some((e) => !e.value)) {
          if (modality === 'audio') original.input = decodeWav(bytes, slice[j]);
          else {
            const image = await decodeImageBytes(bytes, slice[j], options.decode);
            if (!original.value) original.input = image;
            if (views.some((e) => !e.value)) {
              const made = options.views!(image, item);
              views.forEach((e, v) => (e.input = e.value ? undefined : made[v]));
            }
          }
        }
        pending.push(original, ...views);
      } catch (e) {
        if (options.strict || !(e instanceof UnreadableInputError)) throw e;
        skipped.push({ item: slice[j], reason: e.message });
      }
    }
    const misses = pending.filter((e) => !e.value);
    if (misses.length) {
      const out = await (backbone as Backbone<unknown>).embed(misses.map((m) => m.input));
      for (let i = 0; i < misses.length; i++) {
        misses[i].value = out[i];
        misses[i].input = undefined;
        if (cache) await cache.put(misses[i].key, out[i]);
      }
    }
    for (const p of pending) {
      rows.push(p.value as Float32Array);
      kept.push(p.item);
      augmented.push(p.view === true);
    }
    bar(Math.min(start + CHUNK, items.length), items.length);
  }
  bar.end();
  const dim = backbone.dim;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  return { embeddings: { rows: rows.length, cols: dim, data }, kept, skipped, cacheHits, augmented };
}
