/**
 * Picks and loads an ONNX runtime: onnxruntime-node (native, Node only), onnxruntime-web on
 * WASM-SIMD, or onnxruntime-web's WebGPU execution provider (browsers). Loaded lazily, so
 * importing the SDK has no side effects and a browser bundle never sees the Node runtime.
 *
 * This file uses no Node built-ins, so the root entry bundles for browsers and Workers; Node
 * defaults (thread count) are registered by `edgehead/node` through `setPlatformDefaults`.
 * @module
 */
import type * as OrtWeb from 'onnxruntime-web';
import { BackendUnavailableError } from '../../core/errors.js';

export type OnnxDevice = 'auto' | 'node' | 'wasm' | 'webgpu';

export interface OnnxRuntimeOptions {
  /**
   * `auto`: in Node, onnxruntime-node when installed, else WASM with a warning; in browsers,
   * WebGPU when it is present and gives the same embeddings as WASM on a probe and is faster,
   * else WASM. An explicit `webgpu` that fails the probe is an error.
   */
  device?: OnnxDevice;
  /**
   * WASM threads. onnxruntime-web applies this once per process/page (its `env` is global);
   * threads need cross-origin isolation in browsers. Default: 1 in browsers, min(4, cores) in Node.
   */
  threads?: number;
  /**
   * Where onnxruntime-web's `.wasm`/`.mjs` files are served from (a URL prefix ending in `/`).
   * Required in browsers unless the bundler emits them; in Node the package finds its own.
   * There is deliberately no CDN fallback.
   */
  wasmPaths?: string;
  /** Where warnings go (a runtime fallback, a rejected execution provider). Default: console.warn. */
  onWarning?: (message: string) => void;
  /**
   * An onnxruntime-web module you loaded yourself, used for `wasm`/`webgpu` instead of importing
   * `onnxruntime-web`. For runtimes that cannot fetch or compile `.wasm` at run time, such as
   * Cloudflare Workers: import `onnxruntime-web/wasm` and its `.wasm` as a module, then pass the
   * result of `workersOnnxRuntime` (see the package README, Workers).
   */
  onnxruntime?: OnnxRuntimeModule;
}

/** The parts of onnxruntime-web the SDK uses. */
export type OnnxRuntimeModule = Pick<typeof OrtWeb, 'InferenceSession' | 'Tensor' | 'env'>;
type OrtModule = OnnxRuntimeModule;

export type ConcreteDevice = Exclude<OnnxDevice, 'auto'>;

export interface LoadedRuntime {
  /** The runtime actually in use: 'node', 'wasm' or 'webgpu'. */
  device: ConcreteDevice;
  ort: OrtModule;
  executionProviders: string[];
}

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

interface PlatformDefaults {
  /** Default WASM thread count when the caller gives none. */
  threads?: () => number;
}

let platform: PlatformDefaults = {};

/** Called once by the Node entry; keeps Node built-ins out of the isomorphic code. */
export function setPlatformDefaults(defaults: PlatformDefaults): void {
  platform = defaults;
}

// Non-literal specifiers keep bundlers from pulling Node-only packages into browser builds.
const ORT_NODE = 'onnxruntime-node';

let webModule: Promise<OrtModule> | undefined;
let webConfigured = false;

/** onnxruntime-web's default browser build carries both the WASM and the WebGPU (JSEP) EPs. */
async function loadWeb(options: OnnxRuntimeOptions): Promise<OrtModule> {
  const ort = options.onnxruntime ?? (await (webModule ??= import('onnxruntime-web') as Promise<OrtModule>));
  if (!webConfigured) {
    webConfigured = true;
    const wasm = ort.env.wasm;
    if (options.wasmPaths) wasm.wasmPaths = options.wasmPaths;
    wasm.numThreads = options.threads ?? platform.threads?.() ?? 1;
  }
  return ort;
}

const nodeModuleCache: { promise?: Promise<OrtModule> } = {};

async function loadNode(): Promise<OrtModule> {
  if (!isNode) throw new BackendUnavailableError('device "node" needs Node.js; use "wasm" or "webgpu" in a browser or Worker.');
  try {
    return await (nodeModuleCache.promise ??= import(/* @vite-ignore */ ORT_NODE) as Promise<OrtModule>);
  } catch (cause) {
    nodeModuleCache.promise = undefined;
    throw new BackendUnavailableError(`onnxruntime-node is not installed or failed to load (${errorText(cause)}). ${NODE_FIX}`, { cause });
  }
}

const NODE_FIX =
  'Install it with `ONNXRUNTIME_NODE_INSTALL=skip npm i onnxruntime-node` (the variable skips its optional ' +
  'GPU download, which fails offline; the CPU binaries ship in the package), or use device "wasm".';

let warnedFallback = false;

/** The one warning a Node user gets when `auto` lands on WASM: it is ~20x slower and silent otherwise. */
function warnNodeFallback(options: OnnxRuntimeOptions, cause: unknown): void {
  if (warnedFallback) return;
  warnedFallback = true;
  const reason = cause instanceof BackendUnavailableError && cause.cause ? errorText(cause.cause) : errorText(cause);
  (options.onWarning ?? console.warn)(
    `edgehead: onnxruntime-node could not be loaded (${reason}); running ONNX models on onnxruntime-web WASM ` +
      `instead, about 20x slower in Node. ${NODE_FIX}`,
  );
}

export function hasWebGpu(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as { gpu?: unknown }).gpu;
}

/** Loads one concrete runtime. */
export async function loadDevice(device: ConcreteDevice, options: OnnxRuntimeOptions = {}): Promise<LoadedRuntime> {
  switch (device) {
    case 'node':
      return { device: 'node', ort: await loadNode(), executionProviders: ['cpu'] };
    case 'wasm':
      return { device: 'wasm', ort: await loadWeb(options), executionProviders: ['wasm'] };
    case 'webgpu':
      if (!hasWebGpu()) {
        throw new BackendUnavailableError('device "webgpu" needs a browser with WebGPU (navigator.gpu); use "wasm" here.');
      }
      return { device: 'webgpu', ort: await loadWeb(options), executionProviders: ['webgpu'] };
    default:
      throw new BackendUnavailableError(`Unknown device "${String(device)}"; use auto, node, wasm or webgpu.`);
  }
}

/**
 * Resolves `device` to a loaded runtime without probing a model: `auto` is onnxruntime-node in
 * Node (WASM with a warning when it is missing) and WASM elsewhere. Backbones that can probe
 * their model choose WebGPU by measurement instead (see choose-device.ts).
 */
export async function loadRuntime(options: OnnxRuntimeOptions = {}): Promise<LoadedRuntime> {
  const device = options.device ?? 'auto';
  if (device !== 'auto') return loadDevice(device, options);
  if (isNode) {
    try {
      return await loadDevice('node', options);
    } catch (cause) {
      warnNodeFallback(options, cause);
    }
  }
  return loadDevice('wasm', options);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
