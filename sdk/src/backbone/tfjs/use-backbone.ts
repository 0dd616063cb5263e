/**
 * Universal Sentence Encoder lite on TF.js with the WASM backend. The graph model is loaded
 * from bytes through a custom IO handler, so it works from local files (no tfjs-node) and
 * from fetched URLs alike.
 * @module
 */
import type * as tfCore from '@tensorflow/tfjs-core';
import type * as tfConverter from '@tensorflow/tfjs-converter';
import { BackendUnavailableError, InvalidInputError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { checkTexts, createUseTokenizer, type TextTokenizer } from '../../inputs/text/tokenizer.js';
import type { ModelFiles } from '../../manifest/files.js';
import type { UseManifest } from '../../manifest/manifest.js';
import { l2NormalizeInPlace } from '../../core/vector.js';
import { placeholderFor } from '../compiled-wasm.js';
import { fingerprintOf, inBatches, type Backbone, type BackboneOptions, type EmbedOptions } from '../backbone.js';

export interface TfjsOptions extends BackboneOptions {
  /**
   * tfjs-backend-wasm's SIMD binary (`tfjs-backend-wasm-simd.wasm`) compiled at deploy time, for
   * runtimes that cannot fetch or compile a .wasm at run time (Cloudflare Workers: import the file
   * as a module). Used instead of loading the binary; single-threaded.
   */
  tfjsWasmModule?: WebAssembly.Module;
  /** Where tfjs-backend-wasm's .wasm files are served (browsers); Node finds them in the package. */
  tfjsWasmPaths?: string;
  /** Called when an input is longer than input.maxTokens and is truncated. */
  onTruncate?: (index: number, tokens: number) => void;
}

type Tf = typeof tfCore;
let tfReady: Promise<Tf> | undefined;

/** Where tfjs-backend-wasm is told its binary is; fetched through TF.js's platform, answered here. */
const COMPILED_WASM_URL = 'edgehead-compiled-wasm:tfjs-backend-wasm-simd.wasm';

async function loadTf(options: TfjsOptions): Promise<Tf> {
  tfReady ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (options.tfjsWasmModule) useCompiledWasm(tf, wasm, options.tfjsWasmModule);
    else if (options.tfjsWasmPaths) wasm.setWasmPaths(options.tfjsWasmPaths);
    if (options.threads) wasm.setThreadsCount(options.threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    return tf;
  })().catch((cause) => {
    tfReady = undefined;
    throw new BackendUnavailableError(`TF.js WASM backend failed to start: ${(cause as Error).message}. In browsers pass tfjsWasmPaths.`, { cause });
  });
  return tfReady;
}

/** Points tfjs-backend-wasm at a precompiled binary (see compiled-wasm.ts). */
function useCompiledWasm(tf: Tf, wasm: typeof import('@tensorflow/tfjs-backend-wasm'), module: WebAssembly.Module): void {
  const placeholder = placeholderFor('tfjs-backend-wasm-simd', module);
  const platform = tf.env().platform;
  const platformFetch = platform.fetch.bind(platform);
  platform.fetch = (path: string, init?: RequestInit) => (path === COMPILED_WASM_URL ? Promise.resolve(new Response(placeholder)) : platformFetch(path, init));
  // The one binary given is the SIMD build, without threads (which Workers do not have).
  tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const url = COMPILED_WASM_URL;
  wasm.setWasmPaths({ 'tfjs-backend-wasm.wasm': url, 'tfjs-backend-wasm-simd.wasm': url, 'tfjs-backend-wasm-threaded-simd.wasm': url }, true);
}

interface WeightGroup {
  paths: string[];
  weights: tfCore.io.WeightsManifestEntry[];
}

/**
 * model.json + shards as TF.js model artifacts: tfjs's own loader, minus the file system. The
 * shards are handed over as they are (no concatenated copy), which matters in a 128 MB Worker.
 */
function artifactsOf(files: ModelFiles): tfCore.io.ModelArtifacts {
  const modelJson = JSON.parse(new TextDecoder().decode(files['model.json'])) as {
    modelTopology: object;
    weightsManifest: WeightGroup[];
  };
  const weightSpecs: tfCore.io.WeightsManifestEntry[] = [];
  const shards: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) {
      const shard = files[path];
      if (!shard) throw new InvalidInputError(`model.json names weight shard "${path}", which is not among the manifest's files.`);
      const whole = shard.byteOffset === 0 && shard.byteLength === shard.buffer.byteLength && shard.buffer instanceof ArrayBuffer;
      shards.push(whole ? (shard.buffer as ArrayBuffer) : (shard.slice().buffer as ArrayBuffer));
    }
  }
  return { modelTopology: modelJson.modelTopology, weightSpecs, weightData: shards };
}

export class UseBackbone implements Backbone<string> {
  readonly modality = 'text' as const;
  readonly device = 'tfjs-wasm';

  private constructor(
    readonly id: string,
    readonly dim: number,
    readonly fingerprint: string,
    private readonly tf: Tf,
    private readonly model: tfConverter.GraphModel,
    private readonly tokenizer: TextTokenizer,
    private readonly maxTokens: number,
    private readonly normalize: boolean,
    private readonly maxBatchSize: number,
    private readonly onTruncate?: (index: number, tokens: number) => void,
  ) {}

  static async create(manifest: UseManifest, files: ModelFiles, options: TfjsOptions = {}): Promise<UseBackbone> {
    const tf = await loadTf(options);
    const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
    const artifacts = artifactsOf(files);
    const model = await loadGraphModel({ load: async () => artifacts });
    // The model keeps its artifacts for save() only, which a backbone never calls; the weights
    // now live in the backend. Dropping them here halves the memory a loaded USE holds.
    delete artifacts.weightData;
    const vocab = JSON.parse(new TextDecoder().decode(files['vocab.json'])) as Array<[string, number]>;
    const normalize = options.normalize ?? manifest.output.normalize ?? false;
    const fingerprint = await fingerprintOf({
      model: await sha256Hex(files['model.json']),
      vocab: await sha256Hex(files['vocab.json']),
      normalize,
    });
    return new UseBackbone(
      manifest.id,
      manifest.output.dim,
      fingerprint,
      tf,
      model,
      createUseTokenizer(vocab),
      manifest.input.maxTokens,
      normalize,
      options.maxBatchSize ?? 64,
      options.onTruncate,
    );
  }

  async embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]> {
    checkTexts(texts);
    return inBatches(texts, this.maxBatchSize, options, (batch) => this.embedBatch(batch));
  }

  private async embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    // USE takes a sparse batch: (row, position) indices and the token ids as values.
    const indices: number[] = [];
    const values: number[] = [];
    texts.forEach((text, row) => {
      let ids = this.tokenizer.encode(text, this.maxTokens);
      if (ids.length > this.maxTokens) {
        this.onTruncate?.(row, ids.length);
        ids = ids.slice(0, this.maxTokens);
      }
      // An empty string still needs one token; USE uses the unknown id for it.
      if (ids.length === 0) ids = [0];
      ids.forEach((id, pos) => {
        indices.push(row, pos);
        values.push(id);
      });
    });
    const tf = this.tf;
    const indicesT = tf.tensor2d(indices, [values.length, 2], 'int32');
    const valuesT = tf.tensor1d(values, 'int32');
    try {
      const out = (await this.model.executeAsync({ indices: indicesT, values: valuesT })) as tfCore.Tensor;
      const data = (await out.data()) as Float32Array;
      out.dispose();
      const rows: Float32Array[] = [];
      for (let i = 0; i < texts.length; i++) {
        const v = data.slice(i * this.dim, (i + 1) * this.dim);
        rows.push(this.normalize ? l2NormalizeInPlace(v) : v);
      }
      return rows;
    } finally {
      indicesT.dispose();
      valuesT.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
