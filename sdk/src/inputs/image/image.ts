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
interface Taps {
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

/**
 * Writes one preprocessed image into `out` (length 3·width·height) starting at `offset`.
 * Grey images are replicated to three channels; RGBA is composited over white (ALPHA_BACKGROUND).
 */
/** Transparent pixels are composited over this colour (sharp's flatten in Node does the same). */
export const ALPHA_BACKGROUND = 'white';

export function preprocessImage(img: DecodedImage, spec: ImageSpec, out: Float32Array, offset = 0): void {
  const c = channelsOf(img);
  if (img.width < 1 || img.height < 1) throw new InvalidInputError('Image has zero width or height.');
  let scaledW = spec.width;
  let scaledH = spec.height;
  if (spec.resizeShorterTo) {
    const k = spec.resizeShorterTo / Math.min(img.width, img.height);
    scaledW = Math.max(spec.width, Math.round(img.width * k));
    scaledH = Math.max(spec.height, Math.round(img.height * k));
  }
  const offX = Math.floor((scaledW - spec.width) / 2);
  const offY = Math.floor((scaledH - spec.height) / 2);
  const tapsX =
    spec.resize === 'area'
      ? areaTaps(img.width, offX, scaledW, spec.width)
      : bilinearTaps(img.width, offX, scaledW, spec.width);
  const tapsY =
    spec.resize === 'area'
      ? areaTaps(img.height, offY, scaledH, spec.height)
      : bilinearTaps(img.height, offY, scaledH, spec.height);

  // Horizontal pass into a float buffer of height(src) x width(dst) x 3.
  const rowBuf = new Float32Array(img.height * spec.width * 3);
  const src = img.data;
  for (let y = 0; y < img.height; y++) {
    const rowBase = y * img.width;
    for (let x = 0; x < spec.width; x++) {
      let r = 0, g = 0, b = 0;
      const s0 = tapsX.start[x];
      for (let t = 0; t < tapsX.count[x]; t++) {
        const p = (rowBase + tapsX.index[s0 + t]) * c;
        const wt = tapsX.weight[s0 + t];
        if (c === 4) {
          // Composite over white: the hidden colour of transparent pixels must not matter.
          const a = src[p + 3] / 255;
          const under = 255 * (1 - a);
          r += (src[p] * a + under) * wt;
          g += (src[p + 1] * a + under) * wt;
          b += (src[p + 2] * a + under) * wt;
        } else if (c === 3) {
          r += src[p] * wt;
          g += src[p + 1] * wt;
          b += src[p + 2] * wt;
        } else {
          const v = src[p] * wt;
          r += v; g += v; b += v;
        }
      }
      const o = (y * spec.width + x) * 3;
      rowBuf[o] = r; rowBuf[o + 1] = g; rowBuf[o + 2] = b;
    }
  }

  const W = spec.width;
  const plane = W * spec.height;
  const bgr = spec.channelOrder === 'BGR';
  // mean/std are listed in the model's channel order; BGR reads red from the third accumulator.
  const m0 = spec.scale / spec.std[0], m1 = spec.scale / spec.std[1], m2 = spec.scale / spec.std[2];
  const b0 = -spec.mean[0] / spec.std[0], b1 = -spec.mean[1] / spec.std[1], b2 = -spec.mean[2] / spec.std[2];
  // Output channel planes (NCHW) or interleaved slots (NHWC): where value c of pixel p goes is
  // base[c] + p * stride. Hoisted out of the loop, which runs 50,000 times per image.
  const nchw = spec.layout === 'NCHW';
  const stride = nchw ? 1 : 3;
  const o0 = offset, o1 = offset + (nchw ? plane : 1), o2 = offset + (nchw ? 2 * plane : 2);
  const first = bgr ? 2 : 0;
  const last = bgr ? 0 : 2;
  for (let y = 0; y < spec.height; y++) {
    const s0 = tapsY.start[y];
    const taps = tapsY.count[y];
    const rowOut = y * W;
    if (taps === 2) {
      // Bilinear: two source rows per output row (the common case, unrolled).
      const ra = tapsY.index[s0] * W * 3;
      const rb = tapsY.index[s0 + 1] * W * 3;
      const wa = tapsY.weight[s0];
      const wb = tapsY.weight[s0 + 1];
      for (let x = 0; x < W; x++) {
        const a = ra + x * 3;
        const b = rb + x * 3;
        let v0 = rowBuf[a + first] * wa + rowBuf[b + first] * wb;
        let v1 = rowBuf[a + 1] * wa + rowBuf[b + 1] * wb;
        let v2 = rowBuf[a + last] * wa + rowBuf[b + last] * wb;
        // Clamped to the 8-bit range, then scaled and normalised.
        v0 = v0 < 0 ? 0 : v0 > 255 ? 255 : v0;
        v1 = v1 < 0 ? 0 : v1 > 255 ? 255 : v1;
        v2 = v2 < 0 ? 0 : v2 > 255 ? 255 : v2;
        const q = (rowOut + x) * stride;
        out[o0 + q] = v0 * m0 + b0;
        out[o1 + q] = v1 * m1 + b1;
        out[o2 + q] = v2 * m2 + b2;
      }
      continue;
    }
    for (let x = 0; x < W; x++) {
      let a0 = 0, a1 = 0, a2 = 0;
      for (let t = 0; t < taps; t++) {
        const o = (tapsY.index[s0 + t] * W + x) * 3;
        const wt = tapsY.weight[s0 + t];
        a0 += rowBuf[o + first] * wt;
        a1 += rowBuf[o + 1] * wt;
        a2 += rowBuf[o + last] * wt;
      }
      a0 = a0 < 0 ? 0 : a0 > 255 ? 255 : a0;
      a1 = a1 < 0 ? 0 : a1 > 255 ? 255 : a1;
      a2 = a2 < 0 ? 0 : a2 > 255 ? 255 : a2;
      const q = (rowOut + x) * stride;
      out[o0 + q] = a0 * m0 + b0;
      out[o1 + q] = a1 * m1 + b1;
      out[o2 + q] = a2 * m2 + b2;
    }
  }
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

/** The `[N, 3, H, W]` or `[N, H, W, 3]` batch tensor for a list of images. */
export function imagesToTensor(images: DecodedImage[], spec: ImageSpec): { data: Float32Array; dims: number[] } {
  const per = 3 * spec.width * spec.height;
  const data = new Float32Array(images.length * per);
  images.forEach((img, i) => preprocessImage(img, spec, data, i * per));
  const dims = spec.layout === 'NCHW' ? [images.length, 3, spec.height, spec.width] : [images.length, spec.height, spec.width, 3];
  return { data, dims };
}
