/**
 * `npm run bench:coral`: accuracy on shifted data before and after CORAL (`coralAlign`), the
 * shifted embeddings mapped into the training domain and the same head applied.
 *   CIFAR-10 × MobileNetV2 int8: heads fitted on 20 colour photos per class; tested on 100 test
 *     photos per class in greyscale; CORAL fitted on another 50 unlabelled greyscale photos per
 *     class (not the test photos). The colour test accuracy is the unshifted reference.
 *   FSDD × openWakeWord (the committed speaker fixture): heads fitted on george's clips, tested
 *     on each other speaker; CORAL fitted on that speaker's clips without labels (transductive).
 * Seeds 0…4 for the few-shot samples; accuracy %.
 */
import sharp from 'sharp';
import { CentroidHead } from '../src/heads/centroid.js';
import { coralAlign } from '../src/heads/coral.js';
import { LinearHead } from '../src/heads/linear.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { decodeImageBytes } from '../src/inputs/image/decode-node.js';
import { fixture, subset } from '../test/heads-fixtures.js';
import { cifar10, embedSet, readImage, type LabelledSet } from './datasets.js';

const SEEDS = Number(process.env.BENCH_SEEDS ?? 5);
const grey = async (path: string) => decodeImageBytes(await sharp(path).greyscale().jpeg({ quality: 95 }).toBuffer(), path);
const accuracy = (pred: string[], truth: string[]) => pred.filter((p, i) => p === truth[i]).length / truth.length;
const pct = (xs: number[]) => (100 * xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1);
const heads = {
  'linear (C=1)': (x: Matrix, y: string[]) => LinearHead.fit(x, y, { C: 1 }),
  'centroid (cosine)': (x: Matrix, y: string[]) => CentroidHead.fit(x, y, { metric: 'cosine' }),
};

const lines: string[] = ['| data | head | unshifted | shifted | shifted + CORAL |', '|---|---|---|---|---|'];
{
  const train = await cifar10('train', 100);
  const test = await cifar10('test', 150);
  const first = (set: LabelledSet<string>, from: number, to: number, name: string): LabelledSet<string> => {
    const idx = set.labels.map((_, i) => i).filter((i) => (i % 150) >= from && (i % 150) < to);
    return { name, inputs: idx.map((i) => set.inputs[i]), labels: idx.map((i) => set.labels[i]) };
  };
  const testSet = first(test, 0, 100, 'cifar10-test-first100');
  const unlabelled = first(test, 100, 150, 'cifar10-test-next50');
  const xTrain = await embedSet('mobilenetv2-int8', train, readImage);
  const xTest = await embedSet('mobilenetv2-int8', testSet, readImage);
  const xGrey = await embedSet('mobilenetv2-int8', { ...testSet, name: 'cifar10-test-first100-grey' }, grey);
  const xGreyUnlabelled = await embedSet('mobilenetv2-int8', { ...unlabelled, name: 'cifar10-test-next50-grey' }, grey);
  for (const [name, fit] of Object.entries(heads)) {
    const [plain, shifted, aligned] = [[], [], []] as number[][];
    for (let seed = 0; seed < SEEDS; seed++) {
      const pick = sampleFewShot(train.labels, 20, seed);
      const source = selectRows(xTrain, pick);
      const head = fit(source, pick.map((i) => train.labels[i]));
      plain.push(accuracy(head.predictLabels(xTest), testSet.labels));
      shifted.push(accuracy(head.predictLabels(xGrey), testSet.labels));
      const coral = coralAlign(source, xGreyUnlabelled);
      aligned.push(accuracy(head.predictLabels(coral.transform(xGrey)), testSet.labels));
    }
    lines.push(`| CIFAR-10, 20 colour photos per class → greyscale | ${name} | ${pct(plain)} | ${pct(shifted)} | ${pct(aligned)} |`);
    console.log(lines.at(-1));
  }
}
{
  const { train, test, trainGroups, testGroups } = fixture('fsdd-speakers-openwakeword');
  const all = { rows: train.rows + test.rows, cols: train.cols, data: new Float32Array([...train.data, ...test.data]), labels: [...train.labels, ...test.labels] };
  const speakers = [...trainGroups, ...testGroups];
  const of = (s: string) => subset(all, (_, i) => speakers[i] === s);
  const george = of('george');
  for (const [name, fit] of Object.entries(heads)) {
    const [shifted, aligned] = [[], []] as number[][];
    for (const other of ['jackson', 'nicolas', 'theo', 'yweweler']) {
      const target = of(other);
      const head = fit(george, george.labels);
      shifted.push(accuracy(head.predictLabels(target), target.labels));
      aligned.push(accuracy(head.predictLabels(coralAlign(george, target).transform(target)), target.labels));
    }
    lines.push(`| FSDD, george's 100 clips → each other speaker (mean of 4) | ${name} | — | ${pct(shifted)} | ${pct(aligned)} |`);
    console.log(lines.at(-1));
  }
}
console.log(`\n${lines.join('\n')}`);
