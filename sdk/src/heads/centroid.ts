/**
 * Nearest-centroid (prototype) head: one mean per class, cosine or euclidean distance,
 * incremental updates from running sums, and optional shrinkage towards the overall mean
 * (scikit-learn's NearestCentroid `shrink_threshold`, computed from the same running sums).
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { softmaxScaled, type Calibration } from './calibration.js';
import {
  calibrateGate,
  checkTrainingSet,
  labelIndices,
  quantile,
  toPredictions,
  uniqueLabels,
  type Head,
  type OpenSetGate,
  type PredictOptions,
  type Prediction,
} from './head.js';
import { toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';
import { classSums, leaveOneOutPrototypeDistances, nearestDistance, prototypeDistances, type PrototypeMetric } from './prototypes.js';

export interface CentroidOptions {
  metric?: PrototypeMetric;
  /** scikit-learn's shrink_threshold; 0/undefined = plain class means. */
  shrinkThreshold?: number;
  openSetQuantile?: number;
  /** Label descriptions that start each class before (or instead of) examples: zero-shot heads. */
  prior?: LabelPrior;
}

/**
 * Embedded descriptions of the labels ("card arrival", "questions asking for a number"), one or
 * more per label. Each label's descriptions are averaged and count as `weight` examples of it, so
 * its centroid is (weight · description + Σ examples) / (weight + n): the description alone with
 * no examples, and the examples' mean more and more as they arrive (also through `add`).
 */
export interface LabelPrior {
  embeddings: EmbeddingsInput;
  labels: readonly string[];
  /** How many examples a label's descriptions count as. Default DEFAULT_PRIOR_WEIGHT. */
  weight?: number;
}

/** Measured on TREC, BANKING77 and the demo's intents (docs/heads.md, Zero-shot heads). */
export const DEFAULT_PRIOR_WEIGHT = 1;

export interface CentroidState {
  labels: string[];
  dim: number;
  metric: PrototypeMetric;
  shrinkThreshold?: number;
  /** Running per-class sums, sums of squares and counts: enough to update and to shrink. */
  sums: Float64Array;
  squares: Float64Array;
  counts: Float64Array;
  /** Softmax temperature turning distances into probabilities. */
  temperature: number;
  openSet?: OpenSetGate;
}

export class CentroidHead implements Head {
  readonly kind = 'centroid' as const;
  openSet?: OpenSetGate;
  /** Temperature scaling of −distance/τ (set by fitHead from out-of-fold predictions). */
  calibration?: Calibration;
  private state: CentroidState;
  private centroidCache?: Matrix;

  constructor(state: CentroidState) {
    this.state = state;
    this.openSet = state.openSet;
  }

  static fit(x: EmbeddingsInput, labels: readonly string[], options: CentroidOptions = {}): CentroidHead {
    const metric = options.metric ?? 'cosine';
    if (metric !== 'cosine' && metric !== 'euclidean') throw new InvalidInputError(`Unknown centroid metric "${metric}"; use cosine or euclidean.`);
    if (options.prior) return CentroidHead.fitWithPrior(x, labels, options.prior, { ...options, metric });
    const m = checkTrainingSet(x, labels);
    const classes = uniqueLabels(labels);
    const y = labelIndices(labels, classes);
    const { sums, counts } = classSums(m, y, classes.length, false);
    const squares = sumOfSquares(m, y, classes.length);
    const head = new CentroidHead({
      labels: classes,
      dim: m.cols,
      metric,
      shrinkThreshold: options.shrinkThreshold || undefined,
      sums,
      squares,
      counts,
      temperature: 1,
    });
    head.calibrateOn(m, y, options.openSetQuantile);
    return head;
  }

  /**
   * Softmax temperature (a fifth of the examples' typical distance to their own centroid) and the
   * unknown gate (leave-one-out distances) from the training examples.
   */
  private calibrateOn(m: Matrix, y: Int32Array, openSetQuantile = 0.95): void {
    const own = this.ownCentroidDistances(m, y);
    const typical = own.reduce((a, b) => a + b, 0) / own.length;
    if (typical > 0) this.state.temperature = typical / 5;
    else if (this.state.temperature === 1 && this.metric === 'cosine') this.state.temperature = 0.05;
    this.openSet = calibrateGate(leaveOneOutPrototypeDistances(m, y, this.labels.length, this.metric), this.metric, openSetQuantile);
  }

  /**
   * A head from label descriptions alone (zero-shot): each label's centroid is its descriptions'
   * mean. No examples means no held-out distances, so no unknown gate and no calibration; the
   * softmax temperature follows how far apart the descriptions are. Examples added later (`add`)
   * move the centroids.
   */
  static fromDescriptions(prior: LabelPrior, options: Omit<CentroidOptions, 'prior'> = {}): CentroidHead {
    return CentroidHead.fit([], [], { ...options, prior });
  }

  private static fitWithPrior(x: EmbeddingsInput, labels: readonly string[], prior: LabelPrior, options: CentroidOptions & { metric: PrototypeMetric }): CentroidHead {
    const described = checkTrainingSet(prior.embeddings, prior.labels);
    const weight = prior.weight ?? DEFAULT_PRIOR_WEIGHT;
    if (!(weight > 0)) throw new InvalidInputError(`The prior weight must be a positive number of examples; got ${weight}.`);
    const metric = options.metric;
    if (options.shrinkThreshold) throw new InvalidInputError('Shrinkage and label descriptions do not combine; leave shrinkThreshold unset.');
    const classes = uniqueLabels([...prior.labels, ...labels]);
    const d = described.cols;
    // Each label's descriptions, averaged, as `weight` pseudo-examples.
    const { sums: descSums, counts: descCounts } = classSums(described, labelIndices(prior.labels, classes), classes.length, false);
    const sums = new Float64Array(classes.length * d);
    const squares = new Float64Array(classes.length * d);
    const counts = new Float64Array(classes.length);
    for (let c = 0; c < classes.length; c++) {
      if (!descCounts[c]) continue;
      counts[c] = weight;
      for (let k = 0; k < d; k++) {
        const mean = descSums[c * d + k] / descCounts[c];
        sums[c * d + k] = weight * mean;
        squares[c * d + k] = weight * mean * mean;
      }
    }
    const head = new CentroidHead({ labels: classes, dim: d, metric, sums, squares, counts, temperature: 1 });
    // With no examples, scale the softmax by how far apart the descriptions are: a fifth of the
    // median distance from each description's centroid to its nearest other one.
    const C = head.centroids();
    const between = prototypeDistances(C, C, metric);
    const nearestOther = Array.from({ length: C.rows }, (_, i) => Math.min(...Array.from({ length: C.rows }, (__, j) => (i === j ? Infinity : between[i * C.rows + j]))));
    const spread = quantile(nearestOther.filter(Number.isFinite), 0.5);
    head.state.temperature = spread > 0 ? spread / 5 : metric === 'cosine' ? 0.05 : 1;
    if (labels.length === 0) return head;
    const m = checkTrainingSet(x, labels);
    head.add(m, labels);
    head.calibrateOn(m, labelIndices(labels, head.labels), options.openSetQuantile);
    return head;
  }

  get labels(): readonly string[] {
    return this.state.labels;
  }

  get dim(): number {
    return this.state.dim;
  }

  get metric(): PrototypeMetric {
    return this.state.metric;
  }

  get parameters(): Readonly<CentroidState> {
    return { ...this.state, openSet: this.openSet };
  }

  /** Adds examples to the running class statistics (new labels become new classes). */
  add(x: EmbeddingsInput, labels: readonly string[]): void {
    const m = toMatrix(x, this.dim);
    if (m.rows !== labels.length) throw new InvalidInputError(`Got ${m.rows} embeddings but ${labels.length} labels.`);
    const merged = uniqueLabels([...this.state.labels, ...labels]);
    if (merged.length !== this.state.labels.length) {
      const d = this.dim;
      const grow = (a: Float64Array, width: number) => {
        const b = new Float64Array(merged.length * width);
        this.state.labels.forEach((l, old) => b.set(a.subarray(old * width, (old + 1) * width), merged.indexOf(l) * width));
        return b;
      };
      this.state = { ...this.state, labels: merged, sums: grow(this.state.sums, d), squares: grow(this.state.squares, d), counts: grow(this.state.counts, 1) };
    }
    const y = labelIndices(labels, this.state.labels);
    const { sums, counts } = classSums(m, y, this.state.labels.length, false);
    const squares = sumOfSquares(m, y, this.state.labels.length);
    for (let i = 0; i < sums.length; i++) {
      this.state.sums[i] += sums[i];
      this.state.squares[i] += squares[i];
    }
    for (let c = 0; c < counts.length; c++) this.state.counts[c] += counts[c];
    this.centroidCache = undefined;
  }

  /** The class centroids, shrunk when shrinkThreshold is set. */
  centroids(): Matrix {
    if (this.centroidCache) return this.centroidCache;
    const { sums, counts, squares, dim: d, shrinkThreshold } = this.state;
    const K = counts.length;
    const data = new Float32Array(K * d);
    const means = new Float64Array(K * d);
    for (let c = 0; c < K; c++) for (let k = 0; k < d; k++) means[c * d + k] = counts[c] ? sums[c * d + k] / counts[c] : 0;
    if (!shrinkThreshold) {
      data.set(means);
    } else {
      const n = counts.reduce((a, b) => a + b, 0);
      if (n <= K) throw new InvalidInputError('Shrinkage needs more examples than classes.');
      // Pooled within-class standard deviation per feature, plus its median (as scikit-learn).
      const s = new Float64Array(d);
      for (let k = 0; k < d; k++) {
        let within = 0;
        for (let c = 0; c < K; c++) if (counts[c]) within += squares[c * d + k] - (sums[c * d + k] * sums[c * d + k]) / counts[c];
        s[k] = Math.sqrt(Math.max(0, within) / (n - K));
      }
      const median = quantile(Array.from(s), 0.5);
      const overall = new Float64Array(d);
      for (let c = 0; c < K; c++) for (let k = 0; k < d; k++) overall[k] += sums[c * d + k] / n;
      for (let c = 0; c < K; c++) {
        const mk = Math.sqrt(1 / counts[c] - 1 / n);
        for (let k = 0; k < d; k++) {
          const ms = mk * (s[k] + median);
          const deviation = (means[c * d + k] - overall[k]) / ms;
          const shrunk = Math.sign(deviation) * Math.max(0, Math.abs(deviation) - shrinkThreshold);
          data[c * d + k] = overall[k] + ms * shrunk;
        }
      }
    }
    this.centroidCache = { rows: K, cols: d, data };
    return this.centroidCache;
  }

  distances(x: EmbeddingsInput): { data: Float64Array; rows: number } {
    const m = toMatrix(x, this.dim);
    return { data: prototypeDistances(m, this.centroids(), this.state.metric), rows: m.rows };
  }

  predictProba(x: EmbeddingsInput): Float64Array[] {
    const { data, rows } = this.distances(x);
    return this.probabilities(data, rows);
  }

  /** Class scores before calibration: −distance/τ per class. */
  scores(x: EmbeddingsInput): Float64Array[] {
    const { data, rows } = this.distances(x);
    const K = this.state.labels.length;
    return Array.from({ length: rows }, (_, i) => Float64Array.from(data.subarray(i * K, (i + 1) * K), (v) => -v / this.state.temperature));
  }

  openSetDistances(x: EmbeddingsInput): Float64Array {
    const { data, rows } = this.distances(x);
    return nearestDistance(data, rows, this.state.labels.length);
  }

  predict(x: EmbeddingsInput, options?: PredictOptions): Prediction[] {
    const m = toMatrix(x, this.dim);
    const { data, rows } = this.distances(m);
    const K = this.state.labels.length;
    const proba = this.probabilities(data, rows);
    return toPredictions(this, proba, nearestDistance(data, rows, K), options);
  }

  /** Nearest centroid, first class on ties (as numpy's argmin). */
  predictLabels(x: EmbeddingsInput): string[] {
    const { data, rows } = this.distances(x);
    const K = this.state.labels.length;
    return Array.from({ length: rows }, (_, i) => {
      let best = 0;
      for (let c = 1; c < K; c++) if (data[i * K + c] < data[i * K + best]) best = c;
      return this.state.labels[best];
    });
  }

  /** Softmax of −distance/(τ·T) per row of an [n × K] distance matrix (T: calibration, default 1). */
  private probabilities(distances: Float64Array, rows: number): Float64Array[] {
    const K = this.state.labels.length;
    const T = this.calibration?.temperature ?? 1;
    return Array.from({ length: rows }, (_, i) => softmaxScaled(Array.from(distances.subarray(i * K, (i + 1) * K), (v) => -v / this.state.temperature), T));
  }

  private ownCentroidDistances(m: Matrix, y: Int32Array): number[] {
    const K = this.state.labels.length;
    const d = prototypeDistances(m, this.centroids(), this.state.metric);
    return Array.from(y, (c, i) => d[i * K + c]);
  }
}

function sumOfSquares(m: Matrix, y: Int32Array, classes: number): Float64Array {
  const out = new Float64Array(classes * m.cols);
  for (let i = 0; i < m.rows; i++) {
    const base = i * m.cols;
    const o = y[i] * m.cols;
    for (let k = 0; k < m.cols; k++) out[o + k] += m.data[base + k] * m.data[base + k];
  }
  return out;
}
