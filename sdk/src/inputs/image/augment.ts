/**
 * Seeded image augmentation for few-shot fitting: horizontal flip, random resized crop and a
 * small colour jitter (brightness, contrast, saturation). Pure typed-array code; the output is
 * RGB and is resized to the model's input later by the manifest's preprocessing.
 * @module
 */
import type { DecodedImage } from './image.js';

export interface AugmentOptions {
  /** Probability of a horizontal flip. Default 0.5. */
  flip?: number;
  /** Area fraction range of the random crop. Default [0.6, 1]. */
  cropScale?: [number, number];
  /** Aspect-ratio range of the random crop. Default [3/4, 4/3]. */
  cropRatio?: [number, number];
  /** Max relative change of brightness, contrast and saturation. Default 0.15. */
  jitter?: number;
}

export function describeAugment(o: AugmentOptions = {}): string {
  return JSON.stringify({ flip: o.flip ?? 0.5, cropScale: o.cropScale ?? [0.6, 1], cropRatio: o.cropRatio ?? [3 / 4, 4 / 3], jitter: o.jitter ?? 0.15 });
}

export function augmentImage(img: DecodedImage, rng: () => number, options: AugmentOptions = {}): DecodedImage {
  const c = img.channels ?? img.data.length / (img.width * img.height);
  const [sMin, sMax] = options.cropScale ?? [0.6, 1];
  const [rMin, rMax] = options.cropRatio ?? [3 / 4, 4 / 3];
  const area = img.width * img.height * (sMin + (sMax - sMin) * rng());
  const ratio = Math.exp(Math.log(rMin) + (Math.log(rMax) - Math.log(rMin)) * rng());
  const w = Math.max(1, Math.min(img.width, Math.round(Math.sqrt(area * ratio))));
  const h = Math.max(1, Math.min(img.height, Math.round(Math.sqrt(area / ratio))));
  const x0 = Math.floor(rng() * (img.width - w + 1));
  const y0 = Math.floor(rng() * (img.height - h + 1));
  const flip = rng() < (options.flip ?? 0.5);
  const j = options.jitter ?? 0.15;
  const brightness = 1 + j * (2 * rng() - 1);
  const contrast = 1 + j * (2 * rng() - 1);
  const saturation = 1 + j * (2 * rng() - 1);
  const out = new Uint8Array(w * h * 3);
  let meanLuma = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = flip ? x0 + w - 1 - x : x0 + x;
      const p = ((y0 + y) * img.width + sx) * c;
      const r = img.data[p];
      const g = c >= 3 ? img.data[p + 1] : r;
      const b = c >= 3 ? img.data[p + 2] : r;
      const o = (y * w + x) * 3;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      meanLuma += 0.299 * r + 0.587 * g + 0.114 * b;
    }
  }
  meanLuma /= w * h;
  for (let i = 0; i < out.length; i += 3) {
    const luma = 0.299 * out[i] + 0.587 * out[i + 1] + 0.114 * out[i + 2];
    for (let k = 0; k < 3; k++) {
      let v = out[i + k] * brightness;
      v = luma * brightness + (v - luma * brightness) * saturation; // saturation around the pixel's grey
      v = meanLuma * brightness + (v - meanLuma * brightness) * contrast; // contrast around the image mean
      out[i + k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: w, height: h, channels: 3, data: out };
}
