/**
 * Seeded stratified splits, k-fold cross-validation and few-shot sampling.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { createRng, shuffle } from './random.js';

function byClass(labels: readonly string[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  labels.forEach((l, i) => {
    const g = groups.get(l);
    if (g) g.push(i);
    else groups.set(l, [i]);
  });
  return new Map([...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Indices of a train/validation split that keeps each class's share (at least one of each in train). */
export function stratifiedSplit(labels: readonly string[], validationFraction: number, seed = 0): { train: number[]; validation: number[] } {
  if (!(validationFraction > 0 && validationFraction < 1)) throw new InvalidInputError('validationFraction must be between 0 and 1.');
  const rng = createRng(seed);
  const train: number[] = [];
  const validation: number[] = [];
  for (const [, idx] of byClass(labels)) {
    shuffle(idx, rng);
    const nVal = idx.length < 2 ? 0 : Math.min(idx.length - 1, Math.max(1, Math.round(idx.length * validationFraction)));
    validation.push(...idx.slice(0, nVal));
    train.push(...idx.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), validation: validation.sort((a, b) => a - b) };
}

/**
 * Stratified k folds: each class's examples are shuffled and dealt round-robin, so every fold
 * gets ⌊n_c/k⌋ or ⌈n_c/k⌉ of class c. Classes with fewer than k examples appear in fewer folds.
 */
export function stratifiedKFold(labels: readonly string[], folds: number, seed = 0): Array<{ train: number[]; validation: number[] }> {
  if (!Number.isInteger(folds) || folds < 2) throw new InvalidInputError('Cross-validation needs at least 2 folds.');
  const rng = createRng(seed);
  const assignment = new Array<number>(labels.length);
  let offset = 0;
  for (const [, idx] of byClass(labels)) {
    shuffle(idx, rng);
    // Continue the deal where the previous class stopped, so small classes spread across folds.
    idx.forEach((sample, j) => (assignment[sample] = (offset + j) % folds));
    offset = (offset + idx.length) % folds;
  }
  return Array.from({ length: folds }, (_, f) => ({
    train: labels.map((_, i) => i).filter((i) => assignment[i] !== f),
    validation: labels.map((_, i) => i).filter((i) => assignment[i] === f),
  }));
}

/** k examples per class (all of them when a class has fewer), seeded. */
export function sampleFewShot(labels: readonly string[], perClass: number, seed = 0): number[] {
  if (!Number.isInteger(perClass) || perClass < 1) throw new InvalidInputError('perClass must be a positive integer.');
  const rng = createRng(seed);
  const chosen: number[] = [];
  for (const [, idx] of byClass(labels)) chosen.push(...shuffle(idx, rng).slice(0, perClass));
  return chosen.sort((a, b) => a - b);
}

/**
 * Stratified k folds over groups: all rows of a group (e.g. an image and its augmented views,
 * or one speaker's clips) land in the same fold, so validation never sees a near-copy of a
 * training row. Groups are dealt per class (a group's class is that of its first row).
 */
export function stratifiedGroupKFold(labels: readonly string[], groups: readonly (string | number)[], folds: number, seed = 0): Array<{ train: number[]; validation: number[] }> {
  if (groups.length !== labels.length) throw new InvalidInputError('groups must have one entry per row.');
  const groupLabel = new Map<string | number, string>();
  groups.forEach((g, i) => {
    if (!groupLabel.has(g)) groupLabel.set(g, labels[i]);
  });
  const keys = [...groupLabel.keys()];
  const groupFolds = stratifiedKFold(keys.map((k) => groupLabel.get(k) as string), folds, seed);
  const foldOf = new Map<string | number, number>();
  groupFolds.forEach((f, fi) => f.validation.forEach((gi) => foldOf.set(keys[gi], fi)));
  return Array.from({ length: folds }, (_, f) => ({
    train: labels.map((_, i) => i).filter((i) => foldOf.get(groups[i]) !== f),
    validation: labels.map((_, i) => i).filter((i) => foldOf.get(groups[i]) === f),
  }));
}
