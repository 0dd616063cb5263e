/**
 * Which backbone (and which of its layers) suits these labelled examples? Every candidate's
 * embeddings get a LogME score (seconds, no training) and a quick cross-validated linear probe;
 * the table is ordered by LogME, and a trivial baseline (raw pixels, a spectrogram, a bag of
 * words) is scored the same way so that negative transfer shows as a plain warning.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { crossValidate, foldLimit, pairedMacroF1Error } from './fit.js';
import { toMatrix, type EmbeddingsInput } from './matrix.js';
import { logME } from './transferability.js';

export interface RankCandidate {
  name: string;
  embeddings: EmbeddingsInput;
  /** A trivial featurisation (no pretrained weights): the bar the backbones must clear. */
  baseline?: boolean;
  /** Seconds spent producing the embeddings, reported beside the scoring time. */
  embedSeconds?: number;
}

export interface RankedCandidate {
  name: string;
  baseline: boolean;
  dim: number;
  /** LogME: mean log evidence per example (higher is better; compare within one dataset only). */
  logME: number;
  /** Out-of-fold scores of a linear head (C = 1, tolerance 1e-3), absent with `probe: false`. */
  probe?: { accuracy: number; macroF1: number; folds: number };
  seconds: { embed?: number; logME: number; probe?: number };
}

export interface RankOptions {
  /** Folds of the probe (capped by the smallest class). Default 3. */
  folds?: number;
  seed?: number;
  /** Rows sharing a group (speaker, object) stay in one probe fold. */
  groups?: readonly (string | number)[];
  /** Run the cross-validated linear probe. Default true. */
  probe?: boolean;
  onStep?: (message: string) => void;
}

export interface RankResult {
  /** Best LogME first; baselines included (flagged). */
  ranked: RankedCandidate[];
  /** The best candidate that is not a baseline, by LogME. */
  best?: string;
  /** Set when the best backbone's probe is not clearly better than the baseline's. */
  negativeTransfer?: string;
}

/**
 * The probe: one fixed linear head (C = 1), so that every candidate is scored by the same
 * yardstick, optimised to a loose tolerance — on 1,000 × 1280 CIFAR-10 embeddings 1e-3 gives the
 * same out-of-fold accuracy as scikit-learn's 1e-4 default to within 0.2 points, in a third of the time.
 */
const PROBE = { kind: 'linear', C: 1, tolerance: 1e-3 } as const;

export async function rankEmbeddings(candidates: readonly RankCandidate[], labels: readonly string[], options: RankOptions = {}): Promise<RankResult> {
  if (candidates.length === 0) throw new InvalidInputError('rank needs at least one candidate.');
  // Every candidate is checked before any is scored: a mistake in the last one costs no time.
  const names = new Set<string>();
  const matrices = candidates.map((c) => {
    if (names.has(c.name)) throw new InvalidInputError(`Two candidates are both named "${c.name}"; give each a distinct name.`);
    names.add(c.name);
    const x = toMatrix(c.embeddings, undefined, `${c.name} embedding`);
    if (x.rows !== labels.length) throw new InvalidInputError(`Candidate "${c.name}" has ${x.rows} embeddings for ${labels.length} labels.`);
    return x;
  });
  const folds = Math.min(options.folds ?? 3, foldLimit(labels, options.groups));
  const probe = (options.probe ?? true) && folds >= 2;
  const outOfFold = new Map<string, Awaited<ReturnType<typeof crossValidate>>>();
  const rows: RankedCandidate[] = [];
  for (const [index, candidate] of candidates.entries()) {
    const x = matrices[index];
    let start = performance.now();
    const score = logME(x, labels, { seed: options.seed }).score;
    const logMESeconds = (performance.now() - start) / 1000;
    const row: RankedCandidate = { name: candidate.name, baseline: candidate.baseline ?? false, dim: x.cols, logME: score, seconds: { embed: candidate.embedSeconds, logME: logMESeconds } };
    if (probe) {
      start = performance.now();
      const cv = await crossValidate(x, labels, PROBE, folds, options.seed ?? 0, undefined, { groups: options.groups });
      row.seconds.probe = (performance.now() - start) / 1000;
      row.probe = { accuracy: cv.accuracy, macroF1: cv.macroF1, folds };
      outOfFold.set(candidate.name, cv);
    }
    options.onStep?.(`${candidate.name}: LogME ${score.toFixed(3)}${row.probe ? `, probe accuracy ${(row.probe.accuracy * 100).toFixed(1)} %` : ''}`);
    rows.push(row);
  }
  rows.sort((a, b) => b.logME - a.logME);
  const best = rows.find((r) => !r.baseline)?.name;
  return { ranked: rows, best, negativeTransfer: probe ? negativeTransfer(rows, outOfFold, labels, options.seed ?? 0) : undefined };
}

/**
 * "Clearly better" = the best backbone's probe macro-F1 exceeds the best baseline's by more than
 * two paired-bootstrap standard errors (the rows are the same, so the comparison is paired).
 */
function negativeTransfer(
  rows: readonly RankedCandidate[],
  outOfFold: Map<string, Awaited<ReturnType<typeof crossValidate>>>,
  labels: readonly string[],
  seed: number,
): string | undefined {
  const byProbe = [...rows].sort((a, b) => b.probe!.macroF1 - a.probe!.macroF1);
  const backbone = byProbe.find((r) => !r.baseline);
  const baseline = byProbe.find((r) => r.baseline);
  if (!backbone || !baseline) return undefined;
  const gain = backbone.probe!.macroF1 - baseline.probe!.macroF1;
  const error = pairedMacroF1Error(outOfFold.get(backbone.name)!, outOfFold.get(baseline.name)!, labels, seed);
  if (gain > 2 * error) return undefined;
  const f1 = (r: RankedCandidate) => r.probe!.macroF1.toFixed(3);
  return gain < -2 * error
    ? `Negative transfer: the baseline (${baseline.name}, probe macro-F1 ${f1(baseline)}) beats every backbone (best: ${backbone.name}, ${f1(backbone)}). These backbones' features do not suit this data; try another backbone, or fine-tune one.`
    : `No clear gain from transfer: the best backbone (${backbone.name}, probe macro-F1 ${f1(backbone)}) is not better than the baseline (${baseline.name}, ${f1(baseline)}) by two standard errors (±${error.toFixed(3)}). A pretrained backbone may not suit this data; check with more examples or another backbone.`;
}
