/**
 * Class means ("prototypes") and distances to them, shared by the centroid head and by the
 * open-set gate of the linear head.
 * @module
 */
import { multiplyABt, normalizeRows, rowSquaredNorms, type Matrix } from './matrix.js';

export type PrototypeMetric = 'cosine' | 'euclidean';

/** Per-class sums and counts (float64), optionally of L2-normalised rows (for cosine). */
export function classSums(x: Matrix, y: Int32Array, classes: number, normalize: boolean): { sums: Float64Array; counts: Float64Array } {
  const src = normalize ? normalizeRows(x) : x;
  const sums = new Float64Array(classes * x.cols);
  const counts = new Float64Array(classes);
  for (let i = 0; i < x.rows; i++) {
    const c = y[i];
    counts[c]++;
    const base = i * x.cols;
    const out = c * x.cols;
    for (let k = 0; k < x.cols; k++) sums[out + k] += src.data[base + k];
  }
  return { sums, counts };
}

export function meansFromSums(sums: Float64Array, counts: Float64Array, dim: number): Matrix {
  const data = new Float32Array(sums.length);
  for (let c = 0; c < counts.length; c++) for (let k = 0; k < dim; k++) data[c * dim + k] = counts[c] ? sums[c * dim + k] / counts[c] : 0;
  return { rows: counts.length, cols: dim, data };
}

/**
 * Distance of each input to each prototype, `[n × K]` row-major. Cosine distance is 1 − cos;
 * euclidean uses ‖x‖² − 2x·c + ‖c‖² (clamped at 0), as scikit-learn does.
 */
export function prototypeDistances(x: Matrix, prototypes: Matrix, metric: PrototypeMetric): Float64Array {
  const a = metric === 'cosine' ? normalizeRows(x) : x;
  const b = metric === 'cosine' ? normalizeRows(prototypes) : prototypes;
  const dots = multiplyABt(a, b, new Float32Array(a.rows * b.rows));
  const out = new Float64Array(dots.length);
  if (metric === 'cosine') {
    for (let i = 0; i < dots.length; i++) out[i] = 1 - dots[i];
    return out;
  }
  const xn = rowSquaredNorms(a);
  const cn = rowSquaredNorms(b);
  for (let i = 0; i < a.rows; i++)
    for (let c = 0; c < b.rows; c++) out[i * b.rows + c] = Math.sqrt(Math.max(0, xn[i] - 2 * dots[i * b.rows + c] + cn[c]));
  return out;
}

export function nearestDistance(distances: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let m = Infinity;
    for (let c = 0; c < cols; c++) m = Math.min(m, distances[i * cols + c]);
    out[i] = m;
  }
  return out;
}

/**
 * Leave-one-out distance of each training example to its own class mean computed without it:
 * a held-out estimate of how far in-distribution inputs land. Singleton classes give NaN.
 */
export function leaveOneOutPrototypeDistances(x: Matrix, y: Int32Array, classes: number, metric: PrototypeMetric): number[] {
  const src = metric === 'cosine' ? normalizeRows(x) : x;
  const { sums, counts } = classSums(src, y, classes, false);
  const d = x.cols;
  const out: number[] = [];
  const mean = new Float64Array(d);
  for (let i = 0; i < x.rows; i++) {
    const c = y[i];
    if (counts[c] < 2) {
      out.push(NaN);
      continue;
    }
    const base = i * d;
    for (let k = 0; k < d; k++) mean[k] = (sums[c * d + k] - src.data[base + k]) / (counts[c] - 1);
    if (metric === 'cosine') {
      let dotv = 0;
      let nm = 0;
      for (let k = 0; k < d; k++) {
        dotv += src.data[base + k] * mean[k];
        nm += mean[k] * mean[k];
      }
      out.push(nm > 0 ? 1 - dotv / Math.sqrt(nm) : 1);
    } else {
      let s = 0;
      for (let k = 0; k < d; k++) s += (src.data[base + k] - mean[k]) ** 2;
      out.push(Math.sqrt(s));
    }
  }
  return out;
}
