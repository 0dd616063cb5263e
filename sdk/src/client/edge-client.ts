/**
 * Typed client for the edgehead edge API. Uses only `fetch`, so it runs in browsers, Node and
 * Workers. Errors come back as EdgeApiError with the server's code and message.
 * @module
 */
import type { HeadFile } from '../heads/format.js';
import { splitKnnHead } from '../heads/knn-parts.js';
import type { paths } from './api-types.js';

/**
 * The JSON body the edge API answers `method` on `path` with `status` — from its OpenAPI
 * document (api-types.ts is generated from it; the end-to-end test checks real answers against it).
 */
export type EdgeApiBody<P extends keyof paths, M extends keyof paths[P], S extends number> = paths[P][M] extends { responses: infer R }
  ? S extends keyof R
    ? R[S] extends { content: { 'application/json': infer B } }
      ? B
      : never
    : never
  : never;

export interface EdgeClientOptions {
  /** e.g. https://edgehead.example.workers.dev or http://127.0.0.1:8787 */
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  /**
   * Times a request is sent again when the server refused it for load — 429, or 503 with
   * `Retry-After` (OVERLOADED, STORAGE_BUSY): nothing was done by it — after waiting as told.
   * Default 2.
   */
  retries?: number;
  /** A refusal asking for a longer wait than this is returned as an error instead. Default 5000. */
  maxRetryWaitMs?: number;
}

/** A version as an upload answers it (with the head's name and the alias moved to it, if any). */
export type HeadVersionInfo = EdgeApiBody<'/v1/heads/{name}/versions', 'post', 201>;
export type ClassifyResult = EdgeApiBody<'/v1/heads/{ref}/classify', 'post', 200>;
export type HeadList = EdgeApiBody<'/v1/heads', 'get', 200>;
export type HeadDetails = EdgeApiBody<'/v1/heads/{name}', 'get', 200>;
export type DriftReport = EdgeApiBody<'/v1/heads/{ref}/drift', 'get', 200>;
export type BackboneList = EdgeApiBody<'/v1/backbones', 'get', 200>;
export type BackboneFileInfo = EdgeApiBody<'/v1/admin/backbones/{id}/files/{name}', 'put', 201>;

/** An encoded image file (JPEG, PNG or WebP) as the worker takes it. */
export type EncodedImage = Uint8Array | ArrayBuffer | Blob;

/**
 * What to classify or teach: embeddings you computed, or raw inputs the worker embeds itself
 * with the head's backbone (when it runs it: `backbones()`): texts, or encoded image files.
 */
export type ClassifyInput = Embeddings | { inputs: readonly string[] } | { images: readonly EncodedImage[] };

export interface ClassifyOptions {
  fingerprint?: string;
  topK?: number;
  threshold?: number;
  rejectUnknown?: boolean;
  /** Send embeddings as base64 little-endian float32 (≈ 3× smaller than JSON numbers). Default true. */
  binary?: boolean;
}

export class EdgeApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'EdgeApiError';
  }
}

type Embeddings = readonly ArrayLike<number>[];

/** Head files up to this many characters are sent without asking for the deployment's limits. */
const PART_CHECK_CHARS = 1 << 20;

type ServerLimits = EdgeApiBody<'/v1/version', 'get', 200>['limits'];

/**
 * A failure part-way through an upload in parts. The version exists and is the head's latest, so
 * classifying by the bare name answers with it; classify through an alias, and upload again
 * (versions are immutable; deleting the head removes them all).
 */
function incomplete(e: unknown, what: string): EdgeApiError {
  const why = e instanceof Error ? e.message : String(e);
  return new EdgeApiError(
    e instanceof EdgeApiError ? e.status : 0,
    e instanceof EdgeApiError ? e.code : 'UPLOAD_INCOMPLETE',
    `${what} (${why}). Until a new version is complete, classify through an alias: the bare name answers with this latest version. Upload again to make a complete one.`,
  );
}

/** Rows → base64 of little-endian float32, as the API accepts. */
export function encodeEmbeddings(rows: Embeddings): { base64: string; dim: number } {
  const dim = rows[0]?.length ?? 0;
  const view = new DataView(new ArrayBuffer(rows.length * dim * 4));
  rows.forEach((r, i) => {
    for (let j = 0; j < dim; j++) view.setFloat32((i * dim + j) * 4, r[j], true);
  });
  const bytes = new Uint8Array(view.buffer);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { base64: btoa(s), dim };
}

export class EdgeClient {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: EdgeClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.doFetch = options.fetch ?? ((...args) => fetch(...args));
  }

  /** The wait a load refusal asks for, in ms, or undefined when it is not one to retry. */
  private retryWait(res: Response): number | undefined {
    if (res.status !== 429 && res.status !== 503) return undefined;
    const header = res.headers.get('retry-after');
    if (header === null || !/^\d+$/.test(header.trim())) return undefined;
    const ms = Number(header) * 1000;
    return ms <= (this.options.maxRetryWaitMs ?? 5000) ? ms : undefined;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.apiKey}` };
    // FormData and bytes go as they are (fetch sets the multipart boundary); anything else as JSON.
    const passThrough = body instanceof FormData || body instanceof Uint8Array;
    if (body !== undefined && !passThrough) headers['content-type'] = 'application/json';
    if (body instanceof Uint8Array) headers['content-type'] = 'application/octet-stream';
    const payload = body === undefined ? undefined : passThrough ? (body as BodyInit) : typeof body === 'string' ? body : JSON.stringify(body);
    let res: Response;
    for (let attempt = 0; ; attempt++) {
      res = await this.doFetch(`${this.base}${path}`, { method, headers, body: payload });
      const wait = attempt < (this.options.retries ?? 2) ? this.retryWait(res) : undefined;
      if (wait === undefined) break;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, wait));
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new EdgeApiError(res.status, 'BAD_RESPONSE', `The server answered non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } })?.error;
      throw new EdgeApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? text.slice(0, 200));
    }
    return parsed as T;
  }

  /**
   * Uploads a head file as the next version; `alias` is moved to it in the same transaction.
   *
   * A kNN head file larger than the deployment takes in one request (`limits.maxBodyBytes` of
   * GET /v1/version) goes in parts: a head file with as many references as fit (one of every
   * class first), then the other references as online examples of that version, in requests
   * within the limits; `alias` moves to it only once every reference is in. The answer then
   * describes the first file (its size and sha256). Until then the version is the head's latest,
   * so the bare name answers with a partial head: classify through an alias. If a part fails,
   * the error names the version; upload again.
   */
  async upload(name: string, head: HeadFile | string, options: { alias?: string } = {}): Promise<HeadVersionInfo> {
    const text = typeof head === 'string' ? head : JSON.stringify(head);
    const path = `/v1/heads/${encodeURIComponent(name)}/versions`;
    /** In parts when the deployment reports a limit the file is over; undefined: send it whole. */
    const inParts = async () => {
      const limits = await this.limits();
      if (limits && new TextEncoder().encode(text).byteLength > limits.maxBodyBytes) return this.uploadInParts(name, path, text, limits, options.alias);
      return undefined;
    };
    // Characters bound bytes from below: only a file this large can be over the default limit.
    if (text.length > PART_CHECK_CHARS) {
      const sent = await inParts();
      if (sent) return sent;
    }
    const q = options.alias ? `?alias=${encodeURIComponent(options.alias)}` : '';
    try {
      return await this.request('POST', `${path}${q}`, text);
    } catch (e) {
      // A deployment with a lower limit than the pre-check assumes: refused before storing anything.
      if (!(e instanceof EdgeApiError && e.code === 'BODY_TOO_LARGE')) throw e;
      const sent = await inParts();
      if (sent) return sent;
      throw e;
    }
  }

  private serverLimits?: Promise<ServerLimits | undefined>;

  /**
   * The deployment's request limits, asked once; undefined from a deployment too old to report
   * them (a file is then sent whole, as before). A failed request is asked again next time.
   */
  private limits(): Promise<ServerLimits | undefined> {
    this.serverLimits ??= this.request<Partial<EdgeApiBody<'/v1/version', 'get', 200>>>('GET', '/v1/version').then(
      (v) => v.limits,
      (e: unknown) => {
        this.serverLimits = undefined;
        throw e;
      },
    );
    return this.serverLimits;
  }

  private async uploadInParts(name: string, path: string, text: string, limits: ServerLimits, alias?: string): Promise<HeadVersionInfo> {
    // Headroom for what a request carries besides the file or the examples.
    const room = Math.floor(limits.maxBodyBytes * 0.95);
    // maxLabelLength is undefined from a deployment older than it: the split's default then.
    const { base, rest } = splitKnnHead(text, room, limits.maxLabelLength);
    const created = await this.request<HeadVersionInfo>('POST', path, base);
    const ref = `${name}@${created.version}`;
    try {
      const dim = rest.embeddings[0]?.length ?? 0;
      // Base64 float32 is 16/3 bytes a value; labels count as their UTF-8 bytes plus quotes.
      const rowBytes = (i: number) => Math.ceil((dim * 16) / 3) + new TextEncoder().encode(rest.labels[i]).byteLength + 8;
      for (let start = 0; start < rest.embeddings.length; ) {
        let end = start;
        let bytes = 200;
        while (end < rest.embeddings.length && end - start < limits.maxBatch && bytes + rowBytes(end) <= room) bytes += rowBytes(end++);
        end = Math.max(end, start + 1);
        await this.addExamples(ref, rest.embeddings.slice(start, end), rest.labels.slice(start, end));
        start = end;
      }
    } catch (e) {
      throw incomplete(e, `Version ${created.version} of "${name}" holds only the first part of the head file: adding the rest failed`);
    }
    if (alias) {
      try {
        await this.setAlias(name, alias, created.version);
      } catch (e) {
        throw incomplete(e, `Version ${created.version} of "${name}" holds the whole head file, but moving "${alias}" to it failed`);
      }
    }
    return { ...created, alias: alias ?? null };
  }

  list(): Promise<HeadList> {
    return this.request('GET', '/v1/heads');
  }

  get(name: string): Promise<HeadDetails> {
    return this.request('GET', `/v1/heads/${encodeURIComponent(name)}`);
  }

  delete(name: string): Promise<EdgeApiBody<'/v1/heads/{name}', 'delete', 200>> {
    return this.request('DELETE', `/v1/heads/${encodeURIComponent(name)}`);
  }

  setAlias(name: string, alias: string, version: number, canary?: { version: number; weight: number }): Promise<EdgeApiBody<'/v1/heads/{name}/aliases/{alias}', 'put', 200>> {
    return this.request('PUT', `/v1/heads/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`, { version, canary: canary ?? null });
  }

  /**
   * `ref`: name, name@version or name@alias. `input`: embeddings, `{ inputs: texts }` or
   * `{ images: files }` (sent as multipart/form-data) for a head whose backbone the worker runs.
   */
  classify(ref: string, input: ClassifyInput, options: ClassifyOptions = {}): Promise<ClassifyResult> {
    const { binary = true, ...rest } = options;
    return this.request('POST', `/v1/heads/${encodeURIComponent(ref).replace('%40', '@')}/classify`, inputBody(input, rest, binary));
  }

  /** Adds labelled examples (embeddings, texts or images, as for `classify`) to a kNN or centroid head. */
  addExamples(ref: string, input: ClassifyInput, labels: string[]): Promise<EdgeApiBody<'/v1/heads/{ref}/examples', 'post', 201>> {
    return this.request('POST', `/v1/heads/${encodeURIComponent(ref).replace('%40', '@')}/examples`, inputBody(input, { labels }, true));
  }

  /** The backbones this deployment runs, so heads on them take raw texts or images. */
  backbones(): Promise<BackboneList> {
    return this.request('GET', '/v1/backbones');
  }

  /** Admin (the client's key is the ADMIN_TOKEN): stores one file of a served backbone. */
  uploadBackboneFile(id: string, name: string, bytes: Uint8Array): Promise<BackboneFileInfo> {
    return this.request('PUT', `/v1/admin/backbones/${encodeURIComponent(id)}/files/${encodeURIComponent(name)}`, bytes);
  }

  removeExamples(ref: string, ids: number[]): Promise<EdgeApiBody<'/v1/heads/{ref}/examples', 'delete', 200>> {
    return this.request('DELETE', `/v1/heads/${encodeURIComponent(ref).replace('%40', '@')}/examples`, { ids });
  }

  /** Drift statistics of the version `ref` answers with, and a shift test of the newest `windows` windows. */
  drift(ref: string, options: { windows?: number } = {}): Promise<DriftReport> {
    const q = options.windows ? `?windows=${options.windows}` : '';
    return this.request('GET', `/v1/heads/${encodeURIComponent(ref).replace('%40', '@')}/drift${q}`);
  }
}

/** The request body for embeddings (JSON), texts (JSON) or images (multipart files), plus `fields`. */
function inputBody(input: ClassifyInput, fields: Record<string, unknown>, binary: boolean): unknown {
  if (isRows(input)) return { embeddings: binary ? encodeEmbeddings(input) : input.map((r) => Array.from(r)), ...fields };
  if ('inputs' in input) return { inputs: [...input.inputs], ...fields };
  const form = new FormData();
  // A File keeps its name (the worker names a bad image by it); other bytes are image-0, image-1…
  const named = (image: EncodedImage, i: number) => (typeof File !== 'undefined' && image instanceof File ? image.name : `image-${i}`);
  input.images.forEach((image, i) => form.append('image', image instanceof Blob ? image : new Blob([image as BlobPart]), named(image, i)));
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) value.forEach((v) => form.append(key, String(v)));
    else form.append(key, String(value));
  }
  return form;
}

function isRows(input: ClassifyInput): input is Embeddings {
  return Array.isArray(input);
}
