import { mkdir, mkdtemp, readdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { embedItems } from '../src/cli/embed-items.js';
import { augmentImage } from '../src/inputs/image/augment.js';
import { createRng } from '../src/heads/random.js';
import { stratifiedGroupKFold } from '../src/heads/split.js';
import { loadBackbone } from '../src/node.js';
import { cifar } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('augmentation', () => {
  // A 4×2 RGB image whose red channel is the column index ×10.
  const img = { width: 4, height: 2, channels: 3 as const, data: Uint8Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? ((i / 3) % 4) * 10 : 100)) };

  it('is deterministic for a seed and different across seeds', () => {
    const a = augmentImage(img, createRng(5));
    expect(augmentImage(img, createRng(5))).toEqual(a);
    const many = new Set(Array.from({ length: 20 }, (_, s) => JSON.stringify(augmentImage(img, createRng(s)))));
    expect(many.size).toBeGreaterThan(1);
  });

  it('a flip-only, full-size crop mirrors the columns (hand-checked)', () => {
    const out = augmentImage(img, () => 0, { flip: 1, cropScale: [1, 1], cropRatio: [2, 2], jitter: 0 });
    expect([out.width, out.height]).toEqual([4, 2]);
    expect(Array.from({ length: 4 }, (_, x) => out.data[x * 3])).toEqual([30, 20, 10, 0]);
  });

  it('crops stay inside the image and keep 3 channels', () => {
    for (let s = 0; s < 50; s++) {
      const out = augmentImage(img, createRng(s));
      expect(out.width).toBeGreaterThanOrEqual(1);
      expect(out.width).toBeLessThanOrEqual(4);
      expect(out.height).toBeLessThanOrEqual(2);
      expect(out.data.length).toBe(out.width * out.height * 3);
    }
  });
});

describe('grouped folds', () => {
  it('never split a group between training and validation', () => {
    const labels = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 'a' : i % 3 === 1 ? 'b' : 'c'));
    const groups = labels.map((_, i) => Math.floor(i / 6)); // every 6 rows share a group
    for (const fold of stratifiedGroupKFold(labels, groups, 3, 1)) {
      const train = new Set(fold.train.map((i) => groups[i]));
      expect(fold.validation.every((i) => !train.has(groups[i]))).toBe(true);
      expect(fold.validation.length).toBeGreaterThan(0);
    }
  });
});

describe('embedding cache', () => {
  it('a second pass over the same files reuses every embedding, bit for bit; --no-cache recomputes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    const cacheDir = join(dir, 'cache');
    await mkdir(join(dir, 'img'));
    const files = await Promise.all([0, 1, 2].map(async (i) => {
      const p = join(dir, 'img', `${i}.jpg`);
      await symlink(cifar('test', 'frog', i), p);
      return p;
    }));
    const { backbone } = await loadBackbone('mobilenetv2-int8');
    try {
      const first = await embedItems(backbone, 'image', files, { cacheDir });
      expect(first.cacheHits).toBe(0);
      const second = await embedItems(backbone, 'image', files, { cacheDir });
      expect(second.cacheHits).toBe(3);
      expect(second.embeddings.data).toEqual(first.embeddings.data);
      const off = await embedItems(backbone, 'image', files, { cacheDir, cache: false });
      expect(off.cacheHits).toBe(0);
      const entries = await readdir(join(cacheDir, 'embeddings'));
      expect(entries).toHaveLength(1); // one folder per backbone fingerprint
    } finally {
      await backbone.dispose();
    }
  });
});
