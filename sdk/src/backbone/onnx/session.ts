/**
 * A thin wrapper over an onnxruntime InferenceSession (node or web): typed feeds in, float
 * outputs back, and runtime failures turned into errors that name the model and the tensors.
 * @module
 */
import type * as OrtWeb from 'onnxruntime-web';
import { BackendUnavailableError, ModelMismatchError, RuntimeFailureError } from '../../core/errors.js';
import { withExactInt8Weights } from './exact-int8.js';
import { loadRuntime, type LoadedRuntime, type OnnxRuntimeOptions } from './runtime.js';

export type FeedType = 'float32' | 'int64' | 'int32';

export interface Feed {
  type: FeedType;
  data: Float32Array | BigInt64Array | Int32Array;
  dims: number[];
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export interface InputInfo {
  name: string;
  /** Declared dims; strings (or -1) are symbolic/dynamic. */
  dims: Array<number | string>;
  type: string;
}

export class OnnxSession {
  private constructor(
    private readonly session: OrtWeb.InferenceSession,
    private readonly runtime: LoadedRuntime,
    readonly label: string,
  ) {}

  /** `runtime`: an already chosen runtime (see choose-device.ts); default: resolve `options.device`. */
  static async create(bytes: Uint8Array, label: string, options: OnnxRuntimeOptions = {}, runtime?: LoadedRuntime): Promise<OnnxSession> {
    runtime ??= await loadRuntime(options);
    const sessionOptions: OrtWeb.InferenceSession.SessionOptions = {
      executionProviders: runtime.executionProviders,
      graphOptimizationLevel: 'all',
    };
    if (runtime.device === 'node' && options.threads) sessionOptions.intraOpNumThreads = options.threads;
    try {
      // Same numbers on every CPU: see exact-int8.ts (int8 weights saturate without VNNI).
      const session = await runtime.ort.InferenceSession.create(withExactInt8Weights(bytes), sessionOptions);
      return new OnnxSession(session, runtime, label);
    } catch (cause) {
      if (runtime.device !== 'node' && RUNTIME_FILES_MISSING.test(errorText(cause))) {
        const where = runtime.ort.env.wasm.wasmPaths;
        throw new BackendUnavailableError(
          `onnxruntime-web could not load its runtime files for ${label} on ${runtime.device} (${errorText(cause)}). ` +
            `Serve the files of node_modules/onnxruntime-web/dist/ that start with ort-wasm-simd-threaded (.wasm and .mjs) ` +
            `${where ? `at ${typeof where === 'string' ? where : JSON.stringify(where)}` : 'beside your bundle'} and pass their URL prefix as \`wasmPaths\` (see docs/browser.md).`,
          { cause },
        );
      }
      throw new ModelMismatchError(
        `Could not load ${label} on ${runtime.device}: ${errorText(cause)}. Check that the file is an ONNX model this runtime supports.`,
        { cause },
      );
    }
  }

  get device(): LoadedRuntime['device'] {
    return this.runtime.device;
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Declared input metadata, where the runtime exposes it. */
  inputInfo(): InputInfo[] {
    const meta = (this.session as { inputMetadata?: ReadonlyArray<{ name: string; isTensor: boolean; shape?: ReadonlyArray<number | string>; type?: string }> }).inputMetadata;
    return this.session.inputNames.map((name, i) => {
      const m = meta?.[i];
      return { name, dims: m?.isTensor && m.shape ? [...m.shape] : [], type: (m?.isTensor && m.type) || 'unknown' };
    });
  }

  async run(feeds: Record<string, Feed>, outputs: string[]): Promise<Record<string, OutputTensor>> {
    const { Tensor } = this.runtime.ort;
    const ortFeeds: Record<string, OrtWeb.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if (!this.session.inputNames.includes(name)) {
        throw new ModelMismatchError(
          `${this.label} has no input "${name}"; its inputs are ${this.session.inputNames.join(', ')}. Fix the manifest's input names.`,
        );
      }
      ortFeeds[name] = new Tensor(feed.type, feed.data, feed.dims);
    }
    let results: OrtWeb.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, outputs);
    } catch (cause) {
      const shapes = Object.entries(feeds)
        .map(([n, f]) => `${n}: ${f.type}[${f.dims.join(',')}]`)
        .join('; ');
      throw new ModelMismatchError(
        `${this.label} failed to run with inputs {${shapes}}: ${errorText(cause)}. ` +
          'The inputs probably do not match what the model expects; check the manifest input spec.',
        { cause },
      );
    }
    const out: Record<string, OutputTensor> = {};
    for (const name of outputs) {
      const t = results[name];
      if (!t) throw new RuntimeFailureError(`${this.label} returned no tensor "${name}".`);
      out[name] = { data: toFloat32(t.data), dims: t.dims.map(Number) };
      t.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toFloat32(data: OrtWeb.Tensor['data']): Float32Array {
  if (data instanceof Float32Array) return data;
  if (Array.isArray(data)) return Float32Array.from(data as unknown[], Number);
  const out = new Float32Array((data as ArrayLike<number | bigint>).length);
  const src = data as ArrayLike<number | bigint>;
  for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
  return out;
}

/** How onnxruntime-web reports a .wasm/.mjs it could not fetch or instantiate (not a bad model). */
const RUNTIME_FILES_MISSING = /no available backend|failed to fetch|dynamically imported module|\.wasm|\.mjs|WebAssembly\.instantiate|magic word|expected magic/i;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
