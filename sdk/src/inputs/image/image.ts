/**
 * Image → model tensor, exactly as a manifest declares it: resize (bilinear or area), center
 * crop, channel order, scale, mean/std and layout. Pure typed-array code: runs anywhere.
 * @module
 */
import { InvalidInputError } from '../../core/errors.js';

/** Decoded pixels, row-major, interleaved channels (1 = grey, 3 = RGB, 4 = RGBA). `ImageData` fits. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** Defaults to data.length / (width*height). */
  channels?: 1 | 3 | 4;
}

export interface ImageSpec {
  width: number;
  height: number;
  resize: 'bilinear' | 'area';
  /**
   * Resize so the shorter side has this length (keeping aspect), then center-crop width×height.
   * Omitted: resize straight to width×height.
   */
  resizeShorterTo?: number;
  channelOrder: 'RGB' | 'BGR';
  /** Applied to 0..255 values before mean/std: 1/255 gives [0,1]. */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  layout: 'NCHW' | 'NHWC';
}

function channelsOf(img: DecodedImage): number {
  const c = img.channels ?? img.data.length / (img.width * img.height);
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new InvalidInputError(
      `Image of ${img.width}x${img.height} has ${img.data.length} bytes, which is not 1, 3 or 4 channels; pass decoded 8-bit grey, RGB or RGBA pixels.`,
    );
  }
  return c;
}

/** Per output index, the source indices and weights (separable resampling). */
export interface Taps {
  start: Int32Array;
  count: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

function bilinearTaps(srcSize: number, offset: number, scaledSize: number, outCount: number): Taps {
  const ratio = srcSize / scaledSize;
  const start = new Int32Array(outCount);
  const count = new Int32Array(outCount).fill(2);
  const index = new Int32Array(outCount * 2);
  const weight = new Float32Array(outCount * 2);
  for (let o = 0; o < outCount; o++) {
    // Half-pixel centres, as PIL, OpenCV and torchvision use.
    const s = Math.min(Math.max((o + offset + 0.5) * ratio - 0.5, 0), srcSize - 1);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, srcSize - 1);
    const f = s - i0;
    start[o] = o * 2;
    index[o * 2] = i0;
    index[o * 2 + 1] = i1;
    weight[o * 2] = 1 - f;
    weight[o * 2 + 1] = f;
  }
  return { start, count, index, weight };
}

function areaTaps(srcSize: number, offset: number, scaledSize: number, outCount: number): Taps {
  const ratio = srcSize / scaledSize;
  const starts: number[] = [];
  const counts: number[] = [];
  const idx: number[] = [];
  const w: number[] = [];
  for (let o = 0; o < outCount; o++) {
    const lo = (o + offset) * ratio;
    const hi = lo + ratio;
    starts.push(idx.length);
    let n = 0;
    for (let i = Math.floor(lo); i < Math.min(Math.ceil(hi), srcSize); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
      if (overlap <= 0) continue;
      idx.push(i);
      w.push(overlap / ratio);
      n++;
    }
    counts.push(n);
  }
  return {
    start: Int32Array.from(starts),
    count: Int32Array.from(counts),
    index: Int32Array.from(idx),
    weight: Float32Array.from(w),
  };
}

/** Transparent pixels are composited over this colour (sharp's flatten in Node does the same). */
export const ALPHA_BACKGROUND = 'white';

/** How one image is resampled to the model's size: separable taps and the source rows they read. */
export interface ResamplePlan {
  channels: 1 | 3 | 4;
  tapsX: Taps;
  tapsY: Taps;
  /** The source rows the vertical taps read, firstRow .. firstRow + rows - 1. */
  firstRow: number;
  rows: number;
}

export function planResample(img: DecodedImage, spec: ImageSpec): ResamplePlan {
  const channels = channelsOf(img) as 1 | 3 | 4;
  if (img.width < 1 || img.height < 1) throw new InvalidInputError('Image has zero width or height.');
  if (img.data.length !== img.width * img.height * channels) {
    throw new InvalidInputError(
      `Image of ${img.width}x${img.height} with ${channels} channels needs ${img.width * img.height * channels} bytes; it has ${img.data.length}. Pass the decoded pixels whole.`,
    );
  }
  let scaledW = spec.width;
  let scaledH = spec.height;
  if (spec.resizeShorterTo) {
    const k = spec.resizeShorterTo / Math.min(img.width, img.height);
    scaledW = Math.max(spec.width, Math.round(img.width * k));
    scaledH = Math.max(spec.height, Math.round(img.height * k));
  }
  const offX = Math.floor((scaledW - spec.width) / 2);
  const offY = Math.floor((scaledH - spec.height) / 2);
  const taps = spec.resize === 'area' ? areaTaps : bilinearTaps;
  const tapsX = taps(img.width, offX, scaledW, spec.width);
  const tapsY = taps(img.height, offY, scaledH, spec.height);
  let firstRow = img.height;
  let lastRow = -1;
  for (const row of tapsY.index) {
    if (row < firstRow) firstRow = row;
    if (row > lastRow) lastRow = row;
  }
  return { channels, tapsX, tapsY, firstRow, rows: lastRow - firstRow + 1 };
}

/** Floats of row scratch (three planes of rows × output width) the two passes need for a plan. */
export function rowScratchFloats(plan: ResamplePlan, spec: ImageSpec): number {
  return 3 * plan.rows * spec.width;
}

/**
 * Writes one preprocessed image into `out` (length 3·width·height) starting at `offset`.
 * Grey images are replicated to three channels; RGBA is composited over white (ALPHA_BACKGROUND).
 */
export function preprocessImage(img: DecodedImage, spec: ImageSpec, out: Float32Array, offset = 0): void {
  const plan = planResample(img, spec);
  const rowBuf = new Float32Array(rowScratchFloats(plan, spec));
  horizontalPass(img, plan, spec, rowBuf);
  verticalPass(plan, spec, rowBuf, out, offset);
}

/**
 * Scale, mean and std as one affine map per source channel (R, G, B): value·mul + add, in float32
 * as the kernels use them. Resampling weights are non-negative and sum to 1, so normalising the
 * source-resolution rows gives the same values as normalising the output (to float rounding),
 * for a fraction of the work when upscaling, and the result needs no clamping. mean/std are
 * listed in the model's channel order, so for BGR red takes the third.
 */
export function channelAffine(spec: ImageSpec): { mul: [number, number, number]; add: [number, number, number] } {
  const order = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  return {
    mul: order.map((k) => Math.fround(spec.scale / spec.std[k])) as [number, number, number],
    add: order.map((k) => Math.fround(-spec.mean[k] / spec.std[k])) as [number, number, number],
  };
}

/** Where the red, green and blue planes of the row scratch start (the model's channel order). */
export function planeOffsets(plan: ResamplePlan, spec: ImageSpec): [number, number, number] {
  const planeSize = plan.rows * spec.width;
  return spec.channelOrder === 'BGR' ? [2 * planeSize, planeSize, 0] : [0, planeSize, 2 * planeSize];
}

/**
 * Horizontal pass over the source rows the vertical taps read: three planes (the model's
 * channel order) of rows × output width, already normalised.
 *
 * Arithmetic is float32, one rounding per operation in the same order as resample.wat's
 * kernels, so this path and tensor-arena.ts's give identical tensors. That matters: int8
 * MobileNetV2 quantizes its input, and noise of ±5e-7 on it moves embeddings to a cosine of
 * about 0.97 — a Worker (this path) and Node (the kernels) must not differ by rounding.
 */
export function horizontalPass(img: DecodedImage, plan: ResamplePlan, spec: ImageSpec, rowBuf: Float32Array): void {
  const { channels: c, tapsX, firstRow, rows } = plan;
  const W = spec.width;
  const { mul: [mR, mG, mB], add: [aR, aG, aB] } = channelAffine(spec);
  const [pR, pG, pB] = planeOffsets(plan, spec);
  const src = img.data;
  const f32 = Math.fround;
  // Typed arrays in locals: V8 does not hoist property loads out of these loops.
  const xStart = tapsX.start, xCount = tapsX.count, xIndex = tapsX.index, xWeight = tapsX.weight;
  for (let y = firstRow; y < firstRow + rows; y++) {
    const rowBase = y * img.width;
    const rowOut = (y - firstRow) * W;
    for (let x = 0; x < W; x++) {
      let r = 0, g = 0, b = 0;
      const s0 = xStart[x];
      const n = xCount[x];
      if (c === 3) {
        for (let t = s0; t < s0 + n; t++) {
          const p = (rowBase + xIndex[t]) * 3;
          const wt = xWeight[t];
          r = f32(r + f32(src[p] * wt));
          g = f32(g + f32(src[p + 1] * wt));
          b = f32(b + f32(src[p + 2] * wt));
        }
      } else if (c === 4) {
        for (let t = s0; t < s0 + n; t++) {
          // Composite over white: the hidden colour of transparent pixels must not matter.
          const p = (rowBase + xIndex[t]) * 4;
          const wt = xWeight[t];
          const a = src[p + 3] / 255;
          const under = 255 * (1 - a);
          r = f32(r + f32((src[p] * a + under) * wt));
          g = f32(g + f32((src[p + 1] * a + under) * wt));
          b = f32(b + f32((src[p + 2] * a + under) * wt));
        }
      } else {
        for (let t = s0; t < s0 + n; t++) r = f32(r + f32(src[rowBase + xIndex[t]] * xWeight[t]));
        g = r;
        b = r;
      }
      // The stores round the sums to float32.
      rowBuf[pR + rowOut + x] = f32(r * mR) + aR;
      rowBuf[pG + rowOut + x] = f32(g * mG) + aG;
      rowBuf[pB + rowOut + x] = f32(b * mB) + aB;
    }
  }
}

/**
 * Vertical pass from the row scratch into the tensor, one output channel at a time: NCHW fills
 * each plane row by row, NHWC every third slot.
 */
export function verticalPass(plan: ResamplePlan, spec: ImageSpec, rowBuf: Float32Array, out: Float32Array, offset: number): void {
  const { tapsY, firstRow, rows } = plan;
  const W = spec.width;
  const planeSize = rows * W;
  const nchw = spec.layout === 'NCHW';
  const stride = nchw ? 1 : 3;
  for (let ch = 0; ch < 3; ch++) {
    const inPlane = ch * planeSize - firstRow * W;
    const outBase = offset + (nchw ? ch * W * spec.height : ch);
    for (let y = 0; y < spec.height; y++) {
      const s0 = tapsY.start[y];
      const taps = tapsY.count[y];
      const rowOut = outBase + y * W * stride;
      if (taps === 2 && nchw) {
        // Bilinear: two source rows per output row (the common case).
        blendRows(out, rowOut, rowBuf, inPlane + tapsY.index[s0] * W, inPlane + tapsY.index[s0 + 1] * W, tapsY.weight[s0], tapsY.weight[s0 + 1], W);
        continue;
      }
      for (let x = 0; x < W; x++) {
        let v = 0;
        for (let t = 0; t < taps; t++) v = Math.fround(v + Math.fround(rowBuf[inPlane + tapsY.index[s0 + t] * W + x] * tapsY.weight[s0 + t]));
        out[rowOut + x * stride] = v;
      }
    }
  }
}

/**
 * out[at + x] = buf[a + x]·wa + buf[b + x]·wb in float32 (the store rounds the sum): the loop that
 * writes every value, small so V8 optimises it alone.
 */
function blendRows(out: Float32Array, at: number, buf: Float32Array, a: number, b: number, wa: number, wb: number, n: number): void {
  for (let x = 0; x < n; x++) out[at + x] = Math.fround(buf[a + x] * wa) + Math.fround(buf[b + x] * wb);
}

/**
 * The shorter side a decoder may shrink an image to before preprocessImage: the size the
 * manifest's resize produces. The decoder's own filter (libvips lanczos3 in Node) then does the
 * whole downscale without aliasing, and preprocessImage's resize is an identity (or, for a
 * non-square target, a mild scale) — where a 2-tap bilinear from a 24-megapixel original would
 * sample 2 of every ~25 pixels.
 */
export function decodeSizeFor(spec: ImageSpec): number {
  return spec.resizeShorterTo ?? Math.max(spec.width, spec.height);
}

/** Resample plans for a batch: photos of one size share one (a batch of CIFAR-10 photos has one). */
export function plansFor(images: readonly DecodedImage[], spec: ImageSpec): ResamplePlan[] {
  const bySize = new Map<string, ResamplePlan>();
  return images.map((img) => {
    const key = `${img.width}x${img.height}x${img.data.length}x${img.channels ?? ''}`;
    let plan = bySize.get(key);
    if (!plan) bySize.set(key, (plan = planResample(img, spec)));
    return plan;
  });
}

/** The `[N, 3, H, W]` or `[N, H, W, 3]` batch tensor for a list of images. */
export function imagesToTensor(images: DecodedImage[], spec: ImageSpec): { data: Float32Array; dims: number[] } {
  const per = 3 * spec.width * spec.height;
  const data = new Float32Array(images.length * per);
  const plans = plansFor(images, spec);
  // One row scratch for the batch, as large as the largest image needs.
  const rowBuf = new Float32Array(Math.max(0, ...plans.map((plan) => rowScratchFloats(plan, spec))));
  images.forEach((img, i) => {
    horizontalPass(img, plans[i], spec, rowBuf);
    verticalPass(plans[i], spec, rowBuf, data, i * per);
  });
  const dims = spec.layout === 'NCHW' ? [images.length, 3, spec.height, spec.width] : [images.length, spec.height, spec.width, 3];
  return { data, dims };
}
