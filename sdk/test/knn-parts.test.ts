import { describe, expect, it } from 'vitest';
import { headToJson, parseHead } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { splitKnnHead } from '../src/heads/knn-parts.js';
import { InvalidInputError } from '../src/core/errors.js';

function data(n: number, dim: number, labelOf: (i: number) => string) {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = Array.from({ length: n }, () => Float32Array.from({ length: dim }, rand));
  return { x, y: x.map((_, i) => labelOf(i)) };
}

const key = (row: ArrayLike<number>, label: string) => `${label}:${Array.from(row).join(',')}`;

describe('splitKnnHead', () => {
  it('sends every reference exactly once, one per class in the first part, each file within the limit', () => {
    const { x, y } = data(500, 32, (i) => `c${i % 7}`);
    const head = KnnHead.fit(x, y, { k: 3 });
    const text = headToJson(head);
    const maxBytes = 20_000;
    const { base, rest } = splitKnnHead(text, maxBytes);
    expect(new TextEncoder().encode(base).byteLength).toBeLessThanOrEqual(maxBytes);
    const first = parseHead(base).head as KnnHead; // checksum recomputed: parses
    const p = first.parameters;
    const firstRows = Array.from({ length: p.referenceLabels.length }, (_, r) => key(p.references.subarray(r * 32, (r + 1) * 32), first.labels[p.referenceLabels[r]]));
    expect(new Set(firstRows.slice(0, 7).map((k) => k.split(':')[0]))).toEqual(new Set(head.labels));
    const sent = [...firstRows, ...rest.embeddings.map((e, i) => key(e, rest.labels[i]))].sort();
    // Against the whole file's references (a cosine head stores them normalised).
    const all = head.parameters;
    const whole = Array.from({ length: 500 }, (_, r) => key(all.references.subarray(r * 32, (r + 1) * 32), head.labels[all.referenceLabels[r]]));
    expect(sent).toEqual(whole.sort());
    expect(first.labels).toEqual(head.labels);
  });

  it('keeps references with labels too long for online examples in the first part, or refuses', () => {
    const long = 'x'.repeat(250);
    const { x, y } = data(300, 16, (i) => (i % 50 === 0 ? long : `c${i % 3}`));
    const text = headToJson(KnnHead.fit(x, y, { k: 3 }));
    const { rest } = splitKnnHead(text, 12_000);
    expect(rest.labels.length).toBeGreaterThan(0);
    expect(rest.labels.every((l) => l.length <= 200)).toBe(true);
    const { x: x2, y: y2 } = data(300, 16, (i) => (i % 2 === 0 ? long : 'short'));
    expect(() => splitKnnHead(headToJson(KnnHead.fit(x2, y2, { k: 3 })), 12_000)).toThrow(InvalidInputError);
    // A deployment that reports a longer limit (GET /v1/version: limits.maxLabelLength) takes them as online examples.
    expect(splitKnnHead(text, 12_000, 300).rest.labels).toContain(long);
    expect(splitKnnHead(text, 12_000, 5).rest.labels.every((l) => l.length <= 5)).toBe(true);
  });
});
