import { describe, expect, it } from 'vitest';
import { KnnHead } from '../src/heads/knn.js';
import { laneDots, quantizeRow, ReferenceRows, WASM_MIN_FLOATS } from '../src/heads/similarity.js';

// The kNN search kernels (similarity.wat) against their JavaScript twin, laneDots: identical
// scores, bit for bit, so a head answers the same with or without WebAssembly. laneDots itself
// is checked against float64 dot products, and the head's neighbours against scikit-learn in
// heads-sklearn.test.ts (its CIFAR-10 heads are large enough to run on the kernels).

function randomRows(rows: number, dim: number, seed: number): Float32Array {
  const out = new Float32Array(rows * dim);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Mixed signs and magnitudes, so float32 rounding differs by summation order.
    out[i] = ((s >>> 8) / 2 ** 24 - 0.3) * (i % 7 === 0 ? 1000 : 1);
  }
  return out;
}

describe('similarity kernels', () => {
  const dim = 1280;
  const count = 120; // 153,600 floats: over WASM_MIN_FLOATS
  const refs = randomRows(count, dim, 1);
  const queries = randomRows(7, dim, 2);

  it('laneDots is the float32 dot product (within float32 summation error of float64)', () => {
    const scores = laneDots(queries, 0, 4, refs, count, dim);
    for (let i = 0; i < 4; i++) {
      for (let r = 0; r < count; r++) {
        let exact = 0;
        let magnitude = 0;
        for (let k = 0; k < dim; k++) {
          exact += queries[i * dim + k] * refs[r * dim + k];
          magnitude += Math.abs(queries[i * dim + k] * refs[r * dim + k]);
        }
        // Each of ~dim/8 + 3 sequential float32 additions errs by at most 2^-24 of the running magnitude.
        expect(Math.abs(scores[r * 4 + i] - exact)).toBeLessThanOrEqual(magnitude * (dim / 8 + 4) * 2 ** -24);
      }
    }
  });

  it('the WebAssembly kernels give laneDots scores bit for bit, for 1 to 4 queries', () => {
    const rows = ReferenceRows.allocate(count, dim);
    expect(rows.inWebAssembly).toBe(true);
    rows.data.set(refs);
    for (const [q0, n] of [[0, 1], [1, 2], [2, 3], [3, 4]]) {
      const kernel = Array.from(rows.scores(queries, q0, n, count).subarray(0, (n === 1 ? 1 : 4) * count));
      const js = laneDots(queries, q0, n, refs, count, dim);
      const stride = n === 1 ? 1 : 4;
      for (let r = 0; r < count; r++) for (let i = 0; i < n; i++) expect(Object.is(kernel[r * stride + i], js[r * stride + i])).toBe(true);
    }
  });

  it('a head that grows into WebAssembly memory finds what one built there finds, and what float64 search finds', () => {
    const labels = Array.from({ length: count }, (_, i) => `c${i % 5}`);
    const rows = Array.from({ length: count }, (_, i) => refs.subarray(i * dim, (i + 1) * dim));
    const large = KnnHead.fit(rows, labels, { k: 3, metric: 'euclidean', calibrateOpenSet: false });
    // Few rows stay in a plain array (searched by laneDots); growing past WASM_MIN_FLOATS moves them.
    const grown = KnnHead.fit(rows.slice(0, 10), labels.slice(0, 10), { k: 3, metric: 'euclidean', calibrateOpenSet: false });
    expect(10 * dim).toBeLessThan(WASM_MIN_FLOATS);
    expect([large.searchesInWebAssembly, grown.searchesInWebAssembly]).toEqual([true, false]);
    grown.add(rows.slice(10), labels.slice(10));
    expect(grown.searchesInWebAssembly).toBe(true);
    const q = Array.from({ length: 7 }, (_, i) => queries.subarray(i * dim, (i + 1) * dim));
    const found = large.kneighbors(q);
    expect(grown.kneighbors(q)).toEqual(found);
    q.forEach((query, i) => {
      const exact = rows.map((r, id) => ({ id, d: Math.sqrt(r.reduce((s, v, k) => s + (v - query[k]) ** 2, 0)) })).sort((a, b) => a.d - b.d);
      expect(found[i].map((n) => n.id)).toEqual(exact.slice(0, 3).map((e) => e.id));
      found[i].forEach((n, j) => expect(Math.abs(n.distance - exact[j].d)).toBeLessThanOrEqual(1e-5 * exact[j].d));
    });
  });

  it('scores from a reference offset equal the same references scored from the start', () => {
    const rows = ReferenceRows.allocate(count, dim);
    rows.data.set(refs);
    const from = 37;
    for (const n of [1, 3]) {
      const stride = n === 1 ? 1 : 4;
      const whole = Array.from(rows.scores(queries, 0, n, count).subarray(from * stride, count * stride));
      expect(Array.from(rows.scores(queries, 0, n, count - from, from).subarray(0, (count - from) * stride))).toEqual(whole);
    }
  });

  it('an exact scan in several blocks (900 × 1032-d: no int8 pass, dim not a multiple of 16) finds what float64 search finds, leave-one-out too', () => {
    const many = 900; // 0.93 M floats: four 1 MiB blocks
    const d = 1032;
    const big = randomRows(many, d, 3);
    const rows = Array.from({ length: many }, (_, i) => big.subarray(i * d, (i + 1) * d));
    const head = KnnHead.fit(rows, rows.map((_, i) => `c${i % 4}`), { k: 4, metric: 'euclidean', calibrateOpenSet: false });
    expect(head.searchesInWebAssembly).toBe(true);
    expect(ReferenceRows.allocate(many, d).approximates).toBe(false);
    // Queries: fresh rows, and stored rows 5, 250, 899 (each its own nearest unless excluded).
    const q = [...Array.from({ length: 8 }, (_, i) => randomRows(1, d, 10 + i)), rows[5], rows[250], rows[899]];
    const exclude = Int32Array.from(q, (_, i) => (i < 8 ? -1 : [5, 250, 899][i - 8]));
    for (const skip of [undefined, exclude]) {
      const found = head.kneighbors(q, 4, skip);
      q.forEach((query, i) => {
        const exact = rows
          .map((r, id) => ({ id, d: Math.sqrt(r.reduce((s, v, k) => s + (v - query[k]) ** 2, 0)) }))
          .filter((e) => !skip || e.id !== skip[i])
          .sort((a, b) => a.d - b.d);
        expect(found[i].map((n) => n.id)).toEqual(exact.slice(0, 4).map((e) => e.id));
      });
    }
  });

  it('quantizeRow: integers within ±127, each within half a step of the row, and its norms recomputed', () => {
    const row = randomRows(1, dim, 4);
    const q = new Int16Array(dim);
    const { scale, norm, error } = quantizeRow(row, 0, dim, q, 0);
    expect(scale).toBeCloseTo(Math.max(...row.map(Math.abs)) / 127, 12);
    let n = 0;
    let e = 0;
    for (let k = 0; k < dim; k++) {
      expect(Math.abs(q[k])).toBeLessThanOrEqual(127);
      expect(Math.abs(row[k] - q[k] * scale)).toBeLessThanOrEqual(scale / 2 + 1e-12);
      n += (q[k] * scale) ** 2;
      e += (row[k] - q[k] * scale) ** 2;
    }
    expect(norm).toBeCloseTo(Math.sqrt(n), 9);
    expect(error).toBeCloseTo(Math.sqrt(e), 9);
  });

  it('the int8 pass gives exact integer dot products (idots4), extremes ±127 included', () => {
    const rows = ReferenceRows.allocate(count, dim);
    expect(rows.approximates).toBe(true);
    // References at the extremes and random; their int8 copies are made from the float rows.
    rows.data.set(refs);
    rows.data.fill(127, 0, dim);
    rows.data.fill(-127, dim, 2 * dim);
    const q16 = Int16Array.from({ length: 4 * dim }, (_, i) => (i < dim ? -127 : ((i * 7919) % 255) - 127));
    const ints = Array.from(rows.approximateScores(q16, 4, count).subarray(0, 4 * count));
    // One query alone (idots1): the same integers as its column of the four.
    expect(Array.from(rows.approximateScores(q16.subarray(dim, 2 * dim), 1, count))).toEqual(ints.filter((_, j) => j % 4 === 1));
    const copy = new Int16Array(dim);
    for (let r = 0; r < count; r++) {
      quantizeRow(rows.data, r * dim, dim, copy, 0);
      for (let i = 0; i < 4; i++) {
        let exact = 0;
        for (let k = 0; k < dim; k++) exact += copy[k] * q16[i * dim + k];
        expect(ints[4 * r + i]).toBe(exact);
      }
    }
    expect(ints[0]).toBe(-127 * 127 * dim);
  });

  it('the pruned search (int8 pass, exact re-scoring) answers as the exact search: three metrics, leave-one-out, after additions and removals', () => {
    const many = 600; // 0.77 M floats: the pruned path
    const big = randomRows(many, dim, 5);
    const rows = Array.from({ length: many }, (_, i) => big.subarray(i * dim, (i + 1) * dim));
    const labels = rows.map((_, i) => `c${i % 6}`);
    // Queries: fresh rows and stored ones (each its own nearest unless excluded).
    const q = [...Array.from({ length: 6 }, (_, i) => randomRows(1, dim, 20 + i)), rows[3], rows[300], rows[599]];
    const exclude = Int32Array.from(q, (_, i) => (i < 6 ? -1 : [3, 300, 599][i - 6]));
    // The reference: float32 scores of the kernels' arithmetic (laneDots), every row, sorted.
    // Unit rows as the head stores them: float32 elements over the float64 norm.
    const unit = (v: Float32Array) => {
      let n = 0;
      for (const x of v) n += x * x;
      return Float32Array.from(v, (x) => x / Math.sqrt(n));
    };
    const exactNeighbours = (head: KnnHead, stored: Float32Array[], metric: 'cosine' | 'euclidean' | 'dot', skip?: Int32Array, storedUnit = false, queries = q) =>
      queries.map((query, i) => {
        const a = metric === 'cosine' ? unit(query) : query;
        const qn = a.reduce((s, v) => s + v * v, 0);
        return stored
          .map((r, id) => {
            const b = metric === 'cosine' && !storedUnit ? unit(r) : r;
            const s = laneDots(a, 0, 1, b, 1, dim)[0];
            const rn = b.reduce((t, v) => t + v * v, 0);
            return { id, d: metric === 'cosine' ? 1 - s : metric === 'dot' ? -s : Math.sqrt(Math.max(0, qn - 2 * s + rn)) };
          })
          .filter((e) => !skip || e.id !== skip[i])
          .sort((x, y) => x.d - y.d || x.id - y.id)
          .slice(0, head.k)
          .map((e) => e.id);
      });
    for (const metric of ['cosine', 'euclidean', 'dot'] as const) {
      const head = KnnHead.fit(rows, labels, { k: 4, metric, calibrateOpenSet: false });
      expect(head.searchesInWebAssembly).toBe(true);
      for (const skip of [undefined, exclude]) {
        expect(head.kneighbors(q, 4, skip).map((n) => n.map((x) => x.id))).toEqual(exactNeighbours(head, rows, metric, skip));
      }
    }
    // Near-duplicates (one row with noise a hundredth of its int8 step): the approximate pass
    // cannot order them, so only the bound keeps the true nearest among the candidates.
    const base = randomRows(1, dim, 30);
    const noise = randomRows(400, dim, 31);
    const near = Array.from({ length: 400 }, (_, i) => Float32Array.from(base, (v, k) => v + 1e-3 * noise[i * dim + k]));
    const nearHead = KnnHead.fit(near, near.map((_, i) => `c${i % 6}`), { k: 4, calibrateOpenSet: false });
    const nearQuery = [Float32Array.from(base, (v, k) => v + 1e-3 * noise[k + 7])];
    expect(nearHead.kneighbors(nearQuery).map((n) => n.map((x) => x.id))).toEqual(exactNeighbours(nearHead, near, 'cosine', undefined, false, nearQuery));
    // Online changes move rows: their int8 copies must follow.
    const head = KnnHead.fit(rows.slice(0, 400), labels.slice(0, 400), { k: 4, calibrateOpenSet: false });
    head.kneighbors(q);
    const added = head.add(rows.slice(400), labels.slice(400));
    head.kneighbors(q); // int8 copies of all 600 rows made
    head.remove([0, 3, 250, ...added.slice(0, 80)]);
    head.add([rows[3]], ['c3']);
    const { references, ids } = head.parameters;
    const current = Array.from({ length: head.size }, (_, i) => references.subarray(i * dim, (i + 1) * dim));
    expect(head.kneighbors(q).map((n) => n.map((x) => x.id))).toEqual(exactNeighbours(head, current, 'cosine', undefined, true).map((n) => n.map((r) => ids[r])));
  });

  it('the pruned search at float32 extremes: scores that overflow tie as the exact scan ties them (the earlier reference)', () => {
    const d = 16;
    const n = 16_400; // 262,400 floats: the pruned path
    const small = (i: number) => Float32Array.from({ length: d }, (_, k) => Math.sin(i * 12.9898 + k * 78.233) * 0.01);
    const rows = Array.from({ length: n }, (_, i) => (i === 5 ? new Float32Array(d).fill(2e19) : i === 9 ? new Float32Array(d).fill(4e19) : small(i)));
    const head = KnnHead.fit(rows, rows.map((_, i) => `c${i % 3}`), { k: 1, metric: 'dot', calibrateOpenSet: false });
    // 16 · 2e19 · 2e19 and 16 · 2e19 · 4e19 are both past float32's 3.4e38: −Infinity distances, a tie.
    expect(head.kneighbors([new Float32Array(d).fill(2e19)])[0].map((x) => [x.id, x.distance])).toEqual([[5, -Infinity]]);
  });

  it('no int8 copy where 127² · dim would overflow its int32 sums', () => {
    expect(ReferenceRows.allocate(64, 1280).approximates).toBe(true);
    expect(ReferenceRows.allocate(1, 133_152).approximates).toBe(false);
    expect(ReferenceRows.allocate(1, 133_152).inWebAssembly).toBe(true);
  });

  it('a head of 150,000 references is built (ids are not spread into one call)', () => {
    const n = 150_000;
    const head = new KnnHead({
      labels: ['a', 'b'],
      dim: 8,
      k: 1,
      metric: 'euclidean',
      weights: 'uniform',
      references: randomRows(n, 8, 3),
      referenceLabels: Int32Array.from({ length: n }, (_, i) => i % 2),
      ids: Float64Array.from({ length: n }, (_, i) => 2 * i),
    });
    expect(head.add([new Float32Array(8)], ['a'])).toEqual([2 * (n - 1) + 1]);
  });
});
