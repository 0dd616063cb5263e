import { describe, expect, it } from 'vitest';
import { imagesToTensor, type DecodedImage, type ImageSpec } from '../src/inputs/image/image.js';
import { ImageTensorArena } from '../src/inputs/image/tensor-arena.js';

// The arena's SIMD kernels against the plain-JS passes (whose values preprocess.test.ts checks
// by hand): the identical tensor, bit for bit, for every kind of image, including widths that
// leave a scalar tail. Identical, not close: int8 MobileNetV2 quantizes its input, and ±5e-7
// of noise there moves an embedding to a cosine of about 0.97 (see horizontalPass).

function randomImage(width: number, height: number, channels: 1 | 3 | 4, seed: number): DecodedImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, channels, data };
}

const imagenet: ImageSpec = {
  width: 224,
  height: 224,
  resize: 'bilinear',
  resizeShorterTo: 256,
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  layout: 'NCHW',
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const arena = ImageTensorArena.create();

describe('ImageTensorArena (WebAssembly SIMD resampling)', () => {
  it('is available in Node', () => {
    expect(arena).toBeDefined();
  });

  it('builds the same batch tensor as imagesToTensor: upscaled, downscaled, cropped, grey, RGBA', () => {
    const images = [
      randomImage(32, 32, 3, 1), // CIFAR-sized: upscaled 8× then cropped
      randomImage(301, 157, 4, 2), // RGBA, wide, downscaled
      randomImage(50, 80, 1, 3), // grey, tall
      randomImage(1, 1, 3, 4),
      randomImage(256, 256, 3, 5), // already the resize size: a pure crop
    ];
    const expected = imagesToTensor(images, imagenet);
    const got = arena!.tensorFor(images, imagenet)!;
    expect(got.dims).toEqual(expected.dims);
    expect(maxAbsDiff(got.data, expected.data)).toBe(0);
    got.release();
  });

  it('handles output widths that are not a multiple of four, BGR order and area resizing', () => {
    const spec: ImageSpec = { ...imagenet, width: 30, height: 19, resizeShorterTo: undefined, channelOrder: 'BGR' };
    const images = [randomImage(97, 41, 3, 6), randomImage(7, 5, 3, 7)];
    for (const resize of ['bilinear', 'area'] as const) {
      const expected = imagesToTensor(images, { ...spec, resize });
      const got = arena!.tensorFor(images, { ...spec, resize })!;
      expect(maxAbsDiff(got.data, expected.data)).toBe(0);
      got.release();
    }
  });

  it('is leased to one batch at a time, and grows for a larger batch after a small one', () => {
    const small = [randomImage(16, 16, 3, 8)];
    const first = arena!.tensorFor(small, imagenet)!;
    expect(arena!.tensorFor(small, imagenet)).toBeUndefined();
    first.release();

    const big = Array.from({ length: 40 }, (_, i) => randomImage(64, 48, 3, 100 + i));
    const got = arena!.tensorFor(big, imagenet)!;
    expect(maxAbsDiff(got.data, imagesToTensor(big, imagenet).data)).toBe(0);
    got.release();
  });

  it('resamples an image too large to copy in with the JS pass, to the same values', () => {
    const camera = randomImage(3000, 2000, 3, 10); // 18 MB of RGB, over the copy limit
    const images = [camera, randomImage(32, 32, 3, 11)];
    const got = arena!.tensorFor(images, imagenet)!;
    expect(maxAbsDiff(got.data, imagesToTensor(images, imagenet).data)).toBe(0);
    got.release();
  });

  it('leaves NHWC tensors to imagesToTensor', () => {
    expect(arena!.tensorFor([randomImage(8, 8, 3, 9)], { ...imagenet, layout: 'NHWC' })).toBeUndefined();
  });
});
