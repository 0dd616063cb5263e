/**
 * Runs inside Chromium for `npm run bench:browser`: the same photos through (a) the SDK's image
 * backbone, (b) a raw onnxruntime-web session on the exact graph the SDK runs, and (c) MobileNetV2
 * on TF.js with the WASM backend (nsfwjs's model: the Teachable Machine stack). The harness
 * calls these functions and times nothing itself.
 */
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import { OnnxImageBackbone, cutModel, fetchModelFiles, imagesToTensor, parseManifest, type DecodedImage, type ImageManifest } from '../../src/index.js';

interface Setup {
  manifest: unknown;
  modelUrl: string;
  threads: number;
  images: Array<{ width: number; height: number; data: number[] }>;
}

let sdk: OnnxImageBackbone | undefined;
let raw: ort.InferenceSession | undefined;
let rawOutput = '';
let images: DecodedImage[] = [];
let manifest: ImageManifest;
let layers: tf.LayersModel | undefined;

async function benchSetup(req: Setup): Promise<{ isolated: boolean; threads: number }> {
  manifest = parseManifest(req.manifest, 'image');
  images = req.images.map((r) => ({ width: r.width, height: r.height, channels: 3, data: Uint8Array.from(r.data) }));
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = req.threads;
  const model = new Uint8Array(await (await fetch(req.modelUrl)).arrayBuffer());
  await sdk?.dispose();
  await raw?.release();
  sdk = await OnnxImageBackbone.create(manifest, { model }, { device: 'wasm', wasmPaths: '/ort/', threads: req.threads });
  // The raw session gets exactly the graph the SDK runs (the int8 model cut at its features).
  const graph = manifest.output.cut ? cutModel(model, { tensor: manifest.output.tensor }) : { bytes: model, outputName: manifest.output.tensor };
  rawOutput = graph.outputName;
  raw = await ort.InferenceSession.create(graph.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return { isolated: globalThis.crossOriginIsolated === true, threads: ort.env.wasm.numThreads ?? 1 };
}

async function benchSetupTfjs(threads: number): Promise<void> {
  setWasmPaths('/tfjs-wasm/');
  setThreadsCount(threads);
  await tf.setBackend('wasm');
  await tf.ready();
  layers ??= await tf.loadLayersModel('/nsfw/model.json');
}

/** One pass over the photos in batches of `batch`; returns the number of images embedded. */
async function benchRun(kind: 'sdk' | 'raw' | 'tfjs', batch: number): Promise<number> {
  for (let i = 0; i < images.length; i += batch) {
    const slice = images.slice(i, i + batch);
    if (kind === 'sdk') await sdk!.embed(slice);
    else if (kind === 'raw') {
      // Raw gets the SDK's preprocessing too, so both sides do the same work.
      const { data, dims } = imagesToTensor(slice, manifest.input.image);
      const out = await raw!.run({ [manifest.input.name]: new ort.Tensor('float32', data, dims) }, [rawOutput]);
      out[rawOutput].dispose();
    } else {
      const { data } = imagesToTensor(slice, { ...manifest.input.image, layout: 'NHWC' });
      const input = tf.tensor4d(data, [slice.length, 224, 224, 3]);
      const out = layers!.predict(input) as tf.Tensor;
      await out.data();
      tf.dispose([input, out]);
    }
  }
  return images.length;
}

/** Backbone load: first visit (network + sha256 + session) and a second one from the Cache API. */
async function benchLoad(manifestJson: unknown, url: string): Promise<{ firstMs: number; cachedMs: number }> {
  const m = parseManifest(manifestJson, 'image');
  await caches.delete('edgehead-bench');
  const load = async () => {
    const start = performance.now();
    const files = await fetchModelFiles(m, { urls: { model: url }, cacheName: 'edgehead-bench' });
    const backbone = await OnnxImageBackbone.create(m, files, { device: 'wasm', wasmPaths: '/ort/' });
    const ms = performance.now() - start;
    await backbone.dispose();
    return ms;
  };
  const firstMs = await load();
  return { firstMs, cachedMs: await load() };
}

Object.assign(globalThis, { benchSetup, benchSetupTfjs, benchRun, benchLoad });
