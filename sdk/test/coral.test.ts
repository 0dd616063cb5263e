/**
 * CORAL alignment (issue 15, part 3). References: eigenvalues from numpy.linalg.eigvalsh, and a
 * target built from the source by a known affine change (every coordinate ×3, then shifted),
 * which the alignment must undo well enough for a head fitted on the source.
 */
import { describe, expect, it } from 'vitest';
import { CentroidHead } from '../src/heads/centroid.js';
import { coralAlign } from '../src/heads/coral.js';
import { symmetricEigen } from '../src/heads/eigen.js';

describe('CORAL', () => {
  it('the eigen solver matches numpy.linalg.eigvalsh on [[4,1,2],[1,3,0],[2,0,5]]', () => {
    const { values, vectors } = symmetricEigen(Float64Array.from([4, 1, 2, 1, 3, 0, 2, 0, 5]), 3);
    [6.66907909, 3.4760236, 1.85489731].forEach((v, i) => expect(values[i]).toBeCloseTo(v, 7));
    // Columns are orthonormal.
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
      const dot = [0, 1, 2].reduce((s, r) => s + vectors[r * 3 + a] * vectors[r * 3 + b], 0);
      expect(dot).toBeCloseTo(a === b ? 1 : 0, 10);
    }
  });

  it('undoes a scale-and-shift of the whole domain (measured: accuracy before/after printed): the mean maps exactly, and a source head works on the target again', () => {
    // Three classes in 8-d; the target is the same kind of data ×3 and shifted towards class c0's
    // pattern (+6 on its coordinates), so that a head fitted on the source calls most of it c0.
    const sample = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => {
        const c = i % 3;
        return { label: `c${c}`, row: Array.from({ length: 8 }, (_, k) => (k % 3 === c ? 1 : -0.2) + 0.35 * Math.sin(12.9898 * (i + offset) + 4.1 * k)) };
      });
    const source = sample(90, 0);
    const targetRaw = sample(90, 1000);
    const target = targetRaw.map((r) => r.row.map((v, k) => 3 * v + (k % 3 === 0 ? 6 : 0)));
    const head = CentroidHead.fit(source.map((r) => r.row), source.map((r) => r.label), { metric: 'euclidean' });
    const truth = targetRaw.map((r) => r.label);
    const score = (rows: ArrayLike<number>[]) => head.predictLabels(rows).filter((p, i) => p === truth[i]).length / truth.length;
    const alignment = coralAlign(source.map((r) => r.row), target);
    const aligned = alignment.transform(target);
    const rows = Array.from({ length: aligned.rows }, (_, i) => aligned.data.subarray(i * 8, (i + 1) * 8));
    for (let k = 0; k < 8; k++) {
      const meanAligned = rows.reduce((s, r) => s + r[k], 0) / rows.length;
      const meanSource = source.reduce((s, r) => s + r.row[k], 0) / source.length;
      expect(meanAligned).toBeCloseTo(meanSource, 5);
    }
    const before = score(target);
    const after = score(rows);
    console.log(`scaled and shifted target: ${before.toFixed(3)} before CORAL, ${after.toFixed(3)} after`);
    expect(before).toBeLessThan(0.5);
    expect(after).toBeGreaterThan(0.9);
  });
});
