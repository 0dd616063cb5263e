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
import { InvalidInputError } from '../core/errors.js';
import { symmetricEigen } from './eigen.js';
import { labelIndices, uniqueLabels } from './head.js';
import { selectRows, toMatrix, type EmbeddingsInput } from './matrix.js';
import { createRng, shuffle } from './random.js';

export interface LogMEResult {
  /** Mean over classes of the maximised log evidence per row. */
  score: number;
  /** The same, per class (in the order of `classes`). */
  perClass: number[];
  classes: string[];
  /** Rows scored (a seeded sample when both the rows and the dimension exceed `maxRows`). */
  rows: number;
}

export interface LogMEOptions {
  /**
   * The eigendecomposition is cubic in min(rows, dimension): when both exceed this, a seeded
   * sample of this many rows is scored. Default 1000 (about 10 s on one core here).
   */
  maxRows?: number;
  seed?: number;
}

/** Relative change of α/β below which the fixed point is taken as reached. */
const TOLERANCE = 1e-10;
const MAX_ITERATIONS = 500;
/**
 * Bounds on the precisions. Features that carry nothing about a class drive α to infinity (the
 * weights to zero): the evidence has a finite limit, which the bound reaches to many digits. A
 * class fitted exactly (fewer rows than dimensions, labels in the span of the rows) drives β to
 * infinity and its evidence without limit: there the bound on β caps the score, so such a score
 * says "separable", not how well it will generalise; the probe beside it does.
 */
const MAX_RATIO = 1e12;

/** LogME of `embeddings` (n × d, as the backbone gives them) for `labels` (n class names). */
export function logME(embeddings: EmbeddingsInput, labels: readonly string[], options: LogMEOptions = {}): LogMEResult {
  let f = toMatrix(embeddings, undefined, 'embedding');
  if (labels.length !== f.rows) throw new InvalidInputError(`LogME needs one label per embedding; got ${labels.length} labels for ${f.rows} embeddings.`);
  const maxRows = options.maxRows ?? 1000;
  let rowLabels = labels;
  if (f.rows > maxRows && f.cols > maxRows) {
    const chosen = shuffle(Array.from({ length: f.rows }, (_, i) => i), createRng(options.seed ?? 0)).slice(0, maxRows).sort((a, b) => a - b);
    f = selectRows(f, chosen);
    rowLabels = chosen.map((i) => labels[i]);
  }
  const classes = uniqueLabels(rowLabels);
  if (classes.length < 2) throw new InvalidInputError('LogME needs at least two classes.');
  const n = f.rows;
  const spectrum = projectedSpectrum(f.data, n, f.cols, labelIndices(rowLabels, classes), classes.length);
  const perClass = classes.map((_, c) => maximisedEvidence(spectrum.s, spectrum.z[c], spectrum.yy[c], n) / n);
  return { score: perClass.reduce((a, b) => a + b, 0) / perClass.length, perClass, classes, rows: n };
}

interface Spectrum {
  /** Non-zero eigenvalues of FᵀF (= those of FFᵀ). */
  s: number[];
  /** Per class: the label column's coordinates on the matching left singular vectors, uᵢᵀy. */
  z: Float64Array[];
  /** Per class: yᵀy (the number of rows of that class). */
  yy: number[];
}

function projectedSpectrum(data: Float32Array, n: number, d: number, classOf: Int32Array, classCount: number): Spectrum {
  const yy = new Array<number>(classCount).fill(0);
  for (const c of classOf) yy[c]++;
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
  const { values, vectors } = symmetricEigen(gram, k);
  // Eigenvalues below this are rounding noise of a rank-deficient Gram matrix.
  const floor = Math.max(values[0], 0) * k * 1e-12;
  const keep = values.flatMap((v, i) => (v > floor ? [i] : []));
  const s = keep.map((i) => values[i]);
  const z = yy.map(() => new Float64Array(keep.length));
  if (primal) {
    // uᵢ = F vᵢ / √sᵢ, so uᵢᵀy = (Fᵀy)·vᵢ / √sᵢ; Fᵀy is the sum of the class's rows.
    const fty = yy.map(() => new Float64Array(d));
    for (let r = 0; r < n; r++) {
      const target = fty[classOf[r]];
      for (let a = 0; a < d; a++) target[a] += data[r * d + a];
    }
    keep.forEach((col, j) => {
      const scale = 1 / Math.sqrt(values[col]);
      for (let c = 0; c < classCount; c++) {
        let sum = 0;
        for (let a = 0; a < d; a++) sum += fty[c][a] * vectors[a * k + col];
        z[c][j] = sum * scale;
      }
    });
  } else {
    // The eigenvectors of FFᵀ are the uᵢ themselves; uᵢᵀy sums uᵢ over the class's rows.
    keep.forEach((col, j) => {
      for (let r = 0; r < n; r++) z[classOf[r]][j] += vectors[r * k + col];
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
 * where log|A| = (d − rank)·log α + Σ log(α + βsᵢ): the first part cancels d − rank of the d/2·log α,
 * leaving rank/2·log α (so a zero spectrum is the model y = ε alone, β = n/yᵀy).
 */
function maximisedEvidence(s: readonly number[], z: Float64Array, yy: number, n: number): number {
  if (s.length === 0) return (n / 2) * Math.log(n / yy) - n / 2 - (n / 2) * Math.log(2 * Math.PI);
  let alpha = 1;
  let beta = 1;
  const sMax = Math.max(s[0], Number.MIN_VALUE); // the spectrum is in descending order
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
  let logDetSpectrum = 0;
  for (let i = 0; i < s.length; i++) {
    const denom = alpha + beta * s[i];
    mm += (beta * beta * s[i] * z[i] * z[i]) / (denom * denom);
    residual += ((alpha * alpha) / (denom * denom)) * z[i] * z[i];
    logDetSpectrum += Math.log(denom);
  }
  return (s.length / 2) * Math.log(alpha) + (n / 2) * Math.log(beta) - (beta / 2) * residual - (alpha / 2) * mm - logDetSpectrum / 2 - (n / 2) * Math.log(2 * Math.PI);
}
