/**
 * Transparency: a PNG is what it looks like. Transparent pixels are composited over white, so
 * the colour hidden under alpha 0 never changes an embedding — in Node (sharp) and for RGBA
 * pixels from a browser canvas alike.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes } from '../src/inputs/image/decode-node.js';
import { preprocessImage, type ImageSpec } from '../src/inputs/image/image.js';

const identity: ImageSpec = { width: 2, height: 1, resize: 'bilinear', channelOrder: 'RGB', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], layout: 'NHWC' };

function rgba(pixels: number[][]): { width: number; height: number; channels: 4; data: Uint8Array } {
  return { width: pixels.length, height: 1, channels: 4, data: Uint8Array.from(pixels.flat()) };
}

describe('alpha', () => {
  it('RGBA pixels are composited over white (hand-computed)', () => {
    const out = new Float32Array(6);
    // Opaque blue; half-transparent red: 255·(128/255) + 255·(1 − 128/255) = 255, 0 + 127 = 127.
    preprocessImage(rgba([[0, 0, 255, 255], [255, 0, 0, 128]]), identity, out);
    expect(Array.from(out)).toEqual([0, 0, 255, 255, 127, 127]);
  });

  it('two PNGs that look the same (different colours hidden under alpha 0) decode to the same pixels', async () => {
    const make = (hidden: [number, number, number]) => {
      const data = new Uint8Array(8 * 8 * 4);
      for (let i = 0; i < 64; i++) {
        const visible = i % 8 < 4;
        data.set(visible ? [200, 30, 60, 255] : [...hidden, 0], i * 4);
      }
      return sharp(data, { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer();
    };
    const [a, b] = await Promise.all([decodeImageBytes(await make([0, 0, 0])), decodeImageBytes(await make([0, 255, 0]))]);
    expect(a.channels).toBe(3);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data.subarray(4 * 3, 4 * 3 + 3))).toEqual([255, 255, 255]); // transparent → white
  });

  it('Node (sharp flatten) and browser-style RGBA preprocessing agree on a translucent PNG', async () => {
    const data = new Uint8Array(4 * 4 * 4);
    for (let i = 0; i < 16; i++) data.set([(i * 37) % 256, (i * 91) % 256, (i * 53) % 256, (i * 17) % 256], i * 4);
    const png = await sharp(data, { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer();
    const spec: ImageSpec = { ...identity, width: 4, height: 4 };
    const fromNode = new Float32Array(48);
    const fromRgba = new Float32Array(48);
    preprocessImage(await decodeImageBytes(png), spec, fromNode);
    preprocessImage({ width: 4, height: 4, channels: 4, data }, spec, fromRgba);
    // sharp rounds the composite to 8 bits; the float path does not.
    for (let i = 0; i < 48; i++) expect(Math.abs(fromNode[i] - fromRgba[i])).toBeLessThanOrEqual(1);
  });
});
