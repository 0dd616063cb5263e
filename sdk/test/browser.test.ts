/**
 * The SDK's browser build in Debian's Chromium: WASM embeddings match onnxruntime-node's, and
 * the WebGPU execution provider (SwiftShader adapter) matches within tolerance.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxImageBackbone } from '../src/backbone/onnx/image-backbone.js';
import { cosineSimilarity } from '../src/core/vector.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import type { DeviceReport } from '../src/backbone/onnx/choose-device.js';
import type { DecodedImage } from '../src/inputs/image/image.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import type { ImageManifest } from '../src/manifest/manifest.js';
import { manifest, REPO, SHARED } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IMAGES = ['cat/0003.jpg', 'ship/0004.jpg', 'horse/0005.jpg'];

let server: Server;
const modelRequests: string[] = [];
let browser: Browser;
let page: Page;
let origin: string;
let bundleDir: string;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.jpg': 'image/jpeg', '.onnx': 'application/octet-stream' };

/** Loopback-only static server: the bundle, onnxruntime-web's wasm files, models and photos. */
function serve(): Promise<string> {
  const roots: Record<string, string> = {
    '/app/': bundleDir,
    '/ort/': join(REPO, 'node_modules', 'onnxruntime-web', 'dist'),
    '/models/': join(SHARED, 'models'),
    '/cifar/': join(SHARED, 'data', 'cifar10', 'test'),
  };
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/app/page.js"></script>');
      return;
    }
    if (url.pathname.startsWith('/models/')) modelRequests.push(url.pathname);
    const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p));
    if (!prefix) return void res.writeHead(404).end();
    const path = normalize(join(roots[prefix], decodeURIComponent(url.pathname.slice(prefix.length))));
    if (!path.startsWith(roots[prefix])) return void res.writeHead(403).end();
    try {
      const body = await readFile(path);
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

let raw: DecodedImage[];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH).`);
  bundleDir = await mkdtemp(join(tmpdir(), 'edgehead-browser-'));
  await build({
    entryPoints: [join(REPO, 'sdk', 'test', 'browser', 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: join(bundleDir, 'page.js'),
    // No externals: the root entry must bundle for browsers as it is.
    logLevel: 'error',
  });
  origin = await serve();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--enable-features=Vulkan',
    ],
  });
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(origin);
  await page.waitForFunction(() => 'edgeheadEmbed' in globalThis);
  raw = await Promise.all(IMAGES.map((p) => readImageFile(join(SHARED, 'data', 'cifar10', 'test', p))));
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

type EmbedResult = { device: string; embeddings: number[][]; report?: DeviceReport; warnings: string[]; error?: undefined } | { error: string };

async function inBrowser(id: string, device: 'wasm' | 'webgpu' | 'auto', mode: 'raw' | 'urls') {
  const result = await inBrowserResult(id, device, mode);
  if (result.error !== undefined) throw new Error(result.error);
  return result;
}

async function inBrowserResult(id: string, device: 'wasm' | 'webgpu' | 'auto', mode: 'raw' | 'urls' | 'none'): Promise<EmbedResult> {
  const m = manifest(id) as ImageManifest;
  const file = (m.files.model.sources.find((s) => 'shared' in s) as { shared: string }).shared;
  return page.evaluate((req) => (globalThis as any).edgeheadEmbed(req), {
    manifest: m,
    modelUrl: `${origin}/${file}`,
    device,
    raw: mode === 'raw' ? raw.map((r) => ({ width: r.width, height: r.height, data: Array.from(r.data) })) : undefined,
    urls: mode === 'urls' ? IMAGES.map((p) => `${origin}/cifar/${p}`) : undefined,
  }) as Promise<EmbedResult>;
}

async function inNode(id: string) {
  const m = manifest(id) as ImageManifest;
  const b = await OnnxImageBackbone.create(m, await loadModelFilesNode(m), { device: 'node' });
  try {
    return await b.embed(raw);
  } finally {
    await b.dispose();
  }
}

describe('browser build in Chromium', () => {
  it('WASM embeddings equal onnxruntime-node on the same pixels (int8 model cut in the browser)', async () => {
    const [browserOut, nodeOut] = await Promise.all([inBrowser('mobilenetv2-int8', 'wasm', 'raw'), inNode('mobilenetv2-int8')]);
    expect(browserOut.device).toBe('wasm');
    browserOut.embeddings.forEach((e, i) => {
      expect(e).toHaveLength(1280);
      expect(cosineSimilarity(e, nodeOut[i])).toBeGreaterThanOrEqual(0.999);
    });
  });

  it('images decoded by the browser (Blob → canvas) embed like sharp-decoded ones', async () => {
    const [browserOut, nodeOut] = await Promise.all([inBrowser('mobilenetv2-fp32', 'wasm', 'urls'), inNode('mobilenetv2-fp32')]);
    browserOut.embeddings.forEach((e, i) => expect(cosineSimilarity(e, nodeOut[i])).toBeGreaterThanOrEqual(0.99));
  });

  it('model files are fetched once, sha256-checked, then served from the Cache API; a bad hash is refused', async () => {
    const m = manifest('mobilenetv2-int8');
    const before = modelRequests.length;
    const ok = (await page.evaluate(([mm, url]) => (globalThis as any).edgeheadFetchTwice(mm, url, false), [m, `${origin}/models/mobilenetv2-12-int8.onnx`] as const)) as { sizes: number[] };
    expect(ok.sizes).toEqual([3655640, 3655640]);
    expect(modelRequests.length - before).toBe(1);
    const bad = (await page.evaluate(([mm, url]) => (globalThis as any).edgeheadFetchTwice(mm, url, true), [m, `${origin}/models/mobilenetv2-12-int8.onnx`] as const)) as { error?: string };
    expect(bad.error).toMatch(/^IntegrityError: Integrity check failed/);
  });

  it('the WebGPU execution provider (SwiftShader) matches within tolerance', async () => {
    const hasAdapter = await page.evaluate(async () => !!(await (navigator as any).gpu?.requestAdapter()));
    expect(hasAdapter, 'Chromium exposed no WebGPU adapter; check the --enable-unsafe-webgpu flags').toBe(true);
    const [gpu, nodeOut] = await Promise.all([inBrowser('mobilenetv2-fp32', 'webgpu', 'raw'), inNode('mobilenetv2-fp32')]);
    expect(gpu.device).toBe('webgpu');
    const probe = gpu.report?.candidates.find((c) => c.device === 'webgpu');
    expect(probe?.ok).toBe(true);
    expect(probe?.cosine).toBeGreaterThanOrEqual(0.999);
    gpu.embeddings.forEach((e, i) => expect(cosineSimilarity(e, nodeOut[i])).toBeGreaterThanOrEqual(0.999));
  });

  it('WebGPU that gives wrong numbers (int8 model on SwiftShader) is refused when asked for and skipped by auto', async () => {
    const asked = await inBrowserResult('mobilenetv2-int8', 'webgpu', 'none');
    expect(asked.error).toMatch(/^BackendUnavailableError: WebGPU cannot be used .*cosine/);
    const auto = await inBrowser('mobilenetv2-int8', 'auto', 'raw');
    expect(auto.device).toBe('wasm');
    const gpu = auto.report?.candidates.find((c) => c.device === 'webgpu');
    expect(gpu?.ok).toBe(false);
    expect(gpu?.cosine).toBeLessThan(0.999);
    expect(auto.warnings.join('\n')).toMatch(/WebGPU rejected/);
    const nodeOut = await inNode('mobilenetv2-int8');
    auto.embeddings.forEach((e, i) => expect(cosineSimilarity(e, nodeOut[i])).toBeGreaterThanOrEqual(0.999));
  });
});
