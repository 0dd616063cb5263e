/**
 * Turns a model's output tensor into one vector per batch item.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { l2NormalizeInPlace } from '../core/vector.js';

/**
 * - `none`: the output is already one vector per item (`[N, D]`, or `[N, 1, 1, D]`); flatten it.
 * - `avg-nchw` / `avg-nhwc`: global average over the spatial axes of a feature map.
 * - `mean`: mean over tokens `[N, T, D]`, counting only positions whose attention mask is 1.
 * - `cls`: the first token of `[N, T, D]`.
 */
export type Pooling = 'none' | 'avg-nchw' | 'avg-nhwc' | 'mean' | 'cls';

export const POOLINGS: readonly Pooling[] = ['none', 'avg-nchw', 'avg-nhwc', 'mean', 'cls'];

export interface PoolOptions {
  pooling: Pooling;
  /** `[N, T]` 0/1 mask, required by `mean` for token outputs. */
  attentionMask?: ArrayLike<number | bigint>;
  normalize?: boolean;
}

export function pool(data: Float32Array, dims: readonly number[], options: PoolOptions): Float32Array[] {
  const n = dims[0];
  if (!n || data.length % n !== 0) {
    throw new InvalidInputError(`Cannot pool an output of shape [${dims.join(',')}]: its first axis must be the batch.`);
  }
  const per = data.length / n;
  const rows: Float32Array[] = [];
  for (let b = 0; b < n; b++) {
    const item = data.subarray(b * per, (b + 1) * per);
    const inner = dims.slice(1);
    let v: Float32Array;
    switch (options.pooling) {
      case 'none':
        v = Float32Array.from(item);
        break;
      case 'avg-nchw':
        v = averageChannelsFirst(item, inner);
        break;
      case 'avg-nhwc':
        v = averageChannelsLast(item, inner);
        break;
      case 'mean':
        v = maskedTokenMean(item, inner, options.attentionMask, b);
        break;
      case 'cls':
        requireRank(inner, 2, 'cls');
        v = Float32Array.from(item.subarray(0, inner[1]));
        break;
      default:
        throw new InvalidInputError(`Unknown pooling "${String(options.pooling)}"; use one of ${POOLINGS.join(', ')}.`);
    }
    rows.push(options.normalize ? l2NormalizeInPlace(v) : v);
  }
  return rows;
}

function requireRank(inner: readonly number[], rank: number, pooling: string): void {
  if (inner.length !== rank) {
    throw new InvalidInputError(
      `Pooling "${pooling}" expects a per-item tensor of rank ${rank}, got [${inner.join(',')}]; pick another pooling or cut tensor.`,
    );
  }
}

function averageChannelsFirst(item: Float32Array, inner: readonly number[]): Float32Array {
  if (inner.length < 1) throw new InvalidInputError('avg-nchw needs a channel axis.');
  const c = inner[0];
  const spatial = item.length / c;
  const out = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = ch * spatial, end = i + spatial; i < end; i++) s += item[i];
    out[ch] = s / spatial;
  }
  return out;
}

function averageChannelsLast(item: Float32Array, inner: readonly number[]): Float32Array {
  if (inner.length < 1) throw new InvalidInputError('avg-nhwc needs a channel axis.');
  const c = inner[inner.length - 1];
  const spatial = item.length / c;
  const sums = new Float64Array(c);
  for (let p = 0; p < spatial; p++) for (let ch = 0; ch < c; ch++) sums[ch] += item[p * c + ch];
  return Float32Array.from(sums, (s) => s / spatial);
}

function maskedTokenMean(
  item: Float32Array,
  inner: readonly number[],
  mask: ArrayLike<number | bigint> | undefined,
  batchIndex: number,
): Float32Array {
  requireRank(inner, 2, 'mean');
  const [t, d] = inner;
  const out = new Float64Array(d);
  let count = 0;
  for (let i = 0; i < t; i++) {
    const m = mask ? Number(mask[batchIndex * t + i]) : 1;
    if (!m) continue;
    count++;
    for (let j = 0; j < d; j++) out[j] += item[i * d + j];
  }
  return Float32Array.from(out, (s) => (count ? s / count : 0));
}

/** Default pooling for a tensor of this rank: vectors stay, token maps average, feature maps pool spatially. */
export function poolingForRank(rank: number, layout: 'NCHW' | 'NHWC' = 'NCHW'): Pooling {
  if (rank === 3) return 'mean';
  if (rank >= 4) return layout === 'NCHW' ? 'avg-nchw' : 'avg-nhwc';
  return 'none';
}
