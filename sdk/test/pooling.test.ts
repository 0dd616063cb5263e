import { describe, expect, it } from 'vitest';
import { pool } from '../src/backbone/pooling.js';

describe('pooling against hand-computed values', () => {
  it('avg-nchw averages each channel plane', () => {
    // [1, 2, 2, 2]: channel 0 = 1,2,3,4 → 2.5; channel 1 = 10,20,30,40 → 25.
    const out = pool(Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40]), [1, 2, 2, 2], { pooling: 'avg-nchw' });
    expect(Array.from(out[0])).toEqual([2.5, 25]);
  });

  it('avg-nhwc averages over positions', () => {
    // [1, 2, 1, 2]: positions (1,10) and (3,30) → [2, 20].
    const out = pool(Float32Array.from([1, 10, 3, 30]), [1, 2, 1, 2], { pooling: 'avg-nhwc' });
    expect(Array.from(out[0])).toEqual([2, 20]);
  });

  it('mean pooling counts only unmasked tokens; cls takes token 0', () => {
    // Two sequences of 3 tokens, 2 dims. Second sequence has its last token masked out.
    const data = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 999, 999]);
    const mask = [1, 1, 1, 1, 1, 0];
    const mean = pool(data, [2, 3, 2], { pooling: 'mean', attentionMask: mask });
    expect(Array.from(mean[0])).toEqual([3, 4]);
    expect(Array.from(mean[1])).toEqual([20, 30]);
    const cls = pool(data, [2, 3, 2], { pooling: 'cls' });
    expect(Array.from(cls[1])).toEqual([10, 20]);
  });

  it('normalize gives unit vectors (3-4-5 triangle)', () => {
    const out = pool(Float32Array.from([3, 4]), [1, 2], { pooling: 'none', normalize: true });
    expect(Array.from(out[0])).toEqual([0.6, 0.8].map(Math.fround));
  });
});
