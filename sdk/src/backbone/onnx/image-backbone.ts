/**
 * Image backbone on an ONNX model: manifest preprocessing → session → (cut) output → pooling.
 * @module
 */
import { InvalidInputError, ModelMismatchError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { imagesToTensor, type DecodedImage } from '../../inputs/image/image.js';
import { ImageTensorArena } from '../../inputs/image/tensor-arena.js';
import type { ImageManifest } from '../../manifest/manifest.js';
import type { ModelFiles } from '../../manifest/files.js';
import { fingerprintOf, inBatches, type Backbone, type BackboneOptions, type EmbedOptions } from '../backbone.js';
import { pool, poolingForRank, type Pooling } from '../pooling.js';
import { cutModel } from './graph.js';
import { openCheckedSession, type DeviceReport } from './choose-device.js';
import type { OnnxSession } from './session.js';

export class OnnxImageBackbone implements Backbone<DecodedImage> {
  readonly modality = 'image' as const;

  private _dim = 0;
  /** Builds batch tensors with a SIMD resampling kernel where WebAssembly allows it. */
  private readonly arena = ImageTensorArena.create();

  private constructor(
    readonly id: string,
    readonly fingerprint: string,
    private readonly session: OnnxSession,
    private readonly manifest: ImageManifest,
    private readonly outputName: string,
    private readonly pooling: Pooling | undefined,
    private readonly normalize: boolean,
    private readonly maxBatchSize: number,
    /** How the execution provider was chosen (and what was measured). */
    readonly deviceReport: DeviceReport,
  ) {}

  static async create(manifest: ImageManifest, files: ModelFiles, options: BackboneOptions = {}): Promise<OnnxImageBackbone> {
    const modelBytes = files.model;
    const tensor = options.cut ?? manifest.output.tensor;
    const mustCut = options.cut !== undefined || manifest.output.cut === true;
    let bytes = modelBytes;
    let outputName = tensor;
    if (mustCut) {
      const cut = cutModel(modelBytes, { tensor });
      bytes = cut.bytes;
      outputName = cut.outputName;
    }
    const modelHash = await sha256Hex(modelBytes);
    const spec = manifest.input.image;
    const probe = { feeds: { [manifest.input.name]: { type: 'float32' as const, ...imagesToTensor([probeImage()], spec) } }, output: outputName };
    const { session, report } = await openCheckedSession(bytes, `model "${manifest.id}"`, `${modelHash}:${outputName}`, probe, options);
    const inputs = session.inputInfo();
    const declared = inputs.find((i) => i.name === manifest.input.name);
    if (!declared) {
      throw new ModelMismatchError(
        `Manifest "${manifest.id}" feeds input "${manifest.input.name}", but the model's inputs are ${inputs.map((i) => i.name).join(', ')}.`,
      );
    }
    const expected = spec.layout === 'NCHW' ? [3, spec.height, spec.width] : [spec.height, spec.width, 3];
    const declaredInner = declared.dims.slice(1);
    if (declaredInner.length && declaredInner.some((d, i) => typeof d === 'number' && d > 0 && d !== expected[i])) {
      throw new ModelMismatchError(
        `Model "${manifest.id}" expects input ${declared.name}[${declared.dims.join(',')}], but its manifest preprocesses to ` +
          `[N,${expected.join(',')}] (${spec.layout}). Fix input.image width/height/layout in the manifest.`,
      );
    }
    const fixedBatch = typeof declared.dims[0] === 'number' && declared.dims[0] > 0 ? declared.dims[0] : undefined;
    // A custom cut without a pooling choice pools by the tensor's rank (see poolingForRank).
    const pooling = options.pooling ?? (options.cut ? undefined : manifest.output.pooling);
    const normalize = options.normalize ?? manifest.output.normalize ?? false;
    const fingerprint = await fingerprintOf({
      model: modelHash,
      output: tensor,
      pooling: pooling ?? 'auto',
      normalize,
      input: spec,
    });
    const backbone = new OnnxImageBackbone(
      manifest.id,
      fingerprint,
      session,
      manifest,
      outputName,
      pooling,
      normalize,
      fixedBatch ?? options.maxBatchSize ?? 32,
      report,
    );
    // The dimension after a custom cut/pooling is only known by running the model once.
    const measure = options.cut !== undefined || options.pooling !== undefined || !manifest.output.dim;
    backbone._dim = measure ? (await backbone.embedBatch([blankImage()]))[0].length : manifest.output.dim;
    return backbone;
  }

  get dim(): number {
    return this._dim;
  }

  get device(): string {
    return this.session.device;
  }

  async embed(images: readonly DecodedImage[], options?: EmbedOptions): Promise<Float32Array[]> {
    return inBatches(images, this.maxBatchSize, options, (batch) => this.embedBatch(batch));
  }

  /**
   * Embeds an already preprocessed batch (`[N,3,H,W]` or `[N,H,W,3]` float32, as the manifest
   * declares), for callers that do their own preprocessing (e.g. on a GPU canvas).
   */
  async embedTensor(data: Float32Array, dims: number[]): Promise<Float32Array[]> {
    const per = 3 * this.manifest.input.image.width * this.manifest.input.image.height;
    if (dims.length !== 4 || data.length !== dims[0] * per) {
      throw new InvalidInputError(
        `embedTensor needs a [N,${this.manifest.input.image.layout === 'NCHW' ? '3,H,W' : 'H,W,3'}] float32 batch of ${per} values per image; got [${dims.join(',')}] with ${data.length} values.`,
      );
    }
    return this.runAndPool(data, dims);
  }

  /** Embeddings plus the classifier logits, for manifests that declare them. */
  async embedWithLogits(images: readonly DecodedImage[]): Promise<{ embeddings: Float32Array[]; logits: Float32Array[] }> {
    const logitsTensor = this.manifest.logits?.tensor;
    if (!logitsTensor || !this.session.outputNames.includes(logitsTensor)) {
      throw new InvalidInputError(`Backbone "${this.id}" does not expose logits; use the model without a cut, or a manifest with "logits".`);
    }
    return this.withTensor(images, async (data, dims) => {
      const out = await this.run(data, dims, [this.outputName, logitsTensor]);
      return {
        embeddings: this.poolOutput(out[this.outputName].data, out[this.outputName].dims),
        logits: pool(out[logitsTensor].data, out[logitsTensor].dims, { pooling: 'none' }),
      };
    });
  }

  /** Runs `use` on the batch tensor: in the arena when it is free, else a new array. */
  private async withTensor<T>(images: readonly DecodedImage[], use: (data: Float32Array, dims: number[]) => Promise<T>): Promise<T> {
    if (images.length === 0) throw new InvalidInputError('No images to embed.');
    const leased = this.arena?.tensorFor(images, this.manifest.input.image);
    if (!leased) {
      const { data, dims } = imagesToTensor([...images], this.manifest.input.image);
      return use(data, dims);
    }
    // Held until the run has finished reading it: the next batch reuses the same memory.
    try {
      return await use(leased.data, leased.dims);
    } finally {
      leased.release();
    }
  }

  private embedBatch(images: readonly DecodedImage[]): Promise<Float32Array[]> {
    return this.withTensor(images, (data, dims) => this.runAndPool(data, dims));
  }

  private run(data: Float32Array, dims: number[], outputs: string[]) {
    return this.session.run({ [this.manifest.input.name]: { type: 'float32', data, dims } }, outputs);
  }

  private async runAndPool(data: Float32Array, dims: number[]): Promise<Float32Array[]> {
    const t = (await this.run(data, dims, [this.outputName]))[this.outputName];
    return this.poolOutput(t.data, t.dims);
  }

  private poolOutput(data: Float32Array, dims: number[]): Float32Array[] {
    const pooling = this.pooling ?? poolingForRank(dims.length, this.manifest.input.image.layout);
    return pool(data, dims, { pooling, normalize: this.normalize });
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** A deterministic photo-like probe (smooth colour gradients plus texture) for checking execution providers. */
function probeImage(): DecodedImage {
  const size = 96;
  const data = new Uint8Array(size * size * 3);
  let seed = 12345;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed >>> 24) - 128;
      const o = (y * size + x) * 3;
      data[o] = clampByte(128 + 100 * Math.sin(x / 9) + noise / 4);
      data[o + 1] = clampByte(128 + 100 * Math.cos(y / 7) + noise / 4);
      data[o + 2] = clampByte(((x + y) * 255) / (2 * size) + noise / 8);
    }
  }
  return { width: size, height: size, channels: 3, data };
}

function clampByte(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

function blankImage(): DecodedImage {
  return { width: 8, height: 8, channels: 3, data: new Uint8Array(8 * 8 * 3).fill(128) };
}
