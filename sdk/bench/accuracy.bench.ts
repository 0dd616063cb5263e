/**
 * `npm run bench:accuracy`: few-shot accuracy of each head on real data with real backbones —
 * k examples per class (k = 1, 5, 10, 20), several seeds, mean ± standard deviation — and
 * writes docs/results.md. Embeddings are cached in .cache/embeddings after the first run.
 *
 *   CIFAR-10 and Fashion-MNIST × MobileNetV2 (int8, cut at the pooled features)
 *   FSDD spoken digits × openWakeWord speech embedding, speaker-disjoint (test speaker: theo)
 *   SST-2 and TREC × Universal Sentence Encoder lite
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CentroidHead } from '../src/heads/centroid.js';
import { KnnHead } from '../src/heads/knn.js';
import { fitHead, describeSpec } from '../src/heads/fit.js';
import { LinearHead, type ObjectiveFactory } from '../src/heads/linear.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { evaluate } from '../src/heads/metrics.js';
import { sampleFewShot, stratifiedSplit } from '../src/heads/split.js';
import { createOnnxObjective } from '../src/accel/onnx-objective.js';
import { createOnnxNeighbourSearch } from '../src/accel/onnx-knn.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cifar10, embedSet, fashionMnist, fsdd, readAudio, readImage, sst2, trec, type LabelledSet } from './datasets.js';

const SHOTS = [1, 5, 10, 20];
const PYTHON = process.env.SKLEARN_PYTHON ?? '/usr/bin/python3';
const CACHE = join(import.meta.dirname, '..', '..', '.cache', 'bench-accuracy');
/** Published full-data baselines, quoted from the Fashion-MNIST README's benchmark table. */
const PUBLISHED: Record<string, string> = { 'Fashion-MNIST': 'published full-data baselines (Fashion-MNIST README): MobileNet 95.0 %, HOG+SVM 92.6 %' };
const SEEDS = Number(process.env.BENCH_SEEDS ?? 5);
/** auto's "all" column only up to this pool size (its 5-fold kNN candidates search in plain JS). */
const AUTO_FULL_MAX_ROWS = 5000;
const autoNotes: string[] = [];

interface Task {
  name: string;
  backbone: string;
  train: Matrix;
  trainLabels: string[];
  test: Matrix;
  testLabels: string[];
  note: string;
}

/** The linear objective auto's candidates use: onnxruntime beyond a few hundred rows, as the CLI does. */
const objectiveFor = (m: Matrix): ObjectiveFactory | undefined => (m.rows * m.cols > 250_000 ? createOnnxObjective({ device: 'node' }) : undefined);

function slice<T>(set: LabelledSet<T>, idx: number[], name: string): LabelledSet<T> {
  return { name, inputs: idx.map((i) => set.inputs[i]), labels: idx.map((i) => set.labels[i]) };
}

async function tasks(): Promise<Task[]> {
  const out: Task[] = [];
  {
    const train = await cifar10('train', 100);
    const test = await cifar10('test', 200);
    out.push({
      name: 'CIFAR-10',
      backbone: 'mobilenetv2-int8',
      train: await embedSet('mobilenetv2-int8', train, readImage),
      trainLabels: train.labels,
      test: await embedSet('mobilenetv2-int8', test, readImage),
      testLabels: test.labels,
      note: 'pool: 100 train photos/class; test: 200/class (2,000)',
    });
  }
  {
    const train = await fashionMnist('train', 10000);
    const test = await fashionMnist('test', 10000);
    out.push({
      name: 'Fashion-MNIST',
      backbone: 'mobilenetv2-int8',
      train: await embedSet('mobilenetv2-int8', train),
      trainLabels: train.labels,
      test: await embedSet('mobilenetv2-int8', test),
      testLabels: test.labels,
      note: 'pool: first 10,000 train images; test: the 10,000 test images',
    });
  }
  {
    const all = await fsdd();
    const m = await embedSet('openwakeword-embedding', all, readAudio);
    const groups = all.groups as string[];
    const trainIdx = groups.flatMap((g, i) => (g !== 'theo' ? [i] : []));
    const testIdx = groups.flatMap((g, i) => (g === 'theo' ? [i] : []));
    out.push({
      name: 'FSDD digits',
      backbone: 'openwakeword-embedding',
      train: selectRows(m, trainIdx),
      trainLabels: trainIdx.map((i) => all.labels[i]),
      test: selectRows(m, testIdx),
      testLabels: testIdx.map((i) => all.labels[i]),
      note: 'speaker-disjoint: pool = george, jackson, nicolas, yweweler; test = theo (500 clips)',
    });
  }
  {
    const train = await sst2('train');
    const pool = slice(train, Array.from({ length: 2000 }, (_, i) => i), 'sst2-train-2000');
    const dev = await sst2('dev');
    out.push({
      name: 'SST-2',
      backbone: 'use-lite',
      train: await embedSet('use-lite', pool),
      trainLabels: pool.labels,
      test: await embedSet('use-lite', dev),
      testLabels: dev.labels,
      note: 'pool: first 2,000 train sentences; test: dev (872)',
    });
  }
  {
    const all = await trec();
    const split = stratifiedSplit(all.labels, 0.2, 0);
    const pool = slice(all, split.train, 'trec-train80');
    const test = slice(all, split.validation, 'trec-test20');
    out.push({
      name: 'TREC',
      backbone: 'use-lite',
      train: await embedSet('use-lite', pool),
      trainLabels: pool.labels,
      test: await embedSet('use-lite', test),
      testLabels: test.labels,
      note: 'train.txt split 80/20 (stratified, seed 0); 6 classes',
    });
  }
  return out;
}

const HEADS = {
  linear: (x: Matrix, y: string[]) => LinearHead.fit(x, y, { C: 1 }),
  'knn (k=min(5,shots), cosine, distance)': (x: Matrix, y: string[], shots: number) => KnnHead.fit(x, y, { k: Math.min(5, shots), metric: 'cosine', weights: 'distance' }),
  'centroid (cosine)': (x: Matrix, y: string[]) => CentroidHead.fit(x, y, { metric: 'cosine' }),
};

const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd };
};

/** scikit-learn LogisticRegression on the same embeddings and the same samples, one Python run. */
async function sklearnAccuracies(all: Task[]): Promise<Record<string, Record<string, number>> | undefined> {
  await mkdir(CACHE, { recursive: true });
  const job = [];
  for (const task of all) {
    const name = task.name.replace(/[^A-Za-z0-9]+/g, '-');
    const train = join(CACHE, `${name}-train.f32`);
    const test = join(CACHE, `${name}-test.f32`);
    await writeFile(train, new Uint8Array(task.train.data.buffer, task.train.data.byteOffset, task.train.data.byteLength));
    await writeFile(test, new Uint8Array(task.test.data.buffer, task.test.data.byteOffset, task.test.data.byteLength));
    const samples: Record<string, number[]> = { full: task.trainLabels.map((_, i) => i) };
    for (const k of SHOTS) for (let seed = 0; seed < SEEDS; seed++) samples[`${k}/${seed}`] = sampleFewShot(task.trainLabels, k, seed);
    job.push({ name: task.name, dim: task.train.cols, train, test, trainLabels: task.trainLabels, testLabels: task.testLabels, samples });
  }
  const jobPath = join(CACHE, 'job.json');
  await writeFile(jobPath, JSON.stringify(job));
  try {
    const { stdout } = await promisify(execFile)(PYTHON, [join(import.meta.dirname, 'accuracy_sklearn.py'), jobPath], { maxBuffer: 16 << 20 });
    return JSON.parse(stdout) as Record<string, Record<string, number>>;
  } catch (e) {
    console.error(`scikit-learn rows skipped (${(e as Error).message.split('\n')[0]}); install Debian's python3-sklearn.`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const started = Date.now();
  const all = await tasks();
  const sk = await sklearnAccuracies(all);
  for (const task of all) {
    lines.push(`\n### ${task.name} — ${task.backbone}\n\n${task.note}. Accuracy (%) on the test set, mean ± sd over ${SEEDS} seeds.\n`);
    lines.push(`| head | ${SHOTS.map((k) => `k=${k}`).join(' | ')} | all (${task.train.rows}) |`);
    lines.push(`|---|${SHOTS.map(() => '---').join('|')}|---|`);
    for (const [name, fit] of Object.entries(HEADS)) {
      const cells: string[] = [];
      for (const shots of SHOTS) {
        const accs: number[] = [];
        for (let seed = 0; seed < SEEDS; seed++) {
          const idx = sampleFewShot(task.trainLabels, shots, seed);
          const head = fit(selectRows(task.train, idx), idx.map((i) => task.trainLabels[i]), shots);
          accs.push(evaluate(task.testLabels, head.predictLabels(task.test)).accuracy);
        }
        const s = stats(accs);
        cells.push(`${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}`);
      }
      // The whole pool, once (deterministic); big pools fit the linear head on onnxruntime.
      const full =
        name === 'linear'
          ? await LinearHead.fitAsync(task.train, task.trainLabels, { C: 1, maxIterations: 1000, objective: task.train.rows * task.train.cols > 2e6 ? createOnnxObjective({ device: 'node' }) : undefined })
          : fit(task.train, task.trainLabels, 20);
      // A 10k × 10k exact kNN search runs on onnxruntime (same neighbours, ~15× faster than plain JS).
      const big = task.train.rows * task.test.rows > 1e7;
      let fullLabels: string[];
      if (big && full instanceof KnnHead) {
        const search = await createOnnxNeighbourSearch({ device: 'node' });
        fullLabels = (await full.predictAsync(task.test, search)).map((p) => p.nearest);
        await search.dispose();
      } else fullLabels = full.predictLabels(task.test);
      cells.push((100 * evaluate(task.testLabels, fullLabels).accuracy).toFixed(1));
      lines.push(`| ${name} | ${cells.join(' | ')} |`);
      console.log(`${task.name.padEnd(14)} ${name.padEnd(40)} ${cells.join('  ')}`);
    }
    // auto as a user runs it: fitHead's CV search with the one-standard-error rule, per sample.
    {
      const cells: string[] = [];
      const picked = new Map<string, number>();
      for (const shots of SHOTS) {
        const accs: number[] = [];
        for (let seed = 0; seed < SEEDS; seed++) {
          const idx = sampleFewShot(task.trainLabels, shots, seed);
          const r = await fitHead(selectRows(task.train, idx), idx.map((i) => task.trainLabels[i]), { head: 'auto', seed });
          picked.set(describeSpec(r.spec), (picked.get(describeSpec(r.spec)) ?? 0) + 1);
          accs.push(evaluate(task.testLabels, r.head.predictLabels(task.test)).accuracy);
        }
        const s = stats(accs);
        cells.push(`${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}`);
      }
      if (task.train.rows <= AUTO_FULL_MAX_ROWS) {
        const started = Date.now();
        const r = await fitHead(task.train, task.trainLabels, { head: 'auto', objective: objectiveFor(task.train) });
        cells.push(`${(100 * evaluate(task.testLabels, r.head.predictLabels(task.test)).accuracy).toFixed(1)}`);
        autoNotes.push(`${task.name}, all ${task.train.rows}: auto chose ${describeSpec(r.spec)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } else cells.push('—');
      lines.push(`| auto (CV choice, one-SE rule) | ${cells.join(' | ')} |`);
      autoNotes.push(`${task.name}, k = ${SHOTS.join('/')}: auto chose ${[...picked].map(([spec, n]) => `${spec} ×${n}`).join(', ')}`);
      console.log(`${task.name.padEnd(14)} ${'auto'.padEnd(40)} ${cells.join('  ')}`);
    }
    const r = sk?.[task.name];
    if (r) {
      const cells = SHOTS.map((k) => {
        const s = stats(Array.from({ length: SEEDS }, (_, seed) => r[`${k}/${seed}`]));
        return `${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}`;
      });
      cells.push((100 * r.full).toFixed(1));
      lines.push(`| scikit-learn LogisticRegression (C=1), same samples | ${cells.join(' | ')} |`);
      console.log(`${task.name.padEnd(14)} ${'scikit-learn LogisticRegression'.padEnd(40)} ${cells.join('  ')}`);
    }
    if (PUBLISHED[task.name]) lines.push(`\nFor scale, ${PUBLISHED[task.name]}, trained on all 60,000 images end to end — not a frozen ImageNet backbone with a small head.`);
  }
  const generated = `<!-- bench:accuracy:start — written by npm run bench:accuracy; edit outside these markers -->
Reproduce: \`npm ci && npm run bench:accuracy\` (reads \`../shared\`; the scikit-learn rows need Debian's \`python3-sklearn\`).

Produced by \`npm run bench:accuracy\` (${new Date().toISOString().slice(0, 10)}, ${((Date.now() - started) / 1000).toFixed(0)} s on this 2-core machine including computing the embeddings, which are then cached in .cache/embeddings).
k labelled examples per class are sampled from the pool with \`sampleFewShot(labels, k, seed)\`, seeds 0…${SEEDS - 1}; every head
sees the same samples, and so does scikit-learn's \`LogisticRegression(C=1, lbfgs)\` on the same embeddings. Linear: C = 1, no
standardisation. "all" fits once on the whole pool. Numbers are test-set accuracy in %.
${lines.join('\n')}

auto's choices (seeds 0…${SEEDS - 1}): ${autoNotes.join('; ')}.
<!-- bench:accuracy:end -->`;
  // Only the generated section is replaced: the hand-written sections around it stay.
  const path = join(import.meta.dirname, '..', '..', 'docs', 'results.md');
  const previous = await readFile(path, 'utf8').catch(() => '# Few-shot results\n\n<!-- bench:accuracy:start --><!-- bench:accuracy:end -->\n');
  const start = previous.indexOf('<!-- bench:accuracy:start');
  const end = previous.indexOf('<!-- bench:accuracy:end -->');
  if (start < 0 || end < 0) throw new Error(`${path} lacks the bench:accuracy markers; add them where the tables belong.`);
  await writeFile(path, previous.slice(0, start) + generated + previous.slice(end + '<!-- bench:accuracy:end -->'.length));
  console.log(`\nwrote ${path}`);
}

await main();
