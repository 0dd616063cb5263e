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

interface Entry {
  item: number;
  key: string;
  input: () => Promise<unknown>;
  value?: Float32Array;
  view?: boolean;
}

/**
 * One embedding per item — or, with `views`, one per view, all labelled as their item. The
 * returned `kept` lists the item index of every row.
 */
export async function embedItems(backbone: AnyBackbone, modality: Modality, items: readonly string[], options: EmbedItemsOptions = {}): Promise<EmbeddedItems> {
  const bar = progress(options.label ?? 'embedding');
  const cache = EmbeddingCache.for(backbone, options);
  const rows: Float32Array[] = [];
  const kept: number[] = [];
  const augmented: boolean[] = [];
  const skipped: EmbeddedItems['skipped'] = [];
  let cacheHits = 0;
  for (let start = 0; start < items.length; start += CHUNK) {
    const slice = items.slice(start, start + CHUNK);
    // Each entry: item index, cache key, and how to produce its input — called only when the
    // cache misses, so a warm cache skips decoding (hashing the file bytes is all it costs).
    const pending: Entry[] = [];
    for (let j = 0; j < slice.length; j++) {
      const item = start + j;
      try {
        if (modality === 'text') {
          pending.push({ item, key: textKey(slice[j]), input: async () => slice[j] });
          continue;
        }
        const bytes = await readInputFile(slice[j]);
        const contentKey = fileKey(modality, bytes, options.decode);
        if (modality === 'audio') {
          pending.push({ item, key: contentKey, input: async () => decodeWav(bytes, slice[j]) });
          continue;
        }
        let decoded: Promise<DecodedImage> | undefined;
        const image = () => (decoded ??= decodeImageBytes(bytes, slice[j], options.decode));
        pending.push({ item, key: contentKey, input: image });
        if (options.views && options.viewCount) {
          let views: Promise<DecodedImage[]> | undefined;
          const viewsOf = () => (views ??= image().then((img) => options.views!(img, item)));
          for (let v = 0; v < options.viewCount; v++) {
            pending.push({ item, key: hashKey(contentKey, '\0', options.viewsKey ?? '', '\0', String(v)), input: async () => (await viewsOf())[v], view: true });
          }
        }
      } catch (e) {
        if (options.strict || !(e instanceof UnreadableInputError)) throw e;
        skipped.push({ item: slice[j], reason: e.message });
      }
    }
    if (cache) {
      for (const p of pending) {
        p.value = await cache.get(p.key);
        if (p.value) cacheHits++;
      }
    }
    // Decode what the cache did not have; an undecodable item is skipped whole (all its views).
    const failed = new Set<number>();
    const misses: Array<{ entry: Entry; input: unknown }> = [];
    for (const p of pending.filter((e) => !e.value)) {
      if (failed.has(p.item)) continue;
      try {
        misses.push({ entry: p, input: await p.input() });
      } catch (e) {
        if (options.strict || !(e instanceof UnreadableInputError)) throw e;
        failed.add(p.item);
        skipped.push({ item: items[p.item], reason: e.message });
      }
    }
    const usable = misses.filter((m) => !failed.has(m.entry.item));
    if (usable.length) {
      const out = await (backbone as Backbone<unknown>).embed(usable.map((m) => m.input));
      for (let i = 0; i < usable.length; i++) {
        usable[i].entry.value = out[i];
        if (cache) await cache.put(usable[i].entry.key, out[i]);
      }
    }
    for (const p of pending) {
      if (failed.has(p.item)) continue;
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
