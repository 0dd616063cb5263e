/**
 * Trivial featurisations with no pretrained weights — the bar a pretrained backbone must clear.
 * When a linear probe on downscaled raw pixels, a plain log-mel spectrogram or a bag of words is
 * as good as one on a backbone's embeddings, the backbone transfers nothing useful to the data
 * (negative transfer) and `rank` says so. They implement `Backbone`, so they embed, cache and
 * fit like any other.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import type { AudioClip } from '../inputs/audio/audio.js';
import { resample } from '../inputs/audio/audio.js';
import { preprocessImage, type DecodedImage, type ImageSpec } from '../inputs/image/image.js';
import type { Modality } from '../manifest/manifest.js';
import { fingerprintOf, inBatches, type Backbone, type EmbedOptions } from './backbone.js';

abstract class Baseline<Input, M extends Modality> implements Backbone<Input, M> {
  readonly device = 'js';
  constructor(
    readonly id: string,
    readonly modality: M,
    readonly dim: number,
    readonly fingerprint: string,
  ) {}

  embed(inputs: readonly Input[], options?: EmbedOptions): Promise<Float32Array[]> {
    return inBatches(inputs, 64, options, async (batch) => batch.map((input) => this.featurize(input)));
  }

  protected abstract featurize(input: Input): Float32Array;

  async dispose(): Promise<void> {}
}

/** Side of the square an image is shrunk to: 16 × 16 × RGB = 768 values in [0, 1]. */
const PIXEL_SIDE = 16;
const PIXEL_SPEC: ImageSpec = {
  width: PIXEL_SIDE, height: PIXEL_SIDE, resize: 'area', channelOrder: 'RGB',
  scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], layout: 'NHWC',
};

/** Raw pixels of the whole image, area-averaged down to 16 × 16 RGB. */
export class PixelBaseline extends Baseline<DecodedImage, 'image'> {
  static async create(): Promise<PixelBaseline> {
    return new PixelBaseline('baseline:pixels-16', 'image', PIXEL_SIDE * PIXEL_SIDE * 3, await fingerprintOf({ baseline: 'pixels', spec: PIXEL_SPEC }));
  }

  protected featurize(image: DecodedImage): Float32Array {
    const out = new Float32Array(this.dim);
    preprocessImage(image, PIXEL_SPEC, out);
    return out;
  }
}

/** Hashed unigrams and bigrams of lower-cased words, log(1 + count), unit length. */
const HASHED_DIM = 4096;

export class BagOfWordsBaseline extends Baseline<string, 'text'> {
  static async create(): Promise<BagOfWordsBaseline> {
    return new BagOfWordsBaseline('baseline:bag-of-words', 'text', HASHED_DIM, await fingerprintOf({ baseline: 'bag-of-words', dim: HASHED_DIM, ngrams: 2 }));
  }

  protected featurize(text: string): Float32Array {
    const out = new Float32Array(HASHED_DIM);
    const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    for (let i = 0; i < words.length; i++) {
      out[fnv1a(words[i]) % HASHED_DIM]++;
      if (i > 0) out[fnv1a(`${words[i - 1]} ${words[i]}`) % HASHED_DIM]++;
    }
    let norm = 0;
    for (let i = 0; i < HASHED_DIM; i++) {
      out[i] = Math.log1p(out[i]);
      norm += out[i] * out[i];
    }
    if (norm > 0) for (let i = 0; i < HASHED_DIM; i++) out[i] /= Math.sqrt(norm);
    return out;
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Log-mel spectrogram at 16 kHz: 25 ms Hann frames every 10 ms, 512-point FFT, 32 mel bands. */
const RATE = 16_000;
const FRAME = 400;
const HOP = 160;
const FFT_SIZE = 512;
const MEL_BANDS = 32;

/** Mean and standard deviation over time of each log-mel band (64 values per clip). */
export class SpectrogramBaseline extends Baseline<AudioClip, 'audio'> {
  private readonly filters = melFilterbank(MEL_BANDS, FFT_SIZE, RATE);
  private readonly window = Float64Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME));

  static async create(): Promise<SpectrogramBaseline> {
    return new SpectrogramBaseline('baseline:log-mel', 'audio', 2 * MEL_BANDS, await fingerprintOf({ baseline: 'log-mel', RATE, FRAME, HOP, FFT_SIZE, MEL_BANDS }));
  }

  protected featurize(clip: AudioClip): Float32Array {
    const { samples } = resample(clip, RATE);
    const frames = Math.max(1, Math.floor((samples.length - FRAME) / HOP) + 1);
    const sum = new Float64Array(MEL_BANDS);
    const sumSq = new Float64Array(MEL_BANDS);
    const re = new Float64Array(FFT_SIZE);
    const im = new Float64Array(FFT_SIZE);
    for (let f = 0; f < frames; f++) {
      re.fill(0);
      im.fill(0);
      for (let i = 0; i < FRAME && f * HOP + i < samples.length; i++) re[i] = samples[f * HOP + i] * this.window[i];
      fftInPlace(re, im);
      this.filters.forEach((filter, band) => {
        let energy = 0;
        for (const [bin, weight] of filter) energy += weight * (re[bin] * re[bin] + im[bin] * im[bin]);
        const value = Math.log(energy + 1e-10);
        sum[band] += value;
        sumSq[band] += value * value;
      });
    }
    const out = new Float32Array(2 * MEL_BANDS);
    for (let b = 0; b < MEL_BANDS; b++) {
      const mean = sum[b] / frames;
      out[b] = mean;
      out[MEL_BANDS + b] = Math.sqrt(Math.max(0, sumSq[b] / frames - mean * mean));
    }
    return out;
  }
}

/** Triangular filters evenly spaced on the mel scale from 0 Hz to Nyquist: [bin, weight] pairs. */
function melFilterbank(bands: number, fftSize: number, rate: number): Array<Array<[number, number]>> {
  const mel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const hz = (m: number) => 700 * (10 ** (m / 2595) - 1);
  const top = mel(rate / 2);
  const edges = Array.from({ length: bands + 2 }, (_, i) => (hz((top * i) / (bands + 1)) * fftSize) / rate);
  return Array.from({ length: bands }, (_, b) => {
    const [lo, mid, hi] = [edges[b], edges[b + 1], edges[b + 2]];
    const filter: Array<[number, number]> = [];
    for (let bin = Math.floor(lo); bin <= Math.ceil(hi) && bin <= fftSize / 2; bin++) {
      const w = bin <= mid ? (bin - lo) / (mid - lo) : (hi - bin) / (hi - mid);
      if (w > 0) filter.push([bin, w]);
    }
    // A band narrower than one bin still reads its nearest bin.
    return filter.length ? filter : [[Math.round(mid), 1]];
  });
}

/** cos/sin of −2πk/n for k < n/2, per FFT length. */
const twiddles = new Map<number, { cos: Float64Array; sin: Float64Array }>();

/** Iterative radix-2 Cooley–Tukey FFT of a power-of-two length, in place. */
export function fftInPlace(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  let table = twiddles.get(n);
  if (!table) {
    table = { cos: new Float64Array(n / 2), sin: new Float64Array(n / 2) };
    for (let k = 0; k < n / 2; k++) {
      table.cos[k] = Math.cos((-2 * Math.PI * k) / n);
      table.sin[k] = Math.sin((-2 * Math.PI * k) / n);
    }
    twiddles.set(n, table);
  }
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const stride = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = table.cos[k * stride];
        const wi = table.sin[k * stride];
        const a = start + k;
        const b = a + half;
        const tr = wr * re[b] - wi * im[b];
        const ti = wr * im[b] + wi * re[b];
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

/** The baseline for a modality, typed by it (like loadBackbone). */
export function createBaseline(modality: 'image'): Promise<PixelBaseline>;
export function createBaseline(modality: 'text'): Promise<BagOfWordsBaseline>;
export function createBaseline(modality: 'audio'): Promise<SpectrogramBaseline>;
export function createBaseline(modality: Modality): Promise<PixelBaseline | BagOfWordsBaseline | SpectrogramBaseline>;
export async function createBaseline(modality: Modality): Promise<PixelBaseline | BagOfWordsBaseline | SpectrogramBaseline> {
  switch (modality) {
    case 'image':
      return PixelBaseline.create();
    case 'text':
      return BagOfWordsBaseline.create();
    case 'audio':
      return SpectrogramBaseline.create();
    default:
      throw new InvalidInputError(`There is no baseline for "${String(modality)}"; the modalities are image, text and audio.`);
  }
}
