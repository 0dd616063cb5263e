/**
 * A warm embedding cache skips decoding: only the file bytes are read and hashed (decoding was
 * 23.8 s of a 24 s warm FSDD fit). Decoders are counted through a module mock.
 */
import { mkdtemp } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SHARED, cifar } from './helpers.js';

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
