/**
 * onnxruntime-web inside Cloudflare Workers (workerd). Workers forbid compiling WebAssembly from
 * bytes at run time; only modules compiled at deploy time (a `.wasm` import) can run. The
 * runtime's loader instantiates whatever `env.wasm.wasmBinary` holds, so it is given a small
 * placeholder, and that one `WebAssembly.instantiate` call is answered with the precompiled module.
 * @module
 */
import type { OnnxRuntimeModule } from './runtime.js';

// The WebAssembly magic with a version no real module has: never confused with a real binary.
const PLACEHOLDER = [0x00, 0x61, 0x73, 0x6d, 0xed, 0x6e, 0xea, 0xd0];

type Instantiate = typeof WebAssembly.instantiate;
let compiledModule: WebAssembly.Module | undefined;

function isPlaceholder(source: unknown): boolean {
  let bytes: Uint8Array | undefined;
  if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (ArrayBuffer.isView(source)) bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return !!bytes && bytes.length === PLACEHOLDER.length && PLACEHOLDER.every((b, i) => bytes[i] === b);
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
export function workersOnnxRuntime(ort: OnnxRuntimeModule, compiled: WebAssembly.Module): OnnxRuntimeModule {
  if (!compiledModule) {
    const original: Instantiate = WebAssembly.instantiate.bind(WebAssembly);
    const patched = ((source: unknown, imports?: WebAssembly.Imports) => {
      if (compiledModule && isPlaceholder(source)) {
        const module = compiledModule;
        return original(module, imports).then((instance) => ({ instance, module }));
      }
      return (original as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
    }) as Instantiate;
    WebAssembly.instantiate = patched;
  }
  compiledModule = compiled;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = new Uint8Array(PLACEHOLDER);
  return ort;
}
