/** `edgehead shift <reference> <new> --backbone <id>`: has the data moved away from what a head was fitted on? */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { AnyBackbone } from '../backbone/create.js';
import type { Matrix } from '../heads/matrix.js';
import { decodeReference } from '../heads/format.js';
import { detectShift, detectShiftByClass } from '../heads/shift.js';
import type { Manifest } from '../manifest/manifest.js';
import { loadBackbone } from '../node.js';
import { readLabelledData } from './data.js';
import { openHead } from './head-file.js';
import { decodeOptionsFor, expandInputs } from './inputs.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';

export const shiftHelp = `edgehead shift <reference> <new> (--backbone <id> | --head head.json) [--permutations 500] [--seed s] [--json]
edgehead shift --head head.json <new>     (the reference sample the head keeps: fit --keep-reference n)
  Two-sample test (MMD, Gaussian kernel, permutation p-value) between the embeddings of two data
  sets: e.g. the training data of a head and what it is asked about now. Each side: a folder of
  images or WAV files (walked), @list.txt of files, a labelled text file (as fit reads it), or
  @sentences.txt for text. Up to 256 rows per side are used (a seeded sample beyond).
  With --head (its backbone is used), each class is also tested on its own — the rows of both sides
  grouped by the head's prediction — with Holm's correction, and the class mix on both sides is
  shown. --no-cache recomputes embeddings instead of reusing the on-disk cache.`;

export async function shiftCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { backbone: { type: 'string', short: 'b' }, head: { type: 'string' }, permutations: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' }, 'no-cache': { type: 'boolean' } },
  });
  // One data set with --head: the head file's own reference sample is the reference.
  const [reference, current] = positionals.length === 1 && values.head ? [undefined, positionals[0]] : positionals;
  if (!current) throw new UsageError('shift needs two data sets — the reference (e.g. the training data) and the new data — or --head head.json (fitted with --keep-reference) and the new data.');
  if (!values.backbone && !values.head) throw new UsageError('shift needs --backbone <id|file> or --head head.json (whose backbone is used).');
  const permutations = numberFlag('permutations', values.permutations, { min: 19, max: 100_000, integer: true }) ?? 500;
  const seed = numberFlag('seed', values.seed, { min: 0, integer: true }) ?? 0;
  const opened = values.head ? await openHead(values.head, values.backbone) : { ...(await loadBackbone(values.backbone!)), head: undefined, training: null };
  const { backbone, manifest, head } = opened;
  try {
    const kept = reference === undefined ? decodeReference(opened.training ?? null, backbone.dim) : undefined;
    if (reference === undefined && !kept) throw new UsageError(`${values.head} keeps no reference sample; fit it with --keep-reference 256, or pass the training data as the first data set.`);
    const a = kept ? kept.rows : await embedSide(backbone, manifest, reference!, values);
    const b = await embedSide(backbone, manifest, current, values);
    const r = detectShift(a, b, { permutations, seed });
    const shifted = r.pValue < 0.05;
    // Both sides grouped the same way — by the head's prediction — so a class the head confuses
    // does not look shifted just because its reference rows are grouped by their true labels.
    const predicted = (m: Matrix) => (head ? head.predict(m, { rejectUnknown: false, topK: 1 }).map((p) => p.nearest) : []);
    const byClass = head ? detectShiftByClass(a, predicted(a), b, predicted(b), { permutations, seed }) : undefined;
    if (values.json) out(JSON.stringify({ ...r, shifted, reference: { path: reference ?? `${values.head} (kept reference)`, rows: a.rows }, new: { path: current, rows: b.rows }, backbone: manifest.id, ...(byClass ? { byClass } : {}) }));
    else {
      out(`MMD² ${r.mmd2.toExponential(3)}, p = ${r.pValue.toFixed(4)} (${permutations} permutations), ${r.effect.toFixed(1)} standard deviations from chance; ${r.n} reference and ${r.m} new rows`);
      out(
        shifted
          ? 'shifted: the new data does not look like the reference. Expect accuracy, probabilities and the unknown gate measured on the reference not to hold; re-measure on labelled new data, or add examples of it.'
          : 'no shift detected at p < 0.05 (with few rows, only large shifts are detectable).',
      );
      if (byClass) {
        out(`${'class'.padEnd(24)}${'reference'.padStart(10)}${'new'.padStart(8)}${'p (Holm)'.padStart(10)}${'effect'.padStart(8)}`);
        for (const c of byClass) {
          const share = (v: number) => `${(100 * v).toFixed(0)}%`;
          out(`${c.label.slice(0, 24).padEnd(24)}${share(c.referenceShare).padStart(10)}${share(c.share).padStart(8)}${(c.adjustedPValue === undefined ? 'too few' : c.adjustedPValue.toFixed(3)).padStart(10)}${(c.effect === undefined ? '' : c.effect.toFixed(1)).padStart(8)}`);
        }
      }
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}

/** One side's embeddings: files walked or listed, labelled text files as fit reads them, or @sentences. */
export async function embedSide(backbone: AnyBackbone, manifest: Manifest, arg: string, values: SideOptions): Promise<Matrix> {
  if (manifest.modality === 'text' && !arg.startsWith('@')) {
    const info = await stat(arg).catch(() => undefined);
    if (!info?.isFile()) throw new UsageError(`${arg}: for a text backbone, give a labelled text file (as fit reads it) or @sentences.txt.`);
    const data = await readLabelledData(arg, { onNote: (n) => warn(n) });
    // A file of plain sentences parses as "label text" lines with a different "label" (first word)
    // on most lines: refuse instead of silently dropping every first word.
    if (new Set(data.labels).size > Math.max(2, data.labels.length / 2)) {
      throw new UsageError(`${arg} looks like plain sentences, not labelled lines (${new Set(data.labels).size} different labels in ${data.labels.length} lines); pass it as @${arg}.`);
    }
    return embedRows(backbone, manifest, data.items, values);
  }
  return embedRows(backbone, manifest, await expandInputs(manifest.modality, [arg]), values);
}

export type SideOptions = { 'no-cache'?: boolean; json?: boolean };

/** The embeddings of the inputs that could be read (the others are reported and left out). */
async function embedRows(backbone: AnyBackbone, manifest: Manifest, inputs: string[], values: SideOptions): Promise<Matrix> {
  const rows: Float32Array[] = [];
  for await (const batch of streamEmbeddings(backbone, manifest.modality, inputs, { cache: !values['no-cache'], decode: decodeOptionsFor(manifest) })) {
    for (const item of batch.items) {
      if (isEmbedded(item)) rows.push(item.embedding);
      else reportInputFailure(item.input, item.error, values.json);
    }
  }
  const data = new Float32Array(rows.length * backbone.dim);
  rows.forEach((r, i) => data.set(r, i * backbone.dim));
  return { rows: rows.length, cols: backbone.dim, data };
}
