/**
 * How well will a backbone's embeddings serve these labels, before fitting anything? LogME
 * (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
 * ICML 2021): the log marginal likelihood (evidence) of a Bayesian linear regression from the
 * embeddings to each one-hot label column, with the prior and noise precisions set by evidence
 * maximisation (MacKay's fixed point), averaged over classes and divided by the number of rows.
 * Higher is better; scores compare candidates on the same labelled rows, not across datasets.
 *
 * One symmetric eigendecomposition (of FᵀF or FFᵀ, whichever is smaller) serves every class and
 * every iteration, so a score costs about as much as one small matrix factorisation.
 * @module
 */
import { EigenvalueDecomposition, Matrix as MlMatrix } from 'ml-matrix';
import { InvalidInputError } from '../core/errors.js';
import { toMatrix, type EmbeddingsInput } from './matrix.js';

export interface LogMEResult {
  /** Mean over classes of the maximised log evidence per row. */
  score: number;
  /** The same, per class (in the order of `classes`). */
  perClass: number[];
  classes: string[];
}

/** Relative change of α/β below which the fixed point is taken as reached. */
const TOLERANCE = 1e-10;
const MAX_ITERATIONS = 500;
/**
 * Bounds on the precisions. Features that carry nothing about a class drive α to infinity (the
 * weights to zero) and a perfect fit drives β there; the evidence has a finite limit in both
 * cases, which these bounds reach to many digits without overflowing.
 */
const MAX_RATIO = 1e12;

/** LogME of `embeddings` (n × d, as the backbone gives them) for `labels` (n class names). */
export function logME(embeddings: EmbeddingsInput, labels: readonly string[]): LogMEResult {
  const f = toMatrix(embeddings, undefined, 'embedding');
  const n = f.rows;
  const d = f.cols;
  if (labels.length !== n) throw new InvalidInputError(`LogME needs one label per embedding; got ${labels.length} labels for ${n} embeddings.`);
  const classes = [...new Set(labels)].sort();
  if (classes.length < 2) throw new InvalidInputError('LogME needs at least two classes.');
  const spectrum = projectedSpectrum(f.data, n, d, labels, classes);
  const perClass = classes.map((_, c) => maximisedEvidence(spectrum.s, spectrum.z[c], spectrum.yy[c], n, d) / n);
  return { score: perClass.reduce((a, b) => a + b, 0) / perClass.length, perClass, classes };
}

interface Spectrum {
  /** Non-zero eigenvalues of FᵀF (= those of FFᵀ). */
  s: number[];
  /** Per class: the label column's coordinates on the matching left singular vectors, uᵢᵀy. */
  z: Float64Array[];
  /** Per class: yᵀy (the number of rows of that class). */
  yy: number[];
}

function projectedSpectrum(data: Float32Array, n: number, d: number, labels: readonly string[], classes: string[]): Spectrum {
  const classOf = labels.map((l) => classes.indexOf(l));
  const yy = classes.map((_, c) => classOf.filter((k) => k === c).length);
  const primal = d <= n;
  const k = primal ? d : n;
  const gram = new Float64Array(k * k);
  if (primal) {
    // FᵀF, accumulated row by row (upper triangle, mirrored below).
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let a = 0; a < d; a++) {
        const fa = data[o + a];
        if (fa === 0) continue;
        const base = a * d;
        for (let b = a; b < d; b++) gram[base + b] += fa * data[o + b];
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const oi = i * d;
      for (let j = i; j < n; j++) {
        const oj = j * d;
        let sum = 0;
        for (let t = 0; t < d; t++) sum += data[oi + t] * data[oj + t];
        gram[i * n + j] = sum;
      }
    }
  }
  for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) gram[a * k + b] = gram[b * k + a];
  const eig = new EigenvalueDecomposition(MlMatrix.from1DArray(k, k, gram), { assumeSymmetric: true });
  const values = eig.realEigenvalues;
  const vectors = eig.eigenvectorMatrix;
  // Eigenvalues below this are rounding noise of a rank-deficient Gram matrix.
  const floor = Math.max(...values) * k * 1e-12;
  const keep = values.map((v, i) => (v > floor ? i : -1)).filter((i) => i >= 0);
  const s = keep.map((i) => values[i]);
  const z = classes.map(() => new Float64Array(keep.length));
  if (primal) {
    // uᵢ = F vᵢ / √sᵢ, so uᵢᵀy = (Fᵀy)·vᵢ / √sᵢ; Fᵀy is the sum of the class's rows.
    const fty = classes.map(() => new Float64Array(d));
    for (let r = 0; r < n; r++) {
      const target = fty[classOf[r]];
      for (let a = 0; a < d; a++) target[a] += data[r * d + a];
    }
    keep.forEach((col, j) => {
      const scale = 1 / Math.sqrt(values[col]);
      for (let c = 0; c < classes.length; c++) {
        let sum = 0;
        for (let a = 0; a < d; a++) sum += fty[c][a] * vectors.get(a, col);
        z[c][j] = sum * scale;
      }
    });
  } else {
    // The eigenvectors of FFᵀ are the uᵢ themselves; uᵢᵀy sums uᵢ over the class's rows.
    keep.forEach((col, j) => {
      for (let r = 0; r < n; r++) z[classOf[r]][j] += vectors.get(r, col);
    });
  }
  return { s, z, yy };
}

/**
 * The log evidence of y = Fw + ε, w ~ N(0, α⁻¹I_d), ε ~ N(0, β⁻¹I_n), at the α, β that maximise
 * it. In the eigenbasis every quantity is a sum over the spectrum:
 *   m = βA⁻¹Fᵀy with A = αI + βFᵀF;  ‖m‖² = Σ β²sᵢzᵢ²/(α+βsᵢ)²;
 *   ‖y − Fm‖² = Σ (α/(α+βsᵢ))²zᵢ² + (yᵀy − Σzᵢ²);  γ = Σ βsᵢ/(α+βsᵢ);
 *   α ← γ/‖m‖², β ← (n − γ)/‖y − Fm‖² until α/β stops moving;
 *   log p(y) = d/2·log α + n/2·log β − β/2‖y − Fm‖² − α/2‖m‖² − ½ log|A| − n/2·log 2π,
 * where log|A| counts the d − rank zero eigenvalues as log α each.
 */
function maximisedEvidence(s: readonly number[], z: Float64Array, yy: number, n: number, d: number): number {
  let alpha = 1;
  let beta = 1;
  const sMax = Math.max(...s, Number.MIN_VALUE);
  let zz = 0;
  for (let i = 0; i < z.length; i++) zz += z[i] * z[i];
  const outside = Math.max(0, yy - zz);
  let mm = 0;
  let residual = 0;
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    let gamma = 0;
    mm = 0;
    residual = outside;
    for (let i = 0; i < s.length; i++) {
      const denom = alpha + beta * s[i];
      gamma += (beta * s[i]) / denom;
      mm += (beta * beta * s[i] * z[i] * z[i]) / (denom * denom);
      residual += ((alpha * alpha) / (denom * denom)) * z[i] * z[i];
    }
    const lambda = alpha / beta;
    beta = Math.min((n - gamma) / Math.max(residual, Number.MIN_VALUE), (MAX_RATIO * n) / Math.max(yy, 1));
    alpha = Math.min(gamma / Math.max(mm, Number.MIN_VALUE), MAX_RATIO * beta * sMax);
    if (Math.abs(alpha / beta - lambda) <= TOLERANCE * lambda) break;
  }
  // m and the residual at the final α, β (the loop computed them at the previous pair).
  mm = 0;
  residual = outside;
  let logDetA = (d - s.length) * Math.log(alpha);
  for (let i = 0; i < s.length; i++) {
    const denom = alpha + beta * s[i];
    mm += (beta * beta * s[i] * z[i] * z[i]) / (denom * denom);
    residual += ((alpha * alpha) / (denom * denom)) * z[i] * z[i];
    logDetA += Math.log(denom);
  }
  return (d / 2) * Math.log(alpha) + (n / 2) * Math.log(beta) - (beta / 2) * residual - (alpha / 2) * mm - logDetA / 2 - (n / 2) * Math.log(2 * Math.PI);
}
