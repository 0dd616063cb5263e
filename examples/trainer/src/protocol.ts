/** Messages between the page (main thread) and the engine worker, which owns models and heads. */
import type { DeviceReport, Prediction } from 'edgehead';

export type Modality = 'image' | 'text' | 'audio';

/** What one example is, as the page holds it. */
export type ExampleInput = { kind: 'image'; blob: Blob } | { kind: 'text'; text: string } | { kind: 'audio'; samples: Float32Array; sampleRate: number };

export type Request =
  | { type: 'load'; modality: Modality }
  | { type: 'embed'; inputs: ExampleInput[] }
  | { type: 'fit'; embeddings: Float32Array[]; labels: string[] }
  | { type: 'predict'; embeddings: Float32Array[]; threshold?: number }
  | { type: 'import'; headJson: string };

export interface LoadedInfo {
  backbone: string;
  dim: number;
  device: string;
  fingerprint: string;
  deviceReport?: DeviceReport;
  loadMs: number;
}

export interface FitResult {
  head: string;
  /** Out-of-fold evaluation of the chosen head. */
  cv?: { accuracy: number; macroF1: number; labels: string[]; confusion: number[][]; recall: Record<string, number>; folds: number; ece?: number };
  /** The head's open-set distance threshold, when it has a gate. */
  threshold?: number;
  /** Out-of-fold open-set distances of the examples (each scored by a head fitted without it), for the slider. */
  heldOut?: number[];
  tried: Array<{ head: string; accuracy: number }>;
  headJson: string;
}

export type Response =
  | { type: 'loaded'; info: LoadedInfo }
  | { type: 'embedded'; embeddings: Float32Array[] }
  | { type: 'fitted'; result: FitResult }
  | { type: 'predicted'; predictions: Prediction[] }
  | { type: 'imported'; labels: string[]; head: string }
  | { type: 'progress'; done: number; total: number }
  | { type: 'error'; message: string };
