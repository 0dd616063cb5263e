/**
 * `npm run bench:finetune` (issue 14): does fine-tuning the top of MobileNetV2 (fp32) beat the
 * frozen linear probe? For each dataset: the probe (a linear head on the frozen embeddings) and
 * fine-tuning after the last 1, 2 and 3 inverted-residual blocks (the top and a new head trained
 * together, Adam, early stopping on a 20 % held-out split), test accuracy mean ± sd over seeds,
 * and wall time on this machine. Training sets are sampled per class with each seed; the test
 * set is fixed.
 *
 *   BENCH_FT_DATASETS  cifar10-<per class>, fashion-<per class>, fashion-all
 *                      (default: cifar10-100,cifar10-10; the issue also asks fashion-1000,fashion-all).
 *                      fashion-<n> samples n per class from the first BENCH_FT_POOL (60,000) training
 *                      photos with each seed, so the frozen part runs on every seed's photos;
 *                      fashion-all is one set of 10,000 for all seeds.
 *   BENCH_FT_CACHE     where the frozen part's outputs are kept between runs, by model, tensor and
 *                      the exact photos (default ~/.cache/edgehead/bench-activations; off: none), so
 *                      rows added later (other blocks, BENCH_FT_PROBE=off) skip the frozen pass.
 *   BENCH_FT_BLOCKS    1,2,3    BENCH_FT_SEEDS 3 (or a list: 1,2)    BENCH_FT_EPOCHS 10    BENCH_FT_TEST 2000
 *   BENCH_FT_PROBE     off: skip the frozen probe (when adding fine-tuning rows to an earlier run)
 *   BENCH_FT_AUGMENT   views per training photo for fine-tuning (default 0), made as
 *                      `edgehead finetune --augment` makes them: before the frozen part, a photo and
 *                      its views one group in the held-out split. The probe stays unaugmented.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cutModel, blockOutputs, summarizeModel } from '../src/backbone/onnx/graph.js';
import { OnnxSession } from '../src/backbone/onnx/session.js';
import { loadTrainingTf, translateTop, fineTune } from '../src/finetune/index.js';
import { LinearHead } from '../src/heads/linear.js';
import { createRng } from '../src/heads/random.js';
import { augmentImage } from '../src/inputs/image/augment.js';
import { sampleFewShot } from '../src/heads/split.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { imagesToTensor, type DecodedImage } from '../src/inputs/image/image.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest, type ImageManifest } from '../src/manifest/manifest.js';
import { cifar10, fashionMnist } from './datasets.js';

const list = (v: string | undefined, d: string) => (v ?? d).split(',').map((s) => s.trim()).filter(Boolean);
const DATASETS = list(process.env.BENCH_FT_DATASETS, 'cifar10-100,cifar10-10');
const BLOCKS = list(process.env.BENCH_FT_BLOCKS, '1,2,3').map(Number);
// A count (3: seeds 0, 1, 2) or a list of seeds (1,2: to add seeds to an earlier run).
const SEED_LIST = (process.env.BENCH_FT_SEEDS ?? '3').includes(',') ? list(process.env.BENCH_FT_SEEDS, '').map(Number) : Array.from({ length: Number(process.env.BENCH_FT_SEEDS ?? 3) }, (_, s) => s);
const SEEDS = SEED_LIST.length;
const EPOCHS = Number(process.env.BENCH_FT_EPOCHS ?? 10);
const TEST = Number(process.env.BENCH_FT_TEST ?? 2000);
const AUGMENT = Number(process.env.BENCH_FT_AUGMENT ?? 0);
const PROBE = process.env.BENCH_FT_PROBE !== 'off';
const POOL = Number(process.env.BENCH_FT_POOL ?? 60_000);
const CACHE = process.env.BENCH_FT_CACHE === 'off' ? undefined : (process.env.BENCH_FT_CACHE ?? join(homedir(), '.cache', 'edgehead', 'bench-activations'));

interface Data {
  name: string;
  /** Training pool; each seed samples `perClass` of each class from it. */
  train: { images: DecodedImage[]; labels: string[] };
  perClass: number;
  test: { images: DecodedImage[]; labels: string[] };
}

async function dataset(name: string): Promise<Data> {
  if (name.startsWith('cifar10-')) {
    const perClass = Number(name.slice('cifar10-'.length));
    const train = await cifar10('train', 100);
    const test = await cifar10('test', Math.ceil(TEST / 10));
    return {
      name: `CIFAR-10, ${perClass} per class`,
      train: { images: await Promise.all(train.inputs.map(readImageFile)), labels: train.labels },
      perClass,
      test: { images: await Promise.all(test.inputs.map(readImageFile)), labels: test.labels },
    };
  }
  const all = name === 'fashion-all';
  const perClass = all ? 1000 : Number(name.slice('fashion-'.length));
  const train = await fashionMnist('train', all ? 10_000 : POOL);
  const test = await fashionMnist('test', TEST);
  return { name: all ? 'Fashion-MNIST, all 10k (first 10,000 training images)' : `Fashion-MNIST, ${perClass} per class (from the first ${train.labels.length})`, train: { images: train.inputs, labels: train.labels }, perClass: all ? Infinity : perClass, test: { images: test.inputs, labels: test.labels } };
}

/**
 * activationsAt through the on-disk cache: `photos` names the images (dataset, split and
 * indices), so the same photos through the same model and tensor are computed once.
 */
async function cachedActivationsAt(model: Uint8Array, manifest: ImageManifest, tensor: string, images: DecodedImage[], photos: string) {
  if (!CACHE) return activationsAt(model, manifest, tensor, images);
  const key = createHash('sha256').update(model).update(`\0${tensor}\0${photos}`).digest('hex').slice(0, 32);
  const file = join(CACHE, `${key}.f32`);
  try {
    const { dims } = JSON.parse(await readFile(`${file}.json`, 'utf8')) as { dims: number[] };
    const bytes = await readFile(file);
    const per = dims.slice(1).reduce((a, b) => a * b, 1);
    if (dims[0] === images.length && bytes.byteLength === 4 * images.length * per) {
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes); // a copy starts at offset 0
      return { data: new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4), dims, per };
    }
  } catch {
    // not cached yet
  }
  const out = await activationsAt(model, manifest, tensor, images);
  await mkdir(CACHE, { recursive: true });
  // Written aside and renamed, so a run stopped half-way leaves no torn file.
  await writeFile(`${file}.part`, out.data);
  await rename(`${file}.part`, file);
  await writeFile(`${file}.json`, JSON.stringify({ dims: out.dims, tensor, photos: photos.slice(0, 200) }));
  return out;
}

/** The tensor `name` of `model` for every image (the frozen part, once per image). */
async function activationsAt(model: Uint8Array, manifest: ImageManifest, tensor: string, images: DecodedImage[]) {
  const cut = cutModel(model, { tensor });
  const session = await OnnxSession.create(cut.bytes, `below ${tensor}`);
  const chunks: Float32Array[] = [];
  let dims: number[] = [];
  try {
    for (let i = 0; i < images.length; i += 64) {
      const input = imagesToTensor(images.slice(i, i + 64), manifest.input.image);
      const out = (await session.run({ [manifest.input.name]: { type: 'float32', data: input.data, dims: input.dims } }, [cut.outputName]))[cut.outputName];
      chunks.push(out.data);
      dims = out.dims;
    }
  } finally {
    await session.release();
  }
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(images.length * per);
  chunks.forEach((c, i) => data.set(c, i * 64 * per));
  return { data, dims: [images.length, ...dims.slice(1)], per };
}

const rowsOf = (a: { data: Float32Array; per: number }, idx: number[]) => idx.map((i) => a.data.subarray(i * a.per, (i + 1) * a.per));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

async function main(): Promise<void> {
  const manifest = parseManifest(JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'models', 'manifests', 'mobilenetv2-fp32.json'), 'utf8'))) as ImageManifest;
  const model = (await loadModelFilesNode(manifest)).model;
  const blocks = blockOutputs(summarizeModel(model));
  const tf = await loadTrainingTf();
  console.log(`MobileNetV2 fp32; seeds ${SEED_LIST.join(', ')}; up to ${EPOCHS} epochs, Adam (backbone 1e-4, head 1e-2), patience 3, 20 % held out; test accuracy mean ± sd`);
  for (const name of DATASETS) {
    const data = await dataset(name);
    const seeds = SEED_LIST;
    const pool = data.train.labels;
    const sampled = (seed: number) => (Number.isFinite(data.perClass) ? sampleFewShot(pool, data.perClass, seed) : pool.map((_, i) => i));
    // Only the images some seed trains on go through the network; `pick` indexes into them.
    const used = [...new Set(seeds.flatMap(sampled))].sort((a, b) => a - b);
    const position = new Map(used.map((u, k) => [u, k]));
    data.train = { images: used.map((u) => data.train.images[u]), labels: used.map((u) => data.train.labels[u]) };
    const pick = (seed: number) => sampled(seed).map((u) => position.get(u) as number);
    // Which photos, for the activation cache: positions in the split (CIFAR-10: class by class, 100 each).
    const family = name.startsWith('cifar10-') ? 'cifar10' : 'fashion-mnist';
    const trainPhotos = `${family}/train/${used.join(',')}`;
    const testPhotos = `${family}/test/first ${data.test.labels.length}`;
    console.log(`\n${data.name}: ${pick(0).length} training images, ${data.test.labels.length} test images`);
    const line = (what: string, accs: number[], seconds: number, extra = '') =>
      console.log(`  ${what.padEnd(34)} ${(100 * mean(accs)).toFixed(1).padStart(5)} ± ${(100 * sd(accs)).toFixed(1).padEnd(4)} %   ${seconds.toFixed(0).padStart(5)} s per seed${extra}`);
    let t = performance.now();
    if (PROBE) {
      // The frozen probe: embeddings at the manifest's output.
      const trainEmb = await cachedActivationsAt(model, manifest, manifest.output.tensor, data.train.images, trainPhotos);
      const testEmb = await cachedActivationsAt(model, manifest, manifest.output.tensor, data.test.images, testPhotos);
      const embedSeconds = (performance.now() - t) / 1000;
      const probe: number[] = [];
      t = performance.now();
      for (const seed of seeds) {
        const idx = pick(seed);
        const head = LinearHead.fit(rowsOf(trainEmb, idx), idx.map((i) => data.train.labels[i]), { C: 1 });
        const predicted = head.predict(rowsOf(testEmb, data.test.labels.map((_, i) => i)));
        probe.push(mean(predicted.map((p, i) => (p.label === data.test.labels[i] ? 1 : 0))));
      }
      line('frozen linear probe (C = 1)', probe, embedSeconds / SEEDS + (performance.now() - t) / 1000 / SEEDS);
    }
    for (const n of BLOCKS) {
      const from = blocks[blocks.length - n];
      t = performance.now();
      const trainActs = await cachedActivationsAt(model, manifest, from, data.train.images, trainPhotos);
      const testActs = await cachedActivationsAt(model, manifest, from, data.test.images, testPhotos);
      const baseSeconds = (performance.now() - t) / 1000;
      const accs: number[] = [];
      const epochs: number[] = [];
      let trainSeconds = 0;
      for (const seed of seeds) {
        const idx = pick(seed);
        // Seeded views of each sampled photo (as the CLI makes them), through the frozen part too.
        const views = idx.flatMap((r) => Array.from({ length: AUGMENT }, (_, v) => augmentImage(data.train.images[r], createRng(seed * 1_000_003 + r * 101 + v))));
        const viewActs = views.length ? await activationsAt(model, manifest, from, views) : undefined;
        const rowCount = idx.length + views.length;
        const sub = { data: new Float32Array(rowCount * trainActs.per), dims: [rowCount, ...trainActs.dims.slice(1)] };
        idx.forEach((r, i) => sub.data.set(trainActs.data.subarray(r * trainActs.per, (r + 1) * trainActs.per), i * trainActs.per));
        if (viewActs) sub.data.set(viewActs.data, idx.length * trainActs.per);
        const rowPhotos = [...idx, ...idx.flatMap((r) => Array<number>(AUGMENT).fill(r))];
        const top = translateTop(tf, model, { from, to: manifest.output.tensor });
        const started = performance.now();
        try {
          const result = await fineTune(tf, top, sub, rowPhotos.map((i) => data.train.labels[i]), { epochs: EPOCHS, seed, ...(AUGMENT ? { groups: rowPhotos } : {}) });
          trainSeconds += (performance.now() - started) / 1000;
          epochs.push(result.bestEpoch);
          // Test: the trained top, then the trained head's logits.
          let correct = 0;
          for (let i = 0; i < testActs.dims[0]; i += 100) {
            const count = Math.min(100, testActs.dims[0] - i);
            const logits = tf.tidy(() => {
              const x = tf.tensor(testActs.data.subarray(i * testActs.per, (i + count) * testActs.per), [count, ...testActs.dims.slice(1)]);
              const emb = tf.reshape(top.apply(x), [count, result.head.dim]);
              return tf.add(tf.matMul(emb, tf.tensor2d(result.head.weights, [result.head.dim, result.classes.length])), tf.tensor1d(result.head.bias));
            });
            const best = tf.argMax(logits, 1);
            const argmax = (await best.data()) as Int32Array;
            best.dispose();
            logits.dispose();
            argmax.forEach((c, k) => (correct += result.classes[c] === data.test.labels[i + k] ? 1 : 0));
          }
          accs.push(correct / testActs.dims[0]);
          // Each seed as it ends: a long run that is stopped keeps what it measured.
          console.log(`    seed ${seed}: ${(100 * accs.at(-1)!).toFixed(1)} %, best epoch ${result.bestEpoch}, ${((performance.now() - started) / 1000).toFixed(0)} s training`);
        } finally {
          top.dispose();
        }
      }
      line(`fine-tune last ${n} block${n > 1 ? 's' : ''}${AUGMENT ? `, ${AUGMENT} views/photo` : ''}`, accs, baseSeconds / SEEDS + trainSeconds / SEEDS, `  (best epochs ${epochs.join(', ')})`);
    }
  }
}

await main();
