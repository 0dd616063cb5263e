/**
 * Audio samples and resampling. Decoded audio is mono float32 in [-1, 1] at a known rate.
 * @module
 */
import { InvalidInputError } from '../../core/errors.js';

export interface AudioClip {
  samples: Float32Array;
  sampleRate: number;
}

/**
 * Band-limited resampling with a Hann-windowed sinc (cut-off at the lower Nyquist rate), so
 * 44.1 kHz → 16 kHz does not alias and 8 kHz → 16 kHz does not image.
 */
export function resample(clip: AudioClip, targetRate: number, halfWidth = 16): AudioClip {
  const { samples, sampleRate } = clip;
  if (!(sampleRate > 0) || !(targetRate > 0)) {
    throw new InvalidInputError(`Cannot resample from ${sampleRate} Hz to ${targetRate} Hz; both rates must be positive.`);
  }
  if (sampleRate === targetRate) return clip;
  const ratio = targetRate / sampleRate;
  const cutoff = Math.min(1, ratio); // relative to the source Nyquist
  const outLength = Math.max(1, Math.round(samples.length * ratio));
  const out = new Float32Array(outLength);
  const support = halfWidth / cutoff;
  for (let i = 0; i < outLength; i++) {
    const center = i / ratio;
    const lo = Math.max(0, Math.ceil(center - support));
    const hi = Math.min(samples.length - 1, Math.floor(center + support));
    let acc = 0;
    let wsum = 0;
    for (let j = lo; j <= hi; j++) {
      const x = (j - center) * cutoff;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * (j - center)) / (support + 1));
      const w = sinc * window;
      acc += samples[j] * w;
      wsum += w;
    }
    // Normalising by the tap sum keeps DC gain at 1, also near the edges.
    out[i] = wsum !== 0 ? acc / wsum : 0;
  }
  return { samples: out, sampleRate: targetRate };
}
