/**
 * Dot products of queries with a kNN head's stored references, the whole cost of an exact
 * search. Large reference sets live in WebAssembly memory and are scanned by the SIMD kernels
 * of similarity.wat, several times the plain-JS kernels (`npm run bench:knn`); the
 * rows are stored there and nowhere else, so a 51 MB head is not held twice.
 *
 * `laneDots` repeats the kernels' float32 arithmetic in JavaScript bit for bit, so a head
 * gives the same distances whether WebAssembly runs (Node, browsers, a Worker given the
 * compiled kernel) or not (a page whose CSP forbids it, small heads below WASM_MIN_FLOATS).
 * @module
 */
import { SIMILARITY_WASM } from './similarity-wasm.js';

interface SimilarityKernels {
  dots4(queries: number, refs: number, count: number, dim: number, out: number): void;
  dots1(queries: number, refs: number, count: number, dim: number, out: number): void;
  idots4(queries: number, refs: number, count: number, dim: number, out: number): void;
  idots1(queries: number, refs: number, count: number, dim: number, out: number): void;
}

interface WasmLayout {
  kernels: SimilarityKernels;
  memory: WebAssembly.Memory;
  queriesAt: number;
  scoresAt: number;
  refsAt: number;
  /** The int8 copy of the rows and what the approximate pass needs (absent when dim % 16 ≠ 0). */
  int8?: { queriesAt: number; rowsAt: number; scoresAt: number };
}

/**
 * A row scaled to int8 (or int16 for a query) by its largest magnitude: row ≈ scale · q.
 * `norm` is ‖scale · q‖ and `error` ‖row − scale · q‖, which bound how far an integer dot
 * product, scaled back, can be from the exact one.
 */
export interface Quantized {
  scale: number;
  norm: number;
  error: number;
}

/**
 * Writes round(row / scale) to out[outAt ..] (|values| ≤ 127) and returns the scale and norms.
 * One array type only, so the stores stay fast (int8 rows are copied from an int16 scratch row).
 */
export function quantizeRow(src: Float32Array, at: number, dim: number, out: Int16Array, outAt: number): Quantized {
  let max = 0;
  for (let k = 0; k < dim; k++) {
    const a = Math.abs(src[at + k]);
    if (a > max) max = a;
  }
  if (max === 0) {
    out.fill(0, outAt, outAt + dim);
    return { scale: 0, norm: 0, error: 0 };
  }
  const scale = max / 127;
  const inverse = 127 / max;
  let norm = 0;
  let error = 0;
  for (let k = 0; k < dim; k++) {
    const x = src[at + k];
    // Rounds to the nearest integer (|x·inverse| ≤ 127): adding 1.5·2⁵² leaves no fraction bits.
    const q = x * inverse + ROUNDING - ROUNDING;
    out[outAt + k] = q;
    const back = q * scale;
    norm += back * back;
    error += (x - back) * (x - back);
  }
  return { scale, norm: Math.sqrt(norm), error: Math.sqrt(error) };
}

const ROUNDING = 1.5 * 2 ** 52;

/** Below this many stored floats (256 KiB) a plain array is kept: its scan is short anyway. */
export const WASM_MIN_FLOATS = 1 << 16;
const PAGE_BYTES = 65536;
/** Above this dim, 127² · dim overflows the int8 pass's int32 sums: no int8 copy. */
const MAX_INT8_DIM = Math.floor((2 ** 31 - 1) / (127 * 127));
/** WebAssembly memory is indexed by 32-bit offsets; larger heads stay in JavaScript arrays. */
const MAX_WASM_BYTES = 2 ** 32 - PAGE_BYTES;

let module: WebAssembly.Module | null | undefined;

/**
 * Gives the kernel compiled at deploy time, for runtimes that forbid compiling WebAssembly
 * from bytes (Cloudflare Workers). In a Worker:
 *
 * ```ts
 * import similarityWasm from 'edgehead/wasm/similarity.wasm';
 * import { useSimilarityKernel } from 'edgehead/heads';
 * useSimilarityKernel(similarityWasm);
 * ```
 * Without it, kNN heads search in plain JavaScript there, with the same results.
 */
export function useSimilarityKernel(compiled: WebAssembly.Module): void {
  module = compiled;
}

function kernelModule(): WebAssembly.Module | null {
  if (module === undefined) {
    try {
      module = typeof WebAssembly !== 'undefined' && WebAssembly.validate(SIMILARITY_WASM) ? new WebAssembly.Module(SIMILARITY_WASM) : null;
    } catch {
      module = null; // run-time compilation refused by the embedder
    }
  }
  return module;
}

/**
 * Room for `capacity` reference rows of `dim` floats: in WebAssembly memory beside the scratch
 * the kernels need, or a plain array where the kernel is unavailable, dim is not a multiple
 * of 8, or the rows are few (or too many for 32-bit memory).
 */
export class ReferenceRows {
  /** The rows, row-major (capacity × dim). */
  readonly data: Float32Array;

  private constructor(
    readonly capacity: number,
    readonly dim: number,
    data: Float32Array,
    private readonly wasm?: WasmLayout,
  ) {
    this.data = data;
    if (wasm?.int8) {
      this.quantization = { scale: new Float64Array(capacity), norm: new Float64Array(capacity), error: new Float64Array(capacity) };
    }
  }

  /** Per row of the int8 copy: its scale and norms (see quantizeRow). */
  readonly quantization?: { scale: Float64Array; norm: Float64Array; error: Float64Array };
  /** Rows 0 .. quantized-1 of the int8 copy match `data`; later ones are made when asked for. */
  private quantized = 0;

  static allocate(capacity: number, dim: number): ReferenceRows {
    const floats = capacity * dim;
    const compiled = floats >= WASM_MIN_FLOATS && dim % 8 === 0 ? kernelModule() : null;
    // Layout: four query rows | four scores per reference | the references; then, when dim is a
    // multiple of 16 (and small enough that 127² · dim integer sums fit in int32), four int16
    // query rows | the references as int8 | four int32 scores per reference.
    const queriesAt = 0;
    const scoresAt = queriesAt + 16 * dim;
    const refsAt = scoresAt + 16 * capacity;
    const withInt8 = dim % 16 === 0 && dim <= MAX_INT8_DIM;
    const layouts = withInt8 ? [true, false] : [false];
    for (const copy of compiled ? layouts : []) {
      const int8 = copy ? { queriesAt: refsAt + 4 * floats, rowsAt: refsAt + 4 * floats + 8 * dim, scoresAt: refsAt + 4 * floats + 8 * dim + floats } : undefined;
      const bytes = int8 ? int8.scoresAt + 16 * capacity : refsAt + 4 * floats;
      if (!compiled || bytes > MAX_WASM_BYTES) continue;
      try {
        const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE_BYTES) });
        const instance = new WebAssembly.Instance(compiled, { env: { memory } });
        const kernels = instance.exports as unknown as SimilarityKernels;
        return new ReferenceRows(capacity, dim, new Float32Array(memory.buffer, refsAt, floats), { kernels, memory, queriesAt, scoresAt, refsAt, int8 });
      } catch {
        // Memory refused (a browser tab near its limit): without the int8 copy, or the plain array below.
      }
    }
    return new ReferenceRows(capacity, dim, new Float32Array(floats));
  }

  /**
   * Takes over `from`'s int8 copies of its first `rows` rows (this one's float rows already hold
   * the same values), so a head that grows does not make them again.
   */
  adoptInt8(from: ReferenceRows, rows: number): void {
    const mine = this.wasm?.int8;
    const theirs = from.wasm?.int8;
    if (!this.wasm || !from.wasm || !mine || !theirs || !this.quantization || !from.quantization || from.dim !== this.dim) return;
    const n = Math.min(rows, from.quantized, this.capacity);
    new Int8Array(this.wasm.memory.buffer, mine.rowsAt, n * this.dim).set(new Int8Array(from.wasm.memory.buffer, theirs.rowsAt, n * this.dim));
    for (const key of ['scale', 'norm', 'error'] as const) this.quantization[key].set(from.quantization[key].subarray(0, n));
    this.quantized = n;
  }

  /** True when the WebAssembly kernels scan these rows. */
  get inWebAssembly(): boolean {
    return this.wasm !== undefined;
  }

  /** True when a search can take an approximate int8 first pass (then re-score its candidates exactly). */
  get approximates(): boolean {
    return this.wasm?.int8 !== undefined;
  }

  /** Rows from `row` on changed (moved by a removal): their int8 copy is made again when next asked for. */
  changedFrom(row: number): void {
    this.quantized = Math.min(this.quantized, row);
  }

  /**
   * Exact integer dot products of `n` (1 to 4) int16 query rows (n × dim, see quantizeRow) with
   * the int8 copies of `count` references from row `from`: query i with reference from + r at
   * [4r + i] (n > 1) or [r] (n = 1). Scratch, as scores().
   */
  approximateScores(queries: Int16Array, n: number, count: number, from = 0): Int32Array {
    const wasm = this.wasm;
    const int8 = wasm?.int8;
    if (!wasm || !int8) throw new Error('approximateScores needs the int8 copy (check approximates first).');
    this.quantizeUpTo(from + count);
    const block = new Int16Array(wasm.memory.buffer, int8.queriesAt, 4 * this.dim);
    block.set(queries.subarray(0, n * this.dim));
    const refs = int8.rowsAt + from * this.dim;
    if (n === 1) {
      wasm.kernels.idots1(int8.queriesAt, refs, count, this.dim, int8.scoresAt);
      return new Int32Array(wasm.memory.buffer, int8.scoresAt, count);
    }
    block.fill(0, n * this.dim); // rows past n are scored and ignored
    wasm.kernels.idots4(int8.queriesAt, refs, count, this.dim, int8.scoresAt);
    return new Int32Array(wasm.memory.buffer, int8.scoresAt, 4 * count);
  }

  /** Makes the int8 copies of rows up to `count` that are missing or out of date. */
  quantizeUpTo(count: number): void {
    const int8 = this.wasm?.int8;
    const quantization = this.quantization;
    if (!this.wasm || !int8 || !quantization || this.quantized >= count) return;
    const d = this.dim;
    const rows = new Int8Array(this.wasm.memory.buffer, int8.rowsAt, this.capacity * d);
    const scratch = new Int16Array(d);
    for (let r = this.quantized; r < count; r++) {
      const q = quantizeRow(this.data, r * d, d, scratch, 0);
      rows.set(scratch, r * d);
      quantization.scale[r] = q.scale;
      quantization.norm[r] = q.norm;
      quantization.error[r] = q.error;
    }
    this.quantized = count;
  }

  /**
   * Scores of up to four queries (rows q0 .. q0+n-1 of `queries`) with `count` references from
   * row `from`: score of query i with reference from + r at [4r + i] (n > 1) or [r] (n = 1).
   * The returned array is scratch, overwritten by the next call.
   */
  scores(queries: Float32Array, q0: number, n: number, count: number, from = 0): Float32Array {
    const d = this.dim;
    if (!this.wasm) return laneDots(queries, q0, n, this.data.subarray(from * d), count, d);
    const { kernels, memory, queriesAt, scoresAt, refsAt } = this.wasm;
    const block = new Float32Array(memory.buffer, queriesAt, 4 * d);
    block.set(queries.subarray(q0 * d, (q0 + n) * d));
    const refs = refsAt + 4 * from * d;
    if (n === 1) {
      kernels.dots1(queriesAt, refs, count, d, scoresAt);
      return new Float32Array(memory.buffer, scoresAt, count);
    }
    block.fill(0, n * d); // rows past n are scored and ignored
    kernels.dots4(queriesAt, refs, count, d, scoresAt);
    return new Float32Array(memory.buffer, scoresAt, 4 * count);
  }
}

/**
 * The kernels' arithmetic in JavaScript (see similarity.wat): eight float32 partial sums per
 * query and reference, over elements k ≡ j (mod 8), combined as the kernels combine them.
 * Any dim works; the kernels need a multiple of 8 and get the same results on it.
 */
export function laneDots(queries: Float32Array, q0: number, n: number, refs: Float32Array, count: number, dim: number): Float32Array {
  const f = Math.fround;
  const stride = n === 1 ? 1 : 4;
  const out = new Float32Array(stride * count);
  for (let i = 0; i < n; i++) {
    const qa = (q0 + i) * dim;
    for (let r = 0; r < count; r++) {
      const ra = r * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      let k = 0;
      for (; k + 8 <= dim; k += 8) {
        const a = qa + k, b = ra + k;
        s0 = f(s0 + f(queries[a] * refs[b]));
        s1 = f(s1 + f(queries[a + 1] * refs[b + 1]));
        s2 = f(s2 + f(queries[a + 2] * refs[b + 2]));
        s3 = f(s3 + f(queries[a + 3] * refs[b + 3]));
        s4 = f(s4 + f(queries[a + 4] * refs[b + 4]));
        s5 = f(s5 + f(queries[a + 5] * refs[b + 5]));
        s6 = f(s6 + f(queries[a + 6] * refs[b + 6]));
        s7 = f(s7 + f(queries[a + 7] * refs[b + 7]));
      }
      // A dim that is not a multiple of 8 (no kernel runs then): the rest in the same lanes.
      for (; k < dim; k++) {
        const v = f(queries[qa + k] * refs[ra + k]);
        const j = k & 7;
        if (j === 0) s0 = f(s0 + v);
        else if (j === 1) s1 = f(s1 + v);
        else if (j === 2) s2 = f(s2 + v);
        else if (j === 3) s3 = f(s3 + v);
        else if (j === 4) s4 = f(s4 + v);
        else if (j === 5) s5 = f(s5 + v);
        else s6 = f(s6 + v); // j = 7 never occurs in a tail shorter than 8
      }
      out[r * stride + i] = f(f(f(s0 + s4) + f(s1 + s5)) + f(f(s2 + s6) + f(s3 + s7)));
    }
  }
  return out;
}
