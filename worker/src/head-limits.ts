/**
 * What one head version may hold, in classes, examples and bytes of memory: a Worker isolate and
 * a Durable Object each have 128 MB, and a version is held whole by whichever serves it.
 */
import { KnnHead, type AnyHead } from 'edgehead/heads';
import { approxBytes } from './cache.js';
import { ApiError } from './errors.js';
import type { HeadLimits } from './env.js';

/** Memory per kNN example: its float32 row, plus its norm (8), label index (4) and id (8). */
export const exampleBytes = (dim: number) => 4 * dim + 20;

/** A version's estimated working set: kNN by its examples (capacity growth aside), others as parsed. */
export function workingSetBytes(head: AnyHead): number {
  if (head instanceof KnnHead) return head.size * exampleBytes(head.dim) + approxBytes(head.labels);
  return approxBytes(head);
}

/** Refuses, with a 413 naming the limit and the setting, a head file too large to serve. */
export function assertHeadFits(head: AnyHead, limits: HeadLimits): void {
  const fail = (what: string) => new ApiError(413, 'HEAD_TOO_LARGE', `${what}. Fit a smaller head (fewer classes or examples, or a smaller backbone), or raise the setting if this deployment has the memory.`);
  if (head.labels.length > limits.maxLabels) throw fail(`The head has ${head.labels.length} classes; the limit is ${limits.maxLabels} (MAX_LABELS)`);
  if (head instanceof KnnHead && head.size > limits.maxHeadExamples) {
    throw fail(`The kNN head has ${head.size} reference examples; the limit is ${limits.maxHeadExamples} per version, online examples included (MAX_HEAD_EXAMPLES)`);
  }
  const bytes = workingSetBytes(head);
  if (bytes > limits.maxHeadBytes) throw fail(`The head needs about ${bytes} bytes of memory once loaded; the limit is ${limits.maxHeadBytes} (MAX_HEAD_MEMORY_BYTES)`);
}
