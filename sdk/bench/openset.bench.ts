/**
 * `npm run bench:openset`: how well each head's "unknown" score separates classes it never saw.
 * CIFAR-10 (MobileNetV2 int8) trained on 8 classes, cat and dog held out as unknowns; TREC
 * (use-lite) trained on 5 of its 6 classes, each class held out in turn. For every head and
 * every candidate score: AUROC (unknown test inputs vs known test inputs), and the gate as fit
 * builds it — threshold at the 95th percentile of out-of-fold scores of the training set — with
 * the false-rejection rate it gives on known test inputs and the share of unknowns it catches.
 * Embeddings cached in .cache/embeddings (same sets as accuracy.bench.ts).
 */
import { softmaxScaled } from '../src/heads/calibration.js';
import { crossValidate, fitHead, type HeadSpec } from '../src/heads/fit.js';
import { quantile } from '../src/heads/head.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { cifarAndTrecSplits } from './datasets.js';

const SEEDS = Number(process.env.BENCH_SEEDS ?? 3);
const SHOTS = Number(process.env.BENCH_SHOTS ?? 20);
const TARGET_FRR = 0.05;

interface Task {
  name: string;
  train: Matrix;
  trainLabels: string[];
  test: Matrix;
  testLabels: string[];
  unknown: string[];
}

async function tasks(): Promise<Task[]> {
  const { cifar, trec } = await cifarAndTrecSplits();
  const trecClasses = [...new Set(trec.trainLabels)].sort();
  return [
    { name: 'CIFAR-10 8+2 (cat, dog unknown)', ...cifar, unknown: ['cat', 'dog'] },
    ...trecClasses.map((c) => ({ name: `TREC 5+1 (${c} unknown)`, ...trec, unknown: [c] })),
  ];
}

/** Area under the ROC curve of `positive` scores against `negative` ones (ties count half). */
export function auroc(positive: readonly number[], negative: readonly number[]): number {
  const all = [...positive.map((s) => ({ s, p: 1 })), ...negative.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (all[k].p) rankSum += rank;
    i = j;
  }
  const n1 = positive.length;
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * negative.length);
}

const logSumExp = (z: ArrayLike<number>, T: number) => {
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) max = Math.max(max, z[i] / T);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += Math.exp(z[i] / T - max);
  return max + Math.log(sum);
};
const maxOf = (p: ArrayLike<number>) => Math.max(...Array.from(p));

/** Candidate unknown scores: larger means "more unknown". */
type ScoreName = 'distance' | '1 − max probability' | 'energy';

interface Outcome {
  auroc: number;
  frr: number;
  detected: number;
}

const specs: HeadSpec[] = [{ kind: 'linear', C: 1 }, { kind: 'centroid', metric: 'cosine' }, { kind: 'knn', k: 5, weights: 'distance' }];
const results = new Map<string, Outcome[]>();
const record = (key: string, o: Outcome) => results.set(key, [...(results.get(key) ?? []), o]);

for (const t of await tasks()) {
  const knownRows = t.trainLabels.map((_, i) => i).filter((i) => !t.unknown.includes(t.trainLabels[i]));
  const pool = selectRows(t.train, knownRows);
  const poolLabels = knownRows.map((i) => t.trainLabels[i]);
  const testKnown = t.testLabels.map((_, i) => i).filter((i) => !t.unknown.includes(t.testLabels[i]));
  const testUnknown = t.testLabels.map((_, i) => i).filter((i) => t.unknown.includes(t.testLabels[i]));
  for (let seed = 0; seed < SEEDS; seed++) {
    const pick = sampleFewShot(poolLabels, SHOTS, seed);
    const x = selectRows(pool, pick);
    const y = pick.map((i) => poolLabels[i]);
    for (const spec of specs) {
      const fitted = await fitHead(x, y, { head: spec, seed });
      const head = fitted.head;
      const T = head.kind === 'knn' ? 1 : (head.calibration?.temperature ?? 1);
      const oof = await crossValidate(x, y, spec, 5, seed);
      const scoreSets: Partial<Record<ScoreName, { train: number[]; test: (rows: number[]) => number[] }>> = {};
      scoreSets.distance = { train: oof.distances.filter(Number.isFinite), test: (rows) => Array.from(head.openSetDistances(selectRows(t.test, rows))) };
      if (head.kind !== 'knn') {
        const logits = (rows: number[]) => head.scores(selectRows(t.test, rows));
        const oofLogits = oof.scores.filter((s): s is Float64Array => s !== undefined);
        scoreSets['1 − max probability'] = { train: oofLogits.map((z) => 1 - maxOf(softmaxScaled(z, T))), test: (rows) => logits(rows).map((z) => 1 - maxOf(softmaxScaled(z, T))) };
        scoreSets.energy = { train: oofLogits.map((z) => -T * logSumExp(z, T)), test: (rows) => logits(rows).map((z) => -T * logSumExp(z, T)) };
      } else {
        scoreSets['1 − max probability'] = { train: [], test: (rows) => head.predictProba(selectRows(t.test, rows)).map((p) => 1 - maxOf(p)) };
      }
      for (const [name, s] of Object.entries(scoreSets) as [ScoreName, NonNullable<(typeof scoreSets)[ScoreName]>][]) {
        const known = s.test(testKnown);
        const unknown = s.test(testUnknown);
        const threshold = s.train.length ? quantile(s.train, 1 - TARGET_FRR) : NaN;
        record(`${t.name.startsWith('TREC') ? 'TREC 5+1 (each class held out in turn)' : t.name}|${head.kind}|${name}`, {
          auroc: auroc(unknown, known),
          frr: Number.isNaN(threshold) ? NaN : known.filter((v) => v > threshold).length / known.length,
          detected: Number.isNaN(threshold) ? NaN : unknown.filter((v) => v > threshold).length / unknown.length,
        });
      }
    }
  }
}

const stats = (xs: number[]) => {
  const finite = xs.filter((x) => !Number.isNaN(x));
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const sd = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, finite.length - 1));
  return { mean, sd };
};
const pct = (xs: number[]) => {
  const { mean, sd } = stats(xs);
  return Number.isNaN(mean) ? '—' : `${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};

console.log(`${SHOTS} examples per known class, ${SEEDS} seeds; threshold = ${100 * (1 - TARGET_FRR)}th percentile of out-of-fold scores (5-fold)\n`);
console.log('| data | head | unknown score | AUROC | false rejections % (knowns) | unknowns caught % |\n|---|---|---|---|---|---|');
for (const [key, outcomes] of results) {
  const [data, head, score] = key.split('|');
  const { mean, sd } = stats(outcomes.map((o) => o.auroc));
  console.log(`| ${data} | ${head} | ${score} | ${mean.toFixed(3)} ± ${sd.toFixed(3)} | ${pct(outcomes.map((o) => o.frr))} | ${pct(outcomes.map((o) => o.detected))} |`);
}
