import { describe, expect, it } from 'vitest';
import { imagesToTensor, type ImageSpec } from '../src/inputs/image/image.js';
import { InvalidInputError } from '../src/core/errors.js';

const identity: Omit<ImageSpec, 'width' | 'height' | 'resize'> = {
  channelOrder: 'RGB',
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  layout: 'NHWC',
};

/** A 2x2 RGB image whose red channel is [[0, 100], [200, 40]], green = red + 1, blue = 7. */
const img2x2 = {
  width: 2,
  height: 2,
  channels: 3 as const,
  data: Uint8Array.from([0, 1, 7, 100, 101, 7, 200, 201, 7, 40, 41, 7]),
};

describe('image preprocessing against hand-computed values', () => {
  it('bilinear 2x2 → 4x4 with half-pixel centres (as PIL/OpenCV)', () => {
    const { data, dims } = imagesToTensor([img2x2], { ...identity, width: 4, height: 4, resize: 'bilinear' });
    expect(dims).toEqual([1, 4, 4, 3]);
    const red = Array.from({ length: 16 }, (_, i) => data[i * 3]);
    // Source coords for outputs 0..3: -0.25→0 (clamped), 0.25, 0.75, 1.25→1 (clamped).
    // Row weights: [1,0], [0.75,0.25], [0.25,0.75], [0,1]; the same for columns.
    const w = [
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0, 1],
    ];
    const src = [
      [0, 100],
      [200, 40],
    ];
    const expected: number[] = [];
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) {
        let v = 0;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) v += w[y][i] * w[x][j] * src[i][j];
        expected.push(v);
      }
    red.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    // Corner and centre values written out: top-left 0, top-right 100, centre-ish (1,1) = 0.5625*0+0.1875*100+0.1875*200+0.0625*40.
    expect(red[0]).toBeCloseTo(0, 5);
    expect(red[3]).toBeCloseTo(100, 5);
    expect(red[5]).toBeCloseTo(58.75, 4);
  });

  it('area 4x4 → 2x2 is the mean of each 2x2 block', () => {
    const data = new Uint8Array(4 * 4 * 3);
    for (let p = 0; p < 16; p++) data.set([p * 10, 0, 0], p * 3);
    const { data: out } = imagesToTensor([{ width: 4, height: 4, channels: 3, data }], { ...identity, width: 2, height: 2, resize: 'area' });
    // Blocks: {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15} × 10.
    expect([out[0], out[3], out[6], out[9]].map((v) => Math.round(v * 1000) / 1000)).toEqual([25, 45, 105, 125]);
  });

  it('applies scale, mean/std in the model channel order, BGR and NCHW', () => {
    const spec: ImageSpec = {
      width: 2,
      height: 2,
      resize: 'bilinear',
      channelOrder: 'BGR',
      scale: 1 / 255,
      mean: [0.5, 0.25, 0],
      std: [0.5, 0.25, 1],
      layout: 'NCHW',
    };
    const { data, dims } = imagesToTensor([img2x2], spec);
    expect(dims).toEqual([1, 3, 2, 2]);
    // Channel 0 is blue (7), channel 1 green, channel 2 red; each (v/255 - mean[c]) / std[c].
    const blue = (7 / 255 - 0.5) / 0.5;
    expect(Array.from(data.subarray(0, 4))).toEqual([blue, blue, blue, blue].map(Math.fround));
    expect(data[4]).toBeCloseTo((1 / 255 - 0.25) / 0.25, 5);
    expect(data[8 + 2]).toBeCloseTo(200 / 255, 5);
  });

  it('resizeShorterTo keeps aspect then centre-crops', () => {
    // 4x2 image (wide), columns valued 0,10,20,30: shorter side 2 → scale 1, crop the middle 2 columns.
    const data = new Uint8Array(4 * 2);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) data[y * 4 + x] = x * 10;
    const { data: out } = imagesToTensor([{ width: 4, height: 2, channels: 1, data }], {
      ...identity,
      width: 2,
      height: 2,
      resize: 'bilinear',
      resizeShorterTo: 2,
    });
    expect([out[0], out[3]]).toEqual([10, 20]);
    // Grey is replicated to three channels.
    expect([out[0], out[1], out[2]]).toEqual([10, 10, 10]);
  });

  it('rejects pixel buffers that are not 1, 3 or 4 channels', () => {
    expect(() => imagesToTensor([{ width: 2, height: 2, data: new Uint8Array(10) }], { ...identity, width: 2, height: 2, resize: 'area' })).toThrow(
      InvalidInputError,
    );
  });
});
