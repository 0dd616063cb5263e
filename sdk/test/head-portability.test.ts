/**
 * One head file, three runtimes: Node, Chromium and workerd (through Miniflare) must give
 * bit-identical labels and probabilities within 1e-6.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CentroidHead } from '../src/heads/centroid.js';
import { headToJson } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { predictFromFile, type PredictRequest } from './runtimes/predict-entry.js';
import { fixture } from './heads-fixtures.js';
import { REPO } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
type Result = ReturnType<typeof predictFromFile>;

let bundle: string;
let browser: Browser;
let mf: Miniflare;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH).`);
  const out = await build({ entryPoints: [join(REPO, 'sdk', 'test', 'runtimes', 'predict-entry.ts')], bundle: true, format: 'esm', platform: 'neutral', write: false, logLevel: 'error' });
  bundle = out.outputFiles[0].text;
  mf = new Miniflare({ modules: true, script: bundle, compatibilityDate: '2026-04-20' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
});

afterAll(async () => {
  await mf?.dispose();
  await browser?.close();
});

async function inWorkerd(req: PredictRequest): Promise<Result> {
  const res = await mf.dispatchFetch('http://worker/', { method: 'POST', body: JSON.stringify(req) });
  expect(res.status).toBe(200);
  return (await res.json()) as Result;
}

async function inChromium(req: PredictRequest): Promise<Result> {
  const page = await browser.newPage();
  try {
    await page.setContent('<!doctype html><title>edgehead</title>');
    // The bundle ends with `export default`; strip it so it runs as a classic script.
    await page.addScriptTag({ content: bundle.replace(/export\s*\{[^}]*\};?\s*$/, '') });
    return (await page.evaluate((r) => (globalThis as unknown as { edgeheadPredict: (r: PredictRequest) => Result }).edgeheadPredict(r), req)) as Result;
  } finally {
    await page.close();
  }
}

describe('one head file predicts the same in Node, Chromium and workerd', () => {
  const { train, test } = fixture('cifar10-mobilenetv2');
  const embeddings = Array.from({ length: test.rows }, (_, i) => Array.from(test.data.subarray(i * test.cols, (i + 1) * test.cols)));
  const heads = {
    linear: () => LinearHead.fit(train, train.labels, { C: 1 }),
    knn: () => KnnHead.fit(train, train.labels, { k: 5, weights: 'distance' }),
    centroid: () => CentroidHead.fit(train, train.labels, { metric: 'euclidean', shrinkThreshold: 0.2 }),
  };

  it.each(Object.keys(heads))('%s head', async (kind) => {
    const req: PredictRequest = { head: headToJson(heads[kind as keyof typeof heads]()), embeddings };
    const node = predictFromFile(req);
    const [workerd, browserOut] = await Promise.all([inWorkerd(req), inChromium(req)]);
    if (kind === 'knn') {
      // The search kernel in Node and Chromium, its JavaScript twin in workerd: the same
      // float32 arithmetic, so the same distances to the last bit.
      expect([node[0].kernel, browserOut[0].kernel, workerd[0].kernel]).toEqual([true, true, false]);
      for (const other of [workerd, browserOut]) expect(other.map((p) => p.distance)).toEqual(node.map((p) => p.distance));
    }
    for (const other of [workerd, browserOut]) {
      expect(other.map((p) => p.label)).toEqual(node.map((p) => p.label));
      other.forEach((p, i) => {
        for (const [label, prob] of Object.entries(node[i].probabilities)) expect(Math.abs(p.probabilities[label] - prob)).toBeLessThanOrEqual(1e-6);
      });
    }
  });
});
