/**
 * Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.
 * Conventions follow scikit-learn (a class with no predictions has precision 0).
 * @module
 */
import { InvalidInputError } from '../core/errors.js';

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Evaluation {
  accuracy: number;
  macroF1: number;
  n: number;
  labels: string[];
  perClass: Record<string, ClassMetrics>;
  /** confusion[true][predicted], rows and columns in `labels` order. */
  confusion: number[][];
  /** Inputs rejected as unknown (counted as errors in accuracy), when open-set rejection was on. */
  unknown?: number;
}

export function evaluate(trueLabels: readonly string[], predicted: readonly string[], labels?: readonly string[]): Evaluation {
  if (trueLabels.length !== predicted.length) {
    throw new InvalidInputError(`Got ${trueLabels.length} true labels but ${predicted.length} predictions.`);
  }
  if (trueLabels.length === 0) throw new InvalidInputError('Cannot evaluate on zero examples.');
  const order = labels ? [...labels] : [...new Set(trueLabels)].sort();
  const index = new Map(order.map((l, i) => [l, i]));
  const k = order.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  let unknown = 0;
  trueLabels.forEach((t, i) => {
    const p = predicted[i];
    if (p === t) correct++;
    const ti = index.get(t);
    const pi = index.get(p);
    if (ti === undefined) throw new InvalidInputError(`True label "${t}" is not one of the head's labels (${order.join(', ')}).`);
    if (pi === undefined) {
      unknown++;
      return;
    }
    confusion[ti][pi]++;
  });
  const perClass: Record<string, ClassMetrics> = {};
  let f1Sum = 0;
  order.forEach((label, c) => {
    const tp = confusion[c][c];
    const support = trueLabels.filter((t) => t === label).length;
    const predictedCount = confusion.reduce((s, r) => s + r[c], 0);
    const precision = predictedCount ? tp / predictedCount : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[label] = { precision, recall, f1, support };
    f1Sum += f1;
  });
  const result: Evaluation = { accuracy: correct / trueLabels.length, macroF1: f1Sum / k, n: trueLabels.length, labels: order, perClass, confusion };
  if (unknown) result.unknown = unknown;
  return result;
}
