/**
 * Backbone manifests: what a model is, where its files come from, how to feed it and what to
 * read out. Data, not code — the JSON files live in `models/manifests/`.
 * @module
 */
import { InvalidManifestError } from '../core/errors.js';
import type { ImageSpec } from '../inputs/image/image.js';
import { POOLINGS, type Pooling } from '../backbone/pooling.js';

export type FileSource =
  | { package: string; path: string }
  | { shared: string }
  | { url: string }
  | { file: string };

export interface ManifestFile {
  sha256: string;
  size?: number;
  sources: FileSource[];
}

export interface License {
  name: string;
  url?: string;
  notice?: string;
}

interface ManifestBase {
  id: string;
  name: string;
  license: License;
  files: Record<string, ManifestFile>;
}

export interface OnnxOutputSpec {
  /** Output tensor name; with `cut: true`, any inner tensor of the graph. */
  tensor: string;
  cut?: boolean;
  pooling: Pooling;
  normalize?: boolean;
  dim: number;
}

export interface ImageManifest extends ManifestBase {
  modality: 'image';
  format: 'onnx';
  input: { name: string; image: ImageSpec };
  output: OnnxOutputSpec;
  /** Optional classifier output kept next to the embedding (e.g. ImageNet logits). */
  logits?: { tensor: string; classes: number; labels?: string };
}

export interface TextOnnxManifest extends ManifestBase {
  modality: 'text';
  format: 'onnx';
  /** files.model is the ONNX graph; files.tokenizer a Hugging Face tokenizer.json. */
  input: { maxTokens: number; inputIds?: string; attentionMask?: string; tokenTypeIds?: string };
  output: OnnxOutputSpec;
}

export interface UseManifest extends ManifestBase {
  modality: 'text';
  format: 'tfjs-use';
  input: { maxTokens: number };
  output: { pooling: 'none'; normalize?: boolean; dim: number };
}

export interface OpenWakeWordManifest extends ManifestBase {
  modality: 'audio';
  format: 'openwakeword';
  input: {
    sampleRate: 16000;
    windowFrames: number;
    windowStep: number;
    melBins: number;
    /** Clips are centred in silence padded to at least this many seconds (default: one window). */
    minSeconds?: number;
    /** At least this much silence (seconds) on each side of the clip (default 0). */
    contextSeconds?: number;
  };
  output: { pooling: 'mean-windows'; normalize?: boolean; dim: number };
}

export type Manifest = ImageManifest | TextOnnxManifest | UseManifest | OpenWakeWordManifest;
export type Modality = Manifest['modality'];

function fail(id: string, what: string): never {
  throw new InvalidManifestError(`Manifest "${id}": ${what}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the parts every backbone relies on; the message names the field to fix. */
/**
 * Checks a manifest. With `modality`, also checks it is of that modality and types it so, e.g.
 * `parseManifest(json, 'image')` is an ImageManifest and `createBackbone` gives an image backbone.
 */
export function parseManifest<M extends Modality>(value: unknown, modality: M): Extract<Manifest, { modality: M }>;
export function parseManifest(value: unknown): Manifest;
export function parseManifest(value: unknown, modality?: Modality): Manifest {
  const manifest = parseAnyManifest(value);
  if (modality && manifest.modality !== modality) {
    throw new InvalidManifestError(`Manifest "${manifest.id}" is for ${manifest.modality} inputs, not ${modality}.`);
  }
  return manifest;
}

function parseAnyManifest(value: unknown): Manifest {
  if (!isRecord(value)) throw new InvalidManifestError('A manifest must be a JSON object.');
  const id = typeof value.id === 'string' && value.id ? value.id : fail('?', '"id" must be a non-empty string.');
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(id)) fail(id, '"id" may contain only lower-case letters, digits, ".", "_" and "-".');
  if (typeof value.name !== 'string') fail(id, '"name" must be a string.');
  if (!isRecord(value.license) || typeof value.license.name !== 'string') fail(id, '"license.name" is required.');
  if (!isRecord(value.files) || Object.keys(value.files).length === 0) fail(id, '"files" must list at least one file.');
  for (const [key, f] of Object.entries(value.files)) {
    if (!isRecord(f)) fail(id, `files.${key} must be an object.`);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) fail(id, `files.${key}.sha256 must be 64 lower-case hex digits.`);
    if (!Array.isArray(f.sources) || f.sources.length === 0) fail(id, `files.${key}.sources must list where to get the file.`);
  }
  if (!isRecord(value.output) || typeof value.output.dim !== 'number' || value.output.dim < 1) {
    fail(id, '"output.dim" must be a positive number.');
  }
  if (!isRecord(value.input)) fail(id, '"input" is required.');
  const key = `${String(value.modality)}/${String(value.format)}`;
  switch (key) {
    case 'image/onnx': {
      const img = value.input.image;
      if (!isRecord(img)) fail(id, '"input.image" is required for image models.');
      for (const k of ['width', 'height', 'scale']) if (typeof img[k] !== 'number') fail(id, `input.image.${k} must be a number.`);
      for (const k of ['mean', 'std']) if (!Array.isArray(img[k]) || (img[k] as unknown[]).length !== 3) fail(id, `input.image.${k} must have 3 numbers.`);
      if (img.layout !== 'NCHW' && img.layout !== 'NHWC') fail(id, 'input.image.layout must be "NCHW" or "NHWC".');
      if (img.channelOrder !== 'RGB' && img.channelOrder !== 'BGR') fail(id, 'input.image.channelOrder must be "RGB" or "BGR".');
      if (img.resize !== 'bilinear' && img.resize !== 'area') fail(id, 'input.image.resize must be "bilinear" or "area".');
      if (!value.files.model) fail(id, 'image models need files.model.');
      checkOnnxOutput(id, value.output);
      break;
    }
    case 'text/onnx':
      if (!value.files.model || !value.files.tokenizer) fail(id, 'ONNX text models need files.model and files.tokenizer.');
      if (typeof value.input.maxTokens !== 'number') fail(id, 'input.maxTokens must be a number.');
      checkOnnxOutput(id, value.output);
      break;
    case 'text/tfjs-use':
      if (!value.files['model.json'] || !value.files['vocab.json']) fail(id, 'tfjs-use models need files "model.json" and "vocab.json".');
      break;
    case 'audio/openwakeword':
      if (!value.files.melspectrogram || !value.files.embedding) fail(id, 'openwakeword needs files.melspectrogram and files.embedding.');
      for (const k of ['minSeconds', 'contextSeconds']) {
        const v = value.input[k];
        if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 60)) fail(id, `input.${k} must be a number of seconds from 0 to 60.`);
      }
      break;
    default:
      fail(id, `unsupported modality/format "${key}"; supported: image/onnx, text/onnx, text/tfjs-use, audio/openwakeword.`);
  }
  return value as unknown as Manifest;
}

function checkOnnxOutput(id: string, output: Record<string, unknown>): void {
  if (typeof output.tensor !== 'string') fail(id, '"output.tensor" must name the embedding tensor.');
  if (!POOLINGS.includes(output.pooling as Pooling)) fail(id, `"output.pooling" must be one of ${POOLINGS.join(', ')}.`);
}
