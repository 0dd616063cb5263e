/**
 * Served backbones, loaded once per isolate from R2 and shared by every head that uses them.
 * ONNX models run on onnxruntime-web's WASM build, USE on tfjs-backend-wasm (both binaries
 * compiled at deploy time, see the SDK's compiled-wasm.ts): the same code and manifests as the
 * SDK, so the fingerprints match heads fitted with the CLI.
 */
import { createBackbone, workersOnnxRuntime, type ImageBackbone, type TextBackbone } from 'edgehead';
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import tfjsWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm';
import { ApiError } from '../errors.js';
import { readBackboneFiles } from './files.js';
import type { ServableManifest } from './served.js';

export type ServedBackbone = ImageBackbone | TextBackbone;

export interface LoadedBackbone {
  backbone: ServedBackbone;
  /** Milliseconds from the first request for it to ready (R2 reads, checks, session creation). */
  loadMs: number;
}

const loaded = new Map<string, Promise<LoadedBackbone>>();
/** Ids whose load has finished (not merely started) in this isolate. */
const ready = new Set<string>();

export function loadServedBackbone(bucket: R2Bucket, manifest: ServableManifest): Promise<LoadedBackbone> {
  let pending = loaded.get(manifest.id);
  if (!pending) {
    pending = load(bucket, manifest);
    // A failure (file not uploaded yet, R2 hiccup) is not remembered: the next request retries.
    pending.then(
      () => ready.add(manifest.id),
      () => loaded.delete(manifest.id),
    );
    loaded.set(manifest.id, pending);
  }
  return pending;
}

/** Whether a backbone is loaded and ready in this isolate (for GET /v1/backbones). */
export function isLoaded(id: string): boolean {
  return ready.has(id);
}

async function load(bucket: R2Bucket, manifest: ServableManifest): Promise<LoadedBackbone> {
  const started = Date.now();
  const files = await readBackboneFiles(bucket, manifest);
  let backbone: ServedBackbone;
  try {
    backbone = (await createBackbone(manifest, files, {
      device: 'wasm',
      onnxruntime: workersOnnxRuntime(ort, ortWasm),
      tfjsWasmModule: tfjsWasm,
      maxBatchSize: 8,
    })) as ServedBackbone;
  } catch (cause) {
    console.error(`backbone ${manifest.id} failed to load`, cause);
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ApiError(503, 'BACKBONE_UNAVAILABLE', `Backbone "${manifest.id}" could not be started in this worker (${reason}); send embeddings computed with the SDK, or retry later.`);
  }
  return { backbone, loadMs: Date.now() - started };
}
