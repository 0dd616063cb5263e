/** The one symmetric eigendecomposition the heads use. */
import { EigenvalueDecomposition, Matrix as MlMatrix } from 'ml-matrix';

/**
 * Eigenvalues (descending) and eigenvectors (columns of a row-major n × n matrix) of a symmetric
 * matrix (CORAL's covariances, LogME's Gram matrices): ml-matrix's Householder tridiagonalisation
 * and QL iterations, cubic in n (about 9 s for n = 1000 on one core here).
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const eig = new EigenvalueDecomposition(MlMatrix.from1DArray(n, n, matrix), { assumeSymmetric: true });
  const values = eig.realEigenvalues;
  const v = eig.eigenvectorMatrix;
  const order = values.map((_, i) => i).sort((x, y) => values[y] - values[x]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let r = 0; r < n; r++) vectors[r * n + dst] = v.get(r, src);
  });
  return { values: order.map((i) => values[i]), vectors };
}
