/**
 * `npm run bench:knn`: exact kNN search over 10,000 × 1280-d references (MobileNetV2 embeddings
 * of CIFAR-10 training photos and jittered copies, as bench:worker's kNN head), per request of 1
 * and of 16 queries, in one run and in rotated order each round:
 *   - KnnHead.kneighbors: references in WebAssembly memory, an int8 first pass and exact float32
 *     scores of the candidates it leaves (similarity.wat);
 *   - the exact float32 scan alone on the same kernel, in 1 MiB blocks of references (what the
 *     search did before the int8 pass, less choosing the top k);
 *   - the same arithmetic in JavaScript (laneDots: where WebAssembly is refused);
 *   - the plain-JS kernel kNN used before (multiplyABt, float64 sums; still the linear heads');
 *   - onnxruntime-node's multithreaded GEMM + TopK (createOnnxNeighbourSearch), the reference.
 * Reported as milliseconds per request (median of rounds) and ratios to onnxruntime-node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createOnnxNeighbourSearch } from '../src/accel/onnx-knn.js';
import { KnnHead } from '../src/heads/knn.js';
import { multiplyABt, normalizeRows, type Matrix } from '../src/heads/matrix.js';
import { laneDots, ReferenceRows } from '../src/heads/similarity.js';

const N = Number(process.env.BENCH_KNN_EXAMPLES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const root = join(import.meta.dirname, '..', '..');

const meta = JSON.parse(readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.json'), 'utf8')) as { dim: number; labels: string[]; split: string[] };
const bytes = readFileSync(join(root, 'models', 'fixtures', 'sklearn', 'cifar10-mobilenetv2.f32'));
const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const d = meta.dim;
const rowsOf = (which: string) => meta.split.flatMap((s, i) => (s === which ? [i] : []));
const train = rowsOf('train');
const test = rowsOf('test');
const refs: Float32Array[] = [];
const labels: string[] = [];
for (let i = 0; i < N; i++) {
  const src = all.subarray(train[i % train.length] * d, (train[i % train.length] + 1) * d);
  refs.push(i < train.length ? src : Float32Array.from(src, (v, j) => v * (1 + 0.05 * Math.sin(i + j))));
  labels.push(meta.labels[train[i % train.length]]);
}
const head = KnnHead.fit(refs, labels, { k: 5, calibrateOpenSet: false });
if (!head.searchesInWebAssembly) throw new Error('The kernel did not load: WebAssembly refused here?');
const packed = new Float32Array(N * d);
refs.forEach((r, i) => packed.set(r, i * d));
const stored = normalizeRows({ rows: N, cols: d, data: packed });
const onnx = await createOnnxNeighbourSearch({ device: 'node' });

function queries(n: number): Matrix {
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) data.set(all.subarray(test[i] * d, (test[i] + 1) * d), i * d);
  return normalizeRows({ rows: n, cols: d, data });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const exact = ReferenceRows.allocate(N, d);
exact.data.set(stored.data.subarray(0, N * d));
console.log(`kNN search, ${N} × ${d}-d references (cosine, k = 5), median ms per request over ${ROUNDS} rounds; ratio to onnxruntime-node`);
for (const n of [1, 16]) {
  const q = queries(n);
  const ways: Record<string, () => unknown> = {
    'onnxruntime-node GEMM + TopK (reference)': () => onnx.search(q, stored, new Float32Array(N), 5),
    'kNN head (int8 pass + exact re-scoring)': () => head.kneighbors(q),
    'exact scan on the kernel (1 MiB blocks)': () => {
      const block = Math.floor((1 << 18) / d);
      for (let from = 0; from < N; from += block) for (let q0 = 0; q0 < n; q0 += 4) exact.scores(q.data, q0, Math.min(4, n - q0), Math.min(block, N - from), from);
    },
    'same arithmetic in JS (laneDots)': () => {
      for (let q0 = 0; q0 < n; q0 += 4) laneDots(q.data, q0, Math.min(4, n - q0), stored.data, N, d);
    },
    'former JS kernel (multiplyABt, float64)': () => multiplyABt(q, stored),
  };
  const names = Object.keys(ways);
  const ms: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (const name of names) await time(ways[name]); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length];
      ms[name].push(await time(ways[name]));
    }
  }
  const reference = median(ms[names[0]]);
  console.log(`\n${n} quer${n === 1 ? 'y' : 'ies'} per request`);
  for (const name of names) {
    const m = median(ms[name]);
    console.log(`  ${name.padEnd(44)} ${m.toFixed(2).padStart(8)} ms  ${(m / reference).toFixed(2).padStart(6)}×`);
  }
}
await onnx.dispose();
