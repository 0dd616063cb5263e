/**
 * A head file that was changed after it was written is refused in every runtime (this one
 * parser runs in Node, browsers and the worker), unless re-signed on purpose.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { canonicalJsonCrc32Hex, crc32Hex } from '../src/core/hash.js';
import { HeadFormatError } from '../src/core/errors.js';
import { CentroidHead } from '../src/heads/centroid.js';
import { headToJson, parseHead, type HeadFile } from '../src/heads/format.js';
import { capture } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

const x = [Float32Array.of(1, 0), Float32Array.of(0.9, 0.1), Float32Array.of(0, 1), Float32Array.of(0.1, 0.9)];
const labels = ['cat', 'dog', 'dog', 'dog'].map((_, i) => (i < 2 ? 'cat' : 'dog'));

describe('head checksum', () => {
  it('crc32Hex is the standard CRC-32 (zlib/PNG check values)', () => {
    expect(crc32Hex('123456789')).toBe('cbf43926');
    expect(crc32Hex('')).toBe('00000000');
    expect(crc32Hex('The quick brown fox jumps over the lazy dog')).toBe('414fa339');
  });

  it('the streamed checksum of a value equals CRC-32 of its sorted-key JSON (long strings, surrogate pairs at slice edges)', () => {
    // Reference: JSON.stringify with keys sorted by a replacer — an independent serialisation.
    const sorted = (_: string, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v;
    const long = 'A'.repeat((1 << 16) - 1) + '😀'.repeat(40_000) + 'tail "quoted" \\ \n';
    const value = { z: [1, 2.5, null, true], a: { data: long, shape: [3] }, m: 'café', e: [] };
    expect(canonicalJsonCrc32Hex(value)).toBe(crc32Hex(JSON.stringify(value, sorted)));
  });

  it('a written head carries a checksum and parses; swapped labels are refused with what to do', () => {
    const text = headToJson(CentroidHead.fit(x, labels));
    const file = JSON.parse(text) as HeadFile;
    expect(file.checksum).toMatch(/^crc32:[0-9a-f]{8}$/);
    expect(parseHead(text).head.labels).toEqual(['cat', 'dog']);
    const swapped = JSON.stringify({ ...file, labels: ['dog', 'cat'] });
    const error = (() => {
      try {
        parseHead(swapped);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(HeadFormatError);
    expect((error as Error).message).toMatch(/checksum .* does not match its contents.*edgehead sign/);
    // Notes under "training" are not part of the checksum.
    expect(() => parseHead(JSON.stringify({ ...file, training: { nPerClass: {}, createdAt: 'now', note: 'mine' } }))).not.toThrow();
    // Files from before checksums existed still load.
    const { checksum: _c, ...legacy } = file;
    expect(parseHead(JSON.stringify(legacy)).head.kind).toBe('centroid');
  });

  it('`edgehead sign` re-checksums an intentional edit; the edited head then loads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-sign-'));
    const path = join(dir, 'head.json');
    const file = JSON.parse(headToJson(CentroidHead.fit(x, labels))) as HeadFile;
    await writeFile(path, JSON.stringify({ ...file, labels: ['kitten', 'puppy'] }));
    expect(() => parseHead(JSON.stringify({ ...file, labels: ['kitten', 'puppy'] }))).toThrow(/checksum/);
    const io = capture();
    expect(await main(['sign', path])).toBe(0);
    expect(io.stdout()).toMatch(/checksum crc32:[0-9a-f]{8} → crc32:[0-9a-f]{8}/);
    expect(parseHead(await readFile(path, 'utf8')).head.labels).toEqual(['kitten', 'puppy']);
  });
});
