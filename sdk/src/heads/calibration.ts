/**
 * Probability calibration by temperature scaling (Guo et al., "On Calibration of Modern Neural
 * Networks", ICML 2017): one scalar T divides a head's class scores before the softmax,
 * p = softmax(z / T). T is fitted to minimise the negative log-likelihood of out-of-fold
 * predictions (scores of examples the fold's head did not train on), so it corrects the
 * over- or under-confidence a head shows on new data; the argmax (the label) never changes.
 * Also: expected calibration error (ECE) and reliability-diagram bins.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';

export interface Calibration {
  method: 'temperature-scaling';
  /** Scores are divided by this before the softmax (> 1 softens, < 1 sharpens). */
  temperature: number;
  /** What T was fitted on, e.g. '5-fold stratified CV (not grouped)' out-of-fold predictions. */
  fittedOn: string;
  /** Number of out-of-fold predictions used. */
  n: number;
}

/** Softmax of `scores / temperature`, computed stably. */
export function softmaxScaled(scores: ArrayLike<number>, temperature = 1): Float64Array {
  const out = new Float64Array(scores.length);
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) max = Math.max(max, scores[i] / temperature);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    out[i] = Math.exp(scores[i] / temperature - max);
    sum += out[i];
  }
  for (let i = 0; i < scores.length; i++) out[i] /= sum;
  return out;
}

/** Mean negative log-likelihood of `labels` under softmax(scores / T). */
export function temperatureNll(scores: readonly ArrayLike<number>[], labels: ArrayLike<number>, temperature: number): number {
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const z = scores[i];
    let max = -Infinity;
    for (let c = 0; c < z.length; c++) max = Math.max(max, z[c] / temperature);
    let sum = 0;
    for (let c = 0; c < z.length; c++) sum += Math.exp(z[c] / temperature - max);
    total += max + Math.log(sum) - z[labels[i]] / temperature;
  }
  return total / scores.length;
}

const LOG_T_MIN = Math.log(0.01);
const LOG_T_MAX = Math.log(100);

/**
 * The temperature minimising the NLL of out-of-fold scores. The NLL is convex in 1/T, so a
 * golden-section search over log T in [0.01, 100] finds its minimum.
 */
export function fitTemperature(scores: readonly ArrayLike<number>[], labels: ArrayLike<number>): number {
  if (scores.length === 0 || scores.length !== labels.length) throw new InvalidInputError('Temperature scaling needs one label per score row.');
  const f = (logT: number) => temperatureNll(scores, labels, Math.exp(logT));
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = LOG_T_MIN;
  let b = LOG_T_MAX;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 60 && b - a > 1e-5; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

export interface ReliabilityBin {
  /** Bin edges on the confidence (max probability) axis. */
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence and accuracy of the predictions in the bin (NaN when empty). */
  confidence: number;
  accuracy: number;
}

/**
 * Equal-width confidence bins (the first is [0, 1/bins], later ones (lo, hi]) with the mean
 * confidence and accuracy in each: the reliability diagram.
 */
export function reliabilityBins(confidences: ArrayLike<number>, correct: ArrayLike<boolean>, bins = 10): ReliabilityBin[] {
  if (confidences.length !== correct.length) throw new InvalidInputError('One correctness flag per confidence is needed.');
  const out = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, confidence: 0, accuracy: 0 }));
  for (let i = 0; i < confidences.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(confidences[i] * bins) - 1));
    out[b].count++;
    out[b].confidence += confidences[i];
    out[b].accuracy += correct[i] ? 1 : 0;
  }
  return out.map((b) => ({ ...b, confidence: b.count ? b.confidence / b.count : NaN, accuracy: b.count ? b.accuracy / b.count : NaN }));
}

/** Expected calibration error: Σ_bins (n_b / n) · |accuracy_b − confidence_b|, 10 equal-width bins by default. */
export function expectedCalibrationError(confidences: ArrayLike<number>, correct: ArrayLike<boolean>, bins = 10): number {
  const n = confidences.length;
  if (n === 0) return NaN;
  return reliabilityBins(confidences, correct, bins).reduce((s, b) => (b.count ? s + (b.count / n) * Math.abs(b.accuracy - b.confidence) : s), 0);
}
