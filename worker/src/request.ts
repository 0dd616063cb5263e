/** Request-body and path helpers shared by the routes. */
import type { Context } from 'hono';
import { ApiError, badRequest } from './errors.js';
import { limitsOf, type AppEnv } from './env.js';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Reads the body as text within the size cap (checked before and after reading). */
export async function readBody(c: Context<AppEnv>): Promise<string> {
  const { maxBodyBytes } = limitsOf(c.env);
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > maxBodyBytes) throw new ApiError(413, 'BODY_TOO_LARGE', `The body is ${declared} bytes; the limit is ${maxBodyBytes}.`);
  const text = await c.req.text();
  if (text.length > maxBodyBytes) throw new ApiError(413, 'BODY_TOO_LARGE', `The body is ${text.length} bytes; the limit is ${maxBodyBytes}.`);
  return text;
}

export async function readJsonObject(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const text = await readBody(c);
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

export function optionalNumber(body: Record<string, unknown>, key: string, check: (n: number) => boolean, hint: string): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw badRequest('INVALID_FIELD', `"${key}" ${hint}.`);
  return v;
}
