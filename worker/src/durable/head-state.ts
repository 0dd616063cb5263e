/**
 * One Durable Object per (tenant, head, version) of a kNN or centroid head: it holds the head
 * in memory with the examples added online, stores each addition transactionally, and serves
 * classification — so a classify right after an add sees it (read-your-writes), and many
 * concurrent additions are serialised and all kept.
 */
import { DurableObject } from 'cloudflare:workers';
import { CentroidHead, EdgeheadError, InvalidInputError, KnnHead, parseHead, type Prediction } from 'edgehead/heads';
import type { Env } from '../env.js';
import { readVerified } from '../store/blobs.js';

export interface BlobRef {
  blobKey: string;
  sha256: string;
}

interface StoredExample {
  embedding: Float32Array;
  label: string;
}

/** RPC results: errors a client caused travel as data (thrown errors lose their type across RPC). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

async function outcome<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    if (e instanceof EdgeheadError) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}

const EXAMPLE_PREFIX = 'ex:';
const exampleKey = (id: number) => `${EXAMPLE_PREFIX}${String(id).padStart(12, '0')}`;

export class HeadState extends DurableObject<Env> {
  private head?: KnnHead | CentroidHead;
  private loadedFrom?: string;
  /** Online example id → the head's own id for it (kNN). */
  private headIds = new Map<number, number>();
  private nextId = 0;

  private async ensureLoaded(ref: BlobRef): Promise<KnnHead | CentroidHead> {
    if (this.head && this.loadedFrom === ref.sha256) return this.head;
    await this.ctx.blockConcurrencyWhile(async () => {
      if (this.head && this.loadedFrom === ref.sha256) return;
      await this.rebuild(ref);
    });
    return this.head as KnnHead | CentroidHead;
  }

  /** Base head from R2, then every stored example replayed in id order. */
  private async rebuild(ref: BlobRef): Promise<void> {
    const { head } = parseHead(await readVerified(this.env.BLOBS, ref.blobKey, ref.sha256));
    if (!(head instanceof KnnHead) && !(head instanceof CentroidHead)) {
      throw new InvalidInputError('Online examples apply to knn and centroid heads only.');
    }
    const stored = await this.ctx.storage.list<StoredExample>({ prefix: EXAMPLE_PREFIX });
    this.headIds.clear();
    let next = 0;
    for (const [key, ex] of stored) {
      const id = Number(key.slice(EXAMPLE_PREFIX.length));
      const added = head.add([ex.embedding], [ex.label]);
      if (Array.isArray(added)) this.headIds.set(id, added[0]);
      next = Math.max(next, id + 1);
    }
    this.nextId = Math.max(next, (await this.ctx.storage.get<number>('next-id')) ?? 0);
    this.head = head;
    this.loadedFrom = ref.sha256;
  }

  classify(ref: BlobRef, embeddings: Float32Array[], options: { topK?: number; threshold?: number; rejectUnknown?: boolean }): Promise<Outcome<Prediction[]>> {
    return outcome(async () => (await this.ensureLoaded(ref)).predict(embeddings, options));
  }

  addExamples(ref: BlobRef, embeddings: Float32Array[], labels: string[]): Promise<Outcome<{ ids: number[]; total: number }>> {
    return outcome(() => this.add(ref, embeddings, labels));
  }

  removeExamples(ref: BlobRef, ids: number[]): Promise<Outcome<{ removed: number }>> {
    return outcome(() => this.remove(ref, ids));
  }

  private async add(ref: BlobRef, embeddings: Float32Array[], labels: string[]): Promise<{ ids: number[]; total: number }> {
    const head = await this.ensureLoaded(ref);
    // Validate against the head before storing anything.
    if (embeddings.some((e) => e.length !== head.dim)) throw new InvalidInputError(`Every embedding must have ${head.dim} values.`);
    const ids = embeddings.map(() => this.nextId++);
    const entries: Record<string, StoredExample | number> = { 'next-id': this.nextId };
    ids.forEach((id, i) => (entries[exampleKey(id)] = { embedding: embeddings[i], label: labels[i] }));
    await this.ctx.storage.put(entries);
    const added = head.add(embeddings, labels);
    if (Array.isArray(added)) ids.forEach((id, i) => this.headIds.set(id, added[i]));
    const total = head instanceof KnnHead ? head.size : ids.length;
    return { ids, total };
  }

  private async remove(ref: BlobRef, ids: number[]): Promise<{ removed: number }> {
    await this.ensureLoaded(ref);
    const keys = ids.map(exampleKey);
    const present = await this.ctx.storage.get<StoredExample>(keys);
    const missing = ids.filter((_, i) => !present.has(keys[i]));
    if (missing.length) throw new InvalidInputError(`No online example with id ${missing.join(', ')}; nothing was removed.`);
    await this.ctx.storage.delete(keys);
    if (this.head instanceof KnnHead) {
      this.head.remove(ids.map((id) => this.headIds.get(id) as number));
      ids.forEach((id) => this.headIds.delete(id));
    } else {
      // Centroid sums cannot forget an example exactly in float32; rebuild from the stored ones.
      this.loadedFrom = undefined;
      await this.ensureLoaded(ref);
    }
    return { removed: ids.length };
  }
}
