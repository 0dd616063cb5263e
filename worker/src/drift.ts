/**
 * Drift at the edge. Each head version's Durable Object keeps, per time window, what the version
 * was asked: rows classified, the predicted-label mix, how many were answered unknown, and a
 * uniform reservoir sample of the embeddings (never raw inputs: the worker sees none). Memory and
 * storage are bounded by settings, whatever the traffic. `GET /v1/heads/{ref}/drift` tests the
 * recent sample against the sample of training embeddings the head file keeps
 * (`edgehead fit --keep-reference n`) with the SDK's MMD test.
 * @module
 */
import { detectShift, type Prediction, type ShiftResult } from 'edgehead/heads';
import { pause } from './rounds.js';

/** Settings (wrangler.toml [vars]), all optional strings. */
export interface DriftSettings {
  /** "off": classify records nothing. Default on. */
  DRIFT?: string;
  /** Length of a window in seconds. Default 3600. */
  DRIFT_WINDOW_SECONDS?: string;
  /** Windows kept per head version; older ones are deleted. Default 24. */
  DRIFT_WINDOWS?: string;
  /** Embeddings kept per window. Default 64. */
  DRIFT_SAMPLE_ROWS?: string;
  /** Milliseconds an isolate gathers a version's records before sending them as one. Default 1000; 0 sends each at once. */
  DRIFT_FLUSH_MS?: string;
}

export interface DriftConfig {
  enabled: boolean;
  windowMs: number;
  windows: number;
  sampleRows: number;
  flushMs: number;
}

/** A whole-number setting, or its default when unset or not a number. */
function setting(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(value ?? fallback);
  return Number.isFinite(n) ? Math.max(min, Math.min(max, Math.round(n))) : fallback;
}

export function driftConfigOf(env: DriftSettings): DriftConfig {
  return {
    enabled: env.DRIFT !== 'off',
    windowMs: 1000 * setting(env.DRIFT_WINDOW_SECONDS, 3600, 1, 366 * 86_400),
    windows: setting(env.DRIFT_WINDOWS, 24, 1, 1000),
    sampleRows: setting(env.DRIFT_SAMPLE_ROWS, 64, 2, 1024),
    flushMs: setting(env.DRIFT_FLUSH_MS, 1000, 0, 10_000),
  };
}

/**
 * The sample is a uniform one over every row the window classified (reservoir sampling with
 * random keys: each row draws a key in [0, 1), the window keeps the rows with the largest keys).
 * Only rows that can still enter travel to the Durable Object: those with a key above the
 * window's current threshold (the smallest kept key once the sample is full), which each isolate
 * remembers from the object's last answer — a stale threshold is lower, so it only sends rows the
 * object then turns away.
 */
const thresholds = new Map<string, { windowStart: number; threshold: number }>();

export function windowStartOf(at: number, config: DriftConfig): number {
  return at - (at % config.windowMs);
}

/** What classify requests contribute: one request's, or several gathered in an isolate (queueDrift). */
export interface DriftRecord {
  at: number;
  requests: number;
  rows: number;
  unknown: number;
  /** Predicted label → count (answers rejected as unknown are counted in `unknown` only). */
  labels: Record<string, number>;
  /** Rows that may enter the sample, with their keys. */
  offered: Float32Array[];
  keys: number[];
}

export function driftRecord(uid: string, embeddings: Float32Array[], predictions: readonly Prediction[], config: DriftConfig, at = Date.now()): DriftRecord {
  const labels: Record<string, number> = {};
  let unknown = 0;
  for (const p of predictions) {
    if (p.label === null) unknown++;
    else labels[p.label] = (labels[p.label] ?? 0) + 1;
  }
  const known = thresholds.get(uid);
  const threshold = known && known.windowStart === windowStartOf(at, config) ? known.threshold : 0;
  // At most sampleRows rows of one request can enter: its largest keys above the threshold.
  const candidates = embeddings.map((row) => ({ row, key: Math.random() })).filter((c) => c.key > threshold);
  candidates.sort((a, b) => b.key - a.key);
  const kept = candidates.slice(0, config.sampleRows);
  return { at, requests: 1, rows: embeddings.length, unknown, labels, offered: kept.map((c) => c.row), keys: kept.map((c) => c.key) };
}

/** Adds `from` to `into`: counts summed, and of the rows offered the sampleRows with the largest keys (the only ones that could enter). */
function mergeRecord(into: DriftRecord, from: DriftRecord, sampleRows: number): void {
  into.requests += from.requests;
  into.rows += from.rows;
  into.unknown += from.unknown;
  for (const [label, n] of Object.entries(from.labels)) into.labels[label] = (into.labels[label] ?? 0) + n;
  if (!from.keys.length) return;
  const offers = [...into.keys.map((key, i) => ({ key, row: into.offered[i] })), ...from.keys.map((key, i) => ({ key, row: from.offered[i] }))];
  offers.sort((a, b) => b.key - a.key);
  const kept = offers.slice(0, sampleRows);
  into.keys = kept.map((o) => o.key);
  into.offered = kept.map((o) => o.row);
}

/** Records being gathered in this isolate, by version and window, with when each was opened. */
const gathering = new Map<string, { record: DriftRecord; openedAt: number }>();
/** A gathering this much past its flush was left by a request that ended early: the next record sends it. */
const ORPHANED_AFTER_MS = 5000;
/** Bytes of sample rows those records hold; beyond MAX_GATHERED_BYTES records are sent as they come. */
let gatheredBytes = 0;
const MAX_GATHERED_BYTES = 4 << 20;
const rowBytes = (r: DriftRecord) => r.offered.reduce((n, row) => n + row.byteLength, 0);

/**
 * Sends a classify request's record to the version's drift object, or adds it to a record this
 * isolate is gathering for that version and window. The request that opens a gathering sends
 * it config.flushMs later: its returned promise is that work, for waitUntil; the others return
 * undefined and do no I/O (so no request waits on another's). What is lost when an isolate is
 * evicted meanwhile is at most flushMs of statistics, never an answer.
 */
export function queueDrift(uid: string, record: DriftRecord, config: DriftConfig, send: (record: DriftRecord) => Promise<unknown>): Promise<unknown> | undefined {
  if (config.flushMs <= 0) return send(record);
  const key = `${uid}:${windowStartOf(record.at, config)}`;
  if (gatheredBytes + rowBytes(record) > MAX_GATHERED_BYTES) return send(record);
  const open = gathering.get(key);
  if (open) {
    gatheredBytes -= rowBytes(open.record);
    mergeRecord(open.record, record, config.sampleRows);
    if (Date.now() - open.openedAt <= config.flushMs + ORPHANED_AFTER_MS) {
      gatheredBytes += rowBytes(open.record);
      return undefined;
    }
    gathering.delete(key);
    return send(open.record);
  }
  const mine = { record, openedAt: Date.now() };
  gathering.set(key, mine);
  gatheredBytes += rowBytes(record);
  return pause(config.flushMs).then(() => {
    // Unless a later request found it orphaned and sent it already.
    if (gathering.get(key) !== mine) return undefined;
    gathering.delete(key);
    gatheredBytes -= rowBytes(record);
    return send(record);
  });
}

/** Remembers the window's threshold the object answered with (per isolate, bounded). */
export function rememberThreshold(uid: string, answer: { windowStart: number; threshold: number }): void {
  if (thresholds.size >= 10_000 && !thresholds.has(uid)) thresholds.clear();
  thresholds.set(uid, answer);
}

/** A window's counts (its sample is stored beside it, one row per key). */
export interface WindowSummary {
  start: number;
  rows: number;
  requests: number;
  unknown: number;
  labels: Record<string, number>;
  /** Reservoir keys by slot. */
  keys: number[];
}

const WINDOW_PREFIX = 'drift:w:';
const TOMBSTONE = 'drift:deleted';
const windowKey = (start: number) => `${WINDOW_PREFIX}${String(start).padStart(15, '0')}`;
const rowKey = (start: number, slot: number) => `drift:r:${String(start).padStart(15, '0')}:${String(slot).padStart(5, '0')}`;
const rowPrefix = (start: number) => `drift:r:${String(start).padStart(15, '0')}:`;

/** Rows the report's shift test uses at most, drawn from the pooled windows in proportion to their traffic. */
export const MAX_TEST_ROWS = 256;

/**
 * The drift side of a version, in a Durable Object of its own (named `drift:<uid>`, apart from
 * the object that serves kNN/centroid heads, so recording never queues behind a classification):
 * the current window's counts and keys in memory, written through on each record (only the
 * sample slots that change), older windows in storage.
 */
export class DriftStore {
  private current?: WindowSummary;
  private deleted?: boolean;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** Adds a record; answers the window's threshold for the isolate to remember. */
  async record(r: DriftRecord, config: DriftConfig): Promise<{ windowStart: number; threshold: number }> {
    const start = windowStartOf(r.at, config);
    this.deleted ??= (await this.storage.get<boolean>(TOMBSTONE)) ?? false;
    // A late record for a deleted version (waitUntil, or an isolate's cached row) is dropped.
    if (this.deleted) return { windowStart: start, threshold: 1 };
    if (!this.current || this.current.start !== start) {
      this.current = (await this.storage.get<WindowSummary>(windowKey(start))) ?? { start, rows: 0, requests: 0, unknown: 0, labels: {}, keys: [] };
      await this.prune(config);
    }
    const w = this.current;
    w.rows += r.rows;
    w.requests += r.requests ?? 1; // records from isolates older than request counting
    w.unknown += r.unknown;
    for (const [label, n] of Object.entries(r.labels)) w.labels[label] = (w.labels[label] ?? 0) + n;
    const changed: Record<string, Float32Array> = {};
    r.offered.forEach((row, i) => {
      const key = r.keys[i];
      let slot = -1;
      if (w.keys.length < config.sampleRows) slot = w.keys.length;
      else {
        const smallest = w.keys.reduce((m, k, j) => (k < w.keys[m] ? j : m), 0);
        if (key > w.keys[smallest]) slot = smallest;
      }
      if (slot < 0) return;
      w.keys[slot] = key;
      changed[rowKey(start, slot)] = row;
    });
    // At most sampleRows + 1 keys: puts of over 128 keys go in parts (the counts last, once every row is in).
    const entries = Object.entries(changed);
    for (let i = 0; i < entries.length; i += 127) await this.storage.put(Object.fromEntries(entries.slice(i, i + 127)));
    await this.storage.put(windowKey(start), w);
    return { windowStart: start, threshold: w.keys.length < config.sampleRows ? 0 : Math.min(...w.keys) };
  }

  /** Deletes windows beyond the newest `config.windows` (the current one included). */
  private async prune(config: DriftConfig): Promise<void> {
    const starts = [...(await this.storage.list({ prefix: WINDOW_PREFIX })).keys()].map((k) => Number(k.slice(WINDOW_PREFIX.length)));
    const all = [...new Set([...starts, this.current!.start])].sort((a, b) => b - a);
    for (const old of all.slice(config.windows)) {
      const keys = [windowKey(old), ...(await this.storage.list({ prefix: rowPrefix(old) })).keys()];
      // Storage deletes at most 128 keys per call.
      for (let i = 0; i < keys.length; i += 128) await this.storage.delete(keys.slice(i, i + 128));
    }
  }

  /**
   * Every kept window's counts, newest first, and a sample for the shift test: at most
   * MAX_TEST_ROWS rows from the newest `pool` windows with data, each window contributing in
   * proportion to the rows it classified.
   */
  async read(pool: number): Promise<{ windows: WindowSummary[]; sample: Float32Array[] }> {
    const windows = [...(await this.storage.list<WindowSummary>({ prefix: WINDOW_PREFIX })).values()].sort((a, b) => b.start - a.start);
    const pooled = windows.filter((w) => w.rows > 0).slice(0, pool);
    const total = pooled.reduce((n, w) => n + w.rows, 0);
    const sample: Float32Array[] = [];
    for (const w of pooled) {
      const rows = [...(await this.storage.list<Float32Array>({ prefix: rowPrefix(w.start) })).values()];
      const share = Math.max(1, Math.round((MAX_TEST_ROWS * w.rows) / total));
      // The stored rows are a uniform sample of the window, and so is a random subset of them
      // (slots fill in arrival order: a prefix would favour the window's first rows).
      for (let i = rows.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [rows[i], rows[j]] = [rows[j], rows[i]];
      }
      sample.push(...rows.slice(0, share));
    }
    return { windows, sample };
  }

  /** Forgets everything and refuses records from now on (the version is deleted; uids are never reused). */
  async clear(): Promise<void> {
    await this.storage.deleteAll();
    await this.storage.put(TOMBSTONE, true);
    this.current = undefined;
    this.deleted = true;
  }
}

export interface DriftReport {
  windowSeconds: number;
  windows: Array<{ start: string; end: string; requests: number; rows: number; unknownRate: number; labels: Record<string, number> }>;
  /** Class shares of the training data (from the head file), when it records them. */
  training: { labels: Record<string, number> } | null;
  shift: (Pick<ShiftResult, 'mmd2' | 'pValue' | 'effect'> & { shifted: boolean; referenceRows: number; rows: number; windows: number }) | null;
  /** Why there is no shift test, when there is none. */
  note?: string;
}

/** Permutations of the report's test: enough for p ≈ 0.005 resolution, cheap in a request. */
const PERMUTATIONS = 200;

export function driftReport(
  read: { windows: WindowSummary[]; sample: Float32Array[] },
  reference: { rows: { rows: number; cols: number; data: Float32Array } } | undefined,
  trainingCounts: Record<string, number> | undefined,
  config: DriftConfig,
  pool: number,
): DriftReport {
  const shares = (counts: Record<string, number>) => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, total ? v / total : 0]));
  };
  const windows = read.windows.map((w) => ({
    start: new Date(w.start).toISOString(),
    end: new Date(w.start + config.windowMs).toISOString(),
    requests: w.requests,
    rows: w.rows,
    unknownRate: w.rows ? w.unknown / w.rows : 0,
    labels: shares(w.labels),
  }));
  const report: DriftReport = { windowSeconds: config.windowMs / 1000, windows, training: trainingCounts ? { labels: shares(trainingCounts) } : null, shift: null };
  if (!reference) report.note = 'The head file keeps no sample of its training embeddings: fit it with --keep-reference 256 (edgehead fit) and upload it again to get a shift test.';
  else if (read.sample.length < 2) report.note = 'Fewer than 2 classified rows recorded yet: classify some inputs first.';
  else {
    const sample = { rows: read.sample.length, cols: reference.rows.cols, data: new Float32Array(read.sample.length * reference.rows.cols) };
    read.sample.forEach((r, i) => sample.data.set(r, i * sample.cols));
    const r = detectShift(reference.rows, sample, { permutations: PERMUTATIONS, seed: 0 });
    const used = read.windows.filter((w) => w.rows > 0).slice(0, pool).length;
    report.shift = { mmd2: r.mmd2, pValue: r.pValue, effect: r.effect, shifted: r.pValue < 0.05, referenceRows: r.n, rows: r.m, windows: used };
  }
  return report;
}
