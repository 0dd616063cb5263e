/**
 * `node --import tsx sdk/bench/calibration.bench.ts`: expected calibration error (10 bins) on
 * held-out test sets of heads fitted by fitHead at k = 20 examples per class (seeds 0…4), with
 * and without the temperature fitted on out-of-fold predictions, plus kNN at 1 example per
 * class against 1-NN. Same data and splits as accuracy.bench.ts; embeddings cached in
 * .cache/embeddings.
 */
import { expectedCalibrationError } from '../src/heads/calibration.js';
import { fitHead, type HeadSpec } from '../src/heads/fit.js';
import { KnnHead } from '../src/heads/knn.js';
import { selectRows } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { cifarAndTrecSplits } from './datasets.js';

const SEEDS = Number(process.env.BENCH_SEEDS ?? 5);
const SHOTS = Number(process.env.BENCH_SHOTS ?? 20);

async function tasks() {
  const { cifar, trec } = await cifarAndTrecSplits();
  return [
    { name: 'CIFAR-10 (mobilenetv2-int8)', ...cifar },
    { name: 'TREC (use-lite)', ...trec },
  ];
}

const fmt = (xs: number[], scale = 100) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${(scale * mean).toFixed(scale === 100 ? 1 : 3)} ± ${(scale * sd).toFixed(scale === 100 ? 1 : 3)}`;
};

console.log(`| data | head | accuracy % | ECE uncalibrated | ECE calibrated | T |\n|---|---|---|---|---|---|`);
const knnLines: string[] = [];
for (const t of await tasks()) {
  for (const spec of [{ kind: 'linear' }, { kind: 'linear', C: 0.1 }, { kind: 'centroid' }] as HeadSpec[]) {
    const acc: number[] = [];
    const before: number[] = [];
    const after: number[] = [];
    const temps: number[] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      const pick = sampleFewShot(t.trainLabels, SHOTS, seed);
      const r = await fitHead(selectRows(t.train, pick), pick.map((i) => t.trainLabels[i]), { head: spec, seed });
      const judge = () => {
        const p = r.head.predict(t.test, { rejectUnknown: false });
        const correct = p.map((x, i) => x.nearest === t.testLabels[i]);
        return { ece: expectedCalibrationError(p.map((x) => x.probability), correct), acc: correct.filter(Boolean).length / correct.length };
      };
      const cal = judge();
      temps.push(r.head.kind === 'knn' ? NaN : (r.head.calibration?.temperature ?? NaN));
      if (r.head.kind !== 'knn') r.head.calibration = undefined;
      before.push(judge().ece);
      after.push(cal.ece);
      acc.push(cal.acc);
    }
    const name = spec.kind === 'linear' ? `linear (C=${spec.C ?? 1})` : spec.kind;
    console.log(`| ${t.name}, k=${SHOTS} | ${name} | ${fmt(acc)} | ${fmt(before, 1)} | ${fmt(after, 1)} | ${fmt(temps, 1)} |`);
  }
  const one: number[] = [];
  const nn: number[] = [];
  for (let seed = 0; seed < SEEDS; seed++) {
    const pick = sampleFewShot(t.trainLabels, 1, seed);
    const x = selectRows(t.train, pick);
    const y = pick.map((i) => t.trainLabels[i]);
    const score = (h: KnnHead) => h.predictLabels(t.test).filter((p, i) => p === t.testLabels[i]).length / t.testLabels.length;
    one.push(score(KnnHead.fit(x, y, { k: 5, weights: 'distance' })));
    nn.push(score(KnnHead.fit(x, y, { k: 1 })));
  }
  knnLines.push(`| ${t.name} | ${fmt(one)} | ${fmt(nn)} |`);
}
console.log(`\n| data, 1 example per class | kNN (--k 5, default) | 1-NN |\n|---|---|---|\n${knnLines.join('\n')}`);
