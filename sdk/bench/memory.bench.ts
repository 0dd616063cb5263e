/**
 * `npm run bench:memory`: peak RSS of `edgehead fit --augment 2` on 500 synthetic 24-megapixel
 * camera-sized JPEGs (6000×4000, ~13 MB each) beside the same run on 500 small JPEGs
 * (640×480), in the same session, reported as a ratio. The CLI runs as a child process under
 * /usr/bin/time (maximum resident set size), without the embedding cache.
 *
 * Files: 16 distinct gaussian-noise JPEGs per size (libvips generates them once into
 * .cache/bench-memory; noise compresses like sensor detail), hard-linked to 250 names per
 * class. Decoding does not know two names share bytes, so memory behaves as for 500 files.
 * BENCH_MEMORY_N changes the number of files.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const N = Number(process.env.BENCH_MEMORY_N ?? 500);
const DISTINCT = 16;
const REPO = join(import.meta.dirname, '..', '..');
const ROOT = join(REPO, '.cache', 'bench-memory');
const BIN = join(REPO, 'sdk', 'bin', 'edgehead.js');

async function dataset(name: string, width: number, height: number): Promise<string> {
  const sources = join(ROOT, `${name}-sources`);
  await mkdir(sources, { recursive: true });
  for (let i = 0; i < DISTINCT; i++) {
    const path = join(sources, `${i}.jpg`);
    if (existsSync(path)) continue;
    await sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 96 + 4 * i, sigma: 40 } } }).jpeg({ quality: 85 }).toFile(path);
  }
  const dir = join(ROOT, `${name}-${N}`);
  await rm(dir, { recursive: true, force: true });
  for (const [c, label] of ['a', 'b'].entries()) {
    await mkdir(join(dir, label), { recursive: true });
    for (let i = c; i < N; i += 2) await link(join(sources, `${i % DISTINCT}.jpg`), join(dir, label, `${String(i).padStart(4, '0')}.jpg`));
  }
  return dir;
}

async function peakRssMb(dir: string): Promise<{ mb: number; seconds: number }> {
  const out = join(ROOT, 'head.json');
  const started = performance.now();
  const { stderr } = await promisify(execFile)(
    '/usr/bin/time',
    ['-f', 'peak-rss-kb %M', process.execPath, BIN, 'fit', dir, '--backbone', 'mobilenetv2-int8', '--head', 'centroid', '--augment', '2', '--no-cache', '--out', out, '--force', '--json'],
    { maxBuffer: 64 << 20 },
  );
  const kb = Number(/peak-rss-kb (\d+)/.exec(stderr)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no peak RSS in: ${stderr.slice(-500)}`);
  return { mb: kb / 1024, seconds: (performance.now() - started) / 1000 };
}

const big = await dataset('24mp', 6000, 4000);
const small = await dataset('small', 640, 480);
const s = await peakRssMb(small);
const b = await peakRssMb(big);
console.log(`edgehead fit --augment 2 (${N} images, 2 classes, ${3 * N} embedded views), peak RSS:`);
console.log(`| images | peak RSS MB | seconds | ratio to small |\n|---|---|---|---|`);
console.log(`| ${N} × 640×480 JPEG | ${s.mb.toFixed(0)} | ${s.seconds.toFixed(0)} | 1.00 |`);
console.log(`| ${N} × 6000×4000 JPEG (24 MP) | ${b.mb.toFixed(0)} | ${b.seconds.toFixed(0)} | ${(b.mb / s.mb).toFixed(2)} |`);
