/**
 * Transferability ranking (issue 15, part 1). LogME is checked against a direct evaluation of
 * its definition in numpy (explicit d × d matrices, slogdet; models/fixtures/sklearn/reference.py)
 * on real embeddings: CIFAR-10 through MobileNetV2 (200 × 1280, fewer rows than dimensions) and
 * FSDD through the openWakeWord speech embedding (96-d, more rows than dimensions), so both of
 * the code's paths (FFᵀ and FᵀF) meet an independent reference.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BagOfWordsBaseline, fftInPlace, PixelBaseline, SpectrogramBaseline } from '../src/backbone/baselines.js';
import { blockOutputs, summarizeModel } from '../src/backbone/onnx/graph.js';
import { main } from '../src/cli/main.js';
import { rankEmbeddings } from '../src/heads/rank.js';
import { logME } from '../src/heads/transferability.js';
import { fixture } from './heads-fixtures.js';
import { capture, cifar, REPO, SHARED } from './helpers.js';

const reference = JSON.parse(readFileSync(join(REPO, 'models', 'fixtures', 'sklearn', 'reference.json'), 'utf8')) as {
  datasets: Record<string, { logme: { score: number; perClass: number[] } }>;
};

describe('LogME', () => {
  for (const name of ['cifar10-mobilenetv2', 'fsdd-openwakeword'] as const) {
    it(`matches numpy's direct evaluation on ${name}`, () => {
      const { train } = fixture(name);
      const result = logME(train, train.labels);
      const expected = reference.datasets[name].logme;
      expect(result.score).toBeCloseTo(expected.score, 6);
      result.perClass.forEach((v, i) => expect(v).toBeCloseTo(expected.perClass[i], 6));
    });
  }

  it('scores real labels above the same labels permuted', () => {
    const { train } = fixture('fsdd-openwakeword');
    const real = logME(train, train.labels).score;
    // The same labels permuted (7919 is prime, so i → 7919·i mod n is a permutation): the class
    // sizes stay, the link between rows and labels goes.
    const permuted = train.labels.map((_, i) => train.labels[(i * 7919) % train.labels.length]);
    expect(real).toBeGreaterThan(logME(train, permuted).score + 0.1);
  });

  it('embeddings that are all zero score the model "label = noise" alone, as hand-computed', () => {
    // No spectrum: log p(y) = n/2·log(n/yᵀy) − n/2 − n/2·log 2π per class, here n = 6, yᵀy = 2 and 4.
    const expected = (yy: number) => (3 * Math.log(6 / yy) - 3 - 3 * Math.log(2 * Math.PI)) / 6;
    const r = logME(Array.from({ length: 6 }, () => [0, 0, 0]), ['a', 'a', 'b', 'b', 'b', 'b']);
    expect(r.perClass[0]).toBeCloseTo(expected(2), 12);
    expect(r.perClass[1]).toBeCloseTo(expected(4), 12);
  });

  it('scores a seeded sample of rows when both rows and dimensions exceed maxRows', () => {
    const { train } = fixture('fsdd-openwakeword');
    // 96 dimensions: FᵀF is 96 × 96 whatever the rows, so every row is scored.
    expect(logME(train, train.labels, { maxRows: 100 }).rows).toBe(train.rows);
    const wide = Array.from({ length: 120 }, (_, i) => Array.from({ length: 100 }, (_, k) => Math.sin(i * 0.3 + k) + (k === i % 2 ? 1 : 0)));
    const labels = wide.map((_, i) => (i % 2 ? 'odd' : 'even'));
    expect(logME(wide, labels, { maxRows: 80 }).rows).toBe(80);
  });

  it('refuses a single class and mismatched lengths with a clear message', () => {
    expect(() => logME([[1, 2], [3, 4]], ['a', 'a'])).toThrow(/two classes/);
    expect(() => logME([[1, 2], [3, 4]], ['a'])).toThrow(/one label per embedding/);
  });
});

describe('rankEmbeddings', () => {
  // Features with no information about the labels: a fixed pseudo-random matrix.
  const noise = (rows: number, cols: number) => Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, k) => Math.sin(12.9898 * i + 78.233 * k) * 43758.5453 % 1));

  it('ranks real embeddings above uninformative ones, and stays quiet when the backbone clearly beats the baseline', async () => {
    const { train } = fixture('fsdd-openwakeword');
    const r = await rankEmbeddings(
      [
        { name: 'noise', embeddings: noise(train.rows, 32), baseline: true },
        { name: 'openwakeword', embeddings: train },
      ],
      train.labels,
    );
    expect(r.ranked.map((c) => c.name)).toEqual(['openwakeword', 'noise']);
    expect(r.best).toBe('openwakeword');
    expect(r.ranked[0].probe!.accuracy).toBeGreaterThan(0.9);
    // Ten classes: chance is 0.1.
    expect(r.ranked[1].probe!.accuracy).toBeLessThan(0.25);
    expect(r.negativeTransfer).toBeUndefined();
  });

  it('warns of negative transfer when the baseline beats every backbone', async () => {
    const { train } = fixture('fsdd-openwakeword');
    const r = await rankEmbeddings(
      [
        { name: 'useless-backbone', embeddings: noise(train.rows, 32) },
        { name: 'baseline', embeddings: train, baseline: true },
      ],
      train.labels,
    );
    expect(r.best).toBe('useless-backbone');
    expect(r.negativeTransfer).toMatch(/^Negative transfer: the baseline \(baseline, probe macro-F1 /);
  });

  it('refuses duplicate names and row counts that do not match the labels', async () => {
    await expect(rankEmbeddings([{ name: 'a', embeddings: [[1], [2]] }, { name: 'a', embeddings: [[1], [2]] }], ['x', 'y'])).rejects.toThrow(/both named "a"/);
    await expect(rankEmbeddings([{ name: 'a', embeddings: [[1], [2], [3]] }], ['x', 'y'])).rejects.toThrow(/3 embeddings for 2 labels/);
  });
});

describe('cut points', () => {
  it("MobileNetV2's residual blocks: its 10 skip connections, in order (Sandler et al. 2018, table 2: repeats 1,2,3,4,3,3,1)", async () => {
    const bytes = await readFile(join(SHARED, 'models', 'mobilenetv2-12-fp32-features.onnx'));
    expect(blockOutputs(summarizeModel(bytes))).toEqual([
      '339_quantized', '356_quantized', '365_quantized', '382_quantized', '391_quantized',
      '400_quantized', '417_quantized', '426_quantized', '443_quantized', '452_quantized',
    ]);
  });
});

describe('baselines', () => {
  it('the FFT equals the DFT by its definition', () => {
    const n = 16;
    const x = Array.from({ length: n }, (_, i) => Math.cos(0.7 * i) + 0.3 * Math.sin(2.1 * i * i));
    const re = Float64Array.from(x);
    const im = new Float64Array(n);
    fftInPlace(re, im);
    for (let k = 0; k < n; k++) {
      let r = 0, m = 0;
      for (let t = 0; t < n; t++) {
        r += x[t] * Math.cos((-2 * Math.PI * k * t) / n);
        m += x[t] * Math.sin((-2 * Math.PI * k * t) / n);
      }
      expect(re[k]).toBeCloseTo(r, 10);
      expect(im[k]).toBeCloseTo(m, 10);
    }
  });

  it('pixels: a 32×32 image of 2×2 blocks becomes the block values at 16×16, scaled to [0, 1]', async () => {
    const data = new Uint8Array(32 * 32 * 3);
    const block = (bx: number, by: number) => (bx * 16 + by) % 256;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) data.fill(block(x >> 1, y >> 1), (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const [v] = await (await PixelBaseline.create()).embed([{ width: 32, height: 32, channels: 3, data }]);
    expect(v.length).toBe(768);
    for (const [bx, by] of [[0, 0], [5, 9], [15, 15]]) expect(v[(by * 16 + bx) * 3]).toBeCloseTo(block(bx, by) / 255, 5);
  });

  it('bag of words: counts at FNV-1a positions (FNV-1a("a") = 0xe40c292c), log(1 + count), unit length', async () => {
    const [v] = await (await BagOfWordsBaseline.create()).embed(['A a']);
    // Two "a" unigrams and one "a a" bigram: log 3 and log 2 before normalising.
    const at = 0xe40c292c % 4096;
    const norm = Math.hypot(Math.log(3), Math.log(2));
    expect(v[at]).toBeCloseTo(Math.log(3) / norm, 6);
    expect(v.reduce((s, x) => s + x * x, 0)).toBeCloseTo(1, 6);
  });

  it('log-mel: a 1 kHz tone is loudest in the mel band around 1 kHz', async () => {
    const samples = Float32Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
    const [v] = await (await SpectrogramBaseline.create()).embed([{ samples, sampleRate: 16000 }]);
    const means = Array.from(v.subarray(0, 32));
    const loudest = means.indexOf(Math.max(...means));
    // 32 bands evenly spaced in mel from 0 to 8 kHz (2840 mel): centres every 86 mel; 1 kHz is 1000 mel → band 11 (centre 1032 mel).
    expect(loudest).toBe(11);
  });
});

describe('edgehead rank', () => {
  afterEach(() => vi.restoreAllMocks());

  it('ranks a backbone, its last block and the pixel baseline on real photos, as a table and as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-rank-'));
    for (const c of ['airplane', 'frog', 'truck']) {
      await mkdir(join(dir, c));
      for (let i = 0; i < 12; i++) await symlink(cifar('train', c, i), join(dir, c, `${i}.jpg`));
    }
    const io = capture();
    expect(await main(['rank', dir, '--backbones', 'mobilenetv2-int8', '--cuts', '1', '--json', '--no-cache'])).toBe(0);
    const r = JSON.parse(io.stdout().trim()) as { ranked: Array<{ name: string; baseline: boolean; logME: number; probe: { accuracy: number } }>; best: string; examples: number; classes: string[] };
    expect(r).toMatchObject({ examples: 36, classes: ['airplane', 'frog', 'truck'], skipped: 0 });
    expect(r.ranked.map((c) => c.name).sort()).toEqual(['baseline:pixels-16', 'mobilenetv2-int8', 'mobilenetv2-int8@452_quantized']);
    // Planes, frogs and trucks are easy for an ImageNet network, hard for 16×16 pixels (chance: 1/3).
    const probe = (name: string) => r.ranked.find((c) => c.name === name)!.probe.accuracy;
    expect(probe('mobilenetv2-int8')).toBeGreaterThan(0.6);
    expect(probe('mobilenetv2-int8')).toBeGreaterThan(probe('baseline:pixels-16'));
    expect(r.best).not.toMatch(/^baseline/);
    expect(await main(['rank', dir, '--backbones', 'use-lite'])).toBe(2);
    expect(io.stderr()).toMatch(/embeds text, but the data is image/);
    // A misspelt cut fails before anything is embedded, naming the block outputs it could be.
    expect(await main(['rank', dir, '--backbones', 'mobilenetv2-int8', '--cuts', '452_quantised'])).toBe(2);
    expect(io.stderr()).toMatch(/no tensor "452_quantised"; its residual block outputs are .*452_quantized/);
    expect(await main(['rank', dir, '--backbones', 'mobilenetv2-int8', '--cuts', '0'])).toBe(2);
    expect(io.stderr()).toMatch(/Run `edgehead rank --help` for usage/);
  });
});
