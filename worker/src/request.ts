/** Request-body and path helpers shared by the routes. */
import type { Context } from 'hono';
import { ApiError, badRequest } from './errors.js';
import type { AppEnv } from './env.js';
import { limitsOf } from './limits.js';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Deepest nesting of arrays and objects accepted in a JSON body (a head file needs 4). */
export const MAX_JSON_DEPTH = 64;

const tooLarge = (what: string, limit: number, setting: string) =>
  new ApiError(413, 'BODY_TOO_LARGE', `The body is ${what}; the limit is ${limit} bytes. Send less per request (split the batch, or raise ${setting}).`);

/**
 * Reads the body within the limit: a declared Content-Length over it is refused before reading,
 * one within it read whole; a chunked body is counted as it arrives and stopped as soon as it
 * crosses the limit.
 * A body that breaks off (the client went away) is a 400, not a server error.
 */
export async function readBodyBytes(c: Context<AppEnv>, tighter?: { bytes: number; setting: string }): Promise<Uint8Array> {
  const general = limitsOf(c.env).maxBodyBytes;
  const maxBodyBytes = tighter && tighter.bytes < general ? tighter.bytes : general;
  const setting = tighter && tighter.bytes < general ? tighter.setting : 'MAX_BODY_BYTES';
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > maxBodyBytes) throw tooLarge(`${declared} bytes`, maxBodyBytes, setting);
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  if (declared > 0) return readDeclared(c.req.raw, declared);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBodyBytes) {
        reader.cancel().catch(() => undefined);
        throw tooLarge(`over ${maxBodyBytes} bytes (reading stopped there)`, maxBodyBytes, setting);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw badRequest('BODY_INCOMPLETE', `The request body broke off after ${size} bytes (${(e as Error).message}); send it again.`);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * A body with a Content-Length within the limit is read in one native call: HTTP framing ends it
 * at the declared length (a sender cannot stream more under it), so nothing needs counting on
 * the way, and one call costs less than a JS loop over the chunks (a 110 KB classify body
 * arrives in several).
 */
async function readDeclared(request: Request, declared: number): Promise<Uint8Array> {
  let buffer: ArrayBuffer;
  try {
    buffer = await request.arrayBuffer();
  } catch (e) {
    throw badRequest('BODY_INCOMPLETE', `The request body broke off before its declared ${declared} bytes (${(e as Error).message}); send it again.`);
  }
  if (buffer.byteLength !== declared) {
    throw badRequest('BODY_INCOMPLETE', `The request body has ${buffer.byteLength} bytes, not the ${declared} its Content-Length declares; send it again.`);
  }
  return new Uint8Array(buffer);
}

/** Strict UTF-8 (the BOM, if any, kept): decoding and encoding again gives the same bytes. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw badRequest('INVALID_UTF8', 'The body is not valid UTF-8; send JSON encoded as UTF-8.');
  }
}

/**
 * Refuses JSON nested deeper than MAX_JSON_DEPTH before anything recursive walks it (a crafted
 * file 10,000 arrays deep would overflow the stack). Brackets inside strings do not count.
 * It visits only brackets and quotes, jumping over numbers and string contents with the
 * engine's own search: a request's 100 KB base64 string costs one search, not a loop per character.
 */
export function assertJsonDepth(text: string, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  const structure = /["[\]{}]/g;
  for (let match = structure.exec(text); match; match = structure.exec(text)) {
    const i = match.index;
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */) {
      let close = text.indexOf('"', i + 1);
      while (close > 0 && isEscaped(text, close)) close = text.indexOf('"', close + 1);
      if (close < 0) return; // an unterminated string: JSON.parse says so
      structure.lastIndex = close + 1;
    } else if (ch === 91 /* [ */ || ch === 123 /* { */) {
      if (++depth > max) throw badRequest('JSON_TOO_DEEP', `The JSON body nests arrays/objects more than ${max} deep (at character ${i}); no valid request or head file does.`);
    } else depth--;
  }
}

/** A quote inside a string is escaped when an odd run of backslashes precedes it. */
function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let k = quote - 1; text.charCodeAt(k) === 92; k--) backslashes++;
  return backslashes % 2 === 1;
}

/** The body as JSON text that is safe to parse (within the byte and depth limits), with its bytes. */
export async function readJsonText(c: Context<AppEnv>): Promise<{ text: string; bytes: Uint8Array }> {
  const bytes = await readBodyBytes(c);
  const text = decodeUtf8(bytes);
  assertJsonDepth(text);
  return { text, bytes };
}

export async function readJsonObject(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const { text } = await readJsonText(c);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw badRequest('MALFORMED_JSON', `The body is not valid JSON (${(e as Error).message}).`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('INVALID_BODY', 'The body must be a JSON object.');
  return value as Record<string, unknown>;
}

export function headName(raw: string): string {
  if (!NAME_PATTERN.test(raw)) throw badRequest('INVALID_NAME', `Head name "${raw}" is invalid: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit.`);
  return raw;
}

/** `name`, `name@3` (a version) or `name@prod` (an alias). */
export function parseRef(raw: string): { name: string; version?: number; alias?: string } {
  const at = raw.indexOf('@');
  if (at < 0) return { name: headName(raw) };
  const name = headName(raw.slice(0, at));
  const sel = raw.slice(at + 1);
  if (/^[1-9][0-9]{0,8}$/.test(sel)) return { name, version: Number(sel) };
  if (ALIAS_PATTERN.test(sel)) return { name, alias: sel };
  throw badRequest('INVALID_REF', `"${sel}" is neither a version number nor an alias name (lower-case, starting with a letter).`);
}
