/**
 * `npm run bench:browser`: MobileNetV2 images/s in headless Chromium on the same page and the
 * same photos — the SDK (onnxruntime-web WASM) vs a raw onnxruntime-web session on the same
 * graph, and vs MobileNetV2 on TF.js's WASM backend (nsfwjs's model, the Teachable Machine
 * stack) — with 1 and 2 threads (the page is cross-origin isolated). Rounds alternate the three
 * so machine noise hits all alike; medians and ratios are printed. Also: backbone load time
 * (first visit vs Cache API), per-image time in Node (onnxruntime-node) for the same photos, and
 * the bytes a Vite build of docs/browser.md's page ships with and without WebGPU.
 */
import { mkdtemp, readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';
import { build as esbuild } from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { OnnxImageBackbone } from '../src/backbone/onnx/image-backbone.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { defaultSharedDir, loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest } from '../src/manifest/manifest.js';

const REPO = join(import.meta.dirname, '..', '..');
const SHARED = defaultSharedDir();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const N_IMAGES = 8;
const require = createRequire(import.meta.url);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function manifest(id: string) {
  return parseManifest(JSON.parse(await readFile(join(REPO, 'models', 'manifests', `${id}.json`), 'utf8')), 'image');
}

/** nsfwjs ships its Keras-format MobileNetV2 as UMD scripts; serve it as model.json + weights.bin. */
function nsfwModel(): { json: string; weights: Buffer } {
  const dir = join(REPO, 'node_modules', 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
  const topology = require(join(dir, 'model.min.js')) as { modelTopology: unknown; weightsManifest: Array<{ paths: string[] }> };
  const weights = Buffer.from(require(join(dir, 'group1-shard1of1.min.js')) as string, 'base64');
  const weightsManifest = topology.weightsManifest.map((g) => ({ ...g, paths: ['weights.bin'] }));
  return { json: JSON.stringify({ modelTopology: topology.modelTopology, weightsManifest }), weights };
}

async function dirBytes(dir: string): Promise<{ total: number; wasm: string[] }> {
  let total = 0;
  const wasm: string[] = [];
  for (const f of await readdir(dir, { recursive: true })) {
    const s = await stat(join(dir, String(f)));
    if (!s.isFile()) continue;
    total += s.size;
    if (String(f).endsWith('.wasm')) wasm.push(`${String(f).split('/').pop()} ${(s.size / 1e6).toFixed(1)} MB`);
  }
  return { total, wasm };
}

async function viteSizes(): Promise<void> {
  const { build } = await import('vite');
  const doc = await readFile(join(REPO, 'docs', 'browser.md'), 'utf8');
  const page = doc.match(/```ts\n(\/\/ browser[\s\S]*?)```/)?.[1];
  if (!page) throw new Error('docs/browser.md has no browser page');
  const root = await mkdtemp(join(REPO, '.cache', 'vite-'));
  await writeFile(join(root, 'main.ts'), page);
  await writeFile(join(root, 'index.html'), '<script type="module" src="./main.ts"></script>');
  console.log('\nVite build of docs/browser.md (minified; JS + emitted assets):');
  for (const [label, alias] of [['default (WASM + WebGPU)', []], ['alias onnxruntime-web → onnxruntime-web/wasm', [{ find: /^onnxruntime-web$/, replacement: 'onnxruntime-web/wasm' }]]] as const) {
    const outDir = join(root, label.startsWith('default') ? 'dist-all' : 'dist-wasm');
    await build({ root, logLevel: 'silent', configFile: false, resolve: { alias: [...alias] }, build: { outDir, target: 'es2022' } });
    const { total, wasm } = await dirBytes(outDir);
    console.log(`  ${label.padEnd(46)} ${(total / 1e6).toFixed(1)} MB in all; wasm: ${wasm.join(', ') || 'none'}`);
  }
}

async function main(): Promise<void> {
  await mkdir(join(REPO, '.cache'), { recursive: true });
  const bundleDir = await mkdtemp(join(REPO, '.cache', 'bench-browser-'));
  await esbuild({ entryPoints: [join(import.meta.dirname, 'browser', 'page.ts')], bundle: true, format: 'esm', platform: 'browser', outfile: join(bundleDir, 'page.js'), logLevel: 'error', minify: true });
  await writeFile(join(bundleDir, 'index.html'), '<!doctype html><script type="module" src="/app/page.js"></script>');
  const nsfw = nsfwModel();
  const roots: Record<string, string> = {
    '/app/': bundleDir,
    '/ort/': join(REPO, 'node_modules', 'onnxruntime-web', 'dist'),
    '/tfjs-wasm/': join(REPO, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist'),
    '/models/': join(SHARED, 'models'),
  };
  const types: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // Cross-origin isolation, so WASM threads are allowed.
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    if (url.pathname === '/') return res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(await readFile(join(bundleDir, 'index.html')));
    if (url.pathname === '/nsfw/model.json') return res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(nsfw.json);
    if (url.pathname === '/nsfw/weights.bin') return res.writeHead(200, headers).end(nsfw.weights);
    const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p));
    try {
      if (!prefix) throw new Error('no route');
      const path = normalize(join(roots[prefix], url.pathname.slice(prefix.length)));
      res.writeHead(200, { ...headers, 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(await readFile(path));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const dir = join(SHARED, 'data', 'cifar10', 'test', 'dog');
  const paths = (await readdir(dir)).sort().slice(0, N_IMAGES).map((f) => join(dir, f));
  const images = await Promise.all(paths.map(readImageFile));
  const payload = images.map((r) => ({ width: r.width, height: r.height, data: Array.from(r.data) }));

  console.log(`bench:browser — Chromium ${browser.version()}, ${N_IMAGES} CIFAR-10 photos (32 px → 224), median of ${ROUNDS} alternating rounds; images/s\n`);
  console.log('model              threads batch      sdk      raw   tfjs(nsfwjs)   sdk/raw  sdk/tfjs');
  const perImageMs: Record<string, number> = {};
  try {
    for (const threads of [1, 2]) {
      // A fresh page per thread count: onnxruntime-web applies numThreads once per page.
      const page: Page = await browser.newPage();
      await page.goto(origin);
      await page.waitForFunction(() => 'benchSetup' in globalThis);
      await page.evaluate((t) => (globalThis as any).benchSetupTfjs(t), threads);
      for (const id of ['mobilenetv2-int8', 'mobilenetv2-fp32']) {
        const m = await manifest(id);
        const file = (m.files.model.sources.find((s) => 'shared' in s) as { shared: string }).shared;
        const setup = (await page.evaluate((req) => (globalThis as any).benchSetup(req), { manifest: m, modelUrl: `${origin}/${file}`, threads, images: payload })) as { isolated: boolean };
        if (threads > 1 && !setup.isolated) console.log('  (page not cross-origin isolated: threads ignored)');
        for (const batch of [1, 8]) {
          const times: Record<string, number[]> = { sdk: [], raw: [], tfjs: [] };
          await page.evaluate((b) => Promise.all([]).then(async () => { for (const k of ['sdk', 'raw', 'tfjs']) await (globalThis as any).benchRun(k, b); }), batch); // warm-up
          for (let r = 0; r < ROUNDS; r++) {
            for (const kind of ['sdk', 'raw', 'tfjs'] as const) {
              const start = performance.now();
              await page.evaluate(([k, b]) => (globalThis as any).benchRun(k, b), [kind, batch] as const);
              times[kind].push(performance.now() - start);
            }
          }
          const rate = (k: string) => (N_IMAGES / median(times[k])) * 1000;
          if (batch === 1) perImageMs[`${id} ${threads}t`] = median(times.sdk) / N_IMAGES;
          console.log(
            `${id.padEnd(18)} ${String(threads).padStart(7)} ${String(batch).padStart(5)} ${rate('sdk').toFixed(1).padStart(8)} ${rate('raw').toFixed(1).padStart(8)} ${rate('tfjs').toFixed(1).padStart(14)} ${(rate('sdk') / rate('raw')).toFixed(2).padStart(9)} ${(rate('sdk') / rate('tfjs')).toFixed(2).padStart(9)}`,
          );
        }
      }
      if (threads === 1) {
        const m = await manifest('mobilenetv2-int8');
        const load = (await page.evaluate(([mm, url]) => (globalThis as any).benchLoad(mm, url), [m, `${origin}/models/mobilenetv2-12-int8.onnx`] as const)) as { firstMs: number; cachedMs: number };
        console.log(`\nbackbone load (int8, fetch + sha256 + session, loopback): first visit ${load.firstMs.toFixed(0)} ms, from the Cache API ${load.cachedMs.toFixed(0)} ms\n`);
      }
      await page.close();
    }
  } finally {
    await browser.close();
    server.close();
  }

  // The same photos in Node, for "Chromium vs Node" per image.
  console.log('\nper image, batch 1 (SDK embed incl. preprocessing):');
  for (const id of ['mobilenetv2-int8', 'mobilenetv2-fp32']) {
    const m = await manifest(id);
    const backbone = await OnnxImageBackbone.create(m, await loadModelFilesNode(m), { device: 'node', threads: 2 });
    await backbone.embed(images.slice(0, 2));
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const start = performance.now();
      for (const image of images) await backbone.embed([image]);
      times.push((performance.now() - start) / N_IMAGES);
    }
    await backbone.dispose();
    const node = median(times);
    console.log(`  ${id.padEnd(18)} Node (onnxruntime-node, 2 threads) ${node.toFixed(1)} ms; Chromium WASM 1 thread ${perImageMs[`${id} 1t`].toFixed(1)} ms (${(perImageMs[`${id} 1t`] / node).toFixed(1)}×), 2 threads ${perImageMs[`${id} 2t`].toFixed(1)} ms`);
  }
  await viteSizes();
}

await main();
