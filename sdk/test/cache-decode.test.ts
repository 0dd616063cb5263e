/**
 * A warm embedding cache skips decoding: only the file bytes are read and hashed (decoding was
 * 23.8 s of a 24 s warm FSDD fit). Decoders are counted through a module mock.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SHARED, cifar } from './helpers.js';
import type { ImageManifest } from '../src/manifest/manifest.js';

const calls = { wav: 0, image: 0 };
vi.mock('../src/inputs/audio/wav.js', async (original) => {
  const real = await original<typeof import('../src/inputs/audio/wav.js')>();
  return { ...real, decodeWav: (...args: Parameters<typeof real.decodeWav>) => (calls.wav++, real.decodeWav(...args)) };
});
vi.mock('../src/inputs/image/decode-node.js', async (original) => {
  const real = await original<typeof import('../src/inputs/image/decode-node.js')>();
  return { ...real, decodeImageBytes: (...args: Parameters<typeof real.decodeImageBytes>) => (calls.image++, real.decodeImageBytes(...args)) };
});

const { embedItems } = await import('../src/cli/embed-items.js');
const { loadBackbone } = await import('../src/node.js');
const { augmentImage } = await import('../src/inputs/image/augment.js');
const { createRng } = await import('../src/heads/random.js');
const { streamEmbeddings } = await import('../src/cli/stream-embeddings.js');
const { decodeImageBytes, readImageFile } = await import('../src/inputs/image/decode-node.js');
const { decodeSizeFor } = await import('../src/inputs/image/image.js');
const { decodeOptionsFor } = await import('../src/cli/inputs.js');
const sharp = (await import('sharp')).default;

describe('embedding cache before decoding', () => {
  it('audio: the second pass decodes nothing and returns the same embeddings', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    const dir = join(SHARED, 'data', 'fsdd');
    const files = (await readdir(dir)).filter((f) => f.startsWith('3_theo_')).sort().slice(0, 12).map((f) => join(dir, f));
    const { backbone } = await loadBackbone('openwakeword-embedding');
    try {
      const cold = await embedItems(backbone, 'audio', files, { cacheDir });
      expect(calls.wav).toBe(12);
      const warm = await embedItems(backbone, 'audio', files, { cacheDir });
      expect(calls.wav).toBe(12);
      expect(warm.cacheHits).toBe(12);
      expect(Array.from(warm.embeddings.data)).toEqual(Array.from(cold.embeddings.data));
    } finally {
      await backbone.dispose();
    }
  }, 60_000);

  it('images with augmented views: a warm pass decodes nothing; a new view count decodes once per image', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    const files = [0, 1, 2].map((i) => cifar('train', 'cat', i));
    const views = (n: number) => ({ views: (img: Parameters<typeof augmentImage>[0], item: number) => Array.from({ length: n }, (_, v) => augmentImage(img, createRng(item * 101 + v))), viewCount: n, viewsKey: 'test' });
    const { backbone } = await loadBackbone('mobilenetv2-int8');
    try {
      calls.image = 0;
      const cold = await embedItems(backbone, 'image', files, { cacheDir, ...views(2) });
      expect(calls.image).toBe(3);
      const warm = await embedItems(backbone, 'image', files, { cacheDir, ...views(2) });
      expect(calls.image).toBe(3);
      expect(warm.cacheHits).toBe(9);
      expect(Array.from(warm.embeddings.data)).toEqual(Array.from(cold.embeddings.data));
      await embedItems(backbone, 'image', files, { cacheDir, ...views(3) });
      expect(calls.image).toBe(6);
    } finally {
      await backbone.dispose();
    }
  }, 60_000);
});

describe('predict/embed streaming: cache, failures, big photos', () => {
  it('a second pass over the same files decodes nothing and gives the same embeddings; a bad file is reported, the rest embedded', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    const files = [0, 1, 2, 3, 4].map((i) => cifar('test', 'ship', i));
    const broken = join(cacheDir, 'broken.jpg');
    await writeFile(broken, 'not a jpeg');
    const { backbone, manifest } = await loadBackbone('mobilenetv2-int8');
    const collect = async (args: string[], options = {}) => {
      const rows: Array<[string, number[]]> = [];
      const failed: string[] = [];
      const order: string[] = [];
      let hits = 0;
      for await (const b of streamEmbeddings(backbone, 'image', args, { cacheDir, size: 2, decode: decodeOptionsFor(manifest), ...options })) {
        for (const item of b.items) {
          order.push(item.input);
          if ('embedding' in item) rows.push([item.input, Array.from(item.embedding)]);
          else failed.push(item.input);
        }
        hits += b.cacheHits;
      }
      return { rows, failed, hits, order };
    };
    try {
      calls.image = 0;
      const cold = await collect([files[0], broken, ...files.slice(1)]);
      expect(cold.failed).toEqual([broken]);
      // The failure keeps its place in the output order (it shares a batch with files[0]).
      expect(cold.order).toEqual([files[0], broken, ...files.slice(1)]);
      expect(cold.rows.map((r) => r[0])).toEqual(files);
      expect(calls.image).toBe(6);
      const warm = await collect(files);
      expect(calls.image).toBe(6);
      expect(warm.hits).toBe(5);
      expect(warm.rows).toEqual(cold.rows);
      // The reference: the backbone on full-size decodes (CIFAR photos are far below the shrink size).
      const direct = await backbone.embed(await Promise.all(files.map((f) => readImageFile(f))));
      expect(cold.rows.map((r) => r[1])).toEqual(direct.map((e) => Array.from(e)));
      const uncached = await collect(files, { cache: false });
      expect(uncached.hits).toBe(0);
      expect(calls.image).toBe(11);
    } finally {
      await backbone.dispose();
    }
  }, 60_000);

  it('a 24-megapixel photo decoded shrunk on load embeds like an antialiased downscale (cosine ≥ 0.99); the full-size decode aliases', async () => {
    // A real photo scaled up to 6000×4000 with fine texture, as a camera JPEG.
    const texture = Buffer.alloc(600 * 400 * 3);
    for (let i = 0; i < texture.length; i++) texture[i] = (i * 2654435761) >>> 27;
    const noise = await sharp(texture, { raw: { width: 600, height: 400, channels: 3 } }).resize(6000, 4000, { kernel: 'nearest' }).png().toBuffer();
    const photo = await sharp(cifar('test', 'ship', 0)).resize(6000, 4000).composite([{ input: noise, blend: 'soft-light' }]).jpeg({ quality: 90 }).toBuffer();
    const { backbone, manifest } = await loadBackbone('mobilenetv2-int8');
    try {
      const spec = (manifest as ImageManifest).input.image;
      const shrinkTo = decodeSizeFor(spec);
      const small = await decodeImageBytes(photo, 'photo.jpg', { shrinkTo });
      const full = await decodeImageBytes(photo, 'photo.jpg');
      expect(Math.min(small.width, small.height)).toBe(shrinkTo);
      expect(full.width * full.height).toBe(24_000_000);
      // The reference: libvips' lanczos3 straight to the model's resize size (no 2-tap step at all).
      const reference = await decodeImageBytes(await sharp(photo).resize({ width: spec.resizeShorterTo, height: spec.resizeShorterTo, fit: 'outside' }).png().toBuffer());
      const [a, b, r] = await backbone.embed([small, full, reference]);
      const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0) / Math.sqrt(x.reduce((s, v) => s + v * v, 0) * y.reduce((s, v) => s + v * v, 0));
      console.log(`24 MP photo vs an antialiased downscale: shrunk on load (${small.width}×${small.height}) cosine ${cos(a, r).toFixed(4)}, full-size decode ${cos(b, r).toFixed(4)}`);
      expect(cos(a, r)).toBeGreaterThanOrEqual(0.99);
    } finally {
      await backbone.dispose();
    }
  }, 60_000);

  it('an unwritable cache folder: the embeddings still come, with one warning, and nothing is cached', async () => {
    const blocker = join(await mkdtemp(join(tmpdir(), 'edgehead-cache-')), 'a-file');
    await writeFile(blocker, 'a file where the cache folder would go');
    const warnings: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (warnings.push(String(chunk)), true));
    const { backbone } = await loadBackbone('mobilenetv2-int8');
    try {
      const files = [0, 1, 2].map((i) => cifar('test', 'frog', i));
      const got = await embedItems(backbone, 'image', files, { cacheDir: join(blocker, 'cache') });
      const direct = await backbone.embed(await Promise.all(files.map((f) => readImageFile(f))));
      expect(Array.from(got.embeddings.data)).toEqual(direct.flatMap((e) => Array.from(e)));
      const notes = warnings.filter((w) => w.includes('not writable'));
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/ENOTDIR|EEXIST/);
    } finally {
      spy.mockRestore();
      await backbone.dispose();
    }
  }, 60_000);
});
