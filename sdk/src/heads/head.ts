/**
 * What every head shares: labels, dimension, probabilities, top-k, and open-set rejection.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import type { Calibration } from './calibration.js';
import { toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';

export type HeadKind = 'linear' | 'knn' | 'centroid';

export interface ScoredLabel {
  label: string;
  probability: number;
}

export interface Prediction {
  /** The predicted label, or null when the input was rejected as unknown. */
  label: string | null;
  /** The most likely known label, even when rejected. */
  nearest: string;
  probability: number;
  topK: ScoredLabel[];
  unknown: boolean;
  /** Open-set distance (see OpenSetGate); smaller is more familiar. */
  distance: number;
}

/**
 * Open-set rejection: an input whose distance to what the head has seen (nearest training
 * example for kNN, nearest class mean otherwise) exceeds `threshold` is answered `unknown`.
 * The threshold is the `quantile` of held-out training distances: out-of-fold (grouped when
 * groups were given) when fitHead cross-validated, else leave-one-out.
 */
export interface OpenSetGate {
  metric: 'cosine' | 'euclidean';
  threshold: number;
  quantile: number;
  /** How the threshold was obtained. */
  calibration: 'leave-one-out' | 'out-of-fold' | 'manual';
}

export interface PredictOptions {
  topK?: number;
  /** Apply open-set rejection (default: true when the head has a gate). */
  rejectUnknown?: boolean;
  /** Override the calibrated threshold for this call. */
  threshold?: number;
}

export interface Head {
  readonly kind: HeadKind;
  readonly labels: readonly string[];
  readonly dim: number;
  openSet?: OpenSetGate;
  /** Probability calibration (linear and centroid heads fitted by fitHead with CV). */
  calibration?: Calibration;
  /** Rows of class probabilities (labels order), each summing to 1. */
  predictProba(x: EmbeddingsInput): Float64Array[];
  predict(x: EmbeddingsInput, options?: PredictOptions): Prediction[];
  /** Open-set distances of each input. */
  openSetDistances(x: EmbeddingsInput): Float64Array;
}

/** Sorted unique labels: the class order every head (and scikit-learn) uses. */
export function uniqueLabels(labels: readonly string[]): string[] {
  labels.forEach((l, i) => {
    if (typeof l !== 'string' || l.length === 0) throw new InvalidInputError(`Label #${i} must be a non-empty string.`);
  });
  return [...new Set(labels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function labelIndices(labels: readonly string[], classes: readonly string[]): Int32Array {
  const index = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(labels, (l) => {
    const i = index.get(l);
    if (i === undefined) throw new InvalidInputError(`Unknown label "${l}"; this head knows ${classes.join(', ')}.`);
    return i;
  });
}

export function checkTrainingSet(x: EmbeddingsInput, labels: readonly string[]): Matrix {
  const m = toMatrix(x, undefined, 'training embedding');
  if (m.rows !== labels.length) throw new InvalidInputError(`Got ${m.rows} embeddings but ${labels.length} labels.`);
  return m;
}

/** Linear-interpolated quantile (numpy's default) of a list. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Fewer held-out distances than this and rejection is left off: the threshold would be noise. */
export const MIN_CALIBRATION_POINTS = 5;

export function calibrateGate(distances: readonly number[], metric: 'cosine' | 'euclidean', q: number): OpenSetGate | undefined {
  const finite = distances.filter(Number.isFinite);
  if (finite.length < MIN_CALIBRATION_POINTS) return undefined;
  return { metric, threshold: quantile(finite, q), quantile: q, calibration: 'leave-one-out' };
}

/** Turns probability rows + open-set distances into predictions. */
export function toPredictions(
  head: Pick<Head, 'labels' | 'openSet'>,
  proba: Float64Array[],
  distances: Float64Array,
  options: PredictOptions = {},
): Prediction[] {
  const k = Math.max(1, Math.min(options.topK ?? 3, head.labels.length));
  const threshold = options.threshold ?? head.openSet?.threshold;
  const reject = (options.rejectUnknown ?? head.openSet !== undefined) && threshold !== undefined;
  return proba.map((p, i) => {
    const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b);
    const best = order[0];
    const unknown = reject && distances[i] > (threshold as number);
    return {
      label: unknown ? null : head.labels[best],
      nearest: head.labels[best],
      probability: p[best],
      topK: order.slice(0, k).map((c) => ({ label: head.labels[c], probability: p[c] })),
      unknown,
      distance: distances[i],
    };
  });
}

/** argmax of each probability row; ties go to the first class, as numpy's argmax. */
export function argmaxRows(proba: Float64Array[], labels: readonly string[]): string[] {
  return proba.map((p) => {
    let best = 0;
    for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
    return labels[best];
  });
}
