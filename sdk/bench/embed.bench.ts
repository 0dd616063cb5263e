/**
 * `npm run bench:embed`: MobileNetV2 images/s through the SDK vs raw onnxruntime sessions on
 * the same inputs, in one run, as ratios. Two SDK paths are measured:
 *   - sdk.embedTensor: the same preprocessed tensor as the raw session (wrapper overhead only);
 *   - sdk.embed: from decoded pixels, including the manifest's resize/crop/normalise.
 * Each round times raw, embedTensor and embed in a rotated order, after a pause; ratios are taken
 * within a round (so machine noise hits both sides alike) and their medians reported.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { cutModel } from '../src/backbone/onnx/graph.js';
import { OnnxImageBackbone } from '../src/backbone/onnx/image-backbone.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { imagesToTensor, type DecodedImage } from '../src/inputs/image/image.js';
import { defaultSharedDir, loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest, type ImageManifest } from '../src/manifest/manifest.js';
import { readFile } from 'node:fs/promises';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const MODELS = (process.env.BENCH_MODELS ?? 'mobilenetv2-fp32,mobilenetv2-int8').split(',');
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? 'node,wasm').split(',') as ('node' | 'wasm')[];
const BATCHES = (process.env.BENCH_BATCHES ?? '1,32').split(',').map(Number);
const shared = defaultSharedDir();

async function loadManifest(id: string): Promise<ImageManifest> {
  return parseManifest(JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'models', 'manifests', `${id}.json`), 'utf8'))) as ImageManifest;
}

async function photos(n: number): Promise<DecodedImage[]> {
  const dir = join(shared, 'data', 'cifar10', 'test', 'dog');
  const names = (await readdir(dir)).sort().slice(0, n);
  return Promise.all(names.map((f) => readImageFile(join(dir, f))));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown>): Promise<number> {
  // Both sessions' ORT threads spin for a while after a run; without a pause the loop that
  // follows the other session's loop runs slower (measured: up to 1.4× at batch 1).
  await new Promise((resolve) => setTimeout(resolve, 100));
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Row {
  model: string;
  runtime: string;
  batch: number;
  raw: number;
  tensor: number;
  embed: number;
  /** Medians of the per-round ratios SDK / raw (images per second). */
  tensorRatio: number;
  embedRatio: number;
}

async function main(): Promise<void> {
  const images = await photos(32);
  ortWeb.env.wasm.numThreads = THREADS;
  const rows: Row[] = [];
  for (const id of MODELS) {
    const manifest = await loadManifest(id);
    const files = await loadModelFilesNode(manifest);
    // The raw sessions get exactly the graph the SDK runs (the int8 model cut at its features).
    const graph = manifest.output.cut ? cutModel(files.model, { tensor: manifest.output.tensor }) : { bytes: files.model, outputName: manifest.output.tensor };
    for (const runtime of RUNTIMES) {
      const sdk = await OnnxImageBackbone.create(manifest, files, { device: runtime, threads: THREADS, maxBatchSize: 32 });
      const raw =
        runtime === 'node'
          ? await ortNode.InferenceSession.create(graph.bytes, { intraOpNumThreads: THREADS, graphOptimizationLevel: 'all' })
          : await ortWeb.InferenceSession.create(graph.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const Tensor = runtime === 'node' ? ortNode.Tensor : ortWeb.Tensor;
      for (const batch of BATCHES) {
        const batchImages = images.slice(0, batch);
        const { data, dims } = imagesToTensor(batchImages, manifest.input.image);
        const runRaw = async () => {
          const out = await raw.run({ [manifest.input.name]: new Tensor('float32', data, dims) }, [graph.outputName]);
          return out[graph.outputName].data;
        };
        const runTensor = () => sdk.embedTensor(data, dims);
        const runEmbed = () => sdk.embed(batchImages);
        // About a third of a second of work per timed loop on this machine's 2 cores.
        const reps = runtime === 'node' ? (batch === 1 ? 16 : 4) : batch === 1 ? 4 : 1;
        const loop = (fn: () => Promise<unknown>) => time(async () => {
          for (let r = 0; r < reps; r++) await fn();
        });
        const variants = { raw: runRaw, tensor: runTensor, embed: runEmbed };
        const names = Object.keys(variants) as (keyof typeof variants)[];
        for (const name of names) await loop(variants[name]);
        // Each round times all three, in an order rotated every round; a ratio is taken within a
        // round, so a slow stretch of the machine hits both sides of it.
        const t: Record<keyof typeof variants, number[]> = { raw: [], tensor: [], embed: [] };
        const ratios: Record<'tensor' | 'embed', number[]> = { tensor: [], embed: [] };
        for (let round = 0; round < ROUNDS; round++) {
          const ms = {} as Record<keyof typeof variants, number>;
          for (let k = 0; k < names.length; k++) {
            const name = names[(round + k) % names.length];
            ms[name] = await loop(variants[name]);
            t[name].push(ms[name]);
          }
          ratios.tensor.push(ms.raw / ms.tensor);
          ratios.embed.push(ms.raw / ms.embed);
        }
        const ips = (ms: number[]) => (batch * reps * 1000) / median(ms);
        rows.push({
          model: id, runtime, batch,
          raw: ips(t.raw), tensor: ips(t.tensor), embed: ips(t.embed),
          tensorRatio: median(ratios.tensor), embedRatio: median(ratios.embed),
        });
        const last = rows[rows.length - 1];
        console.log(
          `${id.padEnd(18)} ${runtime.padEnd(5)} batch ${String(batch).padStart(2)}  raw ${last.raw.toFixed(1).padStart(6)} img/s | ` +
            `sdk.embedTensor ${last.tensor.toFixed(1).padStart(6)} (${last.tensorRatio.toFixed(2)}×) | ` +
            `sdk.embed ${last.embed.toFixed(1).padStart(6)} (${last.embedRatio.toFixed(2)}×)`,
        );
      }
      await sdk.dispose();
      await raw.release();
    }
  }
  console.log(`\n${ROUNDS} rounds, order rotated each round; img/s are medians; ${THREADS} threads; inputs: 32 CIFAR-10 photos (32x32 JPEG) → 224x224.`);
  console.log('Ratios are medians of the per-round SDK / raw images per second on the same runtime (target ≥ 0.9).');
}

await main();
