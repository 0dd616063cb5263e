/**
 * `npm run bench:worker`: the worker under `wrangler dev` on 127.0.0.1, driven from another
 * process (bounded in time and count): classify throughput and p50/p99 latency for a batch of
 * 16 × 1280-d embeddings on a 10-class linear head, beside a bare JSON route on the same worker;
 * then a kNN head grown to BENCH_KNN_EXAMPLES (10,000) × 1280-d examples through online additions,
 * classified at BENCH_KNN_CONCURRENCY (64) beside the linear head at the same concurrency, with
 * status counts (back-pressure shows as 503 OVERLOADED, never as resets).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EdgeClient, encodeEmbeddings } from '../src/client/edge-client.js';
import { bootstrapTenant, startLocalWorker } from '../src/cli/local-worker.js';
import { headToJson } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { readFileSync } from 'node:fs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 50_000);
const KNN_EXAMPLES = Number(process.env.BENCH_KNN_EXAMPLES ?? 10_000);
const KNN_CONCURRENCY = Number(process.env.BENCH_KNN_CONCURRENCY ?? 64);
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
  const worker = await startLocalWorker({ vars: { RATE_LIMIT: 'off' } });
  try {
    const keys = await bootstrapTenant(worker.url, worker.adminToken, 'bench');
    await new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey }).upload('bench', headToJson(head, { backbone: { id: 'mobilenetv2-int8', fingerprint: meta.fingerprint } }), { alias: 'prod' });
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-bench-'));
    const bodyFile = join(dir, 'classify.json');
    await writeFile(bodyFile, JSON.stringify({ embeddings: encodeEmbeddings(test.slice(0, 16)) }));
    const auth = { authorization: `Bearer ${keys.readKey}`, 'content-type': 'application/json' };
    const bare = await drive(`${worker.url}/v1/version`, 'GET', '-', {});
    // An explicit version (its row is cached: versions are immutable) and an alias (read from D1 each time).
    const classify = await drive(`${worker.url}/v1/heads/bench@1/classify`, 'POST', bodyFile, auth);
    const viaAlias = await drive(`${worker.url}/v1/heads/bench@prod/classify`, 'POST', bodyFile, auth);
    const line = (name: string, r: typeof bare) =>
      console.log(`${name.padEnd(44)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  ${r.requests} requests, ${r.errors} errors`);
    console.log(`wrangler dev on 127.0.0.1, ${CONCURRENCY} concurrent connections from another process, ${SECONDS} s per route`);
    line('GET /v1/version (bare JSON route)', bare);
    line('POST bench@1/classify, 16 × 1280-d, 10 classes', classify);
    line('POST bench@prod/classify (alias read per call)', viaAlias);
    console.log(`classify / bare throughput: @version ${(classify.rps / bare.rps).toFixed(2)}×, @alias ${(viaAlias.rps / bare.rps).toFixed(2)}× (target ≥ 0.5); ${(classify.rps * 16) | 0} embeddings/s`);
    if (KNN_EXAMPLES > 0) {
      // A kNN head on the training rows, grown online to KNN_EXAMPLES with jittered copies of them.
      const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey });
      const knn = KnnHead.fit(train, trainLabels, { k: 5 });
      await writer.upload('bench-knn', headToJson(knn, { backbone: { id: 'mobilenetv2-int8', fingerprint: meta.fingerprint } }));
      const grow = Date.now();
      for (let have = train.length; have < KNN_EXAMPLES; ) {
        const n = Math.min(256, KNN_EXAMPLES - have);
        const rows = Array.from({ length: n }, (_, i) => {
          const src = train[(have + i) % train.length];
          return Float32Array.from(src, (v, j) => v * (1 + 0.05 * Math.sin(have + i + j)));
        });
        await writer.addExamples('bench-knn@1', rows, rows.map((_, i) => trainLabels[(have + i) % train.length]));
        have += n;
      }
      console.log(`kNN head grown to ${KNN_EXAMPLES} × ${meta.dim}-d in ${((Date.now() - grow) / 1000).toFixed(1)} s (online additions of 256)`);
      // The first classify loads the isolate's snapshot (head file + every online example): timed apart.
      const cold = Date.now();
      await new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey }).classify('bench-knn@1', test.slice(0, 16));
      console.log(`first kNN classify (loads the isolate's snapshot): ${((Date.now() - cold) / 1000).toFixed(1)} s`);
      const knnRun = await drive(`${worker.url}/v1/heads/bench-knn@1/classify`, 'POST', bodyFile, auth, KNN_CONCURRENCY);
      const linearRun = await drive(`${worker.url}/v1/heads/bench@1/classify`, 'POST', bodyFile, auth, KNN_CONCURRENCY);
      const withStatuses = (name: string, r: typeof bare) => {
        line(name, r);
        console.log(`${''.padEnd(44)} statuses ${JSON.stringify(r.statuses)}, error codes ${JSON.stringify(r.codes)}`);
      };
      withStatuses(`POST bench-knn@1/classify, c=${KNN_CONCURRENCY}`, knnRun);
      withStatuses(`POST bench@1/classify (linear), c=${KNN_CONCURRENCY}`, linearRun);
      console.log(`kNN (${KNN_EXAMPLES} × ${meta.dim}-d) / linear throughput at concurrency ${KNN_CONCURRENCY}: ${(knnRun.rps / linearRun.rps).toFixed(2)}× (target ≥ 0.3), ${knnRun.errors} kNN errors`);
    }
  } finally {
    await worker.stop();
  }
}

await main();
