/**
 * One entry point to fit any head, with honest validation: stratified k-fold cross-validation
 * of the chosen configuration, and for `head: 'auto'` a CV search over head kinds and their
 * main hyper-parameter (C for linear, k for kNN).
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { expectedCalibrationError, fitTemperature, reliabilityBins, softmaxScaled, type Calibration, type ReliabilityBin } from './calibration.js';
import { CentroidHead, DEFAULT_PRIOR_WEIGHT, type CentroidOptions } from './centroid.js';
import type { TrainingSummary } from './format.js';
import { checkTrainingSet, quantile, uniqueLabels, type Prediction } from './head.js';
import { KnnHead, type KnnOptions } from './knn.js';
import { LinearHead, type LinearOptions, type ObjectiveFactory } from './linear.js';
import { selectRows, type EmbeddingsInput, type Matrix } from './matrix.js';
import { evaluate, type Evaluation } from './metrics.js';
import { nearDuplicates, NEAR_DUPLICATE_WARN_SHARE } from './duplicates.js';
import { createRng } from './random.js';
import { stratifiedGroupKFold, stratifiedKFold } from './split.js';

export type AnyHead = LinearHead | KnnHead | CentroidHead;

export type HeadSpec =
  | ({ kind: 'linear' } & LinearOptions)
  | ({ kind: 'knn' } & KnnOptions)
  | ({ kind: 'centroid' } & CentroidOptions);

export interface FitOptions {
  head?: HeadSpec['kind'] | 'auto' | HeadSpec;
  /** Folds for cross-validation (capped by the smallest class). Default 5. */
  folds?: number;
  seed?: number;
  /** Skip cross-validation (no metrics in the summary). */
  crossValidate?: boolean;
  onStep?: (message: string) => void;
  /** Evaluate linear objectives elsewhere (e.g. createOnnxObjective()): same optimum, faster on big sets. */
  objective?: ObjectiveFactory;
  /** Rows sharing a group (augmented views of one image, one speaker…) stay in one CV fold. */
  groups?: readonly (string | number)[];
  /** How the groups were obtained, for reports (e.g. 'pattern /^[^_]+_([^_]+)_/'). Default 'groups'. */
  groupedBy?: string;
  /** Rows that count in CV scores (e.g. originals, not augmented views). Default: all. */
  scored?: readonly boolean[];
  /**
   * Fit a temperature on the out-of-fold predictions so probabilities match accuracy
   * (linear and centroid heads; needs cross-validation). Default true.
   */
  calibrate?: boolean;
  /**
   * Target share of in-distribution inputs the "unknown" gate may reject (0 < r < 0.5; default
   * 0.05): the gate's threshold is the (1 − r) quantile of held-out distances.
   */
  falseRejectionRate?: number;
}

export interface CandidateResult {
  spec: HeadSpec;
  accuracy: number;
  macroF1: number;
}

/** How cross-validation split the data. */
export interface CvGrouping {
  /** true: rows of a group never straddle train and validation (grouped stratified folds). */
  grouped: boolean;
  /** What the groups are (e.g. 'sub-folder', 'pattern /…/', 'augmented views'); absent when not grouped. */
  by?: string;
  /** Number of distinct groups. */
  groups?: number;
}

export interface FitReport {
  head: AnyHead;
  spec: HeadSpec;
  /** Pooled out-of-fold evaluation of the chosen spec (undefined when CV was impossible/skipped). */
  crossValidation?: Evaluation & { folds: number; grouping: CvGrouping; predictions: Array<string | undefined> };
  /** Temperature scaling fitted on out-of-fold predictions (absent without CV, or for kNN). */
  calibration?: CalibrationReport;
  /** Things the user should know about the numbers (near-duplicates, k larger than the data…). */
  warnings: string[];
  /** For `auto`: every candidate and its CV score, best first. */
  tried: CandidateResult[];
  training: TrainingSummary;
}

export async function fitSpec(x: EmbeddingsInput, labels: readonly string[], spec: HeadSpec, objective?: ObjectiveFactory, warmStart?: AnyHead): Promise<AnyHead> {
  switch (spec.kind) {
    case 'linear':
      return LinearHead.fitAsync(x, labels, { ...spec, objective, warmStart: warmStart instanceof LinearHead ? warmStart : undefined });
    case 'knn':
      return KnnHead.fit(x, labels, spec);
    case 'centroid':
      return CentroidHead.fit(x, labels, spec);
    default:
      throw new InvalidInputError(`Unknown head kind "${(spec as { kind: string }).kind}"; use linear, knn, centroid or auto.`);
  }
}

type OutOfFold = Evaluation & {
  predictions: Array<string | undefined>;
  /** Out-of-fold class scores before calibration (linear and centroid heads), by row. */
  scores: Array<Float64Array | undefined>;
  /** Out-of-fold open-set distances (NaN where the fold's head had no gate), by row. */
  distances: number[];
};

/** Out-of-fold predictions of `spec`, pooled over the folds, evaluated once. */
export async function crossValidate(
  x: Matrix,
  labels: readonly string[],
  spec: HeadSpec,
  folds: number,
  seed: number,
  objective?: ObjectiveFactory,
  grouping: Pick<FitOptions, 'groups' | 'scored'> = {},
  /** Per fold: the previous candidate's head, a linear warm start (replaced by this spec's heads). */
  warm?: Array<AnyHead | undefined>,
): Promise<OutOfFold> {
  if (spec.kind === 'knn') return (await crossValidateKnn(x, labels, [spec], folds, seed, grouping))[0];
  const pooled = new Pooled(labels.length);
  const classes = headClasses(labels, spec);
  for (const [f, fold] of foldsOf(labels, folds, seed, grouping).entries()) {
    if (fold.validation.length === 0) continue;
    const trainLabels = fold.train.map((i) => labels[i]);
    const head = await fitSpec(selectRows(x, fold.train), trainLabels, spec, objective, warm?.[f]);
    if (warm && head.kind === 'linear') warm[f] = head;
    const validation = selectRows(x, fold.validation);
    // Scores only when the fold's head knows every class (same column order as the full head).
    const scores = head.kind !== 'knn' && head.labels.join('\u0000') === classes.join('\u0000') ? head.scores(validation) : undefined;
    pooled.add(fold.validation, head.predict(validation, { rejectUnknown: false, topK: 1 }), head.openSet !== undefined, scores);
  }
  return pooled.evaluate(labels, grouping.scored);
}

/**
 * Out-of-fold predictions of several kNN specs sharing a metric: each fold searches its
 * neighbours once (for the largest k) and every spec votes from that list, so `auto`'s four
 * k cost one search per fold instead of four.
 */
async function crossValidateKnn(
  x: Matrix,
  labels: readonly string[],
  specs: ReadonlyArray<HeadSpec & { kind: 'knn' }>,
  folds: number,
  seed: number,
  grouping: Pick<FitOptions, 'groups' | 'scored'> = {},
): Promise<OutOfFold[]> {
  const metric = specs[0].metric ?? 'cosine';
  if (specs.some((s) => (s.metric ?? 'cosine') !== metric)) throw new InvalidInputError('crossValidateKnn: every spec must share one metric.');
  const pooled = specs.map(() => new Pooled(labels.length));
  for (const fold of foldsOf(labels, folds, seed, grouping)) {
    if (fold.validation.length === 0) continue;
    const trainLabels = fold.train.map((i) => labels[i]);
    const search = KnnHead.fit(selectRows(x, fold.train), trainLabels, { metric, k: Math.max(...specs.map((s) => s.k ?? 5)), calibrateOpenSet: false });
    const neighbours = search.kneighbors(selectRows(x, fold.validation), search.effectiveK);
    specs.forEach((spec, s) => {
      // Dot products have no open-set gate (a distance needs a metric).
      pooled[s].add(fold.validation, search.predictFromNeighbours(neighbours, { rejectUnknown: false, topK: 1, voting: { k: spec.k ?? 5, weights: spec.weights ?? 'uniform' } }), metric !== 'dot');
    });
  }
  return pooled.map((p) => p.evaluate(labels, grouping.scored));
}

function foldsOf(labels: readonly string[], folds: number, seed: number, grouping: Pick<FitOptions, 'groups'>) {
  return grouping.groups ? stratifiedGroupKFold(labels, grouping.groups, folds, seed) : stratifiedKFold(labels, folds, seed);
}

/** Out-of-fold answers gathered fold by fold, by row. */
class Pooled {
  private readonly predicted: string[];
  private readonly scores: Array<Float64Array | undefined>;
  private readonly distances: number[];

  constructor(rows: number) {
    this.predicted = new Array<string>(rows);
    this.scores = new Array<Float64Array | undefined>(rows);
    this.distances = new Array<number>(rows).fill(NaN);
  }

  add(rows: readonly number[], predictions: readonly Prediction[], withDistances: boolean, scores?: Float64Array[]): void {
    rows.forEach((i, j) => {
      this.predicted[i] = predictions[j].nearest;
      if (withDistances) this.distances[i] = predictions[j].distance;
      if (scores) this.scores[i] = scores[j];
    });
  }

  evaluate(labels: readonly string[], scoredRows?: readonly boolean[]): OutOfFold {
    const keep = labels.map((_, i) => this.predicted[i] !== undefined && (scoredRows?.[i] ?? true));
    const rows = labels.map((_, i) => i).filter((i) => keep[i]);
    return {
      ...evaluate(rows.map((i) => labels[i]), rows.map((i) => this.predicted[i]), uniqueLabels(labels)),
      predictions: labels.map((_, i) => (keep[i] ? this.predicted[i] : undefined)),
      scores: labels.map((_, i) => (keep[i] ? this.scores[i] : undefined)),
      distances: labels.map((_, i) => (keep[i] ? this.distances[i] : NaN)),
    };
  }
}

/**
 * The classes a head of `spec` knows, in the order of its score columns: the labels of the data,
 * plus those only described (a centroid head's prior). Out-of-fold scores are kept only when a
 * fold's head has exactly these columns, and calibration indexes them by name.
 */
function headClasses(labels: readonly string[], spec: HeadSpec): string[] {
  return uniqueLabels(spec.kind === 'centroid' && spec.prior ? [...labels, ...spec.prior.labels] : labels);
}

/** Fewer out-of-fold distances than this and the gate keeps its leave-one-out threshold. */
const MIN_GATE_ROWS = 20;

/**
 * `auto`'s candidates from the simplest to the most flexible: class means, then linear models
 * from strong to weak regularisation, then kNN from smoothing to memorising. With `imbalanced`,
 * a class-balanced linear model too.
 */
function candidates(nPerClassMin: number, imbalanced: boolean): HeadSpec[] {
  const list: HeadSpec[] = [
    { kind: 'centroid', metric: 'cosine' },
    { kind: 'centroid', metric: 'euclidean' },
  ];
  for (const C of [0.1, 1, 10]) list.push({ kind: 'linear', C });
  if (imbalanced) list.push({ kind: 'linear', C: 1, classWeight: 'balanced' });
  for (const k of [10, 5, 3, 1]) if (k === 1 || k <= nPerClassMin) list.push({ kind: 'knn', k, metric: 'cosine', weights: k === 1 ? 'uniform' : 'distance' });
  return list;
}

/** Largest/smallest class size at which fit warns and auto also tries balanced class weights. */
export const IMBALANCE_RATIO = 5;

/**
 * The most cross-validation folds the data allows: the smallest class's number of examples, or,
 * with groups, of distinct groups (a fold needs one of each class it validates).
 */
export function foldLimit(labels: readonly string[], groups?: readonly (string | number)[]): number {
  const perClass = new Map<string, Set<string | number>>();
  labels.forEach((l, i) => {
    const members = perClass.get(l) ?? new Set<string | number>();
    members.add(groups ? groups[i] : i);
    perClass.set(l, members);
  });
  return Math.min(...[...perClass.values()].map((m) => m.size));
}

export async function fitHead(x: EmbeddingsInput, labels: readonly string[], options: FitOptions = {}): Promise<FitReport> {
  const m = checkTrainingSet(x, labels);
  const classes = uniqueLabels(labels);
  const counts = Object.fromEntries(classes.map((c) => [c, 0]));
  for (const l of labels) counts[l]++;
  const seed = options.seed ?? 0;
  const minCount = foldLimit(labels, options.groups);
  const folds = Math.min(options.folds ?? 5, minCount);
  const canCv = options.crossValidate !== false && folds >= 2;
  const log = options.onStep ?? (() => undefined);
  const requested = options.head ?? 'auto';
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log(`warning: ${message}`);
  };
  const grouping: CvGrouping = options.groups
    ? { grouped: true, by: options.groupedBy ?? 'groups', groups: new Set(options.groups).size }
    : { grouped: false };
  if (!options.groups && canCv) {
    const dup = nearDuplicates(m, labels, seed);
    if (dup.share >= NEAR_DUPLICATE_WARN_SHARE) {
      warn(
        `${Math.round(dup.share * 100)}% of examples have a near-duplicate (a neighbour closer than ${dup.ratio.toFixed(2)} × the typical same-class distance): ` +
          'cross-validation may be optimistic for new sources. If examples come in groups (same speaker, object, customer), pass groups (--group-by) so each group stays in one fold.',
      );
    }
  }
  let spec: HeadSpec;
  const tried: CandidateResult[] = [];
  let cv: OutOfFold | undefined;

  const rate = options.falseRejectionRate;
  if (rate !== undefined && !(rate > 0 && rate < 0.5)) throw new InvalidInputError(`falseRejectionRate must be between 0 and 0.5 (e.g. 0.05 for 5 %); got ${rate}.`);
  if (classes.length < 2) throw new InvalidInputError(`Need at least 2 classes to fit a classifier; got only "${classes[0]}".`);
  const largestClass = classes.reduce((a, b) => (counts[b] > counts[a] ? b : a));
  const smallestClass = classes.reduce((a, b) => (counts[b] < counts[a] ? b : a));
  const imbalanced = counts[largestClass] >= IMBALANCE_RATIO * counts[smallestClass];
  if (imbalanced) {
    warn(
      `classes are imbalanced: "${largestClass}" has ${counts[largestClass]} examples, "${smallestClass}" ${counts[smallestClass]}. Accuracy flatters the large classes; ` +
        'judge by macro-F1 and the smallest classes\' recall, and consider balanced class weights (auto tries them).',
    );
  }
  if (requested === 'auto') {
    if (!canCv) {
      // One example in some class: no held-out data to choose with; centroids work from one example.
      spec = { kind: 'centroid', metric: 'cosine' };
      log(`auto: a class has ${minCount} example(s), too few to cross-validate; using nearest centroid (works from one example per class)`);
    } else {
      const order = candidates(minCount, imbalanced);
      // Linear candidates run from strong to weak regularisation on the same folds, so each
      // fold's fit starts from the previous C's solution (the regularisation path).
      const warm: Array<AnyHead | undefined> = [];
      const outOfFold = new Map<HeadSpec, OutOfFold>();
      const knnCandidates = order.filter((c): c is HeadSpec & { kind: 'knn' } => c.kind === 'knn');
      const knnResults = await crossValidateKnn(m, labels, knnCandidates, folds, seed, options);
      for (const candidate of order) {
        const e =
          candidate.kind === 'knn'
            ? knnResults[knnCandidates.indexOf(candidate)]
            : await crossValidate(m, labels, candidate, folds, seed, options.objective, options, candidate.kind === 'linear' && !candidate.classWeight ? warm : undefined);
        outOfFold.set(candidate, e);
        tried.push({ spec: candidate, accuracy: e.accuracy, macroF1: e.macroF1 });
        log(`auto: ${describeSpec(candidate)} → ${describeCv(folds, grouping)} macro-F1 ${e.macroF1.toFixed(3)}, accuracy ${e.accuracy.toFixed(3)}`);
      }
      // The one-standard-error rule: the simplest candidate whose macro-F1 is within one standard
      // error of the best. With few examples CV scores are noisy, and a more flexible head that
      // wins by noise loses on new data (issue 10: kNN picked on 16-shot SST-2). The noise of a
      // gain is that of the paired difference — both candidates answered the same held-out rows —
      // so it shrinks where they agree (a single score's binomial error would over-penalise).
      const best = tried.reduce((a, b) => (b.macroF1 > a.macroF1 ? b : a));
      let standardError = 0;
      const chosen =
        tried.find((t) => {
          standardError = pairedMacroF1Error(outOfFold.get(best.spec)!, outOfFold.get(t.spec)!, labels, seed);
          return t.macroF1 >= best.macroF1 - standardError;
        }) ?? best;
      spec = chosen.spec;
      // Same folds, same seed: the chosen candidate's out-of-fold predictions are reused below.
      cv = outOfFold.get(spec);
      tried.sort((a, b) => b.macroF1 - a.macroF1);
      log(
        `auto: chose ${describeSpec(spec)}` +
          (chosen === best ? '' : ` (the simplest within one standard error of the difference, ${standardError.toFixed(3)}, of the best: ${describeSpec(best.spec)} at ${best.macroF1.toFixed(3)})`),
      );
    }
  } else {
    spec = typeof requested === 'string' ? ({ kind: requested } as HeadSpec) : requested;
    if (spec.kind === 'linear' && minCount < 1) throw new InvalidInputError('Every class needs at least one example.');
    const smallest = counts[smallestClass];
    if (spec.kind === 'knn' && (spec.k ?? 5) > smallest) {
      warn(
        `k=${spec.k ?? 5} is more than ${spec.k && spec.k > labels.length ? `the ${labels.length} examples` : `the smallest class (${smallest} example${smallest === 1 ? '' : 's'})`}; ` +
          `kNN votes with k = ${smallest} (k never exceeds the smallest class).`,
      );
    }
  }
  // The quantile only places the final gate; out-of-fold distances do not depend on it.
  if (rate !== undefined) spec = { ...spec, openSetQuantile: 1 - rate };
  if (canCv) {
    cv ??= await crossValidate(m, labels, spec, folds, seed, options.objective, options);
    log(`${describeSpec(spec)}: ${describeCv(folds, grouping)} accuracy ${cv.accuracy.toFixed(3)}, macro-F1 ${cv.macroF1.toFixed(3)} (n=${cv.n})`);
  } else {
    log(`${describeSpec(spec)}: no cross-validation (smallest class has ${minCount} example${minCount === 1 ? '' : 's'})`);
  }
  const started = Date.now();
  // From scratch, not warm-started: the head equals a fixed `--head linear --C …` fit of the same spec.
  const head = await fitSpec(m, labels, spec, options.objective);
  log(`fitted ${describeSpec(spec)} on ${m.rows} examples in ${Date.now() - started} ms`);
  // The "unknown" gate's threshold from out-of-fold distances: each example measured by a head
  // that never saw it — nor, with groups, its speaker/object — so the documented false-rejection
  // rate holds on new groups. (Leave-one-out keeps a speaker's other takes and sets it too tight.)
  if (cv && head.openSet && head.openSet.calibration !== 'manual') {
    const held = cv.distances.filter(Number.isFinite);
    if (held.length >= MIN_GATE_ROWS) {
      head.openSet = { ...head.openSet, threshold: quantile(held, head.openSet.quantile), calibration: 'out-of-fold' };
      log(`unknown gate: threshold ${head.openSet.threshold.toFixed(4)} = the ${head.openSet.quantile} quantile of ${held.length} out-of-fold distances (${describeCv(folds, grouping)})`);
    }
  }
  let calibration: CalibrationReport | undefined;
  if (cv && head.kind !== 'knn' && options.calibrate !== false) {
    calibration = calibrateFromOutOfFold(cv, labels, headClasses(labels, spec), describeCv(folds, grouping));
    if (calibration) {
      head.calibration = calibration.calibration;
      log(`calibrated probabilities: temperature ${calibration.calibration.temperature.toFixed(3)} on ${calibration.calibration.n} out-of-fold predictions; ECE ${calibration.eceBefore.toFixed(3)} → ${calibration.eceAfter.toFixed(3)}`);
    }
  }
  const training: TrainingSummary = {
    nPerClass: counts,
    createdAt: new Date().toISOString(),
    seed,
    spec: specSummary(spec),
    ...(cv ? { metrics: { accuracy: cv.accuracy, macroF1: cv.macroF1, n: cv.n, method: describeCv(folds, grouping) } } : {}),
    ...(head instanceof LinearHead && head.fitInfo ? { optimizer: head.fitInfo } : {}),
  };
  if (calibration) training.calibration = { temperature: calibration.calibration.temperature, eceBefore: calibration.eceBefore, eceAfter: calibration.eceAfter };
  return { head, spec, crossValidation: cv ? { ...cv, folds, grouping } : undefined, calibration, warnings, tried, training };
}

/** Bootstrap resamples behind pairedMacroF1Error. */
const BOOTSTRAP_ROUNDS = 200;

/**
 * Standard error of the difference in out-of-fold macro-F1 between two candidates, paired: a
 * seeded bootstrap over the rows both answered, each resample scoring both candidates on the
 * same rows (macro-F1 as scikit-learn: a class with no predictions has precision 0).
 */
export function pairedMacroF1Error(a: OutOfFold, b: OutOfFold, labels: readonly string[], seed = 0): number {
  if (a === b) return 0;
  const classes = uniqueLabels(labels);
  const index = new Map(classes.map((c, i) => [c, i]));
  const rows = labels.map((_, i) => i).filter((i) => a.predictions[i] !== undefined && b.predictions[i] !== undefined);
  if (rows.length < 2) return 0;
  const truth = Int32Array.from(rows, (i) => index.get(labels[i])!);
  const predA = Int32Array.from(rows, (i) => index.get(a.predictions[i]!) ?? -1);
  const predB = Int32Array.from(rows, (i) => index.get(b.predictions[i]!) ?? -1);
  const K = classes.length;
  const counts = new Float64Array(6 * K);
  const macroF1 = (tp: number, fp: number, fn: number) => {
    let total = 0;
    for (let c = 0; c < K; c++) {
      const t = counts[tp + c], p = t + counts[fp + c], r = t + counts[fn + c];
      total += p === 0 || r === 0 || t === 0 ? 0 : (2 * t) / (p + r);
    }
    return total / K;
  };
  const rng = createRng(seed * 7919 + 17);
  const diffs: number[] = [];
  for (let round = 0; round < BOOTSTRAP_ROUNDS; round++) {
    counts.fill(0);
    for (let n = 0; n < rows.length; n++) {
      const r = Math.floor(rng() * rows.length);
      const y = truth[r];
      for (const [pred, base] of [[predA[r], 0], [predB[r], 3 * K]] as const) {
        if (pred === y) counts[base + y]++;
        else {
          if (pred >= 0) counts[base + K + pred]++;
          counts[base + 2 * K + y]++;
        }
      }
    }
    diffs.push(macroF1(0, K, 2 * K) - macroF1(3 * K, 4 * K, 5 * K));
  }
  const mean = diffs.reduce((s, v) => s + v, 0) / diffs.length;
  return Math.sqrt(diffs.reduce((s, v) => s + (v - mean) ** 2, 0) / (diffs.length - 1));
}

export interface CalibrationReport {
  calibration: Calibration;
  /** Out-of-fold ECE (10 bins) before and after temperature scaling. */
  eceBefore: number;
  eceAfter: number;
  /** Out-of-fold reliability diagram after scaling. */
  reliability: ReliabilityBin[];
}

/** Fewer out-of-fold predictions than this and probabilities are left as they are. */
const MIN_CALIBRATION_ROWS = 10;

function calibrateFromOutOfFold(cv: OutOfFold, labels: readonly string[], classes: readonly string[], fittedOn: string): CalibrationReport | undefined {
  const rows = labels.map((_, i) => i).filter((i) => cv.scores[i] !== undefined);
  if (rows.length < MIN_CALIBRATION_ROWS) return undefined;
  const index = new Map(classes.map((c, i) => [c, i]));
  const scores = rows.map((i) => cv.scores[i] as Float64Array);
  const y = Int32Array.from(rows, (i) => index.get(labels[i]) as number);
  const temperature = fitTemperature(scores, y);
  const judge = (T: number) => {
    const conf: number[] = [];
    const correct: boolean[] = [];
    scores.forEach((z, r) => {
      const p = softmaxScaled(z, T);
      let best = 0;
      for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
      conf.push(p[best]);
      correct.push(best === y[r]);
    });
    return { conf, correct };
  };
  const before = judge(1);
  const after = judge(temperature);
  return {
    calibration: { method: 'temperature-scaling', temperature, fittedOn: `${fittedOn} out-of-fold predictions`, n: rows.length },
    eceBefore: expectedCalibrationError(before.conf, before.correct),
    eceAfter: expectedCalibrationError(after.conf, after.correct),
    reliability: reliabilityBins(after.conf, after.correct),
  };
}

/** e.g. '4-fold stratified group CV (by pattern /…/, 4 groups)' or '5-fold stratified CV (not grouped)'. */
export function describeCv(folds: number, grouping: CvGrouping): string {
  return grouping.grouped
    ? `${folds}-fold stratified group CV (by ${grouping.by}, ${grouping.groups} groups)`
    : `${folds}-fold stratified CV (not grouped)`;
}

/** A spec as JSON for the head file's training notes: a prior as its weight and size, not its embeddings. */
function specSummary(spec: HeadSpec): Record<string, unknown> {
  if (spec.kind !== 'centroid' || !spec.prior) return { ...spec };
  const { prior, ...rest } = spec;
  return { ...rest, prior: { weight: prior.weight ?? DEFAULT_PRIOR_WEIGHT, descriptions: prior.labels.length } };
}

export function describeSpec(spec: HeadSpec): string {
  switch (spec.kind) {
    case 'linear':
      return `linear(C=${spec.C ?? 1}${spec.standardize ? ', standardized' : ''}${spec.classWeight === 'balanced' ? ', balanced' : ''})`;
    case 'knn':
      return `knn(k=${spec.k ?? 5}, ${spec.metric ?? 'cosine'}, ${spec.weights ?? 'uniform'})`;
    case 'centroid':
      return `centroid(${spec.metric ?? 'cosine'}${spec.shrinkThreshold ? `, shrink=${spec.shrinkThreshold}` : ''}${spec.prior ? `, label descriptions as ${spec.prior.weight ?? DEFAULT_PRIOR_WEIGHT} example(s)` : ''})`;
  }
}
