/**
 * Readers for the real labelled data in ../shared/data, and a disk cache of their embeddings
 * keyed by the backbone fingerprint (so benches and fixture scripts embed each set once).
 * Used by benchmarks and fixture generators only — never by the SDK itself.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Backbone } from '../src/backbone/backbone.js';
import type { DecodedImage } from '../src/inputs/image/image.js';
import type { Matrix } from '../src/heads/matrix.js';
import { defaultSharedDir } from '../src/manifest/files-node.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { readWavFile } from '../src/cli/inputs.js';
import { parseCsv } from '../src/cli/data.js';
import { stratifiedSplit } from '../src/heads/split.js';
import { loadBackbone } from '../src/node.js';

export const SHARED = defaultSharedDir();
const CACHE = join(import.meta.dirname, '..', '..', '.cache', 'embeddings');

export const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface LabelledSet<T> {
  name: string;
  inputs: T[];
  labels: string[];
  /** Optional grouping (e.g. speaker) for group-disjoint splits. */
  groups?: string[];
}

/** CIFAR-10 JPEGs: `perClass` first files of each class (sorted names). */
export async function cifar10(split: 'train' | 'test', perClass: number): Promise<LabelledSet<string>> {
  const inputs: string[] = [];
  const labels: string[] = [];
  for (const c of CIFAR_CLASSES) {
    const dir = join(SHARED, 'data', 'cifar10', split, c);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.jpg')).sort().slice(0, perClass);
    for (const n of names) {
      inputs.push(join(dir, n));
      labels.push(c);
    }
  }
  return { name: `cifar10-${split}-${perClass}`, inputs, labels };
}

/** Fashion-MNIST from the idx files: the first `count` items of a split, as grey images. */
export async function fashionMnist(split: 'train' | 'test', count: number): Promise<LabelledSet<DecodedImage>> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = gunzipSync(await readFile(join(SHARED, 'data', 'fashion-mnist', `${prefix}-images-idx3-ubyte.gz`)));
  const labelBytes = gunzipSync(await readFile(join(SHARED, 'data', 'fashion-mnist', `${prefix}-labels-idx1-ubyte.gz`)));
  const view = new DataView(images.buffer, images.byteOffset, images.byteLength);
  if (view.getUint32(0) !== 2051) throw new Error('Fashion-MNIST images file has a bad magic number.');
  const n = Math.min(count, view.getUint32(4));
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  const inputs: DecodedImage[] = [];
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const start = 16 + i * rows * cols;
    inputs.push({ width: cols, height: rows, channels: 1, data: images.subarray(start, start + rows * cols) });
    labels.push(FASHION_CLASSES[labelBytes[8 + i]]);
  }
  return { name: `fashion-mnist-${split}-${n}`, inputs, labels };
}

/** FSDD spoken digits: every file, with the speaker as group. */
export async function fsdd(): Promise<LabelledSet<string>> {
  const dir = join(SHARED, 'data', 'fsdd');
  const names = (await readdir(dir)).filter((n) => n.endsWith('.wav')).sort();
  return {
    name: 'fsdd-all',
    inputs: names.map((n) => join(dir, n)),
    labels: names.map((n) => n.split('_')[0]),
    groups: names.map((n) => n.split('_')[1]),
  };
}

/** `label text` lines (SST-2, TREC). */
export async function labelledLines(path: string, name: string, labelNames?: Record<string, string>): Promise<LabelledSet<string>> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/).filter((l) => l.trim());
  return {
    name,
    inputs: lines.map((l) => l.slice(l.indexOf(' ') + 1)),
    labels: lines.map((l) => {
      const raw = l.slice(0, l.indexOf(' '));
      return labelNames?.[raw] ?? raw;
    }),
  };
}

/** BANKING77 train.csv (`text,category`): the first `perClass` queries of each intent, then the next `perClass` as a test split. */
export async function banking77(perClass: number): Promise<{ train: LabelledSet<string>; test: LabelledSet<string> }> {
  const [, ...rows] = parseCsv(await readFile(join(SHARED, 'data', 'banking77', 'train.csv'), 'utf8'));
  const seen = new Map<string, number>();
  const train: LabelledSet<string> = { name: `banking77-train-${perClass}`, inputs: [], labels: [] };
  const test: LabelledSet<string> = { name: `banking77-test-${perClass}`, inputs: [], labels: [] };
  for (const [text, label] of rows) {
    if (!text || !label) continue;
    const n = seen.get(label) ?? 0;
    seen.set(label, n + 1);
    const into = n < perClass ? train : n < 2 * perClass ? test : undefined;
    into?.inputs.push(text);
    into?.labels.push(label);
  }
  return { train, test };
}

export const sst2 = (split: 'train' | 'dev') => labelledLines(join(SHARED, 'data', 'sst2', `${split}.txt`), `sst2-${split}`, { '0': 'negative', '1': 'positive' });
export const trec = () => labelledLines(join(SHARED, 'data', 'trec', 'train.txt'), 'trec-train');

type Reader<T> = (input: T) => Promise<unknown>;

/** Embeds a set once per backbone fingerprint; later calls read `.cache/embeddings`. */
export async function embedCached<T>(set: LabelledSet<T>, backbone: Backbone<unknown>, read?: Reader<T>): Promise<Matrix> {
  const key = `${set.name}-${backbone.id}-${backbone.fingerprint.slice(7, 19)}`;
  const path = join(CACHE, `${key}.f32`);
  try {
    const bytes = await readFile(path);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (data.length === set.inputs.length * backbone.dim) return { rows: set.inputs.length, cols: backbone.dim, data };
  } catch {
    // not cached yet
  }
  const data = new Float32Array(set.inputs.length * backbone.dim);
  const chunk = 256;
  const started = performance.now();
  for (let i = 0; i < set.inputs.length; i += chunk) {
    const slice = set.inputs.slice(i, i + chunk);
    const decoded = read ? await Promise.all(slice.map(read)) : slice;
    const rows = await backbone.embed(decoded);
    rows.forEach((r, j) => data.set(r, (i + j) * backbone.dim));
    if (process.stderr.isTTY) process.stderr.write(`\r  embedding ${set.name}: ${Math.min(i + chunk, set.inputs.length)}/${set.inputs.length}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.error(`  embedded ${set.name} (${set.inputs.length}) with ${backbone.id} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await mkdir(CACHE, { recursive: true });
  await writeFile(`${path}.tmp`, new Uint8Array(data.buffer));
  await rename(`${path}.tmp`, path);
  return { rows: set.inputs.length, cols: backbone.dim, data };
}

export const readImage: Reader<string> = readImageFile;
export const readAudio: Reader<string> = readWavFile;

/** Loads a backbone by id, embeds a set through the disk cache, and releases the backbone. */
export async function embedSet<T>(backboneId: string, set: LabelledSet<T>, read?: Reader<T>): Promise<Matrix> {
  const { backbone } = await loadBackbone(backboneId, { device: 'auto' });
  try {
    return await embedCached(set, backbone as Backbone<unknown>, read);
  } finally {
    await backbone.dispose();
  }
}

/** TREC train.txt split 80/20, stratified, seed 0: the pool and test set of every TREC benchmark. */
export async function trecSplit(): Promise<{ pool: LabelledSet<string>; test: LabelledSet<string> }> {
  const all = await trec();
  const split = stratifiedSplit(all.labels, 0.2, 0);
  const slice = (idx: number[], name: string): LabelledSet<string> => ({ name, inputs: idx.map((i) => all.inputs[i]), labels: idx.map((i) => all.labels[i]) });
  return { pool: slice(split.train, 'trec-train80'), test: slice(split.validation, 'trec-test20') };
}

/** Embedded train/test rows of one data set. */
export interface EmbeddedSplit {
  train: Matrix;
  trainLabels: string[];
  test: Matrix;
  testLabels: string[];
}

/**
 * The held-out sets of the calibration and open-set benches: CIFAR-10 × MobileNetV2 int8 (100
 * train and 200 test photos per class) and TREC × use-lite (train.txt split 80/20, stratified, seed 0).
 */
export async function cifarAndTrecSplits(): Promise<{ cifar: EmbeddedSplit; trec: EmbeddedSplit }> {
  const cTrain = await cifar10('train', 100);
  const cTest = await cifar10('test', 200);
  const { pool: tPool, test: tTest } = await trecSplit();
  return {
    cifar: { train: await embedSet('mobilenetv2-int8', cTrain, readImage), trainLabels: cTrain.labels, test: await embedSet('mobilenetv2-int8', cTest, readImage), testLabels: cTest.labels },
    trec: { train: await embedSet('use-lite', tPool), trainLabels: tPool.labels, test: await embedSet('use-lite', tTest), testLabels: tTest.labels },
  };
}
