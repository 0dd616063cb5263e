/**
 * `npm run bench:heads`: heads vs scikit-learn on the same machine and the same data, in one run:
 * 10k × 1280 MobileNetV2 (int8) embeddings of Fashion-MNIST (10 classes).
 *   - linear: fit time and test accuracy vs LogisticRegression(lbfgs), same C, tol and max_iter
 *     (edgehead's L-BFGS evaluating the objective on onnxruntime-node);
 *   - kNN: predict time for 10k queries vs KNeighborsClassifier(brute, cosine), same k
 *     (search on onnxruntime-node; the plain-JS search is timed on a slice for reference).
 * Embeddings are computed once and cached in .cache/embeddings.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backbone } from '../src/backbone/backbone.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import type { Matrix } from '../src/heads/matrix.js';
import { loadBackbone } from '../src/node.js';
import { createOnnxObjective } from '../src/accel/onnx-objective.js';
import { createOnnxNeighbourSearch } from '../src/accel/onnx-knn.js';
import { embedCached, fashionMnist } from './datasets.js';

const N = Number(process.env.BENCH_HEADS_N ?? 10000);
const C = 1;
const TOL = 1e-4;
// scikit-learn's default max_iter; override with BENCH_MAX_ITER.
const MAX_ITER = Number(process.env.BENCH_MAX_ITER ?? 100);
const K = 5;
const PYTHON = process.env.SKLEARN_PYTHON ?? '/usr/bin/python3';
const TMP = join(import.meta.dirname, '..', '..', '.cache', 'bench-heads');

const accuracy = (p: string[], t: string[]) => p.filter((x, i) => x === t[i]).length / t.length;

async function dump(name: string, m: Matrix, labels: string[]): Promise<[string, string]> {
  const f = join(TMP, `${name}.f32`);
  const l = join(TMP, `${name}.json`);
  await writeFile(f, new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  await writeFile(l, JSON.stringify(labels));
  return [f, l];
}

async function main(): Promise<void> {
  const { backbone } = await loadBackbone('mobilenetv2-int8');
  const trainSet = await fashionMnist('train', N);
  const testSet = await fashionMnist('test', N);
  const train = await embedCached(trainSet, backbone as Backbone<unknown>);
  const test = await embedCached(testSet, backbone as Backbone<unknown>);
  await backbone.dispose();
  await mkdir(TMP, { recursive: true });
  const [trainF, trainL] = await dump('train', train, trainSet.labels);
  const [testF, testL] = await dump('test', test, testSet.labels);

  console.log(`Fashion-MNIST: ${train.rows} train × ${train.cols}-d, ${test.rows} test; C=${C}, tol=${TOL}, k=${K}`);
  const sk = JSON.parse(
    execFileSync(PYTHON, [join(import.meta.dirname, 'heads_sklearn.py'), trainF, trainL, testF, testL, String(train.cols), String(C), String(TOL), String(MAX_ITER), String(K)], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  ) as { fit_seconds: number; iterations: number; lr_accuracy: number; knn_seconds: number; knn_accuracy: number; knn_predictions: string[] };

  let t = performance.now();
  const linear = await LinearHead.fitAsync(train, trainSet.labels, { C, tolerance: TOL, maxIterations: MAX_ITER, objective: createOnnxObjective({ device: 'node' }) });
  const fitSeconds = (performance.now() - t) / 1000;
  const linearAccuracy = accuracy(linear.predictLabels(test), testSet.labels);

  const knn = KnnHead.fit(train, trainSet.labels, { k: K, metric: 'cosine' });
  const search = await createOnnxNeighbourSearch({ device: 'node' });
  t = performance.now();
  const knnPred = (await knn.predictAsync(test, search)).map((p) => p.nearest);
  const knnSeconds = (performance.now() - t) / 1000;
  await search.dispose();
  // The plain-JS search (what a Worker uses), on a 1,000-query slice to keep the run short.
  const slice = { rows: 1000, cols: test.cols, data: test.data.subarray(0, 1000 * test.cols) };
  t = performance.now();
  knn.predictLabels(slice);
  const jsSecondsPerQuery = (performance.now() - t) / 1000 / 1000;
  const identical = knnPred.filter((p, i) => p === sk.knn_predictions[i]).length;

  const row = (what: string, ours: string, theirs: string, ratio: string) => console.log(`${what.padEnd(34)} ${ours.padStart(16)} ${theirs.padStart(16)} ${ratio.padStart(10)}`);
  row('', 'edgehead', 'scikit-learn', 'ratio');
  row('linear fit time (s)', fitSeconds.toFixed(2), sk.fit_seconds.toFixed(2), `${(fitSeconds / sk.fit_seconds).toFixed(2)}×`);
  row('linear iterations', `${linear.fitInfo?.iterations}${linear.fitInfo?.converged ? '' : ' (max)'}`, `${sk.iterations}${sk.iterations >= MAX_ITER ? ' (max)' : ''}`, '');
  row('linear test accuracy', (100 * linearAccuracy).toFixed(2), (100 * sk.lr_accuracy).toFixed(2), `${(100 * (linearAccuracy - sk.lr_accuracy)).toFixed(2)} pt`);
  row(`kNN predict ${test.rows} queries (s)`, knnSeconds.toFixed(2), sk.knn_seconds.toFixed(2), `${(knnSeconds / sk.knn_seconds).toFixed(2)}×`);
  row('  same, plain-JS search (s, est.)', (jsSecondsPerQuery * test.rows).toFixed(2), sk.knn_seconds.toFixed(2), `${((jsSecondsPerQuery * test.rows) / sk.knn_seconds).toFixed(2)}×`);
  row('kNN test accuracy', (100 * accuracy(knnPred, testSet.labels)).toFixed(2), (100 * sk.knn_accuracy).toFixed(2), '');
  row('kNN predictions identical', `${identical}/${test.rows}`, '', '');
  console.log('time ratio = edgehead / scikit-learn (target ≤ 1.0); accuracy difference in points (target within ±0.5).');
}

await main();
