import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:test';
import { createApp } from '../src/app.js';
import { headFile, isErrorBody, readResponse, tenant, upload } from './helpers.js';

// Bounded sizes: fast-check grows unbounded arbitraries with the run index, which makes
// generation (not the worker) the slow part of a long run.
const small = { maxDepth: 3, maxKeys: 5, maxLength: 8 } as const;
const jsonish = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 3 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ embeddings: v })),
  fc.array(fc.array(fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null)), { maxLength: 6 }), { maxLength: 4 }).map((e) => JSON.stringify({ embeddings: e })),
  fc.record({ embeddings: fc.record({ base64: fc.base64String({ maxLength: 200 }), dim: fc.oneof(fc.integer(), fc.double()) }), topK: fc.oneof(fc.integer(), fc.string()) }).map((b) => JSON.stringify(b)),
  fc.record({ version: fc.oneof(fc.integer(), fc.string(), fc.double()), canary: fc.anything(small) }).map((b) => JSON.stringify(b)),
  fc.record({ ids: fc.anything(small), labels: fc.anything(small), embeddings: fc.anything(small) }).map((b) => JSON.stringify(b)),
  // Deep nesting, raw or inside a field.
  fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('', '{"embeddings":', '{"labels":["a"],"embeddings":')).map(([n, pre]) => `${pre}${'['.repeat(n)}${']'.repeat(n)}${pre ? '}' : ''}`),
  // Finite JSON numbers at and beyond the edges of float32, as examples to store and queries.
  fc
    .array(fc.array(fc.constantFrom(1e39, -1e39, 3.4e38, 3.5e38, 1e-46, 0, 1, Number.MAX_VALUE), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 3 })
    .map((e) => JSON.stringify({ embeddings: e, labels: e.map(() => 'x') })),
  // Multibyte text.
  fc.string({ unit: 'grapheme', maxLength: 100 }).map((pad) => JSON.stringify({ embeddings: [[1, 0, 0, 0.1]], labels: ['€'], pad })),
);

/** The same bytes without a length, in a few chunks, as a client streaming the body sends them. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = Math.max(1, Math.ceil(bytes.length / 3));
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

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
