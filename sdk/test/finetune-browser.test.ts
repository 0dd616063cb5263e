/**
 * Fine-tuning in Debian's Chromium: the translated top of MobileNetV2 (fp32) gives onnxruntime's
 * embeddings there too, and a seeded fine-tune on the same activations follows the same losses
 * as in Node (tfjs-backend-wasm in both). The activations come from onnxruntime-node.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockOutputs, cutModel, summarizeModel } from '../src/backbone/onnx/graph.js';
import { OnnxSession } from '../src/backbone/onnx/session.js';
import { fineTune, loadTrainingTf, translateTop } from '../src/finetune/index.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { imagesToTensor } from '../src/inputs/image/image.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import type { ImageManifest } from '../src/manifest/manifest.js';
import { cifar, manifest, REPO, SHARED } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CLASSES = ['cat', 'ship'];
const EPOCHS = 2;

let server: Server;
let browser: Browser;
let origin: string;

function serve(bundleDir: string): Promise<string> {
  const roots: Record<string, string> = {
    '/app/': bundleDir,
    '/tfjs/': join(REPO, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist'),
    '/models/': join(SHARED, 'models'),
  };
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/app/page.js"></script>');
    const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p));
    if (!prefix) return void res.writeHead(404).end();
    const path = normalize(join(roots[prefix], decodeURIComponent(url.pathname.slice(prefix.length))));
    if (!path.startsWith(roots[prefix])) return void res.writeHead(403).end();
    try {
      const types: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm' };
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(await readFile(path));
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH).`);
  const bundleDir = await mkdtemp(join(tmpdir(), 'edgehead-finetune-browser-'));
  await build({ entryPoints: [join(REPO, 'sdk', 'test', 'browser', 'finetune-page.ts')], bundle: true, format: 'esm', platform: 'browser', outfile: join(bundleDir, 'page.js'), logLevel: 'error' });
  origin = await serve(bundleDir);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe('fine-tuning in the browser (Chromium, tfjs-backend-wasm)', () => {
  it("the translated top gives onnxruntime's embeddings, and a seeded fine-tune follows Node's losses", async () => {
    const m = manifest('mobilenetv2-fp32') as ImageManifest;
    const model = (await loadModelFilesNode(m)).model;
    const blocks = blockOutputs(summarizeModel(model));
    const from = blocks[blocks.length - 1];
    const photos = await Promise.all(CLASSES.flatMap((c) => Array.from({ length: 10 }, (_, i) => readImageFile(cifar('train', c, i)))));
    const labels = CLASSES.flatMap((c) => Array<string>(10).fill(c));
    const input = imagesToTensor(photos, m.input.image);
    const feeds = { [m.input.name]: { type: 'float32' as const, data: input.data, dims: input.dims } };
    // The reference: onnxruntime-node, below the cut and on the whole model.
    const cut = cutModel(model, { tensor: from });
    const below = await OnnxSession.create(cut.bytes, 'below the cut', { device: 'node' });
    const whole = await OnnxSession.create(model, 'whole model', { device: 'node' });
    const activations = (await below.run(feeds, [cut.outputName]))[cut.outputName];
    const features = (await whole.run(feeds, [m.output.tensor]))[m.output.tensor];
    await below.release();
    await whole.release();

    // The same seeded fine-tune in Node.
    const tf = await loadTrainingTf();
    const nodeTop = translateTop(tf, model, { from, to: m.output.tensor });
    const inNode = await fineTune(tf, nodeTop, activations, labels, { epochs: EPOCHS, seed: 0 });
    nodeTop.dispose();

    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(origin);
    await page.waitForFunction(() => 'edgeheadFineTune' in globalThis);
    const file = (m.files.model.sources.find((s) => 'shared' in s) as { shared: string }).shared;
    const probeRows = 4;
    const result = (await page.evaluate((req) => (globalThis as any).edgeheadFineTune(req), {
      modelUrl: `${origin}/${file}`,
      from,
      to: m.output.tensor,
      dims: activations.dims,
      activations: Array.from(activations.data),
      labels,
      probeRows,
      epochs: EPOCHS,
    })) as { error?: string; backend: string; untrained: number[]; history: Array<{ trainLoss: number; validationLoss: number }>; bestEpoch: number };
    await page.close();
    if (result.error) throw new Error(result.error);
    expect(result.backend).toBe('wasm');
    const dim = features.data.length / features.dims[0];
    let maxDiff = 0;
    for (let i = 0; i < probeRows * dim; i++) maxDiff = Math.max(maxDiff, Math.abs(result.untrained[i] - features.data[i]));
    console.log(`browser: translated top vs onnxruntime-node, max |diff| ${maxDiff.toExponential(2)}; losses ${result.history.map((h) => h.trainLoss.toFixed(4)).join(', ')} (Node: ${inNode.history.map((h) => h.trainLoss.toFixed(4)).join(', ')})`);
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    expect(result.history).toHaveLength(inNode.history.length);
    result.history.forEach((h, i) => {
      expect(h.trainLoss).toBeCloseTo(inNode.history[i].trainLoss, 4);
      expect(h.validationLoss).toBeCloseTo(inNode.history[i].validationLoss, 4);
    });
  }, 300_000);
});
