/**
 * What one head version may hold, in classes, examples and bytes of memory: a Worker isolate and
 * a Durable Object each have 128 MB, and a version is held whole by whichever serves it.
 */
import { KnnHead, type AnyHead } from 'edgehead/heads';
import { approxBytes } from './cache.js';
import { ApiError } from './errors.js';
import type { HeadLimits } from './limits.js';

/**
 * Memory per kNN example: its float32 row and its int8 copy (the search's first pass), plus its
 * norm (8), label index (4), id (8), the copy's scale and norms (24), four float32 and four
 * int32 scores of the search kernels' scratch (32) and sixteen queries' bounds (128).
 */
export const exampleBytes = (dim: number) => 5 * dim + 204;

/** A version's estimated working set: kNN by its examples (capacity growth aside), others as parsed. */
export function workingSetBytes(head: AnyHead): number {
  if (head instanceof KnnHead) return head.size * exampleBytes(head.dim) + approxBytes(head.labels);
  return approxBytes(head);
}

/**
 * The most references a kNN head file may declare whatever the settings (a ceiling under any
 * MAX_HEAD_EXAMPLES: 100,000 references are already 100 MB at 256-d).
 */
export const MAX_FILE_REFERENCES = 100_000;

const tooLarge = (what: string) => new ApiError(413, 'HEAD_TOO_LARGE', `${what}. Fit a smaller head (fewer classes or examples, or a smaller backbone), or raise the setting if this deployment has the memory.`);

/** Checks what a head file declares (classes, kNN references) before anything is built from it. */
export function assertDeclaredFits(file: unknown, limits: HeadLimits): void {
  const f = file as { kind?: unknown; labels?: unknown; params?: { references?: { shape?: unknown } } } | null;
  if (!f || typeof f !== 'object') return;
  if (Array.isArray(f.labels) && f.labels.length > limits.maxLabels) throw tooLarge(`The head has ${f.labels.length} classes; the limit is ${limits.maxLabels} (MAX_LABELS)`);
  const shape = f.kind === 'knn' ? f.params?.references?.shape : undefined;
  const n = Array.isArray(shape) && typeof shape[0] === 'number' ? shape[0] : 0;
  const max = Math.min(limits.maxHeadExamples, MAX_FILE_REFERENCES);
  if (n > max) throw tooLarge(`The kNN head has ${n} reference examples; the limit is ${max} per version, online examples included (MAX_HEAD_EXAMPLES, at most ${MAX_FILE_REFERENCES} in a file)`);
}

/** Refuses, with a 413 naming the limit and the setting, a head file too large to serve. */
export function assertHeadFits(head: AnyHead, limits: HeadLimits): void {
  const fail = tooLarge;
  if (head.labels.length > limits.maxLabels) throw fail(`The head has ${head.labels.length} classes; the limit is ${limits.maxLabels} (MAX_LABELS)`);
  if (head instanceof KnnHead && head.size > limits.maxHeadExamples) {
    throw fail(`The kNN head has ${head.size} reference examples; the limit is ${limits.maxHeadExamples} per version, online examples included (MAX_HEAD_EXAMPLES)`);
  }
  const bytes = workingSetBytes(head);
  if (bytes > limits.maxHeadBytes) throw fail(`The head needs about ${bytes} bytes of memory once loaded; the limit is ${limits.maxHeadBytes} (MAX_HEAD_MEMORY_BYTES)`);
}
