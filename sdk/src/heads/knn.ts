/**
 * k-nearest-neighbour head with exact search: the scores of four queries at a time with every
 * stored reference (similarity.ts: SIMD kernels over references kept in WebAssembly memory, or
 * the same arithmetic in JavaScript), keeping a running top-k per query, so 100k × 1,000-d
 * references never need an n×m distance matrix in memory. Examples can be added and removed
 * without refitting.
 * Predictions match scikit-learn's KNeighborsClassifier(algorithm='brute').
 * @module
 */
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import {
  argmaxRows,
  calibrateGate,
  checkTrainingSet,
  labelIndices,
  toPredictions,
  uniqueLabels,
  type Head,
  type OpenSetGate,
  type PredictOptions,
  type Prediction,
} from './head.js';
import { normalizeRows, rowSquaredNorms, toMatrix, type EmbeddingsInput, type Matrix } from './matrix.js';
import { quantizeRow, ReferenceRows } from './similarity.js';

export type KnnMetric = 'cosine' | 'euclidean' | 'dot';

export interface KnnOptions {
  /**
   * Neighbours that vote (default 5). Votes use min(k, smallest class count): k never
   * exceeds the number of stored examples of the smallest class (classes with at least one),
   * so with 1 example per class kNN is 1-NN instead of a vote the big classes always win.
   */
  k?: number;
  metric?: KnnMetric;
  weights?: 'uniform' | 'distance';
  openSetQuantile?: number;
  /**
   * Calibrate the open-set gate on leave-one-out distances (default true). Cross-validation
   * folds skip it: their out-of-fold distances set the gate instead.
   */
  calibrateOpenSet?: boolean;
}

export interface Neighbour {
  id: number;
  label: string;
  /** Distance (cosine: 1 − cos, euclidean: L2); for 'dot', the negated dot product. */
  distance: number;
}

/**
 * A pluggable exact search (e.g. onnxruntime's GEMM + TopK in edgehead/node): the k reference
 * rows with the largest score q·r + bias[r] per query, best first.
 */
export interface NeighbourSearch {
  search(queries: Matrix, references: Matrix, referenceBias: Float32Array, k: number): Promise<{ rows: Int32Array; scores: Float32Array; k: number }>;
}

/** Rows used to calibrate the open-set threshold (all rows below this). */
const CALIBRATION_ROWS = 256;
/** References scanned by every query group in turn: 1 MiB of floats, so the block stays in cache. */
const SEARCH_BLOCK_FLOATS = 1 << 18;

export class KnnHead implements Head {
  readonly kind = 'knn' as const;
  readonly dim: number;
  readonly k: number;
  readonly metric: KnnMetric;
  readonly weights: 'uniform' | 'distance';
  openSet?: OpenSetGate;
  private _labels: string[];
  /** Stored references (L2-normalised for cosine), label index and id per row. */
  private rows: ReferenceRows;
  private refNorms: Float64Array;
  private refLabels: Int32Array;
  private refIds: Float64Array;
  private count: number;
  private nextId: number;
  /** Stored examples of the smallest class with any (cached; reset by add and remove). */
  private smallestClass?: number;
  /** The pruned search's per-reference bounds, kept for the next search. */
  private boundScratch?: Float64Array;

  /**
   * `references`: count × dim floats, copied; or rows already allocated for them (ReferenceRows,
   * as parseHead decodes a file: straight into the search kernel's memory, with no second copy).
   */
  constructor(state: { labels: string[]; dim: number; k: number; metric: KnnMetric; weights: 'uniform' | 'distance'; references: Float32Array | ReferenceRows; referenceLabels: Int32Array; ids?: Float64Array; openSet?: OpenSetGate }) {
    if (!Number.isInteger(state.k) || state.k < 1) throw new InvalidInputError('k must be a positive integer.');
    if (!['cosine', 'euclidean', 'dot'].includes(state.metric)) throw new InvalidInputError(`Unknown kNN metric "${state.metric}"; use cosine, euclidean or dot.`);
    this._labels = state.labels;
    this.dim = state.dim;
    this.k = state.k;
    this.metric = state.metric;
    this.weights = state.weights;
    this.openSet = state.openSet;
    this.count = state.referenceLabels.length;
    if (state.references instanceof ReferenceRows) {
      if (state.references.capacity < this.count || state.references.dim !== this.dim) throw new InvalidInputError(`References hold ${state.references.capacity} × ${state.references.dim}, not ${this.count} × ${this.dim}.`);
      this.rows = state.references;
    } else {
      this.rows = ReferenceRows.allocate(this.count, this.dim);
      this.rows.data.set(state.references.subarray(0, this.count * this.dim));
    }
    this.refLabels = state.referenceLabels;
    this.refIds = state.ids ?? Float64Array.from({ length: this.count }, (_, i) => i);
    // A loop, not Math.max(...ids): spreading 130,000 arguments overflows the stack.
    let maxId = -1;
    for (let r = 0; r < this.count; r++) maxId = Math.max(maxId, this.refIds[r]);
    this.nextId = maxId + 1;
    this.refNorms = rowSquaredNorms({ rows: this.count, cols: this.dim, data: this.refs.subarray(0, this.count * this.dim) });
  }

  static fit(x: EmbeddingsInput, labels: readonly string[], options: KnnOptions = {}): KnnHead {
    const m = checkTrainingSet(x, labels);
    const classes = uniqueLabels(labels);
    const metric = options.metric ?? 'cosine';
    const stored = metric === 'cosine' ? normalizeRows(m) : m;
    const head = new KnnHead({
      labels: classes,
      dim: m.cols,
      k: options.k ?? 5,
      metric,
      weights: options.weights ?? 'uniform',
      references: stored.data,
      referenceLabels: labelIndices(labels, classes),
    });
    if (options.calibrateOpenSet !== false) head.openSet = head.calibrate(options.openSetQuantile ?? 0.95);
    return head;
  }

  get labels(): readonly string[] {
    return this._labels;
  }

  private get refs(): Float32Array {
    return this.rows.data;
  }

  /** True when the references live in WebAssembly memory and SIMD kernels search them. */
  get searchesInWebAssembly(): boolean {
    return this.rows.inWebAssembly;
  }

  get size(): number {
    return this.count;
  }

  /**
   * The k that votes: min(k, smallest class count among classes with stored examples). A
   * larger k would let the bigger classes outvote a small class's every example.
   */
  get effectiveK(): number {
    return this.votingKFor(this.k);
  }

  private votingKFor(k: number): number {
    if (this.smallestClass === undefined) {
      const counts = new Map<number, number>();
      for (let r = 0; r < this.count; r++) counts.set(this.refLabels[r], (counts.get(this.refLabels[r]) ?? 0) + 1);
      this.smallestClass = Math.min(...counts.values());
    }
    return Math.max(1, Math.min(k, this.smallestClass));
  }

  /** Stored examples, for serialisation. */
  get parameters() {
    return {
      references: this.refs.slice(0, this.count * this.dim),
      referenceLabels: this.refLabels.slice(0, this.count),
      ids: this.refIds.slice(0, this.count),
    };
  }

  /** Adds labelled examples (new labels become new classes); returns their ids. */
  add(x: EmbeddingsInput, labels: readonly string[]): number[] {
    const m = toMatrix(x, this.dim);
    if (m.rows !== labels.length) throw new InvalidInputError(`Got ${m.rows} embeddings but ${labels.length} labels.`);
    const fresh = uniqueLabels(labels).filter((l) => !this._labels.includes(l));
    if (fresh.length) this.relabel(uniqueLabels([...this._labels, ...fresh]));
    const stored = this.metric === 'cosine' ? normalizeRows(m) : m;
    this.reserve(this.count + m.rows);
    this.refs.set(stored.data, this.count * this.dim);
    const idx = labelIndices(labels, this._labels);
    const norms = rowSquaredNorms(stored);
    const ids: number[] = [];
    for (let i = 0; i < m.rows; i++) {
      this.refLabels[this.count + i] = idx[i];
      this.refNorms[this.count + i] = norms[i];
      this.refIds[this.count + i] = this.nextId;
      ids.push(this.nextId++);
    }
    this.count += m.rows;
    this.smallestClass = undefined;
    return ids;
  }

  /** Removes examples by id; unknown ids are an error and nothing is removed. */
  remove(ids: readonly number[]): void {
    const drop = new Set(ids);
    const present = new Set(Array.from(this.refIds.subarray(0, this.count)));
    const missing = ids.filter((id) => !present.has(id));
    if (missing.length) throw new NotFoundError(`No stored example with id ${missing.join(', ')}; nothing was removed.`);
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      if (drop.has(this.refIds[r])) {
        if (w === r) this.rows.changedFrom(r); // rows from here move down (or go)
        continue;
      }
      if (w !== r) {
        this.refs.copyWithin(w * this.dim, r * this.dim, (r + 1) * this.dim);
        this.refLabels[w] = this.refLabels[r];
        this.refNorms[w] = this.refNorms[r];
        this.refIds[w] = this.refIds[r];
      }
      w++;
    }
    this.count = w;
    this.smallestClass = undefined;
  }

  private reserve(rows: number): void {
    if (rows <= this.rows.capacity) return;
    const capacity = Math.max(rows, Math.ceil(this.count * 1.5));
    const grow = <T extends Float64Array | Int32Array>(a: T, size: number, Ctor: new (n: number) => T): T => {
      const b = new Ctor(size);
      b.set(a.subarray(0, Math.min(a.length, size)) as never);
      return b;
    };
    const larger = ReferenceRows.allocate(capacity, this.dim);
    larger.data.set(this.refs.subarray(0, this.count * this.dim));
    larger.adoptInt8(this.rows, this.count);
    this.rows = larger;
    this.refLabels = grow(this.refLabels, capacity, Int32Array);
    this.refNorms = grow(this.refNorms, capacity, Float64Array);
    this.refIds = grow(this.refIds, capacity, Float64Array);
  }

  private relabel(labels: string[]): void {
    const remap = Int32Array.from(this._labels, (l) => labels.indexOf(l));
    for (let r = 0; r < this.count; r++) this.refLabels[r] = remap[this.refLabels[r]];
    this._labels = labels;
  }

  /**
   * The k nearest stored examples of each query, closest first. `exclude` skips one reference
   * row per query (leave-one-out).
   */
  kneighbors(x: EmbeddingsInput, k = this.k, exclude?: Int32Array): Neighbour[][] {
    if (this.count === 0) throw new InvalidInputError('This kNN head has no stored examples; add some first.');
    const q = toMatrix(x, this.dim);
    const queries = this.metric === 'cosine' ? normalizeRows(q) : q;
    const qNorms = rowSquaredNorms(queries);
    const kk = Math.min(k, this.count - (exclude ? 1 : 0));
    const bestDist = new Float64Array(queries.rows * kk).fill(Infinity);
    const bestRow = new Int32Array(queries.rows * kk).fill(-1);
    const distance = (qi: number, r: number, s: number) =>
      this.metric === 'cosine' ? 1 - s : this.metric === 'dot' ? -s : Math.sqrt(Math.max(0, qNorms[qi] - 2 * s + this.refNorms[r]));
    /** Offers reference r at exact score s to query qi's sorted top-k; equal distances keep the earlier reference first. */
    const offer = (qi: number, r: number, s: number) => {
      const base = qi * kk;
      const dist = distance(qi, r, s);
      if (dist >= bestDist[base + kk - 1]) return;
      let p = kk - 1;
      while (p > 0 && bestDist[base + p - 1] > dist) {
        bestDist[base + p] = bestDist[base + p - 1];
        bestRow[base + p] = bestRow[base + p - 1];
        p--;
      }
      bestDist[base + p] = dist;
      bestRow[base + p] = r;
    };
    if (this.rows.approximates && this.count * this.dim >= SEARCH_BLOCK_FLOATS) {
      this.prunedSearch(queries, qNorms, kk, distance, offer, exclude);
    } else {
      // References in blocks, every group of four queries over a block before the next: a large
      // head is read from memory once per search, not once per group (1.2–1.7× faster at 16
      // queries on 10,000 × 1280-d, bench:knn). Each query still meets the references in order.
      const rowsPerBlock = Math.max(1, Math.floor(SEARCH_BLOCK_FLOATS / this.dim));
      for (let from = 0; from < this.count; from += rowsPerBlock) {
        const blockRows = Math.min(rowsPerBlock, this.count - from);
        for (let q0 = 0; q0 < queries.rows; q0 += 4) {
          const n = Math.min(4, queries.rows - q0);
          const sims = this.rows.scores(queries.data, q0, n, blockRows, from);
          const stride = n === 1 ? 1 : 4;
          for (let i = 0; i < n; i++) {
            for (let b = 0; b < blockRows; b++) {
              if (exclude && exclude[q0 + i] === from + b) continue;
              offer(q0 + i, from + b, sims[b * stride + i]);
            }
          }
        }
      }
    }
    return Array.from({ length: queries.rows }, (_, qi) =>
      Array.from({ length: kk }, (__, p) => {
        const r = bestRow[qi * kk + p];
        return { id: this.refIds[r], label: this._labels[this.refLabels[r]], distance: bestDist[qi * kk + p] };
      }),
    );
  }

  /**
   * The exact search's answer with a fraction of its arithmetic: an int8 pass scores every
   * reference approximately (idots4), with a bound on how far each exact float32 score can be
   * from its approximation (quantisation errors by Cauchy–Schwarz, plus the kernel's float32
   * rounding). A reference whose best possible distance is worse than the k-th best worst-case
   * distance cannot be among the k nearest, nor tie with them; the rest are scored exactly, in
   * reference order, as the full scan would, so the neighbours are the same to the last bit.
   */
  private prunedSearch(
    queries: Matrix,
    qNorms: Float64Array,
    kk: number,
    distance: (qi: number, r: number, s: number) => number,
    offer: (qi: number, r: number, s: number) => void,
    exclude?: Int32Array,
  ): void {
    const d = this.dim;
    const count = this.count;
    this.rows.quantizeUpTo(count);
    // The kernel's float32 sums err by at most (d/8 + 4)·2⁻²⁴·Σ|qₖrₖ| (similarity.test.ts): twice that,
    // for margin, and 1e-9 for the float64 arithmetic of the bound itself (both times ‖q‖‖r‖);
    // products below float32's normal range err by up to 2⁻¹⁵⁰ each, whatever their size.
    const rounding = 2 * (d / 8 + 4) * 2 ** -24 + 1e-9;
    const subnormal = (d + 8) * 2 ** -149;
    const refLength = new Float64Array(count);
    for (let r = 0; r < count; r++) refLength[r] = Math.sqrt(this.refNorms[r]);
    // Sixteen queries at a time: their bounds (16 × count) are the search's only large scratch.
    for (let first = 0; first < queries.rows; first += 16) {
      const last = Math.min(queries.rows, first + 16);
      this.prunedChunk(queries, first, last, qNorms, kk, distance, offer, refLength, rounding, subnormal, exclude);
    }
  }

  private prunedChunk(
    queries: Matrix,
    first: number,
    last: number,
    qNorms: Float64Array,
    kk: number,
    distance: (qi: number, r: number, s: number) => number,
    offer: (qi: number, r: number, s: number) => void,
    refLength: Float64Array,
    rounding: number,
    subnormal: number,
    exclude?: Int32Array,
  ): void {
    const d = this.dim;
    const count = this.count;
    const rows = this.rows;
    const { scale, norm, error } = rows.quantization as NonNullable<ReferenceRows['quantization']>;
    const groups = Array.from({ length: Math.ceil((last - first) / 4) }, (_, g) => {
      const q16 = new Int16Array(4 * d);
      const n = Math.min(4, last - first - 4 * g);
      return { q16, n, quantized: Array.from({ length: n }, (__, i) => quantizeRow(queries.data, (first + 4 * g + i) * d, d, q16, i * d)) };
    });
    // Pass 1, in blocks of references as the exact scan: every reference's best and worst
    // possible distance per query, and each query's k-th smallest worst one.
    // Reused between searches (they run to the end without awaiting): no 2.5 MB garbage per search of a 20,000-example head.
    if (!this.boundScratch || this.boundScratch.length < (last - first) * count) this.boundScratch = new Float64Array(16 * count);
    const lower = this.boundScratch;
    const worst = new Float64Array((last - first) * kk).fill(Infinity);
    const rowsPerBlock = Math.max(1, Math.floor((4 * SEARCH_BLOCK_FLOATS) / d)); // the same bytes, as int8
    for (let from = 0; from < count; from += rowsPerBlock) {
      const blockRows = Math.min(rowsPerBlock, count - from);
      groups.forEach((group, g) => {
        const ints = rows.approximateScores(group.q16, group.n, blockRows, from);
        const stride = group.n === 1 ? 1 : 4;
        for (let i = 0; i < group.n; i++) {
          const qi = first + 4 * g + i;
          const at = qi - first;
          const q = group.quantized[i];
          const qLength = Math.sqrt(qNorms[qi]);
          const base = at * kk;
          for (let b = 0; b < blockRows; b++) {
            const r = from + b;
            if (exclude && exclude[qi] === r) continue;
            const approx = q.scale * scale[r] * ints[stride * b + i];
            const both = qLength * refLength[r];
            // Past 1e38 a float32 score may overflow (±Infinity, NaN ties): such a reference is always a candidate.
            const bound = both > 1e38 ? Infinity : q.norm * error[r] + q.error * norm[r] + q.error * error[r] + rounding * both + subnormal;
            lower[at * count + r] = bound === Infinity ? -Infinity : distance(qi, r, approx + bound);
            const upper = bound === Infinity ? Infinity : distance(qi, r, approx - bound);
            if (upper >= worst[base + kk - 1]) continue;
            let p = kk - 1;
            while (p > 0 && worst[base + p - 1] > upper) {
              worst[base + p] = worst[base + p - 1];
              p--;
            }
            worst[base + p] = upper;
          }
        }
      });
    }
    // Pass 2: the candidates scored exactly, in reference order, consecutive ones in one kernel call.
    for (let qi = first; qi < last; qi++) {
      const threshold = worst[(qi - first) * kk + kk - 1];
      const lowest = lower.subarray((qi - first) * count, (qi - first + 1) * count);
      for (let r = 0; r < count; ) {
        if (lowest[r] > threshold || (exclude && exclude[qi] === r)) {
          r++;
          continue;
        }
        let end = r + 1;
        while (end < count && lowest[end] <= threshold) end++;
        const sims = rows.scores(queries.data, qi, 1, end - r, r);
        for (let c = r; c < end; c++) if (!(exclude && exclude[qi] === c)) offer(qi, c, sims[c - r]);
        r = end;
      }
    }
  }

  predictProba(x: EmbeddingsInput): Float64Array[] {
    return this.kneighbors(x, this.effectiveK).map((nbrs) => this.vote(nbrs));
  }

  /** kneighbors() through a NeighbourSearch engine (scores turned back into this head's distances). */
  async kneighborsAsync(x: EmbeddingsInput, engine: NeighbourSearch, k = this.k): Promise<Neighbour[][]> {
    if (this.count === 0) throw new InvalidInputError('This kNN head has no stored examples; add some first.');
    const q = toMatrix(x, this.dim);
    const queries = this.metric === 'cosine' ? normalizeRows(q) : q;
    const refs: Matrix = { rows: this.count, cols: this.dim, data: this.refs.subarray(0, this.count * this.dim) };
    const bias = new Float32Array(this.count);
    if (this.metric === 'euclidean') for (let r = 0; r < this.count; r++) bias[r] = -this.refNorms[r] / 2;
    const qNorms = this.metric === 'euclidean' ? rowSquaredNorms(queries) : undefined;
    const { rows, scores, k: kk } = await engine.search(queries, refs, bias, k);
    return Array.from({ length: queries.rows }, (_, qi) =>
      Array.from({ length: kk }, (__, p) => {
        const r = rows[qi * kk + p];
        const s = scores[qi * kk + p];
        const distance = this.metric === 'cosine' ? 1 - s : this.metric === 'dot' ? -s : Math.sqrt(Math.max(0, (qNorms as Float64Array)[qi] - 2 * s));
        return { id: this.refIds[r], label: this._labels[this.refLabels[r]], distance };
      }),
    );
  }

  /** predict() with the neighbour search on an engine; same voting and open-set gate. */
  async predictAsync(x: EmbeddingsInput, engine: NeighbourSearch, options?: PredictOptions): Promise<Prediction[]> {
    const nbrs = await this.kneighborsAsync(x, engine, this.effectiveK);
    return toPredictions(this, nbrs.map((n) => this.vote(n)), Float64Array.from(nbrs, (n) => n[0].distance), options);
  }

  /** scikit-learn's voting: uniform counts, or 1/d weights where an exact match takes all. */
  private vote(nbrs: Neighbour[], weights = this.weights): Float64Array {
    const p = new Float64Array(this._labels.length);
    const index = new Map(this._labels.map((l, i) => [l, i]));
    const exact = weights === 'distance' && nbrs.some((n) => n.distance === 0);
    for (const n of nbrs) {
      const w = weights === 'uniform' ? 1 : exact ? (n.distance === 0 ? 1 : 0) : 1 / n.distance;
      p[index.get(n.label) as number] += w;
    }
    const total = p.reduce((a, b) => a + b, 0);
    for (let c = 0; c < p.length; c++) p[c] /= total;
    return p;
  }

  openSetDistances(x: EmbeddingsInput): Float64Array {
    return Float64Array.from(this.kneighbors(x, 1), (n) => n[0].distance);
  }

  predict(x: EmbeddingsInput, options?: PredictOptions): Prediction[] {
    return this.predictFromNeighbours(this.kneighbors(toMatrix(x, this.dim), this.effectiveK), options);
  }

  /**
   * Votes and gates from neighbours already found (closest first, as kneighbors returns them,
   * at least as many as vote). `voting` scores another k or weighting than the head's own: one
   * search serves several k, since the k nearest are a prefix of the k' > k nearest.
   */
  predictFromNeighbours(neighbours: readonly Neighbour[][], options?: PredictOptions & { voting?: { k: number; weights: 'uniform' | 'distance' } }): Prediction[] {
    const k = this.votingKFor(options?.voting?.k ?? this.k);
    const weights = options?.voting?.weights ?? this.weights;
    const proba = neighbours.map((n) => this.vote(n.slice(0, k), weights));
    return toPredictions(this, proba, Float64Array.from(neighbours, (n) => n[0].distance), options);
  }

  predictLabels(x: EmbeddingsInput): string[] {
    return argmaxRows(this.predictProba(x), this._labels);
  }

  /** Leave-one-out nearest-neighbour distances of the stored examples. */
  /**
   * Leave-one-out nearest-neighbour distances of (at most CALIBRATION_ROWS evenly spaced) stored
   * examples: all of them for few-shot heads, a sample for large ones, so fitting 100k
   * references stays linear in n instead of quadratic.
   */
  private calibrate(q: number): OpenSetGate | undefined {
    if (this.metric === 'dot' || this.count < 2) return undefined;
    const rows = Math.min(this.count, CALIBRATION_ROWS);
    const picked = Int32Array.from({ length: rows }, (_, i) => Math.floor((i * this.count) / rows));
    const data = new Float32Array(rows * this.dim);
    picked.forEach((r, i) => data.set(this.refs.subarray(r * this.dim, (r + 1) * this.dim), i * this.dim));
    const d = this.kneighbors({ rows, cols: this.dim, data }, 1, picked).map((n) => n[0].distance);
    return calibrateGate(d, this.metric, q);
  }
}
