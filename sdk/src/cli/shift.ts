/** `edgehead shift <reference> <new> --backbone <id>`: has the data moved away from what a head was fitted on? */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { AnyBackbone } from '../backbone/create.js';
import type { Matrix } from '../heads/matrix.js';
import { detectShift } from '../heads/shift.js';
import type { Manifest } from '../manifest/manifest.js';
import { loadBackbone } from '../node.js';
import { readLabelledData } from './data.js';
import { decodeOptionsFor } from './inputs.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';

export const shiftHelp = `edgehead shift <reference> <new> --backbone <id> [--permutations 500] [--seed s] [--json]
  Two-sample test (MMD, Gaussian kernel, permutation p-value) between the embeddings of two data
  sets: e.g. the training data of a head and what it is asked about now. Each side: a folder of
  images or WAV files (walked), @list.txt of files, a labelled text file (as fit reads it), or
  @sentences.txt for text. Up to 256 rows per side are used (a seeded sample beyond).`;

export async function shiftCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { backbone: { type: 'string', short: 'b' }, permutations: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' }, 'no-cache': { type: 'boolean' } },
  });
  const [reference, current] = positionals;
  if (!reference || !current) throw new UsageError('shift needs two data sets: the reference (e.g. the training data) and the new data.');
  if (!values.backbone) throw new UsageError('shift needs --backbone <id|file> (the backbone of the head the data is for).');
  const permutations = numberFlag('permutations', values.permutations, { min: 19, max: 100_000, integer: true }) ?? 500;
  const seed = numberFlag('seed', values.seed, { min: 0, integer: true }) ?? 0;
  const { backbone, manifest } = await loadBackbone(values.backbone);
  try {
    const [a, b] = [await embedSide(backbone, manifest, reference, values), await embedSide(backbone, manifest, current, values)];
    const r = detectShift(a, b, { permutations, seed });
    const shifted = r.pValue < 0.05;
    if (values.json) out(JSON.stringify({ ...r, shifted, reference: { path: reference, rows: a.rows }, new: { path: current, rows: b.rows }, backbone: manifest.id }));
    else {
      out(`MMD² ${r.mmd2.toExponential(3)}, p = ${r.pValue.toFixed(4)} (${permutations} permutations), ${r.effect.toFixed(1)} standard deviations from chance; ${r.n} reference and ${r.m} new rows`);
      out(
        shifted
          ? 'shifted: the new data does not look like the reference. Expect accuracy, probabilities and the unknown gate measured on the reference not to hold; re-measure on labelled new data, or add examples of it.'
          : 'no shift detected at p < 0.05 (with few rows, only large shifts are detectable).',
      );
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}

/** One side's embeddings: files walked or listed, labelled text files as fit reads them, or @sentences. */
async function embedSide(backbone: AnyBackbone, manifest: Manifest, arg: string, values: { 'no-cache'?: boolean; json?: boolean }): Promise<Matrix> {
  const modality = manifest.modality;
  let args = [arg];
  let literalTexts = false;
  if (modality === 'text' && !arg.startsWith('@')) {
    const info = await stat(arg).catch(() => undefined);
    if (!info?.isFile()) throw new UsageError(`${arg}: for a text backbone, give a labelled text file (as fit reads it) or @sentences.txt.`);
    args = (await readLabelledData(arg, { onNote: (n) => warn(n) })).items;
    literalTexts = true;
  }
  const rows: Float32Array[] = [];
  for await (const batch of streamEmbeddings(backbone, modality, args, { cache: !values['no-cache'], decode: decodeOptionsFor(manifest), literalTexts })) {
    for (const item of batch.items) {
      if (isEmbedded(item)) rows.push(item.embedding);
      else reportInputFailure(item.input, item.error, values.json);
    }
  }
  const data = new Float32Array(rows.length * backbone.dim);
  rows.forEach((r, i) => data.set(r, i * backbone.dim));
  return { rows: rows.length, cols: backbone.dim, data };
}
