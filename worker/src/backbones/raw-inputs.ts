/**
 * Classify and teach with raw inputs: texts (`{"inputs": [...]}`) or images (`{"images":
 * ["<base64>", ...]}`, or files in a multipart/form-data body) become embeddings here, with the
 * head's own backbone, checked by fingerprint. Every limit is checked before any work is done.
 */
import type { DecodedImage } from 'edgehead';
import type { Context } from 'hono';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest } from '../errors.js';
import { decodeBase64, parseEmbeddings } from '../embeddings.js';
import { limitsOf } from '../limits.js';
import { readBodyBytes, readJsonObject } from '../request.js';
import type { VersionRow } from '../store/d1.js';
import { decodeImage } from './decode.js';
import { loadServedBackbone } from './load.js';
import { rawLimitsOf, servedManifest, type RawLimits, type ServableManifest } from './served.js';

/** A request body: its fields, plus the image files of a multipart body, in order. */
export interface InputBody {
  fields: Record<string, unknown>;
  files: Array<{ name: string; bytes: Uint8Array }>;
  /** A multipart/form-data body (whose texts and files are raw inputs, never embeddings). */
  multipart: boolean;
}

/** Reads a JSON body, or a multipart/form-data one (files are images; other fields as JSON values). */
export async function readInputBody(c: Context<AppEnv>): Promise<InputBody> {
  const type = c.req.header('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(type)) return { fields: await readJsonObject(c), files: [], multipart: false };
  // The body, the parsed form and each file's bytes are alive together: a tighter limit than for JSON.
  const bytes = await readBodyBytes(c, { bytes: rawLimitsOf(c.env).maxMultipartBytes, setting: 'MAX_MULTIPART_BYTES' });
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { 'content-type': type } }).formData();
  } catch (e) {
    throw badRequest('MALFORMED_MULTIPART', `The multipart/form-data body could not be parsed (${(e as Error).message}).`);
  }
  const fields: Record<string, unknown> = {};
  const files: InputBody['files'] = [];
  // Repeated text fields: one label per example, one text per input.
  const lists: Record<'labels' | 'inputs', string[]> = { labels: [], inputs: [] };
  for (const [key, entry] of form.entries()) {
    const value = entry as string | File;
    if (typeof value !== 'string') {
      files.push({ name: value.name || key, bytes: new Uint8Array(await value.arrayBuffer()) });
    } else if (key === 'labels' || key === 'label') {
      lists.labels.push(value);
    } else if (key === 'inputs' || key === 'input') {
      lists.inputs.push(value);
    } else {
      fields[key] = asValue(value);
    }
  }
  if (lists.labels.length) fields.labels = lists.labels;
  if (lists.inputs.length) fields.inputs = lists.inputs;
  return { fields, files, multipart: true };
}

/** `3` → 3, `true` → true, anything else stays a string (form fields are text); checks come later. */
function asValue(text: string): unknown {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  return text;
}

type RawInputs = { modality: 'text'; texts: string[] } | { modality: 'image'; images: Array<{ name: string; bytes: Uint8Array }> };

/** The raw inputs a body carries, or undefined when it carries embeddings instead. */
function rawInputsOf(body: InputBody): RawInputs | undefined {
  const { fields, files } = body;
  const given = ['embeddings', 'inputs', 'images'].filter((k) => fields[k] !== undefined).concat(files.length ? ['files'] : []);
  if (given.length > 1) throw badRequest('INVALID_BODY', `Send one of "embeddings", "inputs" (texts) or "images"; this body has ${given.join(' and ')}.`);
  if (files.length) return { modality: 'image', images: files };
  if (given.length === 0) {
    throw badRequest(
      body.multipart ? 'EMPTY_BATCH' : 'INVALID_BODY',
      body.multipart
        ? 'The multipart body has no image files and no "inputs" fields; attach the images to classify (any field name).'
        : 'Send "embeddings" (from the SDK), "inputs" (texts) or "images" (base64 files), for a head on a backbone this deployment runs (GET /v1/backbones).',
    );
  }
  if (fields.inputs !== undefined) {
    const inputs = fields.inputs;
    if (!Array.isArray(inputs) || inputs.some((t) => typeof t !== 'string')) throw badRequest('INVALID_FIELD', '"inputs" must be an array of strings (the texts to classify).');
    return { modality: 'text', texts: inputs as string[] };
  }
  if (fields.images !== undefined) {
    const images = fields.images;
    if (!Array.isArray(images) || images.some((t) => typeof t !== 'string')) {
      throw badRequest('INVALID_FIELD', '"images" must be an array of base64 strings, each an encoded JPEG, PNG or WebP file.');
    }
    return {
      modality: 'image',
      images: (images as string[]).map((b64, i) => {
        if (b64.startsWith('data:')) throw badRequest('INVALID_IMAGE', `images[${i}] is a data: URL; send only the base64 after the comma.`);
        return { name: `images[${i}]`, bytes: decodeBase64(b64, `images[${i}]`, 'INVALID_IMAGE') };
      }),
    };
  }
  return undefined;
}

/**
 * The embeddings a classify/examples body stands for: parsed from `embeddings`, or computed here
 * from raw inputs with the backbone the head was fitted on.
 */
export async function embeddingsFor(c: Context<AppEnv>, row: VersionRow, body: InputBody, options: { expectedCount?: number } = {}): Promise<Float32Array[]> {
  const raw = rawInputsOf(body);
  if (!raw) return parseEmbeddings(body.fields.embeddings, limitsOf(c.env), row.dim);
  if (!row.backbone_id) {
    throw badRequest('NO_BACKBONE', `Head "${row.name}" version ${row.version} does not say which backbone it was fitted on, so raw inputs cannot be embedded for it; send embeddings.`);
  }
  const manifest = servedManifest(c.env, row.backbone_id);
  if (raw.modality !== manifest.modality) {
    const want = manifest.modality === 'text' ? '"inputs" (texts)' : '"images" or image files';
    throw badRequest('WRONG_MODALITY', `Head "${row.name}" classifies ${manifest.modality}s (backbone ${manifest.id}); send ${want}, not ${raw.modality}s.`);
  }
  const limits = rawLimitsOf(c.env);
  const count = raw.modality === 'text' ? raw.texts.length : raw.images.length;
  if (count === 0) throw badRequest('EMPTY_BATCH', `No ${raw.modality}s to embed; send at least one.`);
  if (count > limits.maxRawBatch) {
    throw badRequest('BATCH_TOO_LARGE', `At most ${limits.maxRawBatch} ${raw.modality}s per request (MAX_RAW_BATCH); got ${count}. Split the batch.`);
  }
  if (options.expectedCount !== undefined && options.expectedCount !== count) {
    throw badRequest('INVALID_FIELD', `"labels" has ${options.expectedCount} entries for ${count} ${raw.modality}s; send one label per example.`);
  }
  if (raw.modality === 'text') {
    raw.texts.forEach((t, i) => {
      if (!t.trim()) throw badRequest('EMPTY_TEXT', `inputs[${i}] is empty; send text to classify.`);
      if (t.length > limits.maxTextChars) {
        throw badRequest('TEXT_TOO_LONG', `inputs[${i}] has ${t.length} characters; the limit is ${limits.maxTextChars} (MAX_TEXT_CHARS). The model reads at most 512 tokens anyway; send the part that matters.`);
      }
    });
  }
  if (inflight >= limits.maxInflightRaw) {
    throw new ApiError(503, 'OVERLOADED', `This isolate is already embedding ${inflight} requests' inputs (MAX_INFLIGHT_RAW); retry in a moment.`, 1);
  }
  inflight++;
  try {
    return await embedRaw(c, row, manifest, raw, limits);
  } finally {
    inflight--;
  }
}

/** Raw-input requests being embedded in this isolate: each holds decoded inputs and runtime memory. */
let inflight = 0;

/** Decoded pixels held at once before they are embedded (a 4-megapixel image alone is 16 MB). */
const DECODED_BUDGET_BYTES = 16 * 1024 * 1024;

async function embedRaw(c: Context<AppEnv>, row: VersionRow, manifest: ServableManifest, raw: RawInputs, limits: RawLimits): Promise<Float32Array[]> {
  const { backbone } = await loadServedBackbone(c.env.BLOBS, manifest);
  if (row.fingerprint && row.fingerprint !== backbone.fingerprint) {
    throw new ApiError(
      409,
      'BACKBONE_MISMATCH',
      `Head "${row.name}" was fitted on embeddings with fingerprint ${row.fingerprint}, but this deployment's ${manifest.id} produces ${backbone.fingerprint} (another variant, cut or pooling). Send embeddings from the head's backbone instead.`,
    );
  }
  if (backbone.modality === 'text' && raw.modality === 'text') return backbone.embed(raw.texts);
  if (backbone.modality === 'image' && raw.modality === 'image' && manifest.modality === 'image') {
    // Embedded as soon as the decoded pixels reach the budget: an image the shrink cannot reduce
    // (say 500×8000) stays large, and 32 of them must not all be held at once.
    const rows: Float32Array[] = [];
    let pending: DecodedImage[] = [];
    let held = 0;
    for (const { name, bytes } of raw.images) {
      const image = await decodeImage(bytes, manifest.input.image, limits.maxImagePixels, name);
      pending.push(image);
      held += image.data.byteLength;
      if (held >= DECODED_BUDGET_BYTES) {
        rows.push(...(await backbone.embed(pending)));
        pending = [];
        held = 0;
      }
    }
    if (pending.length) rows.push(...(await backbone.embed(pending)));
    return rows;
  }
  throw new ApiError(500, 'INTERNAL', `Backbone ${manifest.id} loaded as ${backbone.modality}, but its manifest says ${manifest.modality}.`);
}
