/**
 * CORAL (Sun, Feng & Saenko, "Return of Frustratingly Easy Domain Adaptation", AAAI 2016): align
 * the second-order statistics of two domains with a linear map. Here the map takes new-domain
 * (target) embeddings into the training (source) domain, so an existing head applies unchanged:
 *
 *   x' = μs + V · Cs^½ · Ct^−½ · Vᵀ (x − μt) + (I − V Vᵀ)(x − μt)
 *
 * where V spans the top principal directions of both samples together (at most `components`,
 * and fewer than the rows: beyond them a sample has no covariance to align), Cs and Ct are the
 * covariances of the two samples in those coordinates plus `regularization` · I (as the paper's
 * "+ I"), and outside that subspace the target is only re-centred. Plain JavaScript (ml-matrix for
 * the eigendecompositions): runs in Node, browsers and Workers.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { symmetricEigen } from './eigen.js';
import { columnStats, sampleRows, toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';
import { createRng } from './random.js';

export interface CoralOptions {
  /** Principal directions aligned, at most. Default 64. */
  components?: number;
  /** Added to both covariances' diagonals, relative to their mean variance. Default 1 (the paper's "+ I"). */
  regularization?: number;
  /** Rows of each side used to fit (a seeded sample beyond): the eigen solver is cubic in them. Default 128. */
  maxRows?: number;
  seed?: number;
}

export interface CoralAlignment {
  /** Maps target-domain embeddings into the source domain. */
  transform(x: EmbeddingsInput): Matrix;
  /** Directions aligned. */
  components: number;
}

/** Fits the alignment from unlabelled source (training) and target (new) embeddings. */
export function coralAlign(source: EmbeddingsInput, target: EmbeddingsInput, options: CoralOptions = {}): CoralAlignment {
  const rng = createRng(options.seed ?? 0);
  const cap = options.maxRows ?? 128;
  const s = sampleRows(toMatrix(source, undefined, 'source embedding'), cap, rng);
  const t = sampleRows(toMatrix(target, s.cols, 'target embedding'), cap, rng);
  if (s.rows < 3 || t.rows < 3) throw new InvalidInputError(`CORAL needs at least 3 rows on each side; got ${s.rows} and ${t.rows}.`);
  const d = s.cols;
  const muS = columnStats(s).mean;
  const muT = columnStats(t).mean;
  // Principal directions of both samples, each centred on its own mean (the shift of the means
  // is handled separately), from the small Gram matrix: N × N instead of d × d.
  const pooled = [...centredRows(s, muS), ...centredRows(t, muT)];
  const N = pooled.length;
  const gram = new Float64Array(N * N);
  for (let i = 0; i < N; i++) for (let j = i; j < N; j++) gram[i * N + j] = gram[j * N + i] = dot(pooled[i], pooled[j]);
  const { values, vectors } = symmetricEigen(gram, N);
  const k = Math.min(options.components ?? 64, s.rows - 1, t.rows - 1, values.filter((v) => v > 1e-9 * values[0]).length);
  const V: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    const v = new Float64Array(d);
    const scale = 1 / Math.sqrt(values[c]);
    for (let i = 0; i < N; i++) {
      const w = vectors[i * N + c] * scale;
      const row = pooled[i];
      for (let j = 0; j < d; j++) v[j] += w * row[j];
    }
    V.push(v);
  }
  const project = (rows: Float64Array[]) => rows.map((r) => Float64Array.from(V, (v) => dot(v, r)));
  const covS = covariance(project(centredRows(s, muS)), k);
  const covT = covariance(project(centredRows(t, muT)), k);
  const lambda = (options.regularization ?? 1) * ((trace(covS, k) + trace(covT, k)) / (2 * k) || 1);
  for (let i = 0; i < k; i++) {
    covS[i * k + i] += lambda;
    covT[i * k + i] += lambda;
  }
  // A = Cs^½ · Ct^−½, both from eigendecompositions of the k × k covariances.
  const A = multiply(matrixPower(covS, k, 0.5), matrixPower(covT, k, -0.5), k);
  return {
    components: k,
    transform(x: EmbeddingsInput): Matrix {
      const m = toMatrix(x, d, 'embedding');
      const out = new Float32Array(m.rows * d);
      const centred = new Float64Array(d);
      for (let r = 0; r < m.rows; r++) {
        for (let j = 0; j < d; j++) centred[j] = m.data[r * d + j] - muT[j];
        const coords = V.map((v) => dot(v, centred));
        const aligned = Array.from({ length: k }, (_, i) => coords.reduce((sum, c, j) => sum + A[i * k + j] * c, 0));
        for (let j = 0; j < d; j++) {
          let value = muS[j] + centred[j];
          for (let c = 0; c < k; c++) value += V[c][j] * (aligned[c] - coords[c]);
          out[r * d + j] = value;
        }
      }
      return { rows: m.rows, cols: d, data: out };
    },
  };
}

function centredRows(m: Matrix, mu: Float64Array): Float64Array[] {
  return Array.from({ length: m.rows }, (_, i) => Float64Array.from(mu, (v, j) => m.data[i * m.cols + j] - v));
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function covariance(rows: Float64Array[], k: number): Float64Array {
  const c = new Float64Array(k * k);
  for (const r of rows) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) c[i * k + j] += (r[i] * r[j]) / (rows.length - 1);
  return c;
}

function trace(c: Float64Array, k: number): number {
  let sum = 0;
  for (let i = 0; i < k; i++) sum += c[i * k + i];
  return sum;
}

function multiply(a: Float64Array, b: Float64Array, k: number): Float64Array {
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let l = 0; l < k; l++) for (let j = 0; j < k; j++) out[i * k + j] += a[i * k + l] * b[l * k + j];
  return out;
}

/** S^p for a symmetric positive-definite k × k matrix: Q · diag(λ^p) · Qᵀ. */
function matrixPower(S: Float64Array, k: number, p: number): Float64Array {
  const { values, vectors } = symmetricEigen(S, k);
  const out = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    const w = Math.pow(values[c], p);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[i * k + j] += w * vectors[i * k + c] * vectors[j * k + c];
  }
  return out;
}

