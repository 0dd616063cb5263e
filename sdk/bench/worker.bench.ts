/**
 * `npm run bench:worker`: the worker under `wrangler dev` on 127.0.0.1, driven from another
 * process (bounded in time and count): classify throughput and p50/p99 latency for a batch of
 * 16 × 1280-d embeddings on a 10-class linear head, by explicit version and by alias, beside a bare
 * JSON route on the same worker, in BENCH_ROUNDS (3) rounds of rotated order;
 * then a kNN head of BENCH_KNN_EXAMPLES (10,000) × 1280-d examples uploaded as one head file (in parts),
 * classified at BENCH_KNN_CONCURRENCY (64) beside the linear head at the same concurrency, with
 * 16 embeddings and with 1 embedding per request, with status counts (back-pressure shows as 503 OVERLOADED, never as resets). Then raw inputs
 * (BENCH_RAW=off skips): the worker embeds CIFAR-10 photos (MobileNetV2 int8) and sentences
 * (USE-lite) itself — the first call (loading the backbone from R2) timed apart, then throughput
 * and p50/p99 for 1 and 16 inputs per request beside the embedding route, and the workerd
 * process's resident memory before and after each backbone is loaded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EdgeClient, encodeEmbeddings } from '../src/client/edge-client.js';
import { bootstrapTenant, restartTolerantFetch, startLocalWorker } from '../src/cli/local-worker.js';
import { headToJson } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { readdirSync, readFileSync } from 'node:fs';
import { uploadBackbone } from '../src/cli/remote.js';
import { loadBackbone, resolveManifest } from '../src/node.js';
import type { Backbone } from '../src/backbone/backbone.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 50_000);
const KNN_EXAMPLES = Number(process.env.BENCH_KNN_EXAMPLES ?? 10_000);
const KNN_CONCURRENCY = Number(process.env.BENCH_KNN_CONCURRENCY ?? 64);
const RAW = process.env.BENCH_RAW !== 'off';
/** Rounds of the bare / explicit-version / alias comparison, each in a rotated order. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SHARED = process.env.EDGEHEAD_SHARED_DIR ?? join(import.meta.dirname, '..', '..', '..', 'shared');
const root = join(import.meta.dirname, '..', '..');

function fixture() {
  const meta = JSON.parse(readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.json'), 'utf8')) as { dim: number; labels: string[]; split: string[]; fingerprint: string };
  const bytes = readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.f32'));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const rows = (which: string) => meta.split.flatMap((s, i) => (s === which ? [all.subarray(i * meta.dim, (i + 1) * meta.dim)] : []));
  return { meta, train: rows('train'), test: rows('test') };
}

async function drive(url: string, method: string, bodyFile: string, headers: Record<string, string>, concurrency = CONCURRENCY) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'load-driver.ts'), url, method, bodyFile, JSON.stringify(headers), String(concurrency), String(SECONDS), String(MAX_REQUESTS)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { requests: number; errors: number; statuses: Record<string, number>; codes: Record<string, number>; rps: number; p50: number; p99: number };
}

async function main(): Promise<void> {
  const { meta, train, test } = fixture();
  const trainLabels = meta.labels.filter((_, i) => meta.split[i] === 'train');
  const head = LinearHead.fit(train, trainLabels, { C: 1 });
  // BENCH_DRIFT=off: the same without drift statistics; BENCH_DRIFT_FLUSH_MS=0: with one drift
  // record sent per classify (the default gathers an isolate's records for 1 s, DRIFT_FLUSH_MS).
  const driftVars = { ...(process.env.BENCH_DRIFT === 'off' ? { DRIFT: 'off' } : {}), ...(process.env.BENCH_DRIFT_FLUSH_MS ? { DRIFT_FLUSH_MS: process.env.BENCH_DRIFT_FLUSH_MS } : {}) };
  const worker = await startLocalWorker({ inheritOutput: process.env.BENCH_VERBOSE === '1', vars: { RATE_LIMIT: 'off', ...driftVars } });
  try {
    const keys = await bootstrapTenant(worker.url, worker.adminToken, 'bench');
    await new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey }).upload('bench', headToJson(head, { backbone: { id: 'mobilenetv2-int8', fingerprint: meta.fingerprint } }), { alias: 'prod' });
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-bench-'));
    const bodyFile = join(dir, 'classify.json');
    await writeFile(bodyFile, JSON.stringify({ embeddings: encodeEmbeddings(test.slice(0, 16)) }));
    const auth = { authorization: `Bearer ${keys.readKey}`, 'content-type': 'application/json' };
    // An explicit version (its row is cached: versions are immutable) and an alias (its target asked
    // of the head's alias directory, once per round of concurrent requests). Each round drives the three routes in a rotated order: on this noisy
    // machine the route that runs last was slower by up to a fifth whatever it was.
    type Run = Awaited<ReturnType<typeof drive>>;
    const routes: Array<[string, () => Promise<Run>]> = [
      ['bare', () => drive(`${worker.url}/v1/version`, 'GET', '-', {})],
      ['version', () => drive(`${worker.url}/v1/heads/bench@1/classify`, 'POST', bodyFile, auth)],
      ['alias', () => drive(`${worker.url}/v1/heads/bench@prod/classify`, 'POST', bodyFile, auth)],
    ];
    const line = (name: string, r: Run) =>
      console.log(`${name.padEnd(44)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  ${r.requests} requests, ${r.errors} errors`);
    console.log(`wrangler dev on 127.0.0.1, ${CONCURRENCY} concurrent connections from another process, ${SECONDS} s per route, ${ROUNDS} rounds`);
    for (let round = 0; round < ROUNDS; round++) {
      const runs: Record<string, Run> = {};
      for (let i = 0; i < routes.length; i++) {
        const [name, run] = routes[(i + round) % routes.length];
        runs[name] = await run();
      }
      console.log(`round ${round + 1} (${routes.map((_, i) => routes[(i + round) % routes.length][0]).join(', ')}):`);
      line('  GET /v1/version (bare JSON route)', runs.bare);
      line('  POST bench@1/classify, 16 × 1280-d, 10 classes', runs.version);
      line('  POST bench@prod/classify (alias directory)', runs.alias);
      console.log(`  classify / bare throughput: @version ${(runs.version.rps / runs.bare.rps).toFixed(2)}×, @alias ${(runs.alias.rps / runs.bare.rps).toFixed(2)}× (target ≥ 0.5); ${(runs.version.rps * 16) | 0} embeddings/s`);
    }
    if (KNN_EXAMPLES > 0) {
      // A kNN head of KNN_EXAMPLES: the training rows and jittered copies of them, fitted here and
      // uploaded as one head file (≈ 68 MB at 10,000 × 1280-d: over MAX_BODY_BYTES, so
      // EdgeClient.upload sends it in parts — a smaller file, then online examples).
      // A large request on a kept-alive connection wrangler dev has closed fails with EPIPE before
      // anything reaches the worker (seen on the first upload after the load phase): retried.
      const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey, fetch: restartTolerantFetch(globalThis.fetch) });
      const rows: Float32Array[] = [];
      const labels: string[] = [];
      for (let i = 0; i < KNN_EXAMPLES; i++) {
        const src = train[i % train.length];
        rows.push(i < train.length ? src : Float32Array.from(src, (v, j) => v * (1 + 0.05 * Math.sin(i + j))));
        labels.push(trainLabels[i % train.length]);
      }
      const knnFile = headToJson(KnnHead.fit(rows, labels, { k: 5 }), { backbone: { id: 'mobilenetv2-int8', fingerprint: meta.fingerprint } });
      const grow = Date.now();
      await writer.upload('bench-knn', knnFile);
      console.log(`kNN head file of ${KNN_EXAMPLES} × ${meta.dim}-d (${(knnFile.length / 2 ** 20).toFixed(1)} MiB) uploaded in ${((Date.now() - grow) / 1000).toFixed(1)} s (in parts when over MAX_BODY_BYTES)`);
      // The first classify loads the isolate's snapshot (head file + every online example): timed apart.
      const cold = Date.now();
      await new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey }).classify('bench-knn@1', test.slice(0, 16));
      console.log(`first kNN classify (loads the isolate's snapshot): ${((Date.now() - cold) / 1000).toFixed(1)} s`);
      const withStatuses = (name: string, r: Run) => {
        line(name, r);
        console.log(`${''.padEnd(44)} statuses ${JSON.stringify(r.statuses)}, error codes ${JSON.stringify(r.codes)}`);
      };
      // Both request sizes: 16 embeddings is 205 M multiply-adds of search a request, a single
      // photo (what an app classifies per request) 12.8 M; the linear head costs next to nothing
      // either way, so the ratio is how much of the route's rate the search leaves.
      const oneFile = join(dir, 'classify-one.json');
      await writeFile(oneFile, JSON.stringify({ embeddings: encodeEmbeddings(test.slice(0, 1)) }));
      for (const [batch, file] of [[16, bodyFile], [1, oneFile]] as const) {
        const knnRun = await drive(`${worker.url}/v1/heads/bench-knn@1/classify`, 'POST', file, auth, KNN_CONCURRENCY);
        const linearRun = await drive(`${worker.url}/v1/heads/bench@1/classify`, 'POST', file, auth, KNN_CONCURRENCY);
        withStatuses(`POST bench-knn@1/classify, ${batch} per request, c=${KNN_CONCURRENCY}`, knnRun);
        withStatuses(`POST bench@1/classify (linear), ${batch} per request`, linearRun);
        console.log(`kNN (${KNN_EXAMPLES} × ${meta.dim}-d) / linear throughput, ${batch} embedding(s) per request, concurrency ${KNN_CONCURRENCY}: ${(knnRun.rps / linearRun.rps).toFixed(2)}× (target ≥ 0.3), ${knnRun.errors} kNN errors`);
      }
    }
    if (RAW) await rawInputs(worker, keys, { meta, train, trainLabels, test, auth, drive, line });
  } finally {
    await worker.stop();
  }
}

/** Resident memory of the workerd processes (wrangler dev's runtime), in MiB. */
function workerdRssMiB(): number {
  let kib = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('workerd')) continue;
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the process ended while being read
    }
  }
  return kib / 1024;
}

type Run = Awaited<ReturnType<typeof drive>>;
interface Context {
  meta: { fingerprint: string; dim: number };
  train: Float32Array[];
  trainLabels: string[];
  test: Float32Array[];
  auth: Record<string, string>;
  drive: typeof drive;
  line: (name: string, r: Run) => void;
}

async function rawInputs(worker: { url: string; adminToken: string }, keys: { writeKey: string; readKey: string }, ctx: Context): Promise<void> {
  const operator = new EdgeClient({ baseUrl: worker.url, apiKey: worker.adminToken });
  const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey });
  const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
  for (const id of ['mobilenetv2-int8', 'use-lite']) await uploadBackbone(operator, await resolveManifest(id));
  // Heads: the linear image head above (its fixture was embedded with mobilenetv2-int8) and a text head on the demo's intents.
  const { backbone: use } = await loadBackbone('use-lite');
  const tsv = readFileSync(join(root, 'models', 'examples', 'support-intents.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  const textX = await (use as Backbone<string>).embed(tsv.map(([, t]) => t));
  await writer.upload('bench-text', headToJson(LinearHead.fit(textX, tsv.map(([l]) => l), { C: 1 }), { backbone: { id: 'use-lite', fingerprint: use.fingerprint } }));
  await use.dispose();

  const photos = ['airplane', 'cat', 'ship', 'truck'].flatMap((c) => [0, 1, 2, 3].map((i) => readFileSync(join(SHARED, 'data', 'cifar10', 'test', c, `000${i}.jpg`))));
  const sentences = tsv.slice(0, 16).map(([, t]) => t);
  const dir = await mkdtemp(join(tmpdir(), 'edgehead-bench-raw-'));
  const body = async (name: string, value: unknown) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(value));
    return path;
  };
  const before = workerdRssMiB();
  let t = Date.now();
  await reader.classify('bench@1', { images: photos.slice(0, 1) });
  const imageCold = Date.now() - t;
  const afterImage = workerdRssMiB();
  t = Date.now();
  await reader.classify('bench-text@1', { inputs: sentences.slice(0, 1) });
  const textCold = Date.now() - t;
  const afterText = workerdRssMiB();
  console.log(`\nraw inputs (the worker embeds them): first call, loading the backbone from R2: image ${(imageCold / 1000).toFixed(2)} s, text ${(textCold / 1000).toFixed(2)} s`);
  console.log(`workerd resident memory: ${before.toFixed(0)} MiB before, ${afterImage.toFixed(0)} with MobileNetV2 int8 loaded (+${(afterImage - before).toFixed(0)}), ${afterText.toFixed(0)} with USE-lite too (+${(afterText - afterImage).toFixed(0)})`);
  // The largest photos the default limit lets through: 2300×1700 (3.9 megapixels) as JPEG, PNG and WebP.
  const sharp = (await import('sharp')).default;
  const large = sharp(photos[0]).resize(2300, 1700, { fit: 'fill' });
  for (const [format, bytes] of [
    ['JPEG', await large.clone().jpeg({ quality: 90 }).toBuffer()],
    ['PNG', await large.clone().png().toBuffer()],
    ['WebP', await large.clone().webp({ quality: 90 }).toBuffer()],
  ] as const) {
    t = Date.now();
    await reader.classify('bench@1', { images: [bytes] });
    console.log(`  one 2300×1700 ${format} (${(bytes.length / 1e6).toFixed(1)} MB): ${Date.now() - t} ms; workerd resident memory after it ${workerdRssMiB().toFixed(0)} MiB`);
  }

  const concurrency = 4;
  const url = (ref: string) => `${worker.url}/v1/heads/${ref}/classify`;
  const runs: Array<[string, Run, number]> = [
    ['embeddings, 1 × 1280-d', await ctx.drive(url('bench@1'), 'POST', await body('e1.json', { embeddings: encodeEmbeddings(ctx.test.slice(0, 1)) }), ctx.auth, concurrency), 1],
    ['embeddings, 16 × 1280-d', await ctx.drive(url('bench@1'), 'POST', await body('e16.json', { embeddings: encodeEmbeddings(ctx.test.slice(0, 16)) }), ctx.auth, concurrency), 16],
    ['images, 1 JPEG (32×32 CIFAR-10)', await ctx.drive(url('bench@1'), 'POST', await body('i1.json', { images: photos.slice(0, 1).map((p) => p.toString('base64')) }), ctx.auth, concurrency), 1],
    ['images, 16 JPEGs', await ctx.drive(url('bench@1'), 'POST', await body('i16.json', { images: photos.map((p) => p.toString('base64')) }), ctx.auth, concurrency), 16],
    ['texts, 1 sentence', await ctx.drive(url('bench-text@1'), 'POST', await body('t1.json', { inputs: sentences.slice(0, 1) }), ctx.auth, concurrency), 1],
    ['texts, 16 sentences', await ctx.drive(url('bench-text@1'), 'POST', await body('t16.json', { inputs: sentences }), ctx.auth, concurrency), 16],
  ];
  console.log(`classify with raw inputs beside embeddings, concurrency ${concurrency}, ${SECONDS} s each (one workerd thread: wall time per input ≈ CPU time per input)`);
  for (const [name, run, per] of runs) {
    ctx.line(`POST …/classify, ${name}`, run);
    console.log(`${''.padEnd(44)} ${(run.rps * per).toFixed(1)} inputs/s, ${(1000 / (run.rps * per)).toFixed(1)} ms per input`);
  }
  const [, e16, i1, i16, t1, t16] = runs.map((r) => r[1].rps * r[2]);
  console.log(`inputs/s vs the embedding route (16 per request): images ${(i1 / e16).toFixed(3)}× (1/request), ${(i16 / e16).toFixed(3)}× (16/request); texts ${(t1 / e16).toFixed(3)}×, ${(t16 / e16).toFixed(3)}×`);
}

await main();
