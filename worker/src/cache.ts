/**
 * Per-isolate caches bounded by bytes (an isolate has 128 MB, whatever the number of entries):
 * least recently used first out, optional time to live. An entry larger than the whole budget is
 * not kept at all (it is served, just not cached).
 */
export class ByteLruCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number; until: number }>();
  private total = 0;

  constructor(
    private budget: number,
    private readonly ttlMs = Number.POSITIVE_INFINITY,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Keeps the value if it fits the budget at all, evicting the least recently used until it does. */
  set(key: string, value: V, bytes: number): boolean {
    this.delete(key);
    if (bytes > this.budget) return false;
    this.entries.set(key, { value, bytes, until: Date.now() + this.ttlMs });
    this.total += bytes;
    this.evict();
    return true;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.total -= e.bytes;
  }

  /** A new budget (settings are read per request); shrinking evicts at once. */
  resize(budget: number): void {
    this.budget = budget;
    this.evict();
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** The value held for `key`, without touching its recency (or its time to live). */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** The values held, without touching their recency. */
  *values(): IterableIterator<V> {
    for (const e of this.entries.values()) yield e.value;
  }

  get stats(): { entries: number; bytes: number; budget: number } {
    return { entries: this.entries.size, bytes: this.total, budget: this.budget };
  }

  private evict(): void {
    for (const [key] of this.entries) {
      if (this.total <= this.budget) break;
      this.delete(key);
    }
  }
}

/**
 * Approximate bytes an object holds in memory: typed arrays by their buffers' size, strings at
 * 2 bytes a character, plus a small overhead per object; cycles and shared buffers counted once.
 */
export function approxBytes(value: unknown): number {
  const seen = new Set<unknown>();
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') total += 2 * v.length + 16;
    else if (typeof v === 'number' || typeof v === 'boolean') total += 8;
    else if (v && typeof v === 'object') {
      if (seen.has(v)) continue;
      seen.add(v);
      if (ArrayBuffer.isView(v)) {
        if (!seen.has(v.buffer)) {
          seen.add(v.buffer);
          total += v.buffer.byteLength;
        }
      } else {
        total += 32;
        for (const child of Object.values(v)) stack.push(child);
      }
    }
  }
  return total;
}
