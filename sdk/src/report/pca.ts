/** The first principal components of a matrix by power iteration — no d×d covariance is formed. */
import type { Matrix } from '../heads/matrix.js';
import { createRng } from '../heads/random.js';

export function pca2(m: Matrix, iterations = 100): { points: Array<[number, number]>; explained: [number, number] } {
  const { rows: n, cols: d, data } = m;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += data[i * d + k] / n;
  const rng = createRng(7);
  const components: Float64Array[] = [];
  const eigen: number[] = [];
  // Xcᵀ(Xc v), deflating earlier components by orthogonalisation.
  const apply = (v: Float64Array): Float64Array => {
    const xv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (data[i * d + k] - mean[k]) * v[k];
      xv[i] = s;
    }
    const out = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) out[k] += (data[i * d + k] - mean[k]) * xv[i];
    return out;
  };
  let total = 0;
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) total += (data[i * d + k] - mean[k]) ** 2;
  for (let c = 0; c < 2; c++) {
    let v = Float64Array.from({ length: d }, () => rng() - 0.5);
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      for (const u of components) {
        let p = 0;
        for (let k = 0; k < d; k++) p += u[k] * v[k];
        for (let k = 0; k < d; k++) v[k] -= p * u[k];
      }
      const w = apply(v);
      let norm = 0;
      for (let k = 0; k < d; k++) norm += w[k] * w[k];
      norm = Math.sqrt(norm);
      if (norm === 0) break;
      lambda = norm;
      v = w.map((x) => x / norm);
    }
    components.push(v);
    eigen.push(lambda);
  }
  const points = Array.from({ length: n }, (_, i): [number, number] => {
    let a = 0;
    let b = 0;
    for (let k = 0; k < d; k++) {
      const x = data[i * d + k] - mean[k];
      a += x * components[0][k];
      b += x * components[1][k];
    }
    return [a, b];
  });
  return { points, explained: [total ? eigen[0] / total : 0, total ? eigen[1] / total : 0] };
}
