/**
 * Transformer text encoders in ONNX (BERT/MiniLM family): tokenizer.json → input_ids,
 * attention_mask (and token_type_ids when the model has it) → token outputs → mean/CLS pooling.
 * @module
 */
import { InvalidInputError, ModelMismatchError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { checkTexts, createHfTokenizer, padBatch, type TextTokenizer } from '../../inputs/text/tokenizer.js';
import type { ModelFiles } from '../../manifest/files.js';
import type { TextOnnxManifest } from '../../manifest/manifest.js';
import { fingerprintOf, inBatches, type Backbone, type BackboneOptions, type EmbedOptions } from '../backbone.js';
import { pool, type Pooling } from '../pooling.js';
import { cutModel } from './graph.js';
import { OnnxSession, type Feed } from './session.js';

export interface TextOnnxOptions extends BackboneOptions {
  onTruncate?: (index: number, tokens: number) => void;
}

export class OnnxTextBackbone implements Backbone<string> {
  readonly modality = 'text' as const;

  private constructor(
    readonly id: string,
    readonly dim: number,
    readonly fingerprint: string,
    private readonly session: OnnxSession,
    private readonly tokenizer: TextTokenizer,
    private readonly names: { inputIds: string; attentionMask?: string; tokenTypeIds?: string },
    private readonly outputName: string,
    private readonly pooling: Pooling,
    private readonly normalize: boolean,
    private readonly maxTokens: number,
    private readonly maxBatchSize: number,
    private readonly onTruncate?: (index: number, tokens: number) => void,
  ) {}

  static async create(manifest: TextOnnxManifest, files: ModelFiles, options: TextOnnxOptions = {}): Promise<OnnxTextBackbone> {
    const tensor = options.cut ?? manifest.output.tensor;
    let bytes = files.model;
    let outputName = tensor;
    if (options.cut !== undefined || manifest.output.cut) {
      const cut = cutModel(files.model, { tensor });
      bytes = cut.bytes;
      outputName = cut.outputName;
    }
    const session = await OnnxSession.create(bytes, `model "${manifest.id}"`, options);
    const inputIds = manifest.input.inputIds ?? 'input_ids';
    const has = (n: string) => session.inputNames.includes(n);
    if (!has(inputIds)) {
      throw new ModelMismatchError(
        `Model "${manifest.id}" has no input "${inputIds}" (inputs: ${session.inputNames.join(', ')}); set input.inputIds in the manifest.`,
      );
    }
    const attentionMask = manifest.input.attentionMask ?? 'attention_mask';
    const tokenTypeIds = manifest.input.tokenTypeIds ?? 'token_type_ids';
    const tokenizerJson: unknown = JSON.parse(new TextDecoder().decode(files.tokenizer));
    const pooling = options.pooling ?? manifest.output.pooling;
    const normalize = options.normalize ?? manifest.output.normalize ?? false;
    const fingerprint = await fingerprintOf({
      model: await sha256Hex(files.model),
      tokenizer: await sha256Hex(files.tokenizer),
      output: tensor,
      pooling,
      normalize,
      maxTokens: manifest.input.maxTokens,
    });
    return new OnnxTextBackbone(
      manifest.id,
      manifest.output.dim,
      fingerprint,
      session,
      createHfTokenizer(tokenizerJson),
      { inputIds, attentionMask: has(attentionMask) ? attentionMask : undefined, tokenTypeIds: has(tokenTypeIds) ? tokenTypeIds : undefined },
      outputName,
      pooling,
      normalize,
      manifest.input.maxTokens,
      options.maxBatchSize ?? 32,
      options.onTruncate,
    );
  }

  get device(): string {
    return this.session.device;
  }

  async embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]> {
    checkTexts(texts);
    return inBatches(texts, this.maxBatchSize, options, (batch) => this.embedBatch(batch));
  }

  private async embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    const sequences = texts.map((t) => this.tokenizer.encode(t, this.maxTokens));
    const lastIds = sequences.map((s) => s[s.length - 1]);
    // Keep a trailing special token (e.g. [SEP]) when cutting: it is the same id at the end of every row.
    const endId = lastIds.every((id) => id === lastIds[0]) && sequences.every((s) => s.length > 1) ? lastIds[0] : undefined;
    const batch = padBatch(sequences, this.maxTokens, 0, endId);
    for (const i of batch.truncated) this.onTruncate?.(i, sequences[i].length);
    const dims = [batch.batch, batch.length];
    const int64 = (values: number[]): Feed => ({ type: 'int64', data: BigInt64Array.from(values, BigInt), dims });
    const feeds: Record<string, Feed> = { [this.names.inputIds]: int64(batch.inputIds) };
    if (this.names.attentionMask) feeds[this.names.attentionMask] = int64(batch.attentionMask);
    if (this.names.tokenTypeIds) feeds[this.names.tokenTypeIds] = int64(batch.tokenTypeIds);
    const out = (await this.session.run(feeds, [this.outputName]))[this.outputName];
    if (this.pooling === 'mean' && out.dims.length !== 3) {
      throw new InvalidInputError(`Mean pooling needs token outputs [N, T, D]; "${this.outputName}" is [${out.dims.join(',')}].`);
    }
    return pool(out.data, out.dims, { pooling: this.pooling, attentionMask: batch.attentionMask, normalize: this.normalize });
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
