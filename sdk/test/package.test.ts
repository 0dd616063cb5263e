/**
 * The package as a user meets it: `npm pack` the SDK, install the tarball into a fresh project
 * outside the repository, and there type-check every `ts` block of the READMEs and guides as it
 * would be pasted (strict, `bundler` and `nodenext` resolution), run the Node quick start
 * compiled by tsc on the real MobileNetV2 given through EDGEHEAD_MODEL_DIR, and bundle the
 * browser guide's page with esbuild and with Vite and run it in Chromium.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosineSimilarity } from '../src/core/vector.js';
import { REPO, SHARED, cifar } from './helpers.js';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DOCS = ['README.md', 'sdk/README.md', ...(await readdir(join(REPO, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

let work: string;
let app: string;
const env = () => {
  // A user's machine: no shared folder, no repository, an empty cache, models from a folder of their own.
  const { EDGEHEAD_SHARED_DIR: _s, EDGEHEAD_MANIFESTS_DIR: _m, EDGEHEAD_REPO: _r, ...rest } = process.env;
  return { ...rest, HOME: join(work, 'home'), EDGEHEAD_MODEL_DIR: join(SHARED, 'models'), ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' };
};

async function snippets() {
  const out: Array<{ name: string; code: string; browser: boolean }> = [];
  for (const doc of DOCS) {
    const text = await readFile(join(REPO, doc), 'utf8');
    let i = 0;
    for (const m of text.matchAll(/```ts\n([\s\S]*?)```/g)) out.push({ name: `${doc.replace(/[/.]/g, '_')}_${i++}`, code: m[1], browser: m[1].startsWith('// browser') });
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgehead-consumer-'));
  app = join(work, 'app');
  await mkdir(app, { recursive: true });
  await mkdir(join(work, 'home'));
  const packed = JSON.parse((await run('npm', ['pack', '-w', 'sdk', '--pack-destination', work, '--json'], { cwd: REPO })).stdout) as Array<{ filename: string }>;
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // npm's cache already holds these from the repository's install; the registry is the fallback.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed[0].filename), '@types/node@20'], { cwd: app, env: env(), maxBuffer: 64 << 20 });
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package in a fresh project', () => {
  it('ships README, LICENSE, code and the catalogue, and no source maps or tests', async () => {
    const pkg = join(app, 'node_modules', 'edgehead');
    for (const f of ['README.md', 'LICENSE', 'package.json', 'dist/index.js', 'dist/node.js', 'dist/heads/index.js', 'dist/manifests/mobilenetv2-int8.json']) {
      expect((await stat(join(pkg, f))).isFile(), f).toBe(true);
    }
    const files = (await readdir(pkg, { recursive: true })).map(String);
    expect(files.filter((f) => f.endsWith('.map') || f.includes('test'))).toEqual([]);
    // Only backbones a package user can obtain are listed.
    expect((await readdir(join(pkg, 'dist', 'manifests'))).sort()).toEqual(['mobilenetv2-int8.json', 'openwakeword-embedding.json', 'use-lite.json']);
  });

  it('every ts block of the READMEs and guides type-checks, strict, with bundler and nodenext resolution', async () => {
    const dir = join(app, 'snippets');
    await mkdir(dir, { recursive: true });
    for (const s of await snippets()) await writeFile(join(dir, `${s.name}.ts`), s.code);
    const base = { strict: true, target: 'ES2022', lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: ['node'], noEmit: true, skipLibCheck: false, moduleDetection: 'force' };
    for (const [name, resolution] of [['bundler', { module: 'ESNext', moduleResolution: 'bundler' }], ['nodenext', { module: 'NodeNext', moduleResolution: 'NodeNext' }]] as const) {
      await writeFile(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: { ...base, ...resolution }, include: ['snippets'] }));
      const tsc = run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${name}.json`], { cwd: app });
      await expect(tsc.catch((e: { stdout: string }) => Promise.reject(new Error(`${name}:\n${e.stdout}`)))).resolves.toBeTruthy();
    }
  });

  it("the package README's Node flow runs from tsc output: embeds on onnxruntime-node, fits, saves, loads, predicts", async () => {
    const flow = (await snippets()).find((s) => s.name.startsWith('sdk_README') && s.code.includes('parseHead'));
    expect(flow, 'sdk/README.md has the Node flow').toBeDefined();
    const dir = join(app, 'flow');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'main.ts'), flow!.code);
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], outDir: 'out' }, include: ['main.ts'] }));
    await run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir });
    // The snippet's file names, filled with real photos; the query is a cat it has not seen.
    const photos: Record<string, string> = { 'cat-1.jpg': cifar('train', 'cat', 0), 'cat-2.jpg': cifar('train', 'cat', 1), 'dog-1.jpg': cifar('train', 'dog', 0), 'dog-2.jpg': cifar('train', 'dog', 1), 'query.jpg': cifar('test', 'cat', 5) };
    for (const [name, src] of Object.entries(photos)) await copyFile(src, join(dir, name));
    const { stdout, stderr } = await run(process.execPath, ['out/main.js'], { cwd: dir, env: env() });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('mobilenetv2-int8: 1280-d on node');
    expect(lines[1]).toMatch(/^(cat|dog) \d\.\d\d$/);
    expect(stderr).not.toMatch(/onnxruntime-node could not be loaded/);
  }, 120_000);
});

describe('the browser guide page, bundled from the installed package', () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.jpg': 'image/jpeg' };
  let siteRoot = '';

  beforeAll(async () => {
    const page = (await snippets()).find((s) => s.browser);
    expect(page, 'docs/browser.md has a page').toBeDefined();
    const src = join(app, 'page');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'main.ts'), page!.code);
    await writeFile(join(src, 'index.html'), '<!doctype html><meta charset="utf-8"><body><script type="module" src="./main.ts"></script></body>');
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const roots: Record<string, string> = {
        '/ort/': join(app, 'node_modules', 'onnxruntime-web', 'dist'),
        '/models/': join(SHARED, 'models'),
        '/photos/': join(SHARED, 'data', 'cifar10', 'train'),
        '/': siteRoot,
      };
      const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p))!;
      const path = normalize(join(roots[prefix], url.pathname.slice(prefix.length) || 'index.html'));
      try {
        const body = await readFile(path);
        res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    origin = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  async function runPage(dir: string): Promise<{ device: string; labels: string[]; embeddings: number[][] }> {
    siteRoot = dir;
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    try {
      await tab.goto(origin);
      await tab.waitForFunction(() => 'edgeheadPage' in globalThis, undefined, { timeout: 90_000 }).catch(() => {
        throw new Error(`the page did not finish: ${errors.join('; ') || 'no page error'}`);
      });
      return (await tab.evaluate(() => (globalThis as unknown as { edgeheadPage: unknown }).edgeheadPage)) as { device: string; labels: string[]; embeddings: number[][] };
    } finally {
      await tab.close();
    }
  }

  async function nodeEmbeddings(): Promise<number[][]> {
    // The same photos embedded by the installed package in Node (sharp decoding, onnxruntime-node).
    const script = join(app, 'node-embed.mjs');
    await writeFile(
      script,
      `import { loadBackbone, readImageFile } from 'edgehead/node';
const { backbone } = await loadBackbone('mobilenetv2-int8');
const out = await backbone.embed(await Promise.all(process.argv.slice(2).map(readImageFile)));
console.log(JSON.stringify(out.map((e) => Array.from(e))));
await backbone.dispose();`,
    );
    const { stdout } = await run(process.execPath, [script, cifar('train', 'cat', 10), cifar('train', 'ship', 10)], { cwd: app, env: env(), maxBuffer: 16 << 20 });
    return JSON.parse(stdout) as number[][];
  }

  function expectSameAsNode(result: { device: string; labels: string[]; embeddings: number[][] }, node: number[][]) {
    expect(result.device).toBe('wasm');
    expect(result.labels).toEqual(['cat', 'ship']);
    // Browser JPEG decoding (canvas) differs from sharp's by a few grey levels on 32-px photos.
    for (let i = 0; i < node.length; i++) expect(cosineSimilarity(Float32Array.from(result.embeddings[i]), Float32Array.from(node[i]))).toBeGreaterThanOrEqual(0.99);
  }

  it('esbuild --platform=browser, no externals', async () => {
    const out = join(app, 'dist-esbuild');
    await esbuild({ absWorkingDir: app, entryPoints: [join(app, 'page', 'main.ts')], bundle: true, minify: true, format: 'esm', platform: 'browser', splitting: true, outdir: out, logLevel: 'error' });
    await writeFile(join(out, 'index.html'), '<!doctype html><meta charset="utf-8"><body><script type="module" src="./main.js"></script></body>');
    const [result, node] = await Promise.all([runPage(out), nodeEmbeddings()]);
    expectSameAsNode(result, node);
  }, 180_000);

  it('Vite build', async () => {
    const { build } = await import('vite');
    const out = join(app, 'dist-vite');
    await build({ root: join(app, 'page'), logLevel: 'error', build: { outDir: out, target: 'es2022', emptyOutDir: true }, configFile: false });
    const [result, node] = await Promise.all([runPage(out), nodeEmbeddings()]);
    expectSameAsNode(result, node);
  }, 180_000);
});

describe('the installed package, continued', () => {
  it('error names survive minification', async () => {
    const entry = join(app, 'names.mjs');
    await writeFile(entry, "import { IntegrityError, NotFoundError } from 'edgehead';\nconsole.log(new IntegrityError('f', 'a', 'b').name, new NotFoundError('x').name);");
    await esbuild({ absWorkingDir: app, entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', outfile: join(app, 'names.min.mjs'), logLevel: 'error' });
    const { stdout } = await run(process.execPath, [join(app, 'names.min.mjs')], { cwd: app });
    expect(stdout.trim()).toBe('IntegrityError NotFoundError');
  });

  it('the CLI lists the shipped catalogue, and `serve` says it needs a repository checkout', async () => {
    const bin = join(app, 'node_modules', '.bin', 'edgehead');
    const { stdout } = await run(bin, ['models', 'list', '--json'], { cwd: app, env: env() });
    expect((JSON.parse(stdout) as Array<{ id: string }>).map((m) => m.id).sort()).toEqual(['mobilenetv2-int8', 'openwakeword-embedding', 'use-lite']);
    const serve = await run(bin, ['serve'], { cwd: app, env: env() }).catch((e: { code: number; stderr: string }) => e);
    expect((serve as { code: number }).code).not.toBe(0);
    expect((serve as { stderr: string }).stderr).toMatch(/repository checkout.*demo --no-worker/s);
  });

  it('a Worker that imports edgehead/heads bundles without Node modules and, under wrangler dev, predicts as Node does', async () => {
    // Node: embed real photos with the installed package, fit a linear head, predict.
    const classes = ['airplane', 'cat', 'ship'];
    const train = classes.flatMap((c) => [0, 1, 2, 3, 4].map((i) => ({ label: c, path: cifar('train', c, i) })));
    const queries = classes.flatMap((c) => [0, 1].map((i) => cifar('test', c, i)));
    const script = join(app, 'node-head.mjs');
    await writeFile(
      script,
      `import { fitHead, headToJson, KnnHead, loadBackbone, readImageFile } from 'edgehead/node';
const { train, queries } = JSON.parse(process.argv[2]);
const { backbone } = await loadBackbone('mobilenetv2-int8');
const x = await backbone.embed(await Promise.all(train.map((t) => readImageFile(t.path))));
const { head } = await fitHead(x, train.map((t) => t.label), { head: 'linear' });
const q = await backbone.embed(await Promise.all(queries.map(readImageFile)));
// A kNN head large enough for the search kernel: the photos and scaled copies of them.
const copies = [1, 0.9, 0.8, 0.7].flatMap((s) => x.map((e) => e.map((v, j) => v * s * (1 + 0.01 * Math.sin(j * s)))));
const knn = KnnHead.fit(copies, copies.map((_, i) => train[i % train.length].label), { k: 3 });
console.log(JSON.stringify({ head: headToJson(head), knn: headToJson(knn), knnInWasm: knn.searchesInWebAssembly, queries: q.map((e) => Array.from(e)), predictions: head.predict(q), knnPredictions: knn.predict(q) }));
await backbone.dispose();`,
    );
    type Answer = Array<{ label: string; probability: number; distance?: number }>;
    const node = JSON.parse((await run(process.execPath, [script, JSON.stringify({ train, queries })], { cwd: app, env: env(), maxBuffer: 64 << 20 })).stdout) as {
      head: string;
      knn: string;
      knnInWasm: boolean;
      queries: number[][];
      predictions: Answer;
      knnPredictions: Answer;
    };
    expect(node.knnInWasm).toBe(true);

    const worker = join(app, 'worker');
    await mkdir(join(worker, 'src'), { recursive: true });
    await writeFile(
      join(worker, 'src', 'index.ts'),
      `import { KnnHead, parseHead, useSimilarityKernel } from 'edgehead/heads';
// @ts-expect-error -- wrangler compiles imported .wasm files into modules (no types here).
import similarityWasm from 'edgehead/wasm/similarity.wasm';

useSimilarityKernel(similarityWasm);

export default {
  async fetch(request: Request): Promise<Response> {
    const { head, embeddings } = (await request.json()) as { head: string; embeddings: number[][] };
    const parsed = parseHead(head).head;
    return Response.json({ predictions: parsed.predict(embeddings), inWasm: parsed instanceof KnnHead && parsed.searchesInWebAssembly });
  },
};
`,
    );
    await writeFile(join(worker, 'wrangler.toml'), 'name = "consumer"\nmain = "src/index.ts"\ncompatibility_date = "2026-04-20"\n');
    const wrangler = join(REPO, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
    const wenv = { ...env(), WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };
    const dry = await run(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', 'bundle'], { cwd: worker, env: wenv });
    expect(`${dry.stdout}${dry.stderr}`).not.toMatch(/node:|Could not resolve/);
    const bundle = await stat(join(worker, 'bundle', 'index.js'));
    expect(bundle.size).toBeLessThan(200_000);

    const { freePort } = await import('../src/cli/local-worker.js');
    const port = await freePort();
    const { spawn } = await import('node:child_process');
    // Its own inspector port too: other tests run wrangler dev at the same time.
    const dev = spawn(process.execPath, [wrangler, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', join(worker, '.state')], { cwd: worker, env: wenv, stdio: 'ignore' });
    try {
      let answer: Response | undefined;
      for (let i = 0; i < 240 && !answer; i++) {
        answer = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify({ head: node.head, embeddings: node.queries }) }).catch(() => undefined);
        if (!answer) await new Promise((r) => setTimeout(r, 250));
      }
      expect(answer?.status).toBe(200);
      const fromWorker = ((await answer!.json()) as { predictions: Answer }).predictions;
      expect(fromWorker.map((p) => p.label)).toEqual(node.predictions.map((p) => p.label));
      fromWorker.forEach((p, i) => expect(p.probability).toBeCloseTo(node.predictions[i].probability, 6));
      // The kNN head searches on the kernel the Worker imported, with Node's answers.
      const knn = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify({ head: node.knn, embeddings: node.queries }) });
      const knnAnswer = (await knn.json()) as { predictions: Answer; inWasm: boolean };
      expect(knnAnswer.inWasm).toBe(true);
      expect(knnAnswer.predictions).toEqual(node.knnPredictions);
    } finally {
      dev.kill('SIGTERM');
    }
  }, 180_000);

  it('without onnxruntime-node, device auto runs on WASM and says so once on stderr, with the fix', async () => {
    await rm(join(app, 'node_modules', 'onnxruntime-node'), { recursive: true, force: true });
    const { stdout, stderr } = await run(process.execPath, ['out/main.js'], { cwd: join(app, 'flow'), env: env() });
    expect(stdout.split('\n')[0]).toBe('mobilenetv2-int8: 1280-d on wasm');
    expect(stderr.match(/onnxruntime-node could not be loaded/g)).toHaveLength(1);
    expect(stderr).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm i onnxruntime-node');
  }, 120_000);
});
