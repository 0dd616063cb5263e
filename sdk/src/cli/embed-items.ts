/** Embeds dataset items (files or texts) in chunks, with progress, skipping unreadable files. */
import type { Backbone } from '../backbone/backbone.js';
import type { AnyBackbone } from '../backbone/create.js';
import { UnreadableInputError } from '../core/errors.js';
import type { Matrix } from '../heads/matrix.js';
import { readImageFile } from '../inputs/image/decode-node.js';
import type { Modality } from '../manifest/manifest.js';
import { readWavFile } from './inputs.js';
import { progress } from './io.js';

export interface EmbeddedItems {
  embeddings: Matrix;
  /** Indices (into the input list) that were embedded, in order. */
  kept: number[];
  skipped: Array<{ item: string; reason: string }>;
}

const CHUNK = 64;

export async function embedItems(
  backbone: AnyBackbone,
  modality: Modality,
  items: readonly string[],
  options: { strict?: boolean; label?: string } = {},
): Promise<EmbeddedItems> {
  const bar = progress(options.label ?? 'embedding');
  const rows: Float32Array[] = [];
  const kept: number[] = [];
  const skipped: EmbeddedItems['skipped'] = [];
  for (let start = 0; start < items.length; start += CHUNK) {
    const slice = items.slice(start, start + CHUNK);
    const decoded: unknown[] = [];
    for (let j = 0; j < slice.length; j++) {
      try {
        decoded.push(modality === 'text' ? slice[j] : modality === 'image' ? await readImageFile(slice[j]) : await readWavFile(slice[j]));
        kept.push(start + j);
      } catch (e) {
        if (options.strict || !(e instanceof UnreadableInputError)) throw e;
        skipped.push({ item: slice[j], reason: e.message });
      }
    }
    if (decoded.length) rows.push(...(await (backbone as Backbone<unknown>).embed(decoded)));
    bar(Math.min(start + CHUNK, items.length), items.length);
  }
  bar.end();
  const dim = backbone.dim;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  return { embeddings: { rows: rows.length, cols: dim, data }, kept, skipped };
}
