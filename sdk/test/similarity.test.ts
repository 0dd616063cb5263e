import { describe, expect, it } from 'vitest';
import { KnnHead } from '../src/heads/knn.js';
import { laneDots, ReferenceRows, WASM_MIN_FLOATS } from '../src/heads/similarity.js';

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

  it('a head scanned in several blocks (900 × 1280-d, 11 queries) finds what float64 search finds, leave-one-out too', () => {
    const many = 900; // 1.15 M floats: five 1 MiB blocks
    const big = randomRows(many, dim, 3);
    const rows = Array.from({ length: many }, (_, i) => big.subarray(i * dim, (i + 1) * dim));
    const head = KnnHead.fit(rows, rows.map((_, i) => `c${i % 4}`), { k: 4, metric: 'euclidean', calibrateOpenSet: false });
    expect(head.searchesInWebAssembly).toBe(true);
    // Queries: fresh rows, and stored rows 5, 250, 899 (each its own nearest unless excluded).
    const q = [...Array.from({ length: 8 }, (_, i) => randomRows(1, dim, 10 + i)), rows[5], rows[250], rows[899]];
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
