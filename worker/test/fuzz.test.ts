import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:test';
import { createApp } from '../src/app.js';
import { chunked, fuzzBodies as jsonish } from './fuzz-bodies.js';
import { headFile, isErrorBody, readResponse, tenant, upload } from './helpers.js';

/**
 * Straight into the app with the real D1/R2/DO bindings but without the rate limiters: thousands
 * of requests from three keys would otherwise be mostly 429s (and miniflare's local limiter
 * slows down with every call it has seen).
 */
async function direct(method: string, path: string, key: string, raw: string | undefined, stream = false) {
  const body = raw !== undefined && stream ? chunked(raw) : raw;
  return readResponse(await app.request(`https://edge.test${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {}, body }, { ...env, RATE_LIMITER: undefined, AUTH_RATE_LIMITER: undefined }));
}
const app = createApp();

describe('fuzz: malformed requests never cause a 5xx', () => {
  it('thousands of random bodies, paths and methods get well-formed 4xx errors', { timeout: 120_000 }, async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    await upload(t.write, 'near', headFile('knn'));
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.constantFrom('/v1/heads/toy/classify', '/v1/heads/near/classify', '/v1/heads/near/examples', '/v1/heads/toy/versions', '/v1/heads/toy/aliases/prod', '/v1/heads/toy@1/classify', '/v1/heads/near@x/classify', '/v1/heads/%FF/classify', '/v1/admin/tenants', '/v1/heads'),
        fc.constantFrom(t.write, t.read, 'ehk_bogus', ''),
        jsonish,
        fc.boolean(),
        async (method, path, key, raw, stream) => {
          requests++;
          const r = await Promise.race([
            direct(method, path, key, method === 'GET' ? undefined : raw, stream),
            new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in 5 s: ${method} ${path} ${raw.slice(0, 300)}`)), 5000)),
          ]);
          expect(r.status, `${method} ${path} ${raw.slice(0, 80)}`).toBeLessThan(500);
          if (r.status >= 400) expect(isErrorBody(r.body), JSON.stringify(r.body)).toBe(true);
        },
      ),
      { numRuns: 3000, seed: 42, endOnFailure: true },
    );
    expect(requests).toBe(3000);
    // Nothing the fuzzer sent poisoned the kNN head: it still classifies.
    const after = await direct('POST', '/v1/heads/near/classify', t.read, JSON.stringify({ embeddings: [[1, 0, 0, 0.1]], rejectUnknown: false }));
    expect(after.status).toBe(200);
    expect(after.body.predictions[0].label).toBe('a');
  });
});
