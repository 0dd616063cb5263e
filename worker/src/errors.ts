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
  ) {
    super(message);
  }
}

const STATUS_BY_SDK_CODE: Record<string, ContentfulStatusCode> = {
  INVALID_INPUT: 400,
  INVALID_HEAD: 400,
  TRUNCATED: 400,
  UNSUPPORTED_VERSION: 400,
  BACKBONE_MISMATCH: 409,
  NOT_FOUND: 404,
};

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status);
  if (err instanceof EdgeheadError) {
    const status = STATUS_BY_SDK_CODE[err.code];
    if (status) return c.json(errorBody(err.code, err.message), status);
  }
  console.error('unhandled error', err);
  return c.json(errorBody('INTERNAL', 'The server failed to handle this request; it has been logged. Retry later.'), 500);
}

export const notFound = (what: string) => new ApiError(404, 'NOT_FOUND', what);
export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
