/**
 * Picks and loads an ONNX runtime: onnxruntime-node (native, Node only), onnxruntime-web on
 * WASM-SIMD, or onnxruntime-web's WebGPU execution provider (browsers). Loaded lazily, so
 * importing the SDK has no side effects and a browser bundle never sees the Node runtime.
 * @module
 */
import type * as OrtWeb from 'onnxruntime-web';
import { BackendUnavailableError } from '../../core/errors.js';

export type OnnxDevice = 'auto' | 'node' | 'wasm' | 'webgpu';

export interface OnnxRuntimeOptions {
  /** `auto`: onnxruntime-node in Node when installed, else WASM. WebGPU only when asked for. */
  device?: OnnxDevice;
  /**
   * WASM threads. onnxruntime-web applies this once per process/page (its `env` is global);
   * threads need cross-origin isolation in browsers. Default: 1 in browsers, min(4, cores) in Node.
   */
  threads?: number;
  /**
   * Where onnxruntime-web's `.wasm`/`.mjs` files are served from (a URL prefix ending in `/`).
   * Required in browsers unless the bundler inlines them; in Node it defaults to the installed package.
   * There is deliberately no CDN fallback.
   */
  wasmPaths?: string;
}

type OrtModule = Pick<typeof OrtWeb, 'InferenceSession' | 'Tensor' | 'env'>;

export interface LoadedRuntime {
  /** The runtime actually in use: 'node', 'wasm' or 'webgpu'. */
  device: Exclude<OnnxDevice, 'auto'>;
  ort: OrtModule;
  executionProviders: string[];
}

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// Non-literal specifiers keep bundlers from pulling Node-only packages into browser builds.
const ORT_NODE = 'onnxruntime-node';

let webModule: Promise<OrtModule> | undefined;
let webConfigured = false;

/** onnxruntime-web's default browser build carries both the WASM and the WebGPU (JSEP) EPs. */
async function loadWeb(options: OnnxRuntimeOptions): Promise<OrtModule> {
  const ort = await (webModule ??= import('onnxruntime-web') as Promise<OrtModule>);
  if (!webConfigured) {
    webConfigured = true;
    const wasm = ort.env.wasm;
    if (options.wasmPaths) wasm.wasmPaths = options.wasmPaths;
    else if (isNode) wasm.wasmPaths = await nodeWasmDir();
    wasm.numThreads = options.threads ?? (isNode ? await defaultNodeThreads() : 1);
  }
  return ort;
}

async function nodeWasmDir(): Promise<string> {
  const { createRequire } = await import(/* @vite-ignore */ 'node:module');
  const { dirname } = await import(/* @vite-ignore */ 'node:path');
  const { pathToFileURL } = await import(/* @vite-ignore */ 'node:url');
  const require = createRequire(import.meta.url);
  const entry = require.resolve('onnxruntime-web');
  return `${pathToFileURL(dirname(entry)).href}/`;
}

async function defaultNodeThreads(): Promise<number> {
  const os = await import(/* @vite-ignore */ 'node:os');
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

const nodeModuleCache: { promise?: Promise<OrtModule> } = {};

async function loadNode(): Promise<OrtModule> {
  if (!isNode) throw new BackendUnavailableError('device "node" needs Node.js; use "wasm" or "webgpu" in a browser or Worker.');
  try {
    return await (nodeModuleCache.promise ??= import(/* @vite-ignore */ ORT_NODE) as Promise<OrtModule>);
  } catch (cause) {
    nodeModuleCache.promise = undefined;
    throw new BackendUnavailableError(
      'onnxruntime-node is not installed or failed to load. Install it (`npm i onnxruntime-node`, with ' +
        'onnxruntime-node-install=skip in .npmrc when offline) or use device "wasm".',
      { cause },
    );
  }
}

/** Resolves `device` to a loaded runtime; `auto` falls back from node to wasm. */
export async function loadRuntime(options: OnnxRuntimeOptions = {}): Promise<LoadedRuntime> {
  const device = options.device ?? 'auto';
  switch (device) {
    case 'node':
      return { device: 'node', ort: await loadNode(), executionProviders: ['cpu'] };
    case 'wasm':
      return { device: 'wasm', ort: await loadWeb(options), executionProviders: ['wasm'] };
    case 'webgpu': {
      if (typeof navigator === 'undefined' || !('gpu' in navigator)) {
        throw new BackendUnavailableError(
          'device "webgpu" needs a browser with WebGPU (navigator.gpu); use "wasm" here.',
        );
      }
      return { device: 'webgpu', ort: await loadWeb(options), executionProviders: ['webgpu'] };
    }
    case 'auto':
      if (isNode) {
        try {
          return { device: 'node', ort: await loadNode(), executionProviders: ['cpu'] };
        } catch {
          // onnxruntime-node is optional; WASM works everywhere.
        }
      }
      return { device: 'wasm', ort: await loadWeb(options), executionProviders: ['wasm'] };
    default:
      throw new BackendUnavailableError(`Unknown device "${String(device)}"; use auto, node, wasm or webgpu.`);
  }
}
