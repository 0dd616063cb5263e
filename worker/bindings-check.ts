/**
 * Compile-time check (`tsc -p worker/tsconfig.bindings.json`, part of `npm test`): the worker's
 * Env provides every binding wrangler.toml declares, with the types `wrangler types` generated in
 * worker/bindings.d.ts (`npm run types` regenerates it; `npm test` fails while it is stale). A
 * binding added to wrangler.toml but not to Env, or typed differently, stops this from compiling.
 */
import type { Env } from './src/env.js';

/** [vars] of wrangler.toml: optional strings in Env, with defaults in limits.ts and backbones/served.ts. */
type Settings = 'MAX_BODY_BYTES' | 'MAX_BATCH' | 'MAX_DIM' | 'BACKBONES' | 'MAX_RAW_BATCH' | 'MAX_IMAGE_PIXELS';

export const providesBindings = (env: Env): Omit<Cloudflare.Env, Settings | 'RATE_LIMITER'> => env;
// The rate limiter is declared but a setup may lack it (then no per-key limit).
export const providesSettings = (env: Env): Partial<Pick<Cloudflare.Env, Settings | 'RATE_LIMITER'>> => env;
