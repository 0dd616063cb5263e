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
import { fingerprintOf, inBatches, type Backbone, type BackboneOptions, type EmbedOptions } from '../backbone.js';

export interface TfjsOptions extends BackboneOptions {
  /**
   * `wasm` (default): tfjs-backend-wasm, the fast path. `cpu`: tfjs-backend-cpu, plain
   * JavaScript, for runtimes that cannot load a .wasm file at run time (Cloudflare Workers).
   * The same model on either gives the same embeddings to float rounding. TF.js has one active
   * backend per JavaScript realm: the first backbone created decides it.
   */
  tfjsBackend?: 'wasm' | 'cpu';
  /** Where tfjs-backend-wasm's .wasm files are served (browsers); Node finds them in the package. */
  tfjsWasmPaths?: string;
  /** Called when an input is longer than input.maxTokens and is truncated. */
  onTruncate?: (index: number, tokens: number) => void;
}

type Tf = typeof tfCore;
let tfReady: Promise<Tf> | undefined;
let tfBackend: 'wasm' | 'cpu' | undefined;

async function loadTf(options: TfjsOptions): Promise<Tf> {
  const backend = options.tfjsBackend ?? 'wasm';
  if (tfBackend && tfBackend !== backend) {
    throw new BackendUnavailableError(`TF.js already runs on its ${tfBackend} backend here; one backend per page or process (asked for ${backend}).`);
  }
  tfBackend = backend;
  tfReady ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    if (backend === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
      // Production mode: without it, the CPU backend advises installing tfjs-node wherever
      // `process` exists (Workers with nodejs_compat), and TF.js runs extra debug checks.
      tf.env().set('PROD', true);
      if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
      await tf.ready();
      return tf;
    }
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (options.tfjsWasmPaths) wasm.setWasmPaths(options.tfjsWasmPaths);
    if (options.threads) wasm.setThreadsCount(options.threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    return tf;
  })().catch((cause) => {
    tfReady = undefined;
    tfBackend = undefined;
    const hint = backend === 'wasm' ? ' In browsers pass tfjsWasmPaths.' : '';
    throw new BackendUnavailableError(`TF.js ${backend} backend failed to start: ${(cause as Error).message}.${hint}`, { cause });
  });
  return tfReady;
}

interface WeightGroup {
  paths: string[];
  weights: tfCore.io.WeightsManifestEntry[];
}

/** An IOHandler over in-memory model.json + shards: tfjs's own loader, minus the file system. */
function memoryHandler(files: ModelFiles): tfCore.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(new TextDecoder().decode(files['model.json'])) as {
        modelTopology: object;
        weightsManifest: WeightGroup[];
      };
      const weightSpecs: tfCore.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of modelJson.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) {
          const shard = files[path];
          if (!shard) throw new InvalidInputError(`model.json names weight shard "${path}", which is not among the manifest's files.`);
          buffers.push(shard);
        }
      }
      const total = buffers.reduce((n, b) => n + b.length, 0);
      const weightData = new Uint8Array(total);
      let offset = 0;
      for (const b of buffers) {
        weightData.set(b, offset);
        offset += b.length;
      }
      return { modelTopology: modelJson.modelTopology, weightSpecs, weightData: weightData.buffer };
    },
  };
}

export class UseBackbone implements Backbone<string> {
  readonly modality = 'text' as const;
  private constructor(
    /** 'tfjs-wasm' or 'tfjs-cpu'. */
    readonly device: string,
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
    const model = await loadGraphModel(memoryHandler(files));
    const vocab = JSON.parse(new TextDecoder().decode(files['vocab.json'])) as Array<[string, number]>;
    const normalize = options.normalize ?? manifest.output.normalize ?? false;
    const fingerprint = await fingerprintOf({
      model: await sha256Hex(files['model.json']),
      vocab: await sha256Hex(files['vocab.json']),
      normalize,
    });
    return new UseBackbone(
      `tfjs-${tfBackend ?? 'wasm'}`,
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
