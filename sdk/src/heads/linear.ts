/**
 * Linear head: multinomial logistic (softmax) regression with L2 regularisation, fitted to
 * convergence with L-BFGS. Same objective as scikit-learn's LogisticRegression(lbfgs):
 * minimise C·Σ wᵢ·CE(xᵢ) + ½‖W‖² (intercept unpenalised); binary problems use one weight
 * vector and a sigmoid, as scikit-learn does.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { softmaxScaled, type Calibration } from './calibration.js';
import {
  argmaxRows,
  calibrateGate,
  checkTrainingSet,
  labelIndices,
  toPredictions,
  uniqueLabels,
  type Head,
  type OpenSetGate,
  type PredictOptions,
  type Prediction,
} from './head.js';
import { columnStats, multiplyABt, normalizeRows, rowSquaredNorms, standardize, toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';
import { minimizeLbfgs, minimizeLbfgsAsync, type AsyncValueAndGradient, type LbfgsResult } from './optim/lbfgs.js';
import { classSums, leaveOneOutPrototypeDistances, meansFromSums } from './prototypes.js';

export interface LinearOptions {
  /** Inverse regularisation strength (scikit-learn's C). Default 1. */
  C?: number;
  /** Standardise features with the training mean/std before fitting. Default false. */
  standardize?: boolean;
  /** 'balanced' weighs classes by n / (K · n_c), as scikit-learn. */
  classWeight?: 'balanced' | Record<string, number>;
  maxIterations?: number;
  tolerance?: number;
  /** Quantile of held-out distances used as the open-set threshold. Default 0.95. */
  openSetQuantile?: number;
}

export interface LinearState {
  labels: string[];
  dim: number;
  /** `[R × dim]` with R = 1 for binary problems, else the number of classes. */
  weights: Float32Array;
  bias: Float32Array;
  mean?: Float32Array;
  std?: Float32Array;
  /** Class means of the (L2-normalised) training embeddings, for the open-set gate. */
  prototypes: Float32Array;
  openSet?: OpenSetGate;
  options: LinearOptions;
}

export interface LinearFitInfo {
  iterations: number;
  converged: boolean;
  reason: LbfgsResult['reason'];
  loss: number;
}

export class LinearHead implements Head {
  readonly kind = 'linear' as const;
  readonly labels: readonly string[];
  readonly dim: number;
  openSet?: OpenSetGate;
  /** Temperature scaling of the logits (set by fitHead from out-of-fold predictions). */
  calibration?: Calibration;
  fitInfo?: LinearFitInfo;
  private readonly state: LinearState;
  private unitProtos?: Float32Array;
  /** The weights' rows, then the unit prototypes' (for predict's single product). */
  private stacked?: Matrix;

  constructor(state: LinearState) {
    this.state = state;
    this.labels = state.labels;
    this.dim = state.dim;
    this.openSet = state.openSet;
  }

  /** Fits with the plain-JS objective (runs anywhere). */
  static fit(x: EmbeddingsInput, labels: readonly string[], options: LinearOptions = {}): LinearHead {
    const problem = prepare(x, labels, options);
    const result = minimizeLbfgs(createObjective(problem.m, problem.y, problem.R, problem.sampleWeight, problem.C), problem.theta0, problem.lbfgs);
    return finish(problem, result, options);
  }

  /**
   * Fits with an objective evaluated elsewhere (e.g. onnxruntime's multithreaded GEMM via
   * `createOnnxObjective` in edgehead/node) — the same optimiser, the same optimum, faster on
   * large sets.
   */
  static async fitAsync(
    x: EmbeddingsInput,
    labels: readonly string[],
    fitOptions: LinearOptions & { objective?: ObjectiveFactory; warmStart?: LinearHead } = {},
  ): Promise<LinearHead> {
    const { objective: factory, warmStart, ...options } = fitOptions;
    const problem = prepare(x, labels, options);
    if (warmStart) startFrom(problem, warmStart);
    if (!factory) return finish(problem, minimizeLbfgs(createObjective(problem.m, problem.y, problem.R, problem.sampleWeight, problem.C), problem.theta0, problem.lbfgs), options);
    const objective = await factory(problem.m, problem.y, problem.R, problem.sampleWeight, problem.C);
    try {
      return finish(problem, await minimizeLbfgsAsync(objective.evaluate, problem.theta0, problem.lbfgs), options);
    } finally {
      await objective.dispose?.();
    }
  }

  /** The fitted parameters, for serialisation. */
  get parameters(): Readonly<LinearState> {
    return { ...this.state, openSet: this.openSet };
  }

  logits(x: EmbeddingsInput): Matrix {
    return this.logitsOf(toMatrix(x, this.dim));
  }

  /**
   * Class scores before calibration, one row per input (labels order): the logits, or [0, z]
   * for binary heads (σ(z) = softmax([0, z])).
   */
  scores(x: EmbeddingsInput): Float64Array[] {
    return scoreRows(this.logits(x));
  }

  /** softmax(logits / T), T from `calibration` (1 without it: scikit-learn's predict_proba). */
  predictProba(x: EmbeddingsInput): Float64Array[] {
    return this.probabilities(this.logits(x));
  }

  openSetDistances(x: EmbeddingsInput): Float64Array {
    return this.cosineDistances(toMatrix(x, this.dim));
  }

  predict(x: EmbeddingsInput, options?: PredictOptions): Prediction[] {
    const m = toMatrix(x, this.dim);
    if (this.state.mean && this.state.std) return toPredictions(this, this.probabilities(this.logitsOf(m)), this.cosineDistances(m), options);
    // Unstandardised heads score the weights and the prototypes in one product: a classify
    // request's whole arithmetic is one pass over its embeddings.
    const R = this.state.bias.length;
    const K = this.labels.length;
    this.stacked ??= { rows: R + K, cols: this.dim, data: concatRows(this.state.weights, this.unitPrototypes()) };
    // Float64 sums: a dot with a unit prototype reaches ‖x‖, which overflows float32 for
    // embeddings near its largest values (the logits are rounded to float32 as before).
    const both = multiplyABt(m, this.stacked, new Float64Array(m.rows * (R + K)));
    const logits = new Float32Array(m.rows * R);
    const dots = new Float64Array(m.rows * K);
    for (let i = 0; i < m.rows; i++) {
      logits.set(both.subarray(i * (R + K), i * (R + K) + R), i * R);
      dots.set(both.subarray(i * (R + K) + R, (i + 1) * (R + K)), i * K);
    }
    return toPredictions(this, this.probabilities(this.withBias(m.rows, logits)), distancesFromDots(dots, rowSquaredNorms(m), K), options);
  }

  /** Rows already checked by toMatrix. */
  private logitsOf(m: Matrix): Matrix {
    const x = this.state.mean && this.state.std ? standardize(m, this.state.mean, this.state.std) : m;
    return this.withBias(m.rows, multiplyABt(x, { rows: this.state.bias.length, cols: this.dim, data: this.state.weights }));
  }

  private withBias(rows: number, z: Float32Array): Matrix {
    const R = this.state.bias.length;
    for (let i = 0; i < rows; i++) for (let r = 0; r < R; r++) z[i * R + r] += this.state.bias[r];
    return { rows, cols: R, data: z };
  }

  private probabilities(logits: Matrix): Float64Array[] {
    const T = this.calibration?.temperature ?? 1;
    return scoreRows(logits).map((z) => softmaxScaled(z, T));
  }

  /** Cosine distance of each (checked) row to the nearest class prototype: the open-set gate's measure. */
  private cosineDistances(m: Matrix): Float64Array {
    const K = this.labels.length;
    return distancesFromDots(multiplyABt(m, { rows: K, cols: this.dim, data: this.unitPrototypes() }, new Float64Array(m.rows * K)), rowSquaredNorms(m), K);
  }

  /** The prototypes scaled to unit length, made once (they are fixed once fitted). */
  private unitPrototypes(): Float32Array {
    this.unitProtos ??= normalizeRows({ rows: this.labels.length, cols: this.dim, data: this.state.prototypes }).data;
    return this.unitProtos;
  }

  predictLabels(x: EmbeddingsInput): string[] {
    return argmaxRows(this.predictProba(x), this.labels);
  }
}

/**
 * Evaluates f(θ) and ∇f(θ) of the objective below for a prepared problem. Implementations:
 * `createObjective` (JS, here) and `createOnnxObjective` (onnxruntime, Node adapter).
 */
export type ObjectiveFactory = (
  x: Matrix,
  y: Int32Array,
  rows: number,
  sampleWeight: Float64Array,
  C: number,
) => Promise<{ evaluate: AsyncValueAndGradient; dispose?: () => Promise<void> | void }>;

interface Problem {
  raw: Matrix;
  m: Matrix;
  classes: string[];
  y: Int32Array;
  stats?: { mean: Float64Array; std: Float64Array };
  sampleWeight: Float64Array;
  C: number;
  R: number;
  theta0: Float64Array;
  lbfgs: { maxIterations: number; gradientTolerance: number };
}

function prepare(x: EmbeddingsInput, labels: readonly string[], options: LinearOptions): Problem {
  const raw = checkTrainingSet(x, labels);
  const classes = uniqueLabels(labels);
  if (classes.length < 2) throw new InvalidInputError(`A linear head needs at least 2 classes; got only "${classes[0]}".`);
  const C = options.C ?? 1;
  if (!(C > 0)) throw new InvalidInputError('C must be a positive number.');
  const y = labelIndices(labels, classes);
  const stats = options.standardize ? columnStats(raw) : undefined;
  const m = stats ? standardize(raw, stats.mean, stats.std) : raw;
  const R = classes.length === 2 ? 1 : classes.length;
  return {
    raw,
    m,
    classes,
    y,
    stats,
    sampleWeight: sampleWeights(y, classes, options.classWeight),
    C,
    R,
    theta0: new Float64Array(R * (m.cols + 1)),
    lbfgs: { maxIterations: options.maxIterations ?? 500, gradientTolerance: options.tolerance ?? 1e-4 },
  };
}

/**
 * Starts the optimiser from another head's solution (a neighbouring C on the same rows): the
 * optimum is the same, L-BFGS gets there in fewer steps. Ignored when the shapes differ.
 */
function startFrom(p: Problem, previous: LinearHead): void {
  const w = previous.parameters;
  const sameShape = w.weights.length === p.R * p.m.cols && w.labels.join('\u0000') === p.classes.join('\u0000') && !!w.mean === !!p.stats;
  if (!sameShape) return;
  p.theta0.set(w.weights);
  p.theta0.set(w.bias, p.R * p.m.cols);
}

function finish(p: Problem, result: LbfgsResult, options: LinearOptions): LinearHead {
  const d = p.m.cols;
  const weights = new Float32Array(p.R * d);
  const bias = new Float32Array(p.R);
  for (let r = 0; r < p.R; r++) {
    for (let k = 0; k < d; k++) weights[r * d + k] = result.x[r * d + k];
    bias[r] = result.x[p.R * d + r];
  }
  const K = p.classes.length;
  const { sums, counts } = classSums(p.raw, p.y, K, true);
  const head = new LinearHead({
    labels: p.classes,
    dim: d,
    weights,
    bias,
    mean: p.stats ? Float32Array.from(p.stats.mean) : undefined,
    std: p.stats ? Float32Array.from(p.stats.std) : undefined,
    prototypes: meansFromSums(sums, counts, d).data,
    openSet: calibrateGate(leaveOneOutPrototypeDistances(p.raw, p.y, K, 'cosine'), 'cosine', options.openSetQuantile ?? 0.95),
    options: { ...options, C: p.C },
  });
  head.fitInfo = { iterations: result.iterations, converged: result.converged, reason: result.reason, loss: result.value };
  return head;
}

export function softmax(z: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) max = Math.max(max, z[i]);
  const out = new Float64Array(z.length);
  let sum = 0;
  for (let i = 0; i < z.length; i++) {
    out[i] = Math.exp(z[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < z.length; i++) out[i] /= sum;
  return out;
}

function sampleWeights(y: Int32Array, classes: readonly string[], classWeight: LinearOptions['classWeight']): Float64Array {
  const w = new Float64Array(y.length).fill(1);
  if (!classWeight) return w;
  const counts = new Float64Array(classes.length);
  for (const c of y) counts[c]++;
  const perClass =
    classWeight === 'balanced'
      ? Array.from(counts, (n) => y.length / (classes.length * n))
      : classes.map((c) => {
          const v = classWeight[c] ?? 1;
          if (!(v > 0)) throw new InvalidInputError(`classWeight for "${c}" must be positive.`);
          return v;
        });
  for (let i = 0; i < y.length; i++) w[i] = perClass[y[i]];
  return w;
}

/**
 * f(θ) = (Σ wᵢ·CEᵢ + ‖W‖²/(2C)) / Σwᵢ and its gradient; θ = [W (R×d) row-major, b (R)].
 * This is scikit-learn ≥ 1.1's scaling (so the same gradient tolerance means the same thing);
 * the minimiser is that of C·Σ wᵢ·CEᵢ + ½‖W‖².
 */
function createObjective(x: Matrix, y: Int32Array, R: number, sw: Float64Array, C: number) {
  const n = x.rows;
  const d = x.cols;
  const total = sw.reduce((a, b) => a + b, 0);
  const wMatrix: Matrix = { rows: R, cols: d, data: new Float32Array(R * d) };
  const z = new Float32Array(n * R);
  const dz = new Float64Array(n * R);
  return (theta: Float64Array, grad: Float64Array): number => {
    for (let i = 0; i < R * d; i++) wMatrix.data[i] = theta[i];
    multiplyABt(x, wMatrix, z);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const scale = sw[i] / total;
      if (R === 1) {
        const zi = z[i] + theta[R * d];
        const target = y[i] === 1 ? 1 : 0;
        // log(1 + e^z) − t·z, computed stably.
        loss += scale * (Math.max(zi, 0) + Math.log1p(Math.exp(-Math.abs(zi))) - target * zi);
        dz[i] = scale * (1 / (1 + Math.exp(-zi)) - target);
      } else {
        let max = -Infinity;
        for (let r = 0; r < R; r++) max = Math.max(max, z[i * R + r] + theta[R * d + r]);
        let sum = 0;
        for (let r = 0; r < R; r++) sum += Math.exp(z[i * R + r] + theta[R * d + r] - max);
        const logSum = max + Math.log(sum);
        loss += scale * (logSum - (z[i * R + y[i]] + theta[R * d + y[i]]));
        for (let r = 0; r < R; r++) dz[i * R + r] = scale * (Math.exp(z[i * R + r] + theta[R * d + r] - logSum) - (r === y[i] ? 1 : 0));
      }
    }
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      const base = i * d;
      for (let r = 0; r < R; r++) {
        const coef = dz[i * R + r];
        if (coef === 0) continue;
        const g = r * d;
        for (let k = 0; k < d; k++) grad[g + k] += coef * x.data[base + k];
        grad[R * d + r] += coef;
      }
    }
    return loss + addL2(theta, grad, R * d, C, total);
  };
}

/** Adds ‖W‖²/(2C·Σw) to the gradient of the first `weights` entries and returns its value. */
export function addL2(theta: Float64Array, grad: Float64Array, weights: number, C: number, totalWeight: number): number {
  let reg = 0;
  for (let i = 0; i < weights; i++) {
    reg += theta[i] * theta[i];
    grad[i] += theta[i] / (C * totalWeight);
  }
  return reg / (2 * C * totalWeight);
}

/** Logit rows as class scores: binary heads' single logit z as [0, z] (σ(z) = softmax([0, z])). */
function scoreRows(z: Matrix): Float64Array[] {
  return Array.from({ length: z.rows }, (_, i) => (z.cols === 1 ? Float64Array.of(0, z.data[i]) : Float64Array.from(z.data.subarray(i * z.cols, (i + 1) * z.cols))));
}

function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The smallest cosine distance per row, from dots with unit prototypes and the rows' squared
 * norms: 1 − x·p̂/‖x‖ (a zero row is at distance 1 from everything, as if normalised to zero).
 */
function distancesFromDots(dots: Float64Array, squaredNorms: Float64Array, K: number): Float64Array {
  const out = new Float64Array(squaredNorms.length);
  for (let i = 0; i < out.length; i++) {
    const norm = Math.sqrt(squaredNorms[i]);
    let best = Infinity;
    for (let c = 0; c < K; c++) best = Math.min(best, 1 - (norm > 0 ? dots[i * K + c] / norm : 0));
    out[i] = best;
  }
  return out;
}
