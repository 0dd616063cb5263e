/**
 * openWakeWord's two-stage speech embedding: 16 kHz audio, centred in silence (at least
 * `input.minSeconds` long with `input.contextSeconds` on each side) → melspectrogram.onnx
 * (32 mel bins, 10 ms hop) → 76-frame windows every 8 frames → embedding_model.onnx (96-d
 * each) → mean over the windows, one vector per clip.
 * @module
 */
import { InvalidInputError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { l2NormalizeInPlace } from '../../core/vector.js';
import { resample, type AudioClip } from '../../inputs/audio/audio.js';
import type { ModelFiles } from '../../manifest/files.js';
import type { OpenWakeWordManifest } from '../../manifest/manifest.js';
import { fingerprintOf, inBatches, type Backbone, type BackboneOptions, type EmbedOptions } from '../backbone.js';
import { OnnxSession } from '../onnx/session.js';

/** openWakeWord feeds int16-scaled floats to the mel model. */
const INT16_SCALE = 32767;
/** The mel model emits floor((n - 640) / 160) + 1 frames for n samples (16,000 → 97, 12,800 → 77). */
const WINDOW_SAMPLES = 640;
const HOP_SAMPLES = 160;

export class OpenWakeWordBackbone implements Backbone<AudioClip> {
  readonly modality = 'audio' as const;

  private constructor(
    readonly id: string,
    readonly dim: number,
    readonly fingerprint: string,
    private readonly mel: OnnxSession,
    private readonly embedding: OnnxSession,
    private readonly spec: OpenWakeWordManifest['input'],
    private readonly normalize: boolean,
    private readonly maxBatchSize: number,
  ) {}

  static async create(manifest: OpenWakeWordManifest, files: ModelFiles, options: BackboneOptions = {}): Promise<OpenWakeWordBackbone> {
    const [mel, embedding] = await Promise.all([
      OnnxSession.create(files.melspectrogram, `${manifest.id} melspectrogram`, options),
      OnnxSession.create(files.embedding, `${manifest.id} embedding`, options),
    ]);
    const normalize = options.normalize ?? manifest.output.normalize ?? false;
    const fingerprint = await fingerprintOf({
      mel: await sha256Hex(files.melspectrogram),
      embedding: await sha256Hex(files.embedding),
      input: manifest.input,
      pooling: 'mean-windows',
      normalize,
    });
    return new OpenWakeWordBackbone(manifest.id, manifest.output.dim, fingerprint, mel, embedding, manifest.input, normalize, options.maxBatchSize ?? 16);
  }

  get device(): string {
    return this.embedding.device;
  }

  /** Shortest clip (in samples at 16 kHz) that yields one full window; shorter clips are padded. */
  get minSamples(): number {
    return (this.spec.windowFrames - 1) * HOP_SAMPLES + WINDOW_SAMPLES;
  }

  /**
   * Length of the padded input for a clip of n samples: at least one window and
   * `minSeconds`, with `contextSeconds` of silence each side. The embedding model was trained
   * on speech inside longer streams, so a word with silence around it (and several windows
   * over it, averaged) embeds more consistently across speakers than a tightly cut one.
   */
  paddedLength(n: number): number {
    const rate = this.spec.sampleRate;
    const context = Math.round((this.spec.contextSeconds ?? 0) * rate);
    const min = Math.round((this.spec.minSeconds ?? 0) * rate);
    return Math.max(n + 2 * context, min, this.minSamples);
  }

  async embed(clips: readonly AudioClip[], options?: EmbedOptions): Promise<Float32Array[]> {
    clips.forEach((c, i) => {
      if (!(c?.samples instanceof Float32Array) || !(c.sampleRate > 0)) {
        throw new InvalidInputError(`Audio input #${i} must be { samples: Float32Array, sampleRate: number }; decode WAV files with decodeWav().`);
      }
    });
    return inBatches(clips, this.maxBatchSize, options, (batch) => this.embedBatch(batch));
  }

  private async melFrames(clip: AudioClip): Promise<{ data: Float32Array; frames: number }> {
    const at16k = resample(clip, this.spec.sampleRate).samples;
    const length = this.paddedLength(at16k.length);
    const input = new Float32Array(length);
    // Centre the clip in silence so the windows see the whole utterance with context around it.
    const offset = Math.floor((length - at16k.length) / 2);
    for (let i = 0; i < at16k.length; i++) input[offset + i] = at16k[i] * INT16_SCALE;
    const out = await this.mel.run({ input: { type: 'float32', data: input, dims: [1, length] } }, ['output']);
    const t = out.output;
    const bins = t.dims[t.dims.length - 1];
    const data = t.data;
    for (let i = 0; i < data.length; i++) data[i] = data[i] / 10 + 2; // openWakeWord's mel scaling
    return { data, frames: data.length / bins };
  }

  private async embedBatch(clips: readonly AudioClip[]): Promise<Float32Array[]> {
    const { windowFrames, windowStep, melBins } = this.spec;
    const perWindow = windowFrames * melBins;
    const windows: Float32Array[] = [];
    const owner: number[] = [];
    for (let c = 0; c < clips.length; c++) {
      const { data, frames } = await this.melFrames(clips[c]);
      for (let start = 0; start + windowFrames <= frames; start += windowStep) {
        windows.push(data.subarray(start * melBins, start * melBins + perWindow));
        owner.push(c);
      }
    }
    const batch = new Float32Array(windows.length * perWindow);
    windows.forEach((w, i) => batch.set(w, i * perWindow));
    const out = await this.embedding.run(
      { input_1: { type: 'float32', data: batch, dims: [windows.length, windowFrames, melBins, 1] } },
      ['conv2d_19'],
    );
    const sums = clips.map(() => new Float64Array(this.dim));
    const counts = new Array<number>(clips.length).fill(0);
    for (let w = 0; w < windows.length; w++) {
      const row = out.conv2d_19.data.subarray(w * this.dim, (w + 1) * this.dim);
      const s = sums[owner[w]];
      for (let j = 0; j < this.dim; j++) s[j] += row[j];
      counts[owner[w]]++;
    }
    return sums.map((s, c) => {
      const v = Float32Array.from(s, (x) => x / counts[c]);
      return this.normalize ? l2NormalizeInPlace(v) : v;
    });
  }

  async dispose(): Promise<void> {
    await Promise.all([this.mel.release(), this.embedding.release()]);
  }
}
