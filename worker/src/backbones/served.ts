/**
 * Which backbones this deployment runs itself (the BACKBONES setting), their manifests (the ones
 * the SDK publishes, so a head fitted with the CLI has the same fingerprint), and the raw-input
 * limits that keep one request inside an isolate's 128 MB and CPU budget.
 */
import { parseManifest, type ImageManifest, type UseManifest } from 'edgehead';
import mobilenetInt8 from 'edgehead/manifests/mobilenetv2-int8.json';
import useLite from 'edgehead/manifests/use-lite.json';
import { ApiError } from '../errors.js';

export type ServableManifest = ImageManifest | UseManifest;

/** Backbones the worker can run: ONNX image models on onnxruntime-web, USE on tfjs-backend-wasm. */
const CATALOGUE: Record<string, ServableManifest> = Object.fromEntries(
  [mobilenetInt8, useLite].map((json) => {
    const manifest = parseManifest(json) as ServableManifest;
    return [manifest.id, manifest];
  }),
);

export const DEFAULT_BACKBONES = 'mobilenetv2-int8, use-lite';

export interface BackboneSettings {
  /** Comma-separated backbone ids served, "off" for none. Default: DEFAULT_BACKBONES. */
  BACKBONES?: string;
  /** Texts or images per raw-input request. */
  MAX_RAW_BATCH?: string;
  /** Characters per text. */
  MAX_TEXT_CHARS?: string;
  /** Pixels (width × height) of one image, checked from its header before it is decoded. */
  MAX_IMAGE_PIXELS?: string;
  /** Bytes of a multipart/form-data body (tighter than MAX_BODY_BYTES: it is held three times while parsed). */
  MAX_MULTIPART_BYTES?: string;
  /** Raw-input requests embedding at once per isolate before 503 OVERLOADED. */
  MAX_INFLIGHT_RAW?: string;
}

export interface RawLimits {
  maxRawBatch: number;
  maxTextChars: number;
  maxImagePixels: number;
  maxMultipartBytes: number;
  maxInflightRaw: number;
}

export function rawLimitsOf(env: BackboneSettings): RawLimits {
  return {
    maxRawBatch: Number(env.MAX_RAW_BATCH ?? 32),
    maxTextChars: Number(env.MAX_TEXT_CHARS ?? 10_000),
    maxImagePixels: Number(env.MAX_IMAGE_PIXELS ?? 4_000_000),
    maxMultipartBytes: Number(env.MAX_MULTIPART_BYTES ?? 16 * 1024 * 1024),
    maxInflightRaw: Number(env.MAX_INFLIGHT_RAW ?? 4),
  };
}

/** The ids this deployment serves, in the configured order. */
export function servedIds(env: BackboneSettings): string[] {
  const raw = (env.BACKBONES ?? DEFAULT_BACKBONES).trim();
  if (raw === '' || raw === 'off') return [];
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The manifest of a served backbone, or a 404/400 that says what this deployment serves. */
export function servedManifest(env: BackboneSettings, id: string): ServableManifest {
  const served = servedIds(env);
  if (!served.includes(id)) {
    throw new ApiError(
      400,
      'BACKBONE_NOT_SERVED',
      `This deployment does not run backbone "${id}" (it runs: ${served.join(', ') || 'none'}). Send embeddings computed with the SDK instead, or add it to the BACKBONES setting.`,
    );
  }
  const manifest = CATALOGUE[id];
  if (!manifest) {
    throw new ApiError(500, 'BACKBONE_UNKNOWN', `BACKBONES names "${id}", which the worker cannot run; it can run ${Object.keys(CATALOGUE).join(', ')}.`);
  }
  return manifest;
}
