/**
 * The one interface every frozen feature extractor implements, whatever its runtime.
 * @module
 */
import { canonicalJson, sha256Hex } from '../core/hash.js';
import type { Modality } from '../manifest/manifest.js';
import type { DeviceReport } from './onnx/choose-device.js';
import type { OnnxRuntimeOptions } from './onnx/runtime.js';
import type { Pooling } from './pooling.js';

export interface EmbedOptions {
  signal?: AbortSignal;
  /** Called after each batch with the number of inputs embedded so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * `M` ties the modality to the input type, so `if (backbone.modality === 'image')` narrows a
 * loaded backbone to one whose `embed` takes decoded images.
 */
export interface Backbone<Input, M extends Modality = Modality> {
  /** Manifest id (or a file name for ad-hoc models). */
  readonly id: string;
  readonly modality: M;
  readonly dim: number;
  /**
   * Identifies what produced an embedding: the model bytes' hash plus output, pooling,
   * normalisation and preprocessing. A head refuses embeddings with another fingerprint.
   */
  readonly fingerprint: string;
  /** The runtime actually used ('node', 'wasm', 'webgpu', 'tfjs-wasm'). */
  readonly device: string;
  /** For ONNX image backbones: why `device` was chosen, and the probe measurements behind it. */
  readonly deviceReport?: DeviceReport;
  /** One embedding per input, in order; batches internally. */
  embed(inputs: readonly Input[], options?: EmbedOptions): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export interface BackboneOptions extends OnnxRuntimeOptions {
  /** Largest batch handed to the runtime at once. Default 32 (1 for fixed-batch models). */
  maxBatchSize?: number;
  /** Expose this inner tensor instead of the manifest's output (ONNX models). */
  cut?: string;
  pooling?: Pooling;
  /** L2-normalise each embedding. Default: the manifest's choice (usually false). */
  normalize?: boolean;
}

export async function fingerprintOf(parts: Record<string, unknown>): Promise<string> {
  return `sha256:${await sha256Hex(canonicalJson(parts))}`;
}

/** Runs `step` over consecutive slices of at most `size` inputs, honouring abort and progress. */
export async function inBatches<I>(
  inputs: readonly I[],
  size: number,
  options: EmbedOptions | undefined,
  step: (batch: readonly I[]) => Promise<Float32Array[]>,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < inputs.length; i += size) {
    options?.signal?.throwIfAborted();
    out.push(...(await step(inputs.slice(i, i + size))));
    options?.onProgress?.(out.length, inputs.length);
  }
  return out;
}
