/**
 * Heads against scikit-learn 1.2 on the same real embeddings (CIFAR-10 × MobileNetV2 int8,
 * FSDD × openWakeWord). The reference answers were computed once by
 * models/fixtures/sklearn/reference.py and committed; these tests never run Python.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CentroidHead } from '../src/heads/centroid.js';
import { KnnHead, type KnnMetric } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { fixture, subset } from './heads-fixtures.js';
import { createOnnxObjective } from '../src/accel/onnx-objective.js';
import { createOnnxNeighbourSearch } from '../src/accel/onnx-knn.js';
import { REPO } from './helpers.js';

const DIR = join(REPO, 'models', 'fixtures', 'sklearn');
const reference = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as {
  datasets: Record<string, {
    linear: Array<{ C: number; standardize?: boolean; classWeight?: 'balanced'; accuracy: number; predictions: string[]; probabilities: number[][] }>;
    knn: Array<{ k: number; metric: KnnMetric; weights: 'uniform' | 'distance'; predictions: string[]; probabilities: number[][] }>;
    centroid: Array<{ metric: 'cosine' | 'euclidean'; shrinkThreshold?: number; predictions: string[] }>;
    binary: Array<{ C: number; classes: string[]; accuracy: number; predictions: string[]; probabilities: number[][] }>;
  }>;
};

const load = (name: string) => fixture(name as 'cifar10-mobilenetv2');

const accuracy = (pred: string[], truth: string[]) => pred.filter((p, i) => p === truth[i]).length / truth.length;

for (const name of Object.keys(reference.datasets)) {
  const ref = reference.datasets[name];
  const { train, test } = load(name);

  describe(`${name}: heads vs scikit-learn`, () => {
    it.each(ref.linear)('linear C=$C standardize=$standardize classWeight=$classWeight: accuracy within 0.5 pt of LogisticRegression(lbfgs)', (cfg) => {
      const head = LinearHead.fit(train, train.labels, { C: cfg.C, standardize: cfg.standardize, classWeight: cfg.classWeight, tolerance: 1e-6, maxIterations: 2000 });
      const predictions = head.predictLabels(test);
      expect(Math.abs(accuracy(predictions, test.labels) - cfg.accuracy)).toBeLessThanOrEqual(0.005);
      // Same optimum: predictions agree and probabilities are close.
      const agree = predictions.filter((p, i) => p === cfg.predictions[i]).length / predictions.length;
      expect(agree).toBeGreaterThanOrEqual(0.99);
      const proba = head.predictProba(test);
      let maxDiff = 0;
      proba.forEach((row, i) => row.forEach((p, c) => (maxDiff = Math.max(maxDiff, Math.abs(p - cfg.probabilities[i][c])))));
      expect(maxDiff).toBeLessThan(0.02);
    });

    it.each(ref.binary)('binary linear $classes (one weight vector + sigmoid): matches LogisticRegression, JS and onnxruntime objectives', async (cfg) => {
      const keep = (l: string) => cfg.classes.includes(l);
      const tr = subset(train, keep);
      const te = subset(test, keep);
      for (const head of [
        LinearHead.fit(tr, tr.labels, { C: cfg.C, tolerance: 1e-6, maxIterations: 2000 }),
        await LinearHead.fitAsync(tr, tr.labels, { C: cfg.C, tolerance: 1e-6, maxIterations: 2000, objective: createOnnxObjective({ device: 'node' }) }),
      ]) {
        const predictions = head.predictLabels(te);
        expect(predictions).toEqual(cfg.predictions);
        head.predictProba(te).forEach((row, i) => row.forEach((p, c) => expect(Math.abs(p - cfg.probabilities[i][c])).toBeLessThan(0.02)));
      }
    });

    it('multinomial linear on the onnxruntime objective reaches the same optimum as LogisticRegression', async () => {
      const cfg = ref.linear.find((c) => c.C === 1 && !c.standardize && !c.classWeight)!;
      const head = await LinearHead.fitAsync(train, train.labels, { C: 1, tolerance: 1e-6, maxIterations: 2000, objective: createOnnxObjective({ device: 'node' }) });
      const predictions = head.predictLabels(test);
      expect(Math.abs(accuracy(predictions, test.labels) - cfg.accuracy)).toBeLessThanOrEqual(0.005);
      expect(predictions.filter((p, i) => p === cfg.predictions[i]).length / predictions.length).toBeGreaterThanOrEqual(0.99);
    });

    it('linear warm-started from another C (auto\'s regularisation path) reaches LogisticRegression\'s optimum for its own C', async () => {
      const cfg = ref.linear.find((c) => c.C === 1 && !c.standardize && !c.classWeight)!;
      const from = LinearHead.fit(train, train.labels, { C: 0.1 });
      const head = await LinearHead.fitAsync(train, train.labels, { C: 1, tolerance: 1e-6, maxIterations: 2000, warmStart: from });
      const predictions = head.predictLabels(test);
      expect(predictions.filter((p, i) => p === cfg.predictions[i]).length / predictions.length).toBeGreaterThanOrEqual(0.99);
      const proba = head.predictProba(test);
      let maxDiff = 0;
      proba.forEach((row, i) => row.forEach((p, c) => (maxDiff = Math.max(maxDiff, Math.abs(p - cfg.probabilities[i][c])))));
      expect(maxDiff).toBeLessThan(0.02);
    });

    it.each(ref.knn)('kNN k=$k $metric $weights, voting from one shared neighbour search (auto\'s CV): predictions identical to KNeighborsClassifier(brute)', (cfg) => {
      // One search for k = 10 serves every smaller k, as auto's cross-validation does.
      const search = KnnHead.fit(train, train.labels, { k: 10, metric: cfg.metric, calibrateOpenSet: false });
      const neighbours = search.kneighbors(test, 10);
      const predictions = search.predictFromNeighbours(neighbours, { rejectUnknown: false, voting: { k: cfg.k, weights: cfg.weights } });
      expect(predictions.map((p) => p.nearest)).toEqual(cfg.predictions);
    });

    it.each(ref.knn)('kNN k=$k $metric $weights: predictions identical to KNeighborsClassifier(brute)', (cfg) => {
      const head = KnnHead.fit(train, train.labels, { k: cfg.k, metric: cfg.metric, weights: cfg.weights });
      expect(head.predictLabels(test)).toEqual(cfg.predictions);
      const proba = head.predictProba(test);
      proba.forEach((row, i) => row.forEach((p, c) => expect(p).toBeCloseTo(cfg.probabilities[i][c], 5)));
    });

    it.each(ref.knn)('kNN k=$k $metric $weights with the onnxruntime search: same predictions', async (cfg) => {
      const head = KnnHead.fit(train, train.labels, { k: cfg.k, metric: cfg.metric, weights: cfg.weights });
      const search = await createOnnxNeighbourSearch({ device: 'node' });
      try {
        const predictions = (await head.predictAsync(test, search)).map((p) => p.nearest);
        expect(predictions).toEqual(cfg.predictions);
      } finally {
        await search.dispose();
      }
    });

    it.each(ref.centroid)('centroid $metric shrink=$shrinkThreshold: predictions identical to NearestCentroid', (cfg) => {
      const head = CentroidHead.fit(train, train.labels, { metric: cfg.metric, shrinkThreshold: cfg.shrinkThreshold });
      expect(head.predictLabels(test)).toEqual(cfg.predictions);
    });
  });
}
