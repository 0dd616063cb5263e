/**
 * `npm run bench:rank`: does the transferability ranking (LogME, and the 3-fold linear probe)
 * predict which candidate gives the best few-shot head on photos, clips and sentences it has not
 * seen? For each data set and candidate: LogME and the probe on a few-shot training sample, and
 * the test accuracy of a linear head (C = 1) fitted on that sample; then the rank correlation
 * (Spearman ρ, Kendall τ) between each score and the test accuracy across the candidates.
 *   CIFAR-10, Fashion-MNIST: 20 photos per class (seeds 0…2) from the first 100 per class of the
 *     training split; test: 100 per class of the test split (Fashion-MNIST: the first 1,000).
 *     Candidates: MobileNetV2 fp32 (last layer, and cut at its last 6 residual blocks, pooled),
 *     MobileNetV2 int8, and 16×16 raw pixels.
 *   FSDD: 10 clips per digit from four speakers, tested on the fifth (each speaker in turn);
 *     openWakeWord's speech embedding vs log-mel statistics.
 *   SST-2 (20 per class; test: dev), TREC (20 per class; test: the 20 % split): use-lite vs a
 *     hashed bag of words.
 * Also times `rank` against fitting every candidate (fitHead auto, 5-fold CV) on 1,000 CIFAR-10
 * photos × 6 candidates, embeddings included (computed once, without the cache, for both).
 */
import { createBaseline } from '../src/backbone/baselines.js';
import type { Backbone } from '../src/backbone/backbone.js';
import { blockOutputs, summarizeModel } from '../src/backbone/onnx/graph.js';
import { fitHead } from '../src/heads/fit.js';
import { LinearHead } from '../src/heads/linear.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { rankEmbeddings } from '../src/heads/rank.js';
import { sampleFewShot } from '../src/heads/split.js';
import { loadBackbone, loadModelFilesNode, resolveManifest } from '../src/node.js';
import { cifar10, embedCached, fashionMnist, fsdd, readAudio, readImage, sst2, trecSplit, type LabelledSet } from './datasets.js';

const SEEDS = Number(process.env.BENCH_SEEDS ?? 3);

interface Candidate {
  name: string;
  baseline?: boolean;
  open: () => Promise<Backbone<unknown>>;
}

const backbone = (id: string, cut?: string): Candidate => ({
  name: cut ? `${id}@${cut}` : id,
  open: async () => (await loadBackbone(id, { device: 'auto', ...(cut ? { cut, pooling: 'avg-nchw' as const } : {}) })).backbone as Backbone<unknown>,
});
const baseline = (modality: 'image' | 'audio' | 'text'): Candidate => ({
  name: `baseline:${{ image: 'pixels-16', audio: 'log-mel', text: 'bag-of-words' }[modality]}`,
  baseline: true,
  open: async () => (await createBaseline(modality)) as Backbone<unknown>,
});

async function imageCandidates(cuts: number): Promise<Candidate[]> {
  const manifest = await resolveManifest('mobilenetv2-fp32');
  const blocks = blockOutputs(summarizeModel((await loadModelFilesNode(manifest)).model)).slice(-cuts).reverse();
  return [backbone('mobilenetv2-fp32'), ...blocks.map((b) => backbone('mobilenetv2-fp32', b)), backbone('mobilenetv2-int8'), baseline('image')];
}

async function embedAll<T>(candidates: Candidate[], sets: Array<LabelledSet<T>>, read?: (input: T) => Promise<unknown>): Promise<Map<string, Matrix[]>> {
  const out = new Map<string, Matrix[]>();
  for (const c of candidates) {
    const b = await c.open();
    try {
      const matrices: Matrix[] = [];
      for (const set of sets) matrices.push(await embedCached(set, b, read as ((input: unknown) => Promise<unknown>) | undefined));
      out.set(c.name, matrices);
    } finally {
      await b.dispose();
    }
  }
  return out;
}

interface Trial {
  train: number[];
  test: number[];
  /** Index into the embedded sets for the training rows and the test rows. */
  trainSet: number;
  testSet: number;
}

interface Row {
  name: string;
  baseline: boolean;
  logME: number[];
  probe: number[];
  test: number[];
  logMESeconds: number[];
  probeSeconds: number[];
}

async function evaluateCandidates(candidates: Candidate[], embedded: Map<string, Matrix[]>, labels: string[][], trials: Trial[]): Promise<Row[]> {
  const rows = new Map<string, Row>(candidates.map((c) => [c.name, { name: c.name, baseline: c.baseline ?? false, logME: [], probe: [], test: [], logMESeconds: [], probeSeconds: [] }]));
  for (const trial of trials) {
    const trainLabels = trial.train.map((i) => labels[trial.trainSet][i]);
    const testLabels = trial.test.map((i) => labels[trial.testSet][i]);
    const ranked = await rankEmbeddings(
      candidates.map((c) => ({ name: c.name, baseline: c.baseline, embeddings: selectRows(embedded.get(c.name)![trial.trainSet], trial.train) })),
      trainLabels,
    );
    for (const r of ranked.ranked) {
      const row = rows.get(r.name)!;
      row.logME.push(r.logME);
      row.probe.push(r.probe!.accuracy);
      row.logMESeconds.push(r.seconds.logME);
      row.probeSeconds.push(r.seconds.probe!);
      const head = LinearHead.fit(selectRows(embedded.get(r.name)![trial.trainSet], trial.train), trainLabels, { C: 1 });
      const predicted = head.predictLabels(selectRows(embedded.get(r.name)![trial.testSet], trial.test));
      row.test.push(predicted.filter((p, i) => p === testLabels[i]).length / testLabels.length);
    }
  }
  return [...rows.values()];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** Ranks 1…n with ties sharing their average rank. */
function ranks(xs: number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]] === xs[order[i]]) j++;
    for (let k = i; k <= j; k++) r[order[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

function pearson(a: number[], b: number[]): number {
  const ma = mean(a), mb = mean(b);
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

const spearman = (a: number[], b: number[]) => pearson(ranks(a), ranks(b));

/** Kendall's τ-b. */
function kendall(a: number[], b: number[]): number {
  let concordant = 0, discordant = 0, tiesA = 0, tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const s = Math.sign(a[i] - a[j]) * Math.sign(b[i] - b[j]);
      if (s > 0) concordant++;
      else if (s < 0) discordant++;
      else if (a[i] === a[j] && b[i] !== b[j]) tiesA++;
      else if (b[i] === b[j] && a[i] !== a[j]) tiesB++;
    }
  }
  return (concordant - discordant) / Math.sqrt((concordant + discordant + tiesA) * (concordant + discordant + tiesB));
}

const lines: string[] = [];
const summary: string[] = ['| data | candidates | ρ(LogME, test) | τ(LogME, test) | ρ(probe, test) | best by LogME = best on test |', '|---|---|---|---|---|---|'];

function report(title: string, rows: Row[]): void {
  const pct = (xs: number[]) => `${(100 * mean(xs)).toFixed(1)} ± ${(100 * sd(xs)).toFixed(1)}`;
  rows.sort((a, b) => mean(b.logME) - mean(a.logME));
  lines.push(`**${title}**`, '', '| candidate | LogME | probe acc % | test acc % | LogME s | probe s |', '|---|---|---|---|---|---|');
  for (const r of rows) {
    lines.push(`| ${r.name}${r.baseline ? ' (baseline)' : ''} | ${mean(r.logME).toFixed(3)} | ${pct(r.probe)} | ${pct(r.test)} | ${mean(r.logMESeconds).toFixed(2)} | ${mean(r.probeSeconds).toFixed(2)} |`);
  }
  lines.push('');
  const logme = rows.map((r) => mean(r.logME));
  const probe = rows.map((r) => mean(r.probe));
  const test = rows.map((r) => mean(r.test));
  const bestTest = rows.reduce((best, r) => (mean(r.test) > mean(best.test) ? r : best));
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
  summary.push(`| ${title} | ${rows.length} | ${fmt(spearman(logme, test))} | ${fmt(kendall(logme, test))} | ${fmt(spearman(probe, test))} | ${rows[0].name === bestTest.name ? 'yes' : `no (${bestTest.name})`} |`);
  console.error(summary.at(-1));
}

const started = performance.now();
const fewShotTrials = (labels: string[], perClass: number, testRows: number): Trial[] =>
  Array.from({ length: SEEDS }, (_, seed) => ({ train: sampleFewShot(labels, perClass, seed), test: Array.from({ length: testRows }, (_, i) => i), trainSet: 0, testSet: 1 }));

// CIFAR-10 and Fashion-MNIST.
const images = await imageCandidates(6);
{
  const train = await cifar10('train', 100);
  const test = await cifar10('test', 100);
  const embedded = await embedAll(images, [train, test], readImage);
  report('CIFAR-10 (20 per class)', await evaluateCandidates(images, embedded, [train.labels, test.labels], fewShotTrials(train.labels, 20, test.labels.length)));
}
{
  const train = await fashionMnist('train', 1000);
  const test = await fashionMnist('test', 1000);
  const embedded = await embedAll(images, [train, test]);
  report('Fashion-MNIST (20 per class)', await evaluateCandidates(images, embedded, [train.labels, test.labels], fewShotTrials(train.labels, 20, test.labels.length)));
}
// FSDD: new speakers.
{
  const all = await fsdd();
  const audio = [backbone('openwakeword-embedding'), baseline('audio')];
  const embedded = await embedAll(audio, [all], readAudio);
  const speakers = [...new Set(all.groups)];
  const trials: Trial[] = speakers.map((held, s) => {
    const pool = all.labels.map((_, i) => i).filter((i) => all.groups![i] !== held);
    const chosen = sampleFewShot(pool.map((i) => all.labels[i]), 10, s).map((j) => pool[j]);
    return { train: chosen, test: all.labels.map((_, i) => i).filter((i) => all.groups![i] === held), trainSet: 0, testSet: 0 };
  });
  report('FSDD (10 per digit, unseen speaker)', await evaluateCandidates(audio, embedded, [all.labels], trials));
}
// SST-2 and TREC.
{
  const text = [backbone('use-lite'), baseline('text')];
  const train = await sst2('train');
  const dev = await sst2('dev');
  report('SST-2 (20 per class)', await evaluateCandidates(text, await embedAll(text, [train, dev]), [train.labels, dev.labels], fewShotTrials(train.labels, 20, dev.labels.length)));
  const { pool, test } = await trecSplit();
  report('TREC (20 per class)', await evaluateCandidates(text, await embedAll(text, [pool, test]), [pool.labels, test.labels], fewShotTrials(pool.labels, 20, test.labels.length)));
}

// Time: rank vs fitting every candidate, 1,000 CIFAR-10 photos × 6 candidates, embeddings uncached.
const timing: string[] = [];
{
  const train = await cifar10('train', 100);
  const six = [...images.slice(0, 4), images.at(-2)!, images.at(-1)!];
  const decoded = await Promise.all(train.inputs.map(readImage));
  let embedSeconds = 0;
  const matrices: Matrix[] = [];
  for (const c of six) {
    const t = performance.now();
    const b = await c.open();
    const rows = await b.embed(decoded);
    await b.dispose();
    embedSeconds += (performance.now() - t) / 1000;
    const data = new Float32Array(rows.length * rows[0].length);
    rows.forEach((r, i) => data.set(r, i * r.length));
    matrices.push({ rows: rows.length, cols: rows[0].length, data });
  }
  let t = performance.now();
  await rankEmbeddings(six.map((c, i) => ({ name: c.name, baseline: c.baseline, embeddings: matrices[i] })), train.labels);
  const rankSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  for (const m of matrices) await fitHead(m, train.labels, { head: 'auto' });
  const fitSeconds = (performance.now() - t) / 1000;
  timing.push(
    `Time on 1,000 CIFAR-10 photos × 6 candidates (${six.map((c) => c.name).join(', ')}): embedding ${embedSeconds.toFixed(0)} s (needed by both); ` +
      `ranking (LogME + 3-fold probe) ${rankSeconds.toFixed(1)} s vs fitting every candidate (fitHead auto, 5-fold CV) ${fitSeconds.toFixed(1)} s — ` +
      `in total ${(embedSeconds + rankSeconds).toFixed(0)} s vs ${(embedSeconds + fitSeconds).toFixed(0)} s (${((embedSeconds + rankSeconds) / (embedSeconds + fitSeconds)).toFixed(2)}×).`,
  );
  console.error(timing[0]);
}

console.log(`\`npm run bench:rank\` (${new Date().toISOString().slice(0, 10)}, ${SEEDS} seeds, ${((performance.now() - started) / 1000).toFixed(0)} s including embeddings not yet cached):\n`);
console.log([...summary, '', ...timing, '', ...lines].join('\n'));
