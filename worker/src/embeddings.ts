/**
 * Embedding batches in request bodies: JSON arrays of numbers, or — more compact — base64 of
 * little-endian float32 (`{"base64": "...", "dim": 1280}`, rows concatenated).
 */
import { badRequest } from './errors.js';
import type { Limits } from './limits.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SEXTET = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;

const sextet = (code: number) => (code < 128 ? SEXTET[code] : -1);

/**
 * Strict base64 (standard alphabet, optional padding) straight into bytes — no binary string.
 * `field` and `errorCode` name the request field and the error code. Four characters make
 * three bytes; an invalid character in a group makes the group's value negative.
 */
export function decodeBase64(text: string, field = 'embeddings.base64', errorCode = 'INVALID_EMBEDDING'): Uint8Array {
  const native = nativeDecode(text);
  if (native) return native;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (text.length - end > 2 || end % 4 === 1) throw badRequest(errorCode, `"${field}" is not valid base64.`);
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  const invalidAt = (from: number) => {
    let i = from;
    while (sextet(text.charCodeAt(i)) >= 0) i++;
    return badRequest(errorCode, `"${field}" has an invalid character at position ${i}.`);
  };
  const whole = end - (end % 4);
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const n = (sextet(text.charCodeAt(i)) << 18) | (sextet(text.charCodeAt(i + 1)) << 12) | (sextet(text.charCodeAt(i + 2)) << 6) | sextet(text.charCodeAt(i + 3));
    if (n < 0) throw invalidAt(i);
    out[o] = n >> 16;
    out[o + 1] = (n >> 8) & 0xff;
    out[o + 2] = n & 0xff;
    o += 3;
  }
  if (end > whole) {
    // Two characters make one byte, three make two; the leftover low bits are ignored.
    let n = 0;
    for (let i = whole; i < end; i++) {
      const v = sextet(text.charCodeAt(i));
      if (v < 0) throw invalidAt(i);
      n = (n << 6) | v;
    }
    if (end - whole === 2) out[o] = n >> 4;
    else {
      out[o] = n >> 10;
      out[o + 1] = (n >> 2) & 0xff;
    }
  }
  return out;
}

type FromBase64 = (text: string) => Uint8Array;
const fromBase64 = (Uint8Array as unknown as { fromBase64?: FromBase64 }).fromBase64;

/**
 * The runtime's own decoder (`Uint8Array.fromBase64`, in workerd; about 5× faster than the loop
 * above on a 110 KB body), used only where it agrees with the strict rules: it skips whitespace
 * (so fewer bytes than the length implies means the text had some) and refuses some padding the
 * loop accepts, so anything it does not decode to the expected length goes to the loop, which
 * accepts or names the wrong character.
 */
function nativeDecode(text: string): Uint8Array | undefined {
  if (!fromBase64) return undefined;
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (text.length - end > 2 || end % 4 === 1) return undefined;
  let out: Uint8Array;
  try {
    out = fromBase64(text);
  } catch {
    return undefined;
  }
  // n characters (n mod 4 ≠ 1) decode to ⌊3n/4⌋ bytes, strictly more for every more character:
  // with any whitespace skipped, the count falls short.
  return out.length === Math.floor((end * 3) / 4) ? out : undefined;
}

/** Float32Array shares the platform's byte order; base64 bodies are little-endian. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export type EmbeddingsBody = number[][] | { base64: string; dim: number };

export function parseEmbeddings(value: unknown, limits: Limits, expectedDim?: number): Float32Array[] {
  let rows: Float32Array[];
  if (Array.isArray(value)) {
    if (value.length === 0) throw badRequest('EMPTY_BATCH', '"embeddings" is empty; send at least one embedding.');
    if (value.length > limits.maxBatch) throw badRequest('BATCH_TOO_LARGE', `At most ${limits.maxBatch} embeddings per request; got ${value.length}. Split the batch.`);
    rows = value.map((row, i) => {
      if (!Array.isArray(row)) throw badRequest('INVALID_EMBEDDING', `embeddings[${i}] must be an array of numbers.`);
      if (row.length > limits.maxDim) throw badRequest('DIM_TOO_LARGE', `embeddings[${i}] has ${row.length} values; the limit is ${limits.maxDim}.`);
      const out = new Float32Array(row.length);
      row.forEach((v, j) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest('INVALID_EMBEDDING', `embeddings[${i}][${j}] is ${JSON.stringify(v)}; embeddings must be finite numbers.`);
        out[j] = v;
        // 1e39 is a finite JSON number but Infinity as float32, the type every head computes in.
        if (!Number.isFinite(out[j])) {
          throw badRequest('INVALID_EMBEDDING', `embeddings[${i}][${j}] is ${v}, beyond the float32 range (±3.4e38); embeddings must be finite as float32.`);
        }
      });
      return out;
    });
  } else if (value && typeof value === 'object' && 'base64' in value) {
    const { base64, dim } = value as { base64: unknown; dim: unknown };
    if (typeof base64 !== 'string') throw badRequest('INVALID_EMBEDDING', '"embeddings.base64" must be a string.');
    if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > limits.maxDim) {
      throw badRequest('INVALID_EMBEDDING', `"embeddings.dim" must be an integer between 1 and ${limits.maxDim}.`);
    }
    const bytes = decodeBase64(base64);
    if (bytes.length === 0 || bytes.length % (4 * dim) !== 0) {
      throw badRequest('INVALID_EMBEDDING', `"embeddings.base64" decodes to ${bytes.length} bytes, not a whole number of ${dim}-d float32 rows.`);
    }
    const count = bytes.length / (4 * dim);
    if (count > limits.maxBatch) throw badRequest('BATCH_TOO_LARGE', `At most ${limits.maxBatch} embeddings per request; got ${count}. Split the batch.`);
    if (LITTLE_ENDIAN) {
      // The decoded bytes are a fresh buffer (offset 0): read as floats in place, checked, then
      // copied row by row so each row owns its buffer (rows are kept and sent on alone).
      const floats = new Float32Array(bytes.buffer, 0, count * dim);
      for (let k = 0; k < floats.length; k++) {
        const v = floats[k];
        if (v - v !== 0) throw badRequest('INVALID_EMBEDDING', `Embedding ${Math.floor(k / dim)} has ${v} at position ${k % dim}; embeddings must be finite float32 values.`);
      }
      rows = Array.from({ length: count }, (_, r) => floats.slice(r * dim, (r + 1) * dim));
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      rows = Array.from({ length: count }, (_, r) => {
        const out = new Float32Array(dim);
        for (let j = 0; j < dim; j++) {
          const v = view.getFloat32((r * dim + j) * 4, true);
          if (!Number.isFinite(v)) throw badRequest('INVALID_EMBEDDING', `Embedding ${r} has ${v} at position ${j}; embeddings must be finite float32 values.`);
          out[j] = v;
        }
        return out;
      });
    }
  } else {
    throw badRequest('INVALID_EMBEDDING', '"embeddings" must be an array of number arrays, or {"base64": "<little-endian float32>", "dim": n}.');
  }
  if (expectedDim !== undefined) {
    rows.forEach((r, i) => {
      if (r.length !== expectedDim) throw badRequest('DIMENSION_MISMATCH', `embeddings[${i}] has ${r.length} values; this head takes ${expectedDim}. Use the head's backbone.`);
    });
  }
  return rows;
}
