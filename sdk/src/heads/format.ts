/**
 * The portable head file: versioned, self-describing JSON with parameters as base64
 * little-endian float32/int32. The same file predicts identically in Node, browsers and
 * Workers (it needs nothing but this module). Parsing is strict: anything wrong is a typed
 * error saying what, never a head that silently predicts garbage.
 * @module
 */
import { BackboneMismatchError, HeadFormatError, InvalidInputError } from '../core/errors.js';
import { canonicalJsonCrc32Hex } from '../core/hash.js';
import type { Calibration } from './calibration.js';
import { CentroidHead } from './centroid.js';
import type { Head, OpenSetGate } from './head.js';
import { KnnHead, type KnnMetric } from './knn.js';
import { LinearHead } from './linear.js';
import { ReferenceRows } from './similarity.js';
import type { Matrix } from './matrix.js';

export const HEAD_FORMAT = 'edgehead-head';
export const HEAD_FORMAT_VERSION = 1;

export interface EncodedTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  /** base64 of the little-endian bytes. */
  data: string;
}

export interface BackboneRef {
  id: string;
  fingerprint: string;
}

export interface TrainingSummary {
  nPerClass: Record<string, number>;
  createdAt: string;
  seed?: number;
  /** Cross-validated or held-out metrics, as measured when fitting. */
  metrics?: { accuracy: number; macroF1: number; n: number; method: string };
  [extra: string]: unknown;
}

export interface HeadFile {
  format: typeof HEAD_FORMAT;
  formatVersion: number;
  kind: Head['kind'];
  labels: string[];
  dim: number;
  backbone: BackboneRef | null;
  config: Record<string, unknown>;
  params: Record<string, EncodedTensor>;
  openSet: OpenSetGate | null;
  /**
   * Probability calibration (temperature scaling), applied by predict everywhere. Optional:
   * files written before it existed have none and predict as before (T = 1).
   */
  calibration?: Calibration | null;
  training: TrainingSummary | null;
  /**
   * `crc32:<hex>` of everything that decides predictions (see contentChecksum), written by
   * serializeHead and verified by parseHead in every runtime: a hand-edited or damaged head is
   * refused. Absent in files written before it existed (accepted as they are).
   */
  checksum?: string;
}

/** The checksum of the parts of a head file that decide its predictions (not `training` notes). */
export function contentChecksum(file: Omit<HeadFile, 'checksum'>): string {
  const { kind, labels, dim, backbone, config, params, openSet, calibration } = file;
  return `crc32:${canonicalJsonCrc32Hex({ kind, labels, dim, backbone, config, params, openSet, calibration: calibration ?? null })}`;
}

export interface LoadedHead {
  head: LinearHead | KnnHead | CentroidHead;
  backbone: BackboneRef | null;
  training: TrainingSummary | null;
}

// ---- reference sample (training notes) ---------------------------------------------------------

/**
 * A small seeded sample of the training embeddings with their labels, kept in the head file's
 * training notes (`fit --keep-reference n`) so that `edgehead shift --head` can test new data
 * against what the head was fitted on. Not part of the checksum: it never changes a prediction.
 */
export interface HeadReference {
  labels: string[];
  embeddings: EncodedTensor;
}

export function encodeReference(rows: Matrix, labels: readonly string[]): HeadReference {
  if (labels.length !== rows.rows) throw new InvalidInputError(`A reference sample needs one label per row; got ${rows.rows} rows and ${labels.length} labels.`);
  return { labels: [...labels], embeddings: encodeTensor(rows.data.subarray(0, rows.rows * rows.cols), [rows.rows, rows.cols]) };
}

/** The reference sample of a head file's training notes, or undefined when it has none. */
export function decodeReference(training: TrainingSummary | null, dim: number): { rows: Matrix; labels: string[] } | undefined {
  const ref = training?.reference as HeadReference | undefined;
  if (!ref) return undefined;
  const t = ref.embeddings;
  const n = Array.isArray(ref.labels) ? ref.labels.length : -1;
  if (!t || t.dtype !== 'float32' || !Array.isArray(t.shape) || t.shape[0] !== n || t.shape[1] !== dim || typeof t.data !== 'string') {
    throw new HeadFormatError('INVALID_HEAD', `training.reference must hold float32 embeddings of shape [labels, ${dim}] and one label per row.`);
  }
  const bytes = fromBase64(t.data, 'training.reference');
  if (bytes.length !== n * dim * 4) throw new HeadFormatError('TRUNCATED', `training.reference has ${bytes.length} bytes; [${n}, ${dim}] float32 needs ${n * dim * 4}.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(n * dim);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return { rows: { rows: n, cols: dim, data }, labels: ref.labels.map(String) };
}

// ---- encoding -------------------------------------------------------------------------------

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string, what: string): Uint8Array {
  let s: string;
  try {
    s = atob(text);
  } catch (cause) {
    throw new HeadFormatError('INVALID_HEAD', `params.${what}.data is not valid base64.`, { cause });
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeTensor(values: ArrayLike<number>, shape: number[], dtype: 'float32' | 'int32' = 'float32'): EncodedTensor {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'float32') view.setFloat32(i * 4, values[i], true);
    else view.setInt32(i * 4, values[i], true);
  }
  return { dtype, shape, data: toBase64(new Uint8Array(view.buffer)) };
}

/**
 * The tensor's values, checked finite, in a new array or in the one `allocate` gives once the
 * data is known to hold them (so a file cannot make it allocate what its data does not have).
 */
function decodeTensor(file: HeadFile, name: string, shape: number[], dtype: 'float32' | 'int32' = 'float32', allocate?: (count: number) => Float32Array): Float32Array | Int32Array {
  const t = file.params[name];
  if (!t || typeof t !== 'object') throw new HeadFormatError('INVALID_HEAD', `A ${file.kind} head needs params.${name}; the file has ${Object.keys(file.params).join(', ') || 'none'}.`);
  if (t.dtype !== dtype) throw new HeadFormatError('INVALID_HEAD', `params.${name} must be ${dtype}, not ${String(t.dtype)}.`);
  if (!Array.isArray(t.shape) || t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new HeadFormatError(
      'INVALID_HEAD',
      `params.${name} has shape [${String(t.shape)}], expected [${shape.join(',')}] for ${file.labels.length} labels and dimension ${file.dim}.`,
    );
  }
  const bytes = fromBase64(t.data, name);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * 4) {
    throw new HeadFormatError('TRUNCATED', `params.${name} holds ${bytes.length} bytes, expected ${count * 4}: the head file is truncated or corrupt. Re-export it.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = allocate ? allocate(count) : dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = dtype === 'float32' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
    if (!Number.isFinite(v)) throw new HeadFormatError('INVALID_HEAD', `params.${name} contains ${v} at index ${i}; a head's parameters must be finite.`);
    out[i] = v;
  }
  return out;
}

/** A kNN file's references, decoded straight into the rows the head searches (no second copy). */
function decodeReferences(file: HeadFile, n: number, d: number): ReferenceRows {
  let rows: ReferenceRows | undefined;
  decodeTensor(file, 'references', [n, d], 'float32', () => (rows = ReferenceRows.allocate(n, d)).data);
  return rows as ReferenceRows;
}

// ---- serialise ------------------------------------------------------------------------------

export function serializeHead(
  head: LinearHead | KnnHead | CentroidHead,
  meta: { backbone?: BackboneRef | null; training?: TrainingSummary | null } = {},
): HeadFile {
  const file = headContent(head, meta);
  return { ...file, checksum: contentChecksum(file) };
}

function headContent(head: LinearHead | KnnHead | CentroidHead, meta: { backbone?: BackboneRef | null; training?: TrainingSummary | null }): HeadFile {
  const K = head.labels.length;
  const d = head.dim;
  const base: Omit<HeadFile, 'config' | 'params'> = {
    format: HEAD_FORMAT,
    formatVersion: HEAD_FORMAT_VERSION,
    kind: head.kind,
    labels: [...head.labels],
    dim: d,
    backbone: meta.backbone ?? null,
    openSet: head.openSet ?? null,
    ...(head.kind !== 'knn' && head.calibration ? { calibration: head.calibration } : {}),
    training: meta.training ?? null,
  };
  if (head instanceof LinearHead) {
    const p = head.parameters;
    const R = p.bias.length;
    const params: Record<string, EncodedTensor> = {
      weights: encodeTensor(p.weights, [R, d]),
      bias: encodeTensor(p.bias, [R]),
      prototypes: encodeTensor(p.prototypes, [K, d]),
    };
    if (p.mean && p.std) {
      params.mean = encodeTensor(p.mean, [d]);
      params.std = encodeTensor(p.std, [d]);
    }
    return { ...base, config: { C: p.options.C ?? 1, standardize: !!p.mean }, params };
  }
  if (head instanceof KnnHead) {
    const p = head.parameters;
    const n = p.referenceLabels.length;
    return {
      ...base,
      config: { k: head.k, metric: head.metric, weights: head.weights },
      params: {
        references: encodeTensor(p.references, [n, d]),
        referenceLabels: encodeTensor(p.referenceLabels, [n], 'int32'),
        ids: encodeTensor(p.ids, [n], 'int32'),
      },
    };
  }
  const p = head.parameters;
  return {
    ...base,
    config: { metric: p.metric, shrinkThreshold: p.shrinkThreshold ?? 0, temperature: p.temperature },
    params: {
      sums: encodeTensor(p.sums, [K, d]),
      squares: encodeTensor(p.squares, [K, d]),
      counts: encodeTensor(p.counts, [K]),
    },
  };
}

export function headToJson(head: LinearHead | KnnHead | CentroidHead, meta?: Parameters<typeof serializeHead>[1]): string {
  return JSON.stringify(serializeHead(head, meta));
}

// ---- parse ----------------------------------------------------------------------------------

export interface ParseOptions {
  /** Refuse the head unless it was trained on embeddings with this fingerprint. */
  fingerprint?: string;
  /** Refuse heads whose dimension differs (e.g. the backbone's). */
  dim?: number;
  /** Largest accepted kNN reference count / file size in bytes (worker limits). */
  maxBytes?: number;
  /** Check the content checksum when the file has one (default true; `edgehead sign` turns it off). */
  verifyChecksum?: boolean;
}

function invalid(message: string): never {
  throw new HeadFormatError('INVALID_HEAD', message);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Parses and validates a head file (text or object) into a ready head. */
export function parseHead(input: string | unknown, options: ParseOptions = {}): LoadedHead {
  let file: HeadFile;
  if (typeof input === 'string') {
    if (options.maxBytes !== undefined && input.length > options.maxBytes) invalid(`The head file is ${input.length} bytes; the limit is ${options.maxBytes}.`);
    try {
      file = JSON.parse(input) as HeadFile;
    } catch (cause) {
      throw new HeadFormatError('TRUNCATED', `The head file is not complete JSON (${(cause as Error).message}); it may be truncated. Re-export it.`, { cause });
    }
  } else {
    file = input as HeadFile;
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) invalid('A head file must be a JSON object.');
  if (file.format !== HEAD_FORMAT) invalid(`Not an edgehead head file (format is ${JSON.stringify(file.format)}, expected "${HEAD_FORMAT}").`);
  if (file.formatVersion !== HEAD_FORMAT_VERSION) {
    throw new HeadFormatError(
      'UNSUPPORTED_VERSION',
      `Head formatVersion ${JSON.stringify(file.formatVersion)} is not supported by this edgehead (it reads version ${HEAD_FORMAT_VERSION}). Upgrade edgehead or re-export the head.`,
    );
  }
  if (!['linear', 'knn', 'centroid'].includes(file.kind)) invalid(`Unknown head kind ${JSON.stringify(file.kind)}; expected linear, knn or centroid.`);
  if (!isPositiveInt(file.dim)) invalid('"dim" must be a positive integer.');
  if (!Array.isArray(file.labels) || file.labels.length === 0) invalid('"labels" must be a non-empty list.');
  file.labels.forEach((l, i) => {
    if (typeof l !== 'string' || l.length === 0) invalid(`labels[${i}] must be a non-empty string.`);
  });
  if (new Set(file.labels).size !== file.labels.length) invalid('"labels" contains duplicates.');
  if (typeof file.params !== 'object' || file.params === null) invalid('"params" is missing.');
  if (typeof file.config !== 'object' || file.config === null) invalid('"config" is missing.');
  if (options.dim !== undefined && file.dim !== options.dim) {
    invalid(`This head expects ${file.dim}-d embeddings but the backbone gives ${options.dim}-d. Use the head's backbone (${file.backbone?.id ?? 'unknown'}).`);
  }
  const backbone = file.backbone ?? null;
  if (backbone !== null && (typeof backbone.id !== 'string' || typeof backbone.fingerprint !== 'string')) invalid('"backbone" must have string id and fingerprint.');
  if (options.fingerprint !== undefined) assertFingerprint(backbone, options.fingerprint);
  const openSet = parseGate(file.openSet);
  const K = file.labels.length;
  const d = file.dim;
  let head: LinearHead | KnnHead | CentroidHead;
  switch (file.kind) {
    case 'linear': {
      const R = K === 2 ? 1 : K;
      const standardize = file.config.standardize === true;
      head = new LinearHead({
        labels: file.labels,
        dim: d,
        weights: decodeTensor(file, 'weights', [R, d]) as Float32Array,
        bias: decodeTensor(file, 'bias', [R]) as Float32Array,
        prototypes: decodeTensor(file, 'prototypes', [K, d]) as Float32Array,
        mean: standardize ? (decodeTensor(file, 'mean', [d]) as Float32Array) : undefined,
        std: standardize ? (decodeTensor(file, 'std', [d]) as Float32Array) : undefined,
        openSet,
        options: { C: Number(file.config.C ?? 1), standardize },
      });
      break;
    }
    case 'knn': {
      const n = file.params.referenceLabels?.shape?.[0];
      if (!isPositiveInt(n)) invalid('params.referenceLabels must have shape [n] with n ≥ 1.');
      const referenceLabels = decodeTensor(file, 'referenceLabels', [n], 'int32') as Int32Array;
      referenceLabels.forEach((c, i) => {
        if (c < 0 || c >= K) invalid(`params.referenceLabels[${i}] = ${c} is not a label index (0…${K - 1}).`);
      });
      const k = file.config.k;
      if (!isPositiveInt(k)) invalid('config.k must be a positive integer.');
      head = new KnnHead({
        labels: file.labels,
        dim: d,
        k,
        metric: file.config.metric as KnnMetric,
        weights: file.config.weights === 'distance' ? 'distance' : 'uniform',
        references: decodeReferences(file, n, d),
        referenceLabels,
        ids: Float64Array.from(decodeTensor(file, 'ids', [n], 'int32')),
        openSet,
      });
      break;
    }
    case 'centroid': {
      const metric = file.config.metric;
      if (metric !== 'cosine' && metric !== 'euclidean') invalid('config.metric must be "cosine" or "euclidean".');
      const temperature = Number(file.config.temperature);
      if (!(temperature > 0)) invalid('config.temperature must be a positive number.');
      head = new CentroidHead({
        labels: file.labels,
        dim: d,
        metric,
        shrinkThreshold: Number(file.config.shrinkThreshold) || undefined,
        sums: Float64Array.from(decodeTensor(file, 'sums', [K, d])),
        squares: Float64Array.from(decodeTensor(file, 'squares', [K, d])),
        counts: Float64Array.from(decodeTensor(file, 'counts', [K])),
        temperature,
        openSet,
      });
      break;
    }
  }
  const calibration = parseCalibration(file.calibration);
  if (calibration) {
    if (head instanceof KnnHead) invalid('calibration is not supported for kNN heads (their probabilities are neighbour vote shares).');
    head.calibration = calibration;
  }
  // Last, so a structurally broken file gets its specific message first.
  if (file.checksum !== undefined && options.verifyChecksum !== false) {
    const actual = contentChecksum(file);
    if (file.checksum !== actual) {
      invalid(
        `The head file's checksum (${String(file.checksum)}) does not match its contents (${actual}): its labels, weights or settings ` +
          'were changed after it was written. If you edited it on purpose, run `edgehead sign <file>`; otherwise re-fit it or restore the original.',
      );
    }
  }
  return { head, backbone, training: file.training ?? null };
}

function parseCalibration(c: unknown): Calibration | undefined {
  if (c === null || c === undefined) return undefined;
  const cal = c as Calibration;
  if (typeof cal !== 'object' || cal.method !== 'temperature-scaling') invalid('calibration.method must be "temperature-scaling".');
  if (typeof cal.temperature !== 'number' || !(cal.temperature > 0) || !Number.isFinite(cal.temperature)) invalid('calibration.temperature must be a positive finite number.');
  return { method: cal.method, temperature: cal.temperature, fittedOn: String(cal.fittedOn ?? ''), n: Number(cal.n) || 0 };
}

function parseGate(g: unknown): OpenSetGate | undefined {
  if (g === null || g === undefined) return undefined;
  const gate = g as OpenSetGate;
  if (gate.metric !== 'cosine' && gate.metric !== 'euclidean') invalid('openSet.metric must be "cosine" or "euclidean".');
  if (typeof gate.threshold !== 'number' || !Number.isFinite(gate.threshold)) invalid('openSet.threshold must be a finite number.');
  return { metric: gate.metric, threshold: gate.threshold, quantile: Number(gate.quantile), calibration: gate.calibration === 'manual' || gate.calibration === 'out-of-fold' ? gate.calibration : 'leave-one-out' };
}

/** Throws BackboneMismatchError unless the head was trained on embeddings with this fingerprint. */
export function assertFingerprint(backbone: BackboneRef | null, fingerprint: string): void {
  if (!backbone) return;
  if (backbone.fingerprint !== fingerprint) throw new BackboneMismatchError(backbone.fingerprint, fingerprint, backbone.id);
}
