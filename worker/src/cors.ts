/**
 * CORS for browser clients (the SDK's EdgeClient in a page on another origin), set per
 * deployment by CORS_ORIGINS: unset or "off" (the default) adds nothing, so browsers keep other
 * origins out; "*" allows any origin; otherwise a comma-separated list of exact origins
 * (`https://app.example.com, http://localhost:5173`). Keys travel as bearer tokens, never
 * cookies, so credentials mode is never allowed. Admin routes never answer cross-origin: the
 * admin token does not belong in a page.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { ApiError } from './errors.js';
import type { AppEnv } from './env.js';

const ORIGIN = /^https?:\/\/[^/\s?#]+$/;

/** The parsed setting: undefined when off. Throws a 500 INVALID_SETTING naming what is wrong. */
export function corsOrigins(setting: string | undefined): '*' | string[] | undefined {
  const raw = setting?.trim() ?? '';
  if (raw === '' || raw === 'off') return undefined;
  if (raw === '*') return '*';
  const origins = raw.split(',').map((o) => o.trim().replace(/\/$/, '')).filter(Boolean);
  const bad = origins.find((o) => !ORIGIN.test(o));
  if (bad !== undefined) {
    throw new ApiError(
      500,
      'INVALID_SETTING',
      `CORS_ORIGINS has "${bad}", which is not an origin: list origins as scheme://host[:port] separated by commas (e.g. "https://app.example.com"), "*" for any, or "off".`,
    );
  }
  return origins;
}

/** One middleware per distinct setting (in practice one per isolate). */
const built = new Map<string, MiddlewareHandler>();

function middlewareFor(setting: string, origins: '*' | string[]): MiddlewareHandler {
  let m = built.get(setting);
  if (!m) {
    m = cors({
      origin: origins === '*' ? '*' : (origin) => (origins.includes(origin) ? origin : null),
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      allowHeaders: ['authorization', 'content-type'],
      exposeHeaders: ['retry-after'],
      maxAge: 600,
    });
    if (built.size > 8) built.clear();
    built.set(setting, m);
  }
  return m;
}

export const corsByDeployment: MiddlewareHandler<AppEnv> = async (c, next) => {
  const origins = corsOrigins(c.env.CORS_ORIGINS);
  if (!origins || new URL(c.req.url).pathname.startsWith('/v1/admin')) return next();
  return middlewareFor(c.env.CORS_ORIGINS as string, origins)(c, next);
};
