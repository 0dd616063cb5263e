/**
 * The request-body scanners classify requests pass through, against independent references:
 * the nesting depth of what JSON.parse builds, the runtime's own base64 decoder (atob), and the
 * floats the client encoded.
 */
import { describe, expect, it } from 'vitest';
import { decodeBase64, parseEmbeddings } from '../src/embeddings.js';
import { ApiError } from '../src/errors.js';
import { limitsOf } from '../src/limits.js';
import { assertJsonDepth } from '../src/request.js';

/** A small seeded generator (mulberry32), so a failure names a reproducible case. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Depth of a parsed JSON value: the reference assertJsonDepth must agree with. */
const depthOf = (v: unknown): number =>
  v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v as Record<string, unknown>).map(depthOf)) : 0;

/** Strings made of the characters that could fool a scanner: quotes, backslashes, brackets. */
function trickyString(next: () => number): string {
  const parts = ['"', '\\', '[', ']', '{', '}', '\\"', '\\\\', 'a', '€'];
  return Array.from({ length: Math.floor(next() * 8) }, () => parts[Math.floor(next() * parts.length)]).join('');
}

function randomValue(next: () => number, depth: number): unknown {
  const r = next();
  if (depth === 0 || r < 0.3) return r < 0.1 ? 1.5e3 : trickyString(next);
  const n = 1 + Math.floor(next() * 3);
  if (r < 0.65) return Array.from({ length: n }, () => randomValue(next, depth - 1));
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`${trickyString(next)}${i}`, randomValue(next, depth - 1)]));
}

const refuses = (text: string, max: number) => {
  try {
    assertJsonDepth(text, max);
    return false;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'JSON_TOO_DEEP') return true;
    throw e;
  }
};

describe('assertJsonDepth', () => {
  it('agrees with the depth of the parsed value on 500 random documents with quotes, backslashes and brackets in strings', () => {
    const next = rng(7);
    for (let n = 0; n < 500; n++) {
      const text = JSON.stringify(randomValue(next, 1 + Math.floor(next() * 7)));
      const depth = depthOf(JSON.parse(text));
      expect(refuses(text, depth), text).toBe(false);
      if (depth > 0) expect(refuses(text, depth - 1), text).toBe(true);
    }
  });

  it('hand-made cases: escaped quotes keep a string open, an even run of backslashes closes it', () => {
    expect(refuses('["\\"[[[", 1]', 1)).toBe(false); // the brackets are inside the string
    expect(refuses('["\\\\", [[1]]]', 2)).toBe(true); // "\\" ends at its second quote: depth 3
    expect(refuses('{"a\\\\\\"[":[]}', 1)).toBe(true); // \\ then \" : still the key; then [] is depth 2
  });
});

describe('decodeBase64', () => {
  const bytesOf = (binary: string) => Uint8Array.from(binary, (c) => c.charCodeAt(0));

  it('equals the runtime decoder (atob) for every length from 0 to 40 bytes, padded or not', () => {
    const next = rng(11);
    for (let length = 0; length <= 40; length++) {
      const bytes = Uint8Array.from({ length }, () => Math.floor(next() * 256));
      const padded = btoa(String.fromCharCode(...bytes));
      for (const text of [padded, padded.replace(/=+$/, '')]) expect(decodeBase64(text)).toEqual(bytesOf(atob(padded)));
    }
  });

  it('names the first invalid character, including where atob would skip whitespace', () => {
    // The last three are ones Uint8Array.fromBase64 (workerd's, tried first) would decode by skipping the whitespace.
    const cases: Array<[string, number]> = [['QUJD RA==', 4], ['QUJDRA=x', 6], ['QU€D', 2], ['QUJ-', 3], ['QUJD QQ==', 4], ['QUJDRA\n', 6], ['QU\tJDRA', 2]];
    for (const [text, at] of cases) expect(() => decodeBase64(text), text).toThrow(`invalid character at position ${at}`);
    expect(() => decodeBase64('QUJDR')).toThrow('not valid base64'); // 5 characters cannot end a group
    expect(() => decodeBase64('QQ QQ')).toThrow('not valid base64'); // nor 5 with a space among them
  });
});

describe('parseEmbeddings (base64 rows)', () => {
  const limits = limitsOf({} as never);
  const encode = (values: number[]) => btoa(String.fromCharCode(...new Uint8Array(new Float32Array(values).buffer)));

  it('gives the encoded float32 values, each row in its own buffer', () => {
    const values = [0.1, -2, 3.5e-39, 1e30, 0, -0, 7, 8];
    const rows = parseEmbeddings({ base64: encode(values), dim: 4 }, limits);
    expect(rows.map((r) => [...r])).toEqual([Array.from(new Float32Array(values.slice(0, 4))), Array.from(new Float32Array(values.slice(4)))]);
    for (const row of rows) expect(row.buffer.byteLength).toBe(16);
  });

  it('locates a non-finite value by embedding and position', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(() => parseEmbeddings({ base64: encode([1, 2, 3, 4, 5, bad, 7, 8]), dim: 4 }, limits)).toThrow(`Embedding 1 has ${bad} at position 1`);
    }
  });
});
