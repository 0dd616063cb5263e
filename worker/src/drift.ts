/**
 * Drift at the edge. Each head version's Durable Object keeps, per time window, what the version
 * was asked: rows classified, the predicted-label mix, how many were answered unknown, and a
 * weighted reservoir sample of the embeddings (never raw inputs: the worker sees none). Memory and
 * storage are bounded by settings, whatever the traffic. `GET /v1/heads/{ref}/drift` tests the
 * recent sample against the sample of training embeddings the head file keeps
 * (`edgehead fit --keep-reference n`) with the SDK's MMD test.
 * @module
 */
import { detectShift, type Prediction, type ShiftResult } from 'edgehead/heads';

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
}

export interface DriftConfig {
  enabled: boolean;
  windowMs: number;
  windows: number;
  sampleRows: number;
}

export function driftConfigOf(env: DriftSettings): DriftConfig {
  return {
    enabled: env.DRIFT !== 'off',
    windowMs: 1000 * Math.max(1, Number(env.DRIFT_WINDOW_SECONDS ?? 3600)),
    windows: Math.max(1, Math.min(1000, Number(env.DRIFT_WINDOWS ?? 24))),
    sampleRows: Math.max(2, Math.min(1024, Number(env.DRIFT_SAMPLE_ROWS ?? 64))),
  };
}

/** Rows of one request offered to the window's reservoir; each stands for rows / offered rows. */
const OFFERED_PER_REQUEST = 8;

/** What one classify request contributes. */
export interface DriftRecord {
  at: number;
  rows: number;
  unknown: number;
  /** Predicted label → count (answers rejected as unknown are counted in `unknown` only). */
  labels: Record<string, number>;
  offered: Float32Array[];
  /** Reservoir weight of each offered row. */
  weight: number;
}

export function driftRecord(embeddings: Float32Array[], predictions: readonly Prediction[], at = Date.now()): DriftRecord {
  const labels: Record<string, number> = {};
  let unknown = 0;
  for (const p of predictions) {
    if (p.label === null) unknown++;
    else labels[p.label] = (labels[p.label] ?? 0) + 1;
  }
  // A uniform choice of rows within the request (partial Fisher–Yates).
  const order = embeddings.map((_, i) => i);
  const take = Math.min(OFFERED_PER_REQUEST, order.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(Math.random() * (order.length - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { at, rows: embeddings.length, unknown, labels, offered: order.slice(0, take).map((i) => embeddings[i]), weight: embeddings.length / Math.max(1, take) };
}

/** A window's counts (its sample is stored beside it, one row per key). */
export interface WindowSummary {
  start: number;
  rows: number;
  requests: number;
  unknown: number;
  labels: Record<string, number>;
  /** Reservoir keys by slot (Efraimidis–Spirakis: u^(1/w); the largest keys are kept). */
  keys: number[];
}

const WINDOW_PREFIX = 'drift:w:';
const windowKey = (start: number) => `${WINDOW_PREFIX}${String(start).padStart(15, '0')}`;
const rowKey = (start: number, slot: number) => `drift:r:${String(start).padStart(15, '0')}:${String(slot).padStart(5, '0')}`;
const rowPrefix = (start: number) => `drift:r:${String(start).padStart(15, '0')}:`;

/**
 * The Durable Object's side: counts and reservoir of the current window in memory (written
 * through to storage on each record, only the slots that change), older windows in storage.
 */
export class DriftStore {
  private current?: WindowSummary;

  constructor(private readonly storage: DurableObjectStorage) {}

  async record(r: DriftRecord, config: DriftConfig): Promise<void> {
    const start = r.at - (r.at % config.windowMs);
    if (!this.current || this.current.start !== start) {
      this.current = (await this.storage.get<WindowSummary>(windowKey(start))) ?? { start, rows: 0, requests: 0, unknown: 0, labels: {}, keys: [] };
      await this.prune(start, config);
    }
    const w = this.current;
    w.rows += r.rows;
    w.requests++;
    w.unknown += r.unknown;
    for (const [label, n] of Object.entries(r.labels)) w.labels[label] = (w.labels[label] ?? 0) + n;
    const changed: Record<string, Float32Array> = {};
    for (const row of r.offered) {
      const key = Math.random() ** (1 / r.weight);
      let slot = -1;
      if (w.keys.length < config.sampleRows) slot = w.keys.length;
      else {
        const smallest = w.keys.reduce((m, k, i) => (k < w.keys[m] ? i : m), 0);
        if (key > w.keys[smallest]) slot = smallest;
      }
      if (slot < 0) continue;
      w.keys[slot] = key;
      changed[rowKey(start, slot)] = row;
    }
    await this.storage.put({ ...changed, [windowKey(start)]: w });
  }

  /** Deletes windows beyond the newest `config.windows` (including the one starting at `start`). */
  private async prune(start: number, config: DriftConfig): Promise<void> {
    const starts = [...(await this.storage.list({ prefix: WINDOW_PREFIX })).keys()].map((k) => Number(k.slice(WINDOW_PREFIX.length)));
    const all = [...new Set([...starts, start])].sort((a, b) => b - a);
    for (const old of all.slice(config.windows)) {
      const keys = [windowKey(old), ...(await this.storage.list({ prefix: rowPrefix(old) })).keys()];
      // Storage deletes at most 128 keys per call.
      for (let i = 0; i < keys.length; i += 128) await this.storage.delete(keys.slice(i, i + 128));
    }
  }

  /** Every kept window's counts, newest first, and the sample rows of the newest `pool` windows with data. */
  async read(pool: number): Promise<{ windows: WindowSummary[]; sample: Float32Array[] }> {
    const windows = [...(await this.storage.list<WindowSummary>({ prefix: WINDOW_PREFIX })).values()].sort((a, b) => b.start - a.start);
    const sample: Float32Array[] = [];
    for (const w of windows.filter((w) => w.rows > 0).slice(0, pool)) {
      sample.push(...(await this.storage.list<Float32Array>({ prefix: rowPrefix(w.start) })).values());
    }
    return { windows, sample };
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
