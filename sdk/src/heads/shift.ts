/**
 * Has the data moved? A two-sample test on embeddings: the maximum mean discrepancy (Gretton et
 * al., "A Kernel Two-Sample Test", JMLR 2012) with a Gaussian kernel whose bandwidth is the
 * median pairwise distance of the pooled rows, and a permutation p-value. Plain typed-array
 * code: runs in Node, browsers and Workers.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { quantile } from './head.js';
import { sampleRows, selectRows, toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';
import { createRng, shuffle } from './random.js';

export interface ShiftOptions {
  /** Permutations for the p-value. Default 500. */
  permutations?: number;
  /** Rows used from each side at most (a seeded sample beyond it). Default 256. */
  maxRows?: number;
  seed?: number;
}

export interface ShiftResult {
  /** Unbiased MMD² estimate between the two samples (0 when they come from one distribution). */
  mmd2: number;
  /** Share of label-blind reshuffles of the pooled rows with an MMD² at least as large (with the +1 correction). */
  pValue: number;
  /** (MMD² − mean of the permutation MMD²s) / their standard deviation: how far outside chance. */
  effect: number;
  /** Gaussian kernel bandwidth used (median pairwise distance of the pooled rows). */
  bandwidth: number;
  /** Rows used from each side. */
  n: number;
  m: number;
}

/** Two-sample MMD test between `reference` embeddings (e.g. the training set) and `sample` (new inputs). */
export function detectShift(reference: EmbeddingsInput, sample: EmbeddingsInput, options: ShiftOptions = {}): ShiftResult {
  const x = toMatrix(reference, undefined, 'reference embedding');
  const y = toMatrix(sample, x.cols, 'sample embedding');
  if (x.rows < 2 || y.rows < 2) throw new InvalidInputError(`A shift test needs at least 2 rows on each side; got ${x.rows} and ${y.rows}.`);
  const rng = createRng(options.seed ?? 0);
  const cap = options.maxRows ?? 256;
  const a = sampleRows(x, cap, rng);
  const b = sampleRows(y, cap, rng);
  const n = a.rows;
  const N = n + b.rows;
  const pooled: Matrix = { rows: N, cols: x.cols, data: new Float32Array(N * x.cols) };
  pooled.data.set(a.data.subarray(0, n * x.cols));
  pooled.data.set(b.data.subarray(0, b.rows * x.cols), n * x.cols);
  // Squared distances in float64 (a float32 product leaves duplicates a hair apart), and the
  // bandwidth from the distances between distinct rows: duplicates must not shrink it to nothing.
  const d2 = new Float64Array(N * N);
  const distinct: number[] = [];
  const D = x.cols;
  for (let i = 0; i < N; i++) {
    const pi = i * D;
    for (let j = i + 1; j < N; j++) {
      const pj = j * D;
      let sum = 0;
      for (let k = 0; k < D; k++) {
        const diff = pooled.data[pi + k] - pooled.data[pj + k];
        sum += diff * diff;
      }
      d2[i * N + j] = d2[j * N + i] = sum;
      if (sum > 0) distinct.push(Math.sqrt(sum));
    }
  }
  const bandwidth = quantile(distinct, 0.5) || 1;
  const kernel = new Float64Array(N * N);
  for (let i = 0; i < N * N; i++) kernel[i] = Math.exp(-d2[i] / (2 * bandwidth * bandwidth));
  const order = Array.from({ length: N }, (_, i) => i);
  const observed = mmd2Of(kernel, N, order, n);
  const permutations = options.permutations ?? 500;
  const chance: number[] = [];
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    const v = mmd2Of(kernel, N, shuffle(order.slice(), rng), n);
    chance.push(v);
    if (v >= observed) atLeast++;
  }
  const mean = chance.reduce((s, v) => s + v, 0) / Math.max(1, chance.length);
  const sd = Math.sqrt(chance.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, chance.length - 1));
  return { mmd2: observed, pValue: (atLeast + 1) / (permutations + 1), effect: sd > 0 ? (observed - mean) / sd : 0, bandwidth, n, m: b.rows };
}

/**
 * Unbiased MMD² when the first `n` rows of `order` form one sample and the rest the other:
 * mean k within the first (i ≠ j) + mean k within the second (i ≠ j) − 2 · mean k across.
 */
export function mmd2Of(kernel: Float64Array, N: number, order: readonly number[], n: number): number {
  const m = N - n;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let a = 0; a < N; a++) {
    const i = order[a];
    const base = i * N;
    for (let b = a + 1; b < N; b++) {
      const k = kernel[base + order[b]];
      if (b < n) xx += k;
      else if (a >= n) yy += k;
      else xy += k;
    }
  }
  return (2 * xx) / (n * (n - 1)) + (2 * yy) / (m * (m - 1)) - (2 * xy) / (n * m);
}

export interface ClassShift {
  label: string;
  /** Rows of this class in the reference (its labels) and in the new data (as the head predicts them). */
  n: number;
  m: number;
  /** Share of the rows with this label on each side: a change means the class mix moved. */
  referenceShare: number;
  share: number;
  /** The class's own two-sample test (absent with fewer than `minRows` on a side). */
  pValue?: number;
  effect?: number;
  /** pValue after Holm's correction for testing every class. */
  adjustedPValue?: number;
}

/**
 * Which classes moved: the shift test within each class — reference rows by their labels, new
 * rows by the label a head gives them — with Holm's correction over the classes tested, and each
 * class's share on both sides.
 */
export function detectShiftByClass(
  reference: EmbeddingsInput,
  referenceLabels: readonly string[],
  sample: EmbeddingsInput,
  sampleLabels: readonly string[],
  options: ShiftOptions & { minRows?: number } = {},
): ClassShift[] {
  const x = toMatrix(reference, undefined, 'reference embedding');
  const y = toMatrix(sample, x.cols, 'sample embedding');
  if (referenceLabels.length !== x.rows || sampleLabels.length !== y.rows) throw new InvalidInputError('detectShiftByClass needs one label per row on each side.');
  const minRows = options.minRows ?? 5;
  const labels = [...new Set([...referenceLabels, ...sampleLabels])].sort();
  const rowsOf = (ls: readonly string[], label: string) => ls.flatMap((l, i) => (l === label ? [i] : []));
  const out: ClassShift[] = labels.map((label) => {
    const a = rowsOf(referenceLabels, label);
    const b = rowsOf(sampleLabels, label);
    const base = { label, n: a.length, m: b.length, referenceShare: a.length / x.rows, share: b.length / y.rows };
    if (a.length < minRows || b.length < minRows) return base;
    const r = detectShift(selectRows(x, a), selectRows(y, b), options);
    return { ...base, pValue: r.pValue, effect: r.effect };
  });
  // Holm: the i-th smallest of k p-values is multiplied by (k − i), kept monotone, capped at 1.
  const tested = out.filter((c) => c.pValue !== undefined).sort((p, q) => p.pValue! - q.pValue!);
  let running = 0;
  tested.forEach((c, i) => {
    running = Math.max(running, Math.min(1, c.pValue! * (tested.length - i)));
    c.adjustedPValue = running;
  });
  return out;
}
