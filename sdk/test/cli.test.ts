import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { capture, cifar, SHARED } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('edgehead CLI', () => {
  it('embed --json prints one object per input with the right dimension', async () => {
    const io = capture();
    const inputs = [cifar('test', 'cat', 0), cifar('test', 'ship', 1)];
    const code = await main(['embed', '--backbone', 'mobilenetv2-int8', '--json', ...inputs]);
    expect(code).toBe(0);
    const lines = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as { input: string; dim: number; embedding: number[] });
    expect(lines.map((l) => l.input)).toEqual(inputs);
    for (const l of lines) {
      expect(l.dim).toBe(1280);
      expect(l.embedding).toHaveLength(1280);
    }
  });

  it('embed with --cut on a bare .onnx file pools a feature map to channels', async () => {
    const io = capture();
    const model = join(SHARED, 'models', 'mobilenetv2-12-int8.onnx');
    // 464_quantized is the [N,1280,1,1] global-average-pool output before the Reshape.
    const code = await main(['embed', '-b', model, '--cut', '464_quantized', '--json', cifar('test', 'cat', 0)]);
    expect(code).toBe(0);
    expect((JSON.parse(io.stdout()) as { dim: number }).dim).toBe(1280);
  });

  it('text and audio inputs go to their backbones', async () => {
    const io = capture();
    expect(await main(['embed', '-b', 'use-lite', '--json', '--normalize', 'hello world'])).toBe(0);
    const text = JSON.parse(io.stdout()) as { dim: number; embedding: number[] };
    expect(text.dim).toBe(512);
    expect(Math.hypot(...text.embedding)).toBeCloseTo(1, 5);
    expect(await main(['embed', '-b', 'openwakeword-embedding', '--json', join(SHARED, 'data', 'fsdd', '4_theo_3.wav')])).toBe(0);
    expect((JSON.parse(io.stdout().trim().split('\n')[1]) as { dim: number }).dim).toBe(96);
  });

  it('models list/verify report every known backbone with its licence', async () => {
    const io = capture();
    expect(await main(['models', 'list', '--json'])).toBe(0);
    const list = JSON.parse(io.stdout()) as Array<{ id: string; license: { name: string } }>;
    expect(list.map((m) => m.id)).toEqual(
      expect.arrayContaining(['mobilenetv2-int8', 'mobilenetv2-fp32', 'use-lite', 'openwakeword-embedding']),
    );
    expect(await main(['models', 'verify'])).toBe(0);
  });

  it('mistakes get a message and a non-zero exit, never a raw stack', async () => {
    const io = capture();
    expect(await main(['embed', '-b', 'mobilenetv2-int8', '/nonexistent.jpg'])).toBe(1);
    expect(io.stderr()).toMatch(/UNREADABLE_INPUT: \/nonexistent\.jpg/);
    expect(await main(['embed', '-b', 'no-such-model', 'x'])).toBe(1);
    expect(io.stderr()).toMatch(/Unknown backbone "no-such-model". Known: .*use-lite/);
    expect(await main(['embed', '--bogus'])).toBe(2);
    expect(await main(['frobnicate'])).toBe(2);
    expect(io.stderr()).not.toMatch(/\n\s+at /);
  });
});
