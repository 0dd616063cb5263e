/**
 * What the fuzzers send: the workerd test (worker/test/fuzz.test.ts) straight into the app, and
 * `npm run bench:fuzz` over real HTTP to `wrangler dev`.
 */
import fc from 'fast-check';

// Bounded sizes: fast-check grows unbounded arbitraries with the run index, which makes
// generation (not the worker) the slow part of a long run.
const small = { maxDepth: 3, maxKeys: 5, maxLength: 8 } as const;
/** Request bodies: random JSON, wrong shapes, deep nesting, float32 overflow, multibyte text. */
export const fuzzBodies = fc.oneof(
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
export function chunked(text: string): ReadableStream<Uint8Array> {
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
