/**
 * `npm run bench:auto`: how long `--head auto` takes on 1,000 × 1280 embeddings (CIFAR-10 ×
 * MobileNetV2 int8, cached), beside scikit-learn running the same candidate search (5-fold CV of
 * the same nine candidates, then a refit) on the same embeddings in the same run, and beside a
 * fixed linear head with its 5-fold CV. The linear objective runs on onnxruntime, as the CLI does
 * beyond a few hundred rows.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createOnnxObjective } from '../src/accel/onnx-objective.js';
import { describeSpec, fitHead } from '../src/heads/fit.js';
import { cifar10, embedSet, readImage } from './datasets.js';

const PYTHON = process.env.SKLEARN_PYTHON ?? '/usr/bin/python3';
const CACHE = join(import.meta.dirname, '..', '..', '.cache', 'bench-auto');

const set = await cifar10('train', 100);
const x = await embedSet('mobilenetv2-int8', set, readImage);
const objective = createOnnxObjective({ device: 'node' });

const timed = async <T>(run: () => Promise<T>) => {
  const t = performance.now();
  const result = await run();
  return { result, seconds: (performance.now() - t) / 1000 };
};

const auto = await timed(() => fitHead(x, set.labels, { head: 'auto', objective }));
const linear = await timed(() => fitHead(x, set.labels, { head: { kind: 'linear', C: 1 }, objective }));
await mkdir(CACHE, { recursive: true });
await writeFile(join(CACHE, 'train.f32'), new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
await writeFile(join(CACHE, 'labels.json'), JSON.stringify(set.labels));
const { stdout } = await promisify(execFile)(PYTHON, [join(import.meta.dirname, 'auto_sklearn.py'), join(CACHE, 'train.f32'), join(CACHE, 'labels.json'), String(x.cols)]);
const sk = JSON.parse(stdout) as { seconds: number; bestMacroF1: number };

console.log(`${x.rows} × ${x.cols} (CIFAR-10 × mobilenetv2-int8), 5-fold CV`);
console.log(`| run | seconds | ratio to scikit-learn's search |\n|---|---|---|`);
console.log(`| edgehead auto (9 candidates, chose ${describeSpec(auto.result.spec)}, CV macro-F1 ${auto.result.crossValidation!.macroF1.toFixed(3)}) | ${auto.seconds.toFixed(1)} | ${(auto.seconds / sk.seconds).toFixed(2)} |`);
console.log(`| edgehead linear(C=1) with its CV | ${linear.seconds.toFixed(1)} | ${(linear.seconds / sk.seconds).toFixed(2)} |`);
console.log(`| scikit-learn, same 9 candidates (best CV macro-F1 ${sk.bestMacroF1.toFixed(3)}) | ${sk.seconds.toFixed(1)} | 1.00 |`);
