/**
 * Transferability ranking (issue 15, part 1). LogME is checked against a direct evaluation of
 * its definition in numpy (explicit d × d matrices, slogdet; models/fixtures/sklearn/reference.py)
 * on real embeddings: CIFAR-10 through MobileNetV2 (200 × 1280, fewer rows than dimensions) and
 * FSDD through the openWakeWord speech embedding (96-d, more rows than dimensions), so both of
 * the code's paths (FFᵀ and FᵀF) meet an independent reference.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logME } from '../src/heads/transferability.js';
import { fixture } from './heads-fixtures.js';
import { REPO } from './helpers.js';

const reference = JSON.parse(readFileSync(join(REPO, 'models', 'fixtures', 'sklearn', 'reference.json'), 'utf8')) as {
  datasets: Record<string, { logme: { score: number; perClass: number[] } }>;
};

describe('LogME', () => {
  for (const name of ['cifar10-mobilenetv2', 'fsdd-openwakeword'] as const) {
    it(`matches numpy's direct evaluation on ${name}`, () => {
      const { train } = fixture(name);
      const result = logME(train, train.labels);
      const expected = reference.datasets[name].logme;
      expect(result.score).toBeCloseTo(expected.score, 6);
      result.perClass.forEach((v, i) => expect(v).toBeCloseTo(expected.perClass[i], 6));
    });
  }

  it('scores real labels above the same labels permuted', () => {
    const { train } = fixture('fsdd-openwakeword');
    const real = logME(train, train.labels).score;
    // The same labels permuted (7919 is prime, so i → 7919·i mod n is a permutation): the class
    // sizes stay, the link between rows and labels goes.
    const permuted = train.labels.map((_, i) => train.labels[(i * 7919) % train.labels.length]);
    expect(real).toBeGreaterThan(logME(train, permuted).score + 0.1);
  });

  it('refuses a single class and mismatched lengths with a clear message', () => {
    expect(() => logME([[1, 2], [3, 4]], ['a', 'a'])).toThrow(/two classes/);
    expect(() => logME([[1, 2], [3, 4]], ['a'])).toThrow(/one label per embedding/);
  });
});
