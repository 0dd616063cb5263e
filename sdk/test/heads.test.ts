import { describe, expect, it } from 'vitest';
import { BackboneMismatchError, HeadFormatError, InvalidInputError } from '../src/core/errors.js';
import { CentroidHead } from '../src/heads/centroid.js';
import { describeSpec, fitHead } from '../src/heads/fit.js';
import { parseHead, serializeHead, type HeadFile } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { evaluate } from '../src/heads/metrics.js';
import { sampleFewShot, stratifiedKFold, stratifiedSplit } from '../src/heads/split.js';
import { fixture, subset } from './heads-fixtures.js';

const cifar = fixture('cifar10-mobilenetv2');
const fsdd = fixture('fsdd-openwakeword');

describe('metrics (hand-computed)', () => {
  it('accuracy, per-class precision/recall, macro-F1 and confusion', () => {
    // truth a a a b b c ; predicted a a b b c c
    const e = evaluate(['a', 'a', 'a', 'b', 'b', 'c'], ['a', 'a', 'b', 'b', 'c', 'c']);
    expect(e.accuracy).toBeCloseTo(4 / 6, 12);
    expect(e.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    // a: P=2/2 R=2/3 F1=0.8 ; b: P=1/2 R=1/2 F1=0.5 ; c: P=1/2 R=1 F1=2/3
    expect(e.perClass.a).toMatchObject({ precision: 1, recall: 2 / 3, support: 3 });
    expect(e.perClass.a.f1).toBeCloseTo(0.8, 12);
    expect(e.perClass.c.f1).toBeCloseTo(2 / 3, 12);
    expect(e.macroF1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 12);
  });
});

describe('splits and sampling', () => {
  const labels = [...Array(30).fill('x'), ...Array(10).fill('y'), ...Array(5).fill('z')] as string[];

  it('stratified k-fold covers every example once and balances classes', () => {
    const folds = stratifiedKFold(labels, 5, 7);
    const seen = folds.flatMap((f) => f.validation).sort((a, b) => a - b);
    expect(seen).toEqual(labels.map((_, i) => i));
    for (const f of folds) {
      expect(f.validation.filter((i) => labels[i] === 'x')).toHaveLength(6);
      expect(f.validation.filter((i) => labels[i] === 'y')).toHaveLength(2);
      expect(f.validation.filter((i) => labels[i] === 'z')).toHaveLength(1);
      expect(new Set([...f.train, ...f.validation]).size).toBe(labels.length);
    }
  });

  it('seeded: same seed same split, different seed different split', () => {
    expect(stratifiedSplit(labels, 0.2, 1)).toEqual(stratifiedSplit(labels, 0.2, 1));
    expect(stratifiedSplit(labels, 0.2, 1).validation).not.toEqual(stratifiedSplit(labels, 0.2, 2).validation);
    const s = stratifiedSplit(labels, 0.2, 3);
    expect(s.validation.filter((i) => labels[i] === 'x')).toHaveLength(6);
  });

  it('few-shot sampling takes k per class (all when fewer)', () => {
    const idx = sampleFewShot(labels, 8, 0);
    expect(idx.filter((i) => labels[i] === 'x')).toHaveLength(8);
    expect(idx.filter((i) => labels[i] === 'z')).toHaveLength(5);
    expect(sampleFewShot(labels, 8, 0)).toEqual(idx);
  });
});

describe('portable head format', () => {
  const heads = () => [
    LinearHead.fit(cifar.train, cifar.train.labels, { C: 1 }),
    LinearHead.fit(subset(cifar.train, (l) => l === 'cat' || l === 'dog'), subset(cifar.train, (l) => l === 'cat' || l === 'dog').labels, { standardize: true }),
    KnnHead.fit(cifar.train, cifar.train.labels, { k: 5, metric: 'euclidean', weights: 'distance' }),
    CentroidHead.fit(cifar.train, cifar.train.labels, { metric: 'euclidean', shrinkThreshold: 0.5 }),
  ];

  it('a parsed head predicts identically to the original (labels equal, probabilities within 1e-6)', () => {
    for (const head of heads()) {
      const text = JSON.stringify(serializeHead(head, { backbone: { id: 'mobilenetv2-int8', fingerprint: cifar.fingerprint } }));
      const { head: copy, backbone } = parseHead(text, { fingerprint: cifar.fingerprint, dim: 1280 });
      expect(backbone?.id).toBe('mobilenetv2-int8');
      expect(copy.kind).toBe(head.kind);
      const a = head.predict(cifar.test);
      const b = copy.predict(cifar.test);
      expect(b.map((p) => p.label)).toEqual(a.map((p) => p.label));
      a.forEach((p, i) => p.topK.forEach((t, j) => expect(Math.abs(t.probability - b[i].topK[j].probability)).toBeLessThan(1e-6)));
    }
  });

  it('probabilities sum to 1 for every head kind', () => {
    for (const head of heads()) for (const row of head.predictProba(cifar.test)) expect(row.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 9);
  });

  it('rejects wrong version, dimension, fingerprint, NaN, truncation — with typed errors', () => {
    const head = LinearHead.fit(cifar.train, cifar.train.labels);
    const file = serializeHead(head, { backbone: { id: 'mobilenetv2-int8', fingerprint: cifar.fingerprint } });
    const mutate = (f: (h: HeadFile) => void) => {
      const copy = structuredClone(file);
      f(copy);
      return copy;
    };
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(code(() => parseHead(mutate((h) => (h.formatVersion = 2))))).toBe('UNSUPPORTED_VERSION');
    expect(code(() => parseHead(file, { dim: 512 }))).toBe('INVALID_HEAD');
    expect(() => parseHead(file, { fingerprint: 'sha256:other' })).toThrow(BackboneMismatchError);
    expect(() => parseHead(file, { fingerprint: 'sha256:other' })).toThrow(/sha256:other/);
    const text = JSON.stringify(file);
    expect(code(() => parseHead(text.slice(0, text.length - 100)))).toBe('TRUNCATED');
    expect(code(() => parseHead(mutate((h) => (h.params.bias.data = h.params.bias.data.slice(0, 8)))))).toBe('TRUNCATED');
    // A NaN written into the weights (bytes of a float32 NaN, little-endian).
    const nan = mutate((h) => {
      const bytes = Uint8Array.from(atob(h.params.weights.data), (c) => c.charCodeAt(0));
      bytes.set([0, 0, 0xc0, 0x7f], 40);
      h.params.weights.data = btoa(String.fromCharCode(...bytes));
    });
    expect(() => parseHead(nan)).toThrow(/NaN at index 10/);
    expect(code(() => parseHead(mutate((h) => (h.labels = ['a', 'a', ...h.labels.slice(2)]))))).toBe('INVALID_HEAD');
    expect(code(() => parseHead(mutate((h) => (h.kind = 'svm' as never))))).toBe('INVALID_HEAD');
    expect(() => parseHead(mutate((h) => (h.params.weights.shape = [10, 1000])))).toThrow(HeadFormatError);
  });

  it('predicting with wrong-dimension or non-finite embeddings says so', () => {
    const head = CentroidHead.fit(cifar.train, cifar.train.labels);
    expect(() => head.predict([new Float32Array(512)])).toThrow(/has 512 values, expected 1280/);
    const bad = new Float32Array(1280);
    bad[7] = Number.POSITIVE_INFINITY;
    expect(() => head.predict([bad])).toThrow(InvalidInputError);
  });
});

describe('open-set rejection', () => {
  it('rejects far more unseen classes than seen ones (calibrated on held-out training distances)', () => {
    // Train on 5 CIFAR classes; the other 5 are "unknown". FSDD audio is different still, but of another
    // dimension — so use the held-out CIFAR classes as the realistic near-domain case.
    const known = new Set(['airplane', 'automobile', 'ship', 'truck', 'frog']);
    const train = subset(cifar.train, (l) => known.has(l));
    const testKnown = subset(cifar.test, (l) => known.has(l));
    const testUnknown = subset(cifar.test, (l) => !known.has(l));
    for (const head of [CentroidHead.fit(train, train.labels), KnnHead.fit(train, train.labels, { k: 3 }), LinearHead.fit(train, train.labels)]) {
      expect(head.openSet?.quantile).toBe(0.95);
      const rejectedKnown = head.predict(testKnown).filter((p) => p.unknown).length / testKnown.rows;
      const rejectedUnknown = head.predict(testUnknown).filter((p) => p.unknown).length / testUnknown.rows;
      expect(rejectedUnknown).toBeGreaterThan(rejectedKnown);
      // A threshold override turns rejection off or on.
      expect(head.predict(testUnknown, { threshold: 10 }).some((p) => p.unknown)).toBe(false);
      expect(head.predict(testKnown, { threshold: -1 }).every((p) => p.unknown && p.label === null)).toBe(true);
    }
  });

  it('linear predict: softmax(Wx + b) and the cosine distance to the nearest normalised class mean, recomputed in float64', () => {
    const { rows, cols, data, labels } = cifar.train;
    const row = (m: { cols: number; data: Float32Array }, i: number) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols));
    const norm = (v: number[]) => Math.hypot(...v);
    // The reference prototypes: means of the unit-length training rows, per class.
    const classes = [...new Set(labels)].sort();
    const means = classes.map((c) => {
      const sum = new Array<number>(cols).fill(0);
      let n = 0;
      for (let i = 0; i < rows; i++) {
        if (labels[i] !== c) continue;
        const x = row({ cols, data }, i);
        const len = norm(x);
        x.forEach((v, k) => (sum[k] += v / len));
        n++;
      }
      return sum.map((s) => s / n);
    });
    for (const standardize of [false, true]) {
      const head = LinearHead.fit(cifar.train, labels, { standardize });
      const { weights, bias, mean, std } = head.parameters;
      const test = Array.from({ length: 20 }, (_, i) => row(cifar.test, i));
      head.predict(test, { topK: classes.length }).forEach((p, i) => {
        const x = standardize ? test[i].map((v, k) => (v - mean![k]) / std![k]) : test[i];
        const z = head.labels.map((_, c) => bias[c] + x.reduce((s, v, k) => s + v * weights[c * cols + k], 0));
        const top = Math.max(...z);
        const total = z.reduce((s, v) => s + Math.exp(v - top), 0);
        for (const t of p.topK) expect(t.probability).toBeCloseTo(Math.exp(z[head.labels.indexOf(t.label)] - top) / total, 6);
        const distance = Math.min(...means.map((m) => 1 - test[i].reduce((s, v, k) => s + v * m[k], 0) / (norm(test[i]) * norm(m))));
        expect(p.distance).toBeCloseTo(distance, 6);
      });
      // Cosine distance ignores scale, up to the largest and smallest float32 embeddings.
      const one = test[0];
      for (const scale of [1e39 / norm(one), 1e-38 / norm(one)]) {
        expect(head.openSetDistances([one.map((v) => v * scale)])[0]).toBeCloseTo(head.openSetDistances([one])[0], 5);
      }
    }
  });

  it('an input of pure noise is unknown', () => {
    const head = KnnHead.fit(fsdd.train, fsdd.train.labels, { k: 5 });
    const noise = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i * 12.9898) * 40);
    expect(head.predict([noise])[0].unknown).toBe(true);
  });
});

describe('online updates', () => {
  it('kNN: added examples are found, removed ones are gone, ids are stable', () => {
    const head = KnnHead.fit(subset(cifar.train, (l) => l !== 'ship'), subset(cifar.train, (l) => l !== 'ship').labels, { k: 1 });
    const ships = subset(cifar.test, (l) => l === 'ship');
    expect(head.labels).not.toContain('ship');
    const ids = head.add(ships, ships.labels);
    expect(head.labels).toContain('ship');
    expect(head.predictLabels(ships).every((l) => l === 'ship')).toBe(true);
    expect(head.kneighbors(ships, 1).map((n) => n[0].id)).toEqual(ids);
    head.remove(ids);
    expect(head.predictLabels(ships).some((l) => l === 'ship')).toBe(false);
    expect(() => head.remove([999999])).toThrow(/No stored example with id 999999/);
  });

  it('centroid: adding in batches gives the same centroids as fitting at once', () => {
    const all = CentroidHead.fit(fsdd.train, fsdd.train.labels, { metric: 'euclidean', shrinkThreshold: 0.3 });
    const first = subset(fsdd.train, (_, i) => i % 2 === 0);
    const second = subset(fsdd.train, (_, i) => i % 2 === 1);
    const incremental = CentroidHead.fit(first, first.labels, { metric: 'euclidean', shrinkThreshold: 0.3 });
    incremental.add(second, second.labels);
    const a = all.centroids().data;
    const b = incremental.centroids().data;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-4);
    expect(incremental.predictLabels(fsdd.test)).toEqual(all.predictLabels(fsdd.test));
  });
});

describe('fitHead: cross-validation and auto selection', () => {
  it('auto tries both centroids, linear C and kNN k by CV and takes the simplest within one standard error of the best', async () => {
    const report = await fitHead(fsdd.train, fsdd.train.labels, { head: 'auto', seed: 1 });
    const described = report.tried.map((t) => describeSpec(t.spec));
    expect(described).toEqual(expect.arrayContaining(['centroid(cosine)', 'centroid(euclidean)', 'linear(C=1)', 'knn(k=1, cosine, uniform)']));
    // The rule, computed here from the reported scores: simplest first = centroids, linear, kNN.
    const rank = (d: string) => (d.startsWith('centroid') ? 0 : d.startsWith('linear') ? 1 : 2);
    const best = Math.max(...report.tried.map((t) => t.macroF1));
    const se = Math.sqrt((best * (1 - best)) / fsdd.train.labels.length);
    const chosen = report.tried.find((t) => describeSpec(t.spec) === describeSpec(report.spec))!;
    expect(chosen.macroF1).toBeGreaterThanOrEqual(best - se - 1e-12);
    for (const t of report.tried) if (rank(describeSpec(t.spec)) < rank(describeSpec(chosen.spec))) expect(t.macroF1).toBeLessThan(best - se);
    expect(report.crossValidation?.folds).toBe(5);
    expect(report.training.metrics?.method).toBe('5-fold stratified CV (not grouped)');
    const test = evaluate(fsdd.test.labels, report.head.predictLabels(fsdd.test));
    expect(test.accuracy).toBeGreaterThan(0.9);
  });

  it('one example per class: auto falls back to nearest centroid and says why', async () => {
    const one = subset(cifar.train, (l, i) => cifar.train.labels.indexOf(l) === i);
    const steps: string[] = [];
    const report = await fitHead(one, one.labels, { head: 'auto', onStep: (s) => steps.push(s) });
    expect(report.spec.kind).toBe('centroid');
    expect(steps.join('\n')).toMatch(/too few to cross-validate/);
  });
});

describe('accuracy floors on real embeddings (fixture splits; measured values in comments)', () => {
  it('CIFAR-10 × MobileNetV2, 20 photos per class, 100 test photos', () => {
    // Measured: linear 0.58, centroid (cosine) 0.62, kNN k=5 cosine 0.57. Chance: 0.10.
    expect(evaluate(cifar.test.labels, LinearHead.fit(cifar.train, cifar.train.labels).predictLabels(cifar.test)).accuracy).toBeGreaterThanOrEqual(0.5);
    expect(evaluate(cifar.test.labels, CentroidHead.fit(cifar.train, cifar.train.labels).predictLabels(cifar.test)).accuracy).toBeGreaterThanOrEqual(0.5);
    expect(evaluate(cifar.test.labels, KnnHead.fit(cifar.train, cifar.train.labels, { k: 5 }).predictLabels(cifar.test)).accuracy).toBeGreaterThanOrEqual(0.45);
  });

  it('FSDD × openWakeWord, 5 takes per speaker and digit', () => {
    // Measured: linear 0.98, centroid (cosine) 0.924, kNN k=1 0.992.
    expect(evaluate(fsdd.test.labels, LinearHead.fit(fsdd.train, fsdd.train.labels).predictLabels(fsdd.test)).accuracy).toBeGreaterThanOrEqual(0.95);
    expect(evaluate(fsdd.test.labels, CentroidHead.fit(fsdd.train, fsdd.train.labels).predictLabels(fsdd.test)).accuracy).toBeGreaterThanOrEqual(0.88);
    expect(evaluate(fsdd.test.labels, KnnHead.fit(fsdd.train, fsdd.train.labels, { k: 1 }).predictLabels(fsdd.test)).accuracy).toBeGreaterThanOrEqual(0.95);
  });
});

describe('fitHead: class imbalance', () => {
  it('warns when the largest class is ≥ 5× the smallest, and auto also tries balanced class weights', async () => {
    const seen: Record<string, number> = {};
    // Digit "0" keeps every take, the others 1 in 6: at least 5× fewer.
    const skewed = subset(fsdd.train, (l) => (seen[l] = (seen[l] ?? 0) + 1) % 6 === 0 || l === '0');
    const report = await fitHead(skewed, skewed.labels, { head: 'auto', seed: 0 });
    expect(report.warnings.join('\n')).toMatch(/classes are imbalanced: "0" has \d+ examples/);
    expect(report.tried.map((t) => describeSpec(t.spec))).toContain('linear(C=1, balanced)');
  });
});
