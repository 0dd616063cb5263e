/**
 * Every client mistake becomes a 4xx with `{"error":{"code","message"}}` saying what to fix;
 * SDK errors (bad head file, wrong dimension, fingerprint mismatch) map by their stable code.
 */
import { EdgeheadError } from 'edgehead/heads';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Seconds a client should wait before retrying (sent as `Retry-After`). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The one code → status table for errors that carry only a code (SDK errors, Durable Object outcomes). */
const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  INVALID_INPUT: 400,
  SHAPE_MISMATCH: 400,
  INVALID_HEAD: 400,
  TRUNCATED: 400,
  UNSUPPORTED_VERSION: 400,
  BACKBONE_MISMATCH: 409,
  NOT_FOUND: 404,
  STORAGE_CORRUPT: 500,
  STORAGE_INCONSISTENT: 500,
  STORAGE_UNAVAILABLE: 503,
};

/** A failure as plain data: what crosses the Durable Object boundary (thrown errors lose their class there). */
export interface ErrorData {
  status: ContentfulStatusCode;
  code: string;
  message: string;
  retryAfter?: number;
}

/** The status, code and message of an error the API reports as such; undefined for bugs (→ 500 INTERNAL). */
export function errorData(err: unknown): ErrorData | undefined {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message, ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}) };
  if (err instanceof EdgeheadError) {
    const status = STATUS_BY_CODE[err.code];
    if (status) return { status, code: err.code, message: err.message };
  }
  const migration = missingSchema(err);
  if (migration) return migration;
  return undefined;
}

/** `D1_ERROR: no such table: api_keys` and the like: the database was never migrated (plain `wrangler dev`). */
function missingSchema(err: unknown): ErrorData | undefined {
  const message = err instanceof Error ? err.message : '';
  const m = /no such (?:table|column): ([\w.]+)|table (\w+) has no column named (\w+)/.exec(message);
  if (!m) return undefined;
  const missing = m[1] ?? `${m[2]}.${m[3]}`;
  return {
    status: 503,
    code: 'NOT_MIGRATED',
    message:
      `The D1 database is missing migrations (no ${missing}). Apply the migrations in worker/migrations: ` +
      '`npx wrangler d1 migrations apply edgehead --local` for `wrangler dev` (`--remote` for a deployed worker), then retry.',
  };
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function fromErrorData(e: ErrorData): ApiError {
  return new ApiError(e.status, e.code, e.message, e.retryAfter);
}

export function handleError(err: Error, c: Context): Response {
  const known = errorData(err);
  if (known) {
    if (known.retryAfter !== undefined) c.header('Retry-After', String(known.retryAfter));
    return c.json(errorBody(known.code, known.message), known.status);
  }
  console.error('unhandled error', err);
  return c.json(errorBody('INTERNAL', 'The server failed to handle this request; it has been logged. Retry later.'), 500);
}

export const notFound = (what: string) => new ApiError(404, 'NOT_FOUND', what);
export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
