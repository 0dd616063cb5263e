/**
 * Limited-memory BFGS for smooth unconstrained problems (here: regularised softmax regression).
 * Two-loop recursion with m correction pairs and a backtracking Armijo line search; curvature
 * pairs with sᵀy ≤ 0 are skipped so the inverse-Hessian estimate stays positive definite.
 * @module
 */

export type ValueAndGradient = (x: Float64Array, gradientOut: Float64Array) => number;
export type AsyncValueAndGradient = (x: Float64Array, gradientOut: Float64Array) => number | Promise<number>;

/** What the iteration asks its driver to evaluate, and what the driver sends back. */
interface EvaluationRequest {
  x: Float64Array;
  gradient: Float64Array;
}

export interface LbfgsOptions {
  maxIterations?: number;
  /** Stop when max |gradient component| ≤ gradientTolerance (scipy's pgtol, sklearn's tol). */
  gradientTolerance?: number;
  /** Stop when the relative decrease of f is below this (default 64·eps, as scikit-learn passes to scipy). */
  functionTolerance?: number;
  memory?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  reason: 'gradient' | 'function' | 'max-iterations' | 'line-search';
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Synchronous driver (plain JS objectives). */
export function minimizeLbfgs(fg: ValueAndGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const steps = lbfgsSteps(x0, options);
  let next = steps.next();
  while (!next.done) next = steps.next(fg(next.value.x, next.value.gradient));
  return next.value;
}

/** Asynchronous driver, for objectives evaluated by a runtime (e.g. onnxruntime's GEMM). */
export async function minimizeLbfgsAsync(fg: AsyncValueAndGradient, x0: Float64Array, options: LbfgsOptions = {}): Promise<LbfgsResult> {
  const steps = lbfgsSteps(x0, options);
  let next = steps.next();
  while (!next.done) next = steps.next(await fg(next.value.x, next.value.gradient));
  return next.value;
}

/**
 * The iteration itself, as a generator: it yields each point to evaluate and receives f there
 * (the gradient is written into the yielded buffer), so one implementation serves both drivers.
 */
function* lbfgsSteps(x0: Float64Array, options: LbfgsOptions): Generator<EvaluationRequest, LbfgsResult, number> {
  const maxIterations = options.maxIterations ?? 200;
  const gtol = options.gradientTolerance ?? 1e-4;
  const ftol = options.functionTolerance ?? 64 * Number.EPSILON;
  const m = options.memory ?? 10;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f: number = yield { x, gradient: g };
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const direction = new Float64Array(n);
  const alpha = new Float64Array(m);
  const xNew = new Float64Array(n);
  let gNew = new Float64Array(n);

  for (let iter = 0; iter < maxIterations; iter++) {
    if (maxAbs(g) <= gtol) return { x, value: f, iterations: iter, evaluations, converged: true, reason: 'gradient' };

    // Two-loop recursion: direction = -H·g.
    direction.set(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i] * dot(S[i], direction);
      const y = Y[i];
      for (let j = 0; j < n; j++) direction[j] -= alpha[i] * y[j];
    }
    const gamma = S.length ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let j = 0; j < n; j++) direction[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], direction);
      const s = S[i];
      for (let j = 0; j < n; j++) direction[j] += s[j] * (alpha[i] - beta);
    }
    for (let j = 0; j < n; j++) direction[j] = -direction[j];

    let slope = dot(g, direction);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let j = 0; j < n; j++) direction[j] = -g[j] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, direction);
    }

    // Backtracking line search on the Armijo condition, trying the full step first.
    let step = 1;
    let fNew = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++) {
      for (let j = 0; j < n; j++) xNew[j] = x[j] + step * direction[j];
      fNew = yield { x: xNew, gradient: gNew };
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) return { x, value: f, iterations: iter, evaluations, converged: false, reason: 'line-search' };

    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      s[j] = xNew[j] - x[j];
      y[j] = gNew[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-10 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const previous = f;
    x = Float64Array.from(xNew);
    [g, gNew] = [gNew, g];
    f = fNew;
    if ((previous - f) / Math.max(Math.abs(previous), Math.abs(f), 1) <= ftol) {
      return { x, value: f, iterations: iter + 1, evaluations, converged: maxAbs(g) <= gtol * 10, reason: 'function' };
    }
  }
  return { x, value: f, iterations: maxIterations, evaluations, converged: maxAbs(g) <= gtol, reason: 'max-iterations' };
}
