/**
 * WebAssembly compiled at deploy time, for runtimes that forbid compiling it from bytes at run
 * time (Cloudflare Workers: only `.wasm` imports, compiled by the bundler, can be instantiated).
 * The runtimes' loaders (onnxruntime-web's, tfjs-backend-wasm's) instantiate whatever bytes they
 * are given; they are given a small placeholder naming the module, and `WebAssembly.instantiate`
 * answers that call with the precompiled module instead.
 * @module
 */
import type { OnnxRuntimeModule } from './onnx/runtime.js';

// The WebAssembly magic with a version no real module has, then the module's key.
const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0xed, 0x6e, 0xea, 0xd0];
const compiled = new Map<string, WebAssembly.Module>();
let installed = false;

function keyOf(source: unknown): string | undefined {
  let bytes: Uint8Array | undefined;
  if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (ArrayBuffer.isView(source)) bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (!bytes || bytes.length <= MAGIC.length || bytes.length > 64 || !MAGIC.every((b, i) => bytes[i] === b)) return undefined;
  return new TextDecoder().decode(bytes.subarray(MAGIC.length));
}

/** Registers a precompiled module under `key`; returns the placeholder bytes that stand for it. */
export function placeholderFor(key: string, module: WebAssembly.Module): Uint8Array<ArrayBuffer> {
  if (!installed) {
    installed = true;
    type Instantiate = (source: unknown, imports?: WebAssembly.Imports) => Promise<unknown>;
    const original = WebAssembly.instantiate.bind(WebAssembly) as Instantiate;
    const patched: Instantiate = (source, imports) => {
      const key = keyOf(source);
      const module = key === undefined ? undefined : compiled.get(key);
      if (!module) return original(source, imports);
      return (original(module, imports) as Promise<WebAssembly.Instance>).then((instance) => ({ instance, module }));
    };
    WebAssembly.instantiate = patched as typeof WebAssembly.instantiate;
  }
  compiled.set(key, module);
  return Uint8Array.of(...MAGIC, ...new TextEncoder().encode(key));
}

/**
 * Makes an `onnxruntime-web/wasm` module usable in a Worker, given its runtime compiled at
 * deploy time. Pass the result as the `onnxruntime` option, with `device: 'wasm'`:
 *
 * ```ts
 * import * as ort from 'onnxruntime-web/wasm';
 * import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
 * const onnxruntime = workersOnnxRuntime(ort, ortWasm);
 * ```
 * Workers have no threads: the runtime is set to one.
 */
export function workersOnnxRuntime(ort: OnnxRuntimeModule, module: WebAssembly.Module): OnnxRuntimeModule {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = placeholderFor('onnxruntime-web', module);
  return ort;
}
