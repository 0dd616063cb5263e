/**
 * `npm run bench:worker`: the worker under `wrangler dev` on 127.0.0.1, driven from another
 * process (bounded in time and count): classify throughput and p50/p99 latency for a batch of
 * 16 × 1280-d embeddings on a 10-class linear head, beside a bare JSON route on the same worker.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EdgeClient, encodeEmbeddings } from '../src/client/edge-client.js';
import { bootstrapTenant, startLocalWorker } from '../src/cli/local-worker.js';
import { headToJson } from '../src/heads/format.js';
import { LinearHead } from '../src/heads/linear.js';
import { readFileSync } from 'node:fs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 50_000);
const root = join(import.meta.dirname, '..', '..');

function fixture() {
  const meta = JSON.parse(readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.json'), 'utf8')) as { dim: number; labels: string[]; split: string[]; fingerprint: string };
  const bytes = readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.f32'));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const rows = (which: string) => meta.split.flatMap((s, i) => (s === which ? [all.subarray(i * meta.dim, (i + 1) * meta.dim)] : []));
  return { meta, train: rows('train'), test: rows('test') };
}

async function drive(url: string, method: string, bodyFile: string, headers: Record<string, string>) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'load-driver.ts'), url, method, bodyFile, JSON.stringify(headers), String(CONCURRENCY), String(SECONDS), String(MAX_REQUESTS)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { requests: number; errors: number; statuses: Record<string, number>; rps: number; p50: number; p99: number };
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
  } finally {
    await worker.stop();
  }
}

await main();
