/**
 * Row-major float32 matrices and the few kernels the heads need, in plain typed-array code so
 * that a head predicts anywhere (a Worker needs no wasm asset for it).
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { shuffle } from './random.js';

export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

export type EmbeddingsInput = Matrix | readonly ArrayLike<number>[];

export function isMatrix(x: unknown): x is Matrix {
  return typeof x === 'object' && x !== null && 'data' in x && 'rows' in x && 'cols' in x;
}

/**
 * Packs embeddings into a matrix, checking that every row has `dim` finite values. The message
 * names the first offending row so a caller can find it.
 */
export function toMatrix(x: EmbeddingsInput, dim?: number, what = 'embedding'): Matrix {
  if (isMatrix(x)) {
    if (dim !== undefined && x.cols !== dim) {
      throw new InvalidInputError(`Expected ${dim}-d ${what}s, got ${x.cols}-d. Use embeddings from the backbone this head was trained on.`);
    }
    if (x.data.length !== x.rows * x.cols) throw new InvalidInputError(`Matrix data has ${x.data.length} values, expected ${x.rows}×${x.cols}.`);
    assertFinite(x.data, x.cols, what);
    return x;
  }
  if (!Array.isArray(x) || x.length === 0) throw new InvalidInputError(`Expected a non-empty list of ${what}s.`);
  const cols = dim ?? x[0].length;
  const data = new Float32Array(x.length * cols);
  x.forEach((row, i) => {
    if (!row || row.length !== cols) {
      throw new InvalidInputError(
        `${what} #${i} has ${row?.length ?? 0} values, expected ${cols}. Use embeddings from the backbone this head was trained on.`,
      );
    }
    data.set(row, i * cols);
  });
  assertFinite(data, cols, what);
  return { rows: x.length, cols, data };
}

function assertFinite(data: Float32Array, cols: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new InvalidInputError(`${what} #${Math.floor(i / cols)} contains ${data[i]} at position ${i % cols}; embeddings must be finite numbers.`);
    }
  }
}

export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Squared L2 norm of each row (float64 accumulation). */
export function rowSquaredNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    const base = i * m.cols;
    for (let k = 0; k < m.cols; k++) s += m.data[base + k] * m.data[base + k];
    out[i] = s;
  }
  return out;
}

/** A copy with each row scaled to unit length (zero rows stay zero). */
export function normalizeRows(m: Matrix): Matrix {
  const data = new Float32Array(m.data);
  const norms = rowSquaredNorms(m);
  for (let i = 0; i < m.rows; i++) {
    const n = Math.sqrt(norms[i]);
    if (n > 0) for (let k = i * m.cols, end = k + m.cols; k < end; k++) data[k] /= n;
  }
  return { rows: m.rows, cols: m.cols, data };
}

/**
 * out[i·B.rows + j] = Σ_k A[i,k]·B[j,k], in 4×4 register tiles over row blocks so each loaded
 * value is reused four times; used for kNN similarities (queries × references) and logits.
 */
export function multiplyABt(A: Matrix, B: Matrix): Float32Array;
/** Into `out`: a Float64Array keeps the float64 sums (no overflow or subnormals at float32's ends). */
export function multiplyABt<T extends Float32Array | Float64Array>(A: Matrix, B: Matrix, out: T): T;
export function multiplyABt(A: Matrix, B: Matrix, out: Float32Array | Float64Array = new Float32Array(A.rows * B.rows)): Float32Array | Float64Array {
  if (A.cols !== B.cols) throw new InvalidInputError(`Cannot multiply ${A.rows}×${A.cols} by (${B.rows}×${B.cols})ᵀ.`);
  const d = A.cols;
  const a = A.data;
  const b = B.data;
  const m = B.rows;
  let i = 0;
  for (; i + 4 <= A.rows; i += 4) {
    const a0 = i * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
    let j = 0;
    for (; j + 4 <= m; j += 4) {
      const b0 = j * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < d; k++) {
        const x0 = a[a0 + k], x1 = a[a1 + k], x2 = a[a2 + k], x3 = a[a3 + k];
        const y0 = b[b0 + k], y1 = b[b1 + k], y2 = b[b2 + k], y3 = b[b3 + k];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
      }
      const o0 = i * m + j, o1 = o0 + m, o2 = o1 + m, o3 = o2 + m;
      out[o0] = s00; out[o0 + 1] = s01; out[o0 + 2] = s02; out[o0 + 3] = s03;
      out[o1] = s10; out[o1 + 1] = s11; out[o1 + 2] = s12; out[o1 + 3] = s13;
      out[o2] = s20; out[o2 + 1] = s21; out[o2 + 2] = s22; out[o2 + 3] = s23;
      out[o3] = s30; out[o3 + 1] = s31; out[o3 + 2] = s32; out[o3 + 3] = s33;
    }
    for (; j < m; j++) for (let r = 0; r < 4; r++) out[(i + r) * m + j] = dotAt(a, (i + r) * d, b, j * d, d);
  }
  for (; i < A.rows; i++) for (let j = 0; j < m; j++) out[i * m + j] = dotAt(a, i * d, b, j * d, d);
  return out;
}

function dotAt(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[ao + k] * b[bo + k];
  return s;
}

/** Column means and standard deviations (population, like sklearn's StandardScaler). */
export function columnStats(m: Matrix): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(m.cols);
  const sq = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    const base = i * m.cols;
    for (let k = 0; k < m.cols; k++) mean[k] += m.data[base + k];
  }
  for (let k = 0; k < m.cols; k++) mean[k] /= m.rows;
  for (let i = 0; i < m.rows; i++) {
    const base = i * m.cols;
    for (let k = 0; k < m.cols; k++) {
      const v = m.data[base + k] - mean[k];
      sq[k] += v * v;
    }
  }
  // A constant column gets scale 1, as StandardScaler does.
  const std = Float64Array.from(sq, (s) => Math.sqrt(s / m.rows) || 1);
  return { mean, std };
}

export function standardize(m: Matrix, mean: ArrayLike<number>, std: ArrayLike<number>): Matrix {
  const data = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    const base = i * m.cols;
    for (let k = 0; k < m.cols; k++) data[base + k] = (m.data[base + k] - mean[k]) / std[k];
  }
  return { rows: m.rows, cols: m.cols, data };
}

export function selectRows(m: Matrix, indices: readonly number[]): Matrix {
  const data = new Float32Array(indices.length * m.cols);
  indices.forEach((r, i) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return { rows: indices.length, cols: m.cols, data };
}

/** At most `max` rows: all of them, or a sample drawn with `rng` (in random order). */
export function sampleRows(m: Matrix, max: number, rng: () => number): Matrix {
  return m.rows <= max ? m : selectRows(m, shuffle(Array.from({ length: m.rows }, (_, i) => i), rng).slice(0, max));
}
