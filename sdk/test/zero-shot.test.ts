/**
 * Zero-shot and description-primed text heads (issue 15, part 2): class centroids that start at
 * embedded label descriptions. References: a hand-computed 2-d case, and held-out accuracy on the
 * demo's support intents (12 × 8 real sentences, use-lite) against heads from examples only.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { CentroidHead } from '../src/heads/centroid.js';
import { parseHead } from '../src/heads/format.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { loadBackbone } from '../src/node.js';
import { capture, REPO } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('centroids that start at label descriptions', () => {
  const prior = (weight?: number) => ({ embeddings: [[1, 0], [0, 1]], labels: ['a', 'b'], weight });

  it('hand-computed: a description counts as `weight` examples of its label, and added examples move the centroid', () => {
    const zero = CentroidHead.fromDescriptions(prior());
    expect(zero.predictLabels([[0.9, 0.2], [0.1, 1]])).toEqual(['a', 'b']);
    expect(zero.openSet).toBeUndefined();
    // One example of a at [0, 1]: centroid a = ([1,0] + [0,1]) / 2 = [0.5, 0.5]. [0.2, 1] is
    // nearer b = [0, 1] (cosine 0.981 vs 0.832), [0.6, 0.4] nearer a (0.981 vs 0.555).
    const one = CentroidHead.fit([[0, 1]], ['a'], { prior: prior(1) });
    expect(Array.from(one.centroids().data)).toEqual([0.5, 0.5, 0, 1]);
    expect(one.predictLabels([[0.2, 1], [0.6, 0.4]])).toEqual(['b', 'a']);
    // Weight 3: centroid a = (3·[1,0] + [0,1]) / 4 = [0.75, 0.25].
    expect(Array.from(CentroidHead.fit([[0, 1]], ['a'], { prior: prior(3) }).centroids().data)).toEqual([0.75, 0.25, 0, 1]);
    // add() on a zero-shot head does the same as fitting with the example.
    zero.add([[0, 1]], ['a']);
    expect(Array.from(zero.centroids().data)).toEqual([0.5, 0.5, 0, 1]);
  });

  it('refuses a non-positive weight and shrinkage', () => {
    expect(() => CentroidHead.fromDescriptions(prior(0))).toThrow(/positive/);
    expect(() => CentroidHead.fit([[1, 0]], ['a'], { prior: prior(), shrinkThreshold: 0.5 })).toThrow(/Shrinkage/);
  });
});

describe('the demo support intents (use-lite): descriptions are the intent names as words', () => {
  let dir: string;
  let sentences: string[];
  let intents: string[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehead-zero-'));
    const lines = (await readFile(join(REPO, 'models', 'examples', 'support-intents.tsv'), 'utf8')).split('\n').filter((l) => l.trim());
    intents = lines.map((l) => l.split('\t')[0]);
    sentences = lines.map((l) => l.split('\t')[1]);
    await writeFile(join(dir, 'labels.tsv'), [...new Set(intents)].map((l) => `${l}\t${l.replace(/_/g, ' ')}`).join('\n'));
  });

  it('edgehead fit --labels with no data writes a zero-shot head; eval scores it far above chance (measured 0.677, chance 0.083)', async () => {
    const io = capture();
    const out = join(dir, 'zero.json');
    expect(await main(['fit', '--labels', join(dir, 'labels.tsv'), '-b', 'use-lite', '--out', out, '--json']), io.stderr()).toBe(0);
    const written = JSON.parse(io.stdout().trim().split('\n')[0]) as { zeroShot: boolean; labels: string[] };
    expect(written.zeroShot).toBe(true);
    expect(written.labels).toHaveLength(12);
    expect(parseHead(await readFile(out, 'utf8')).head.kind).toBe('centroid');
    expect(await main(['eval', out, join(REPO, 'models', 'examples', 'support-intents.tsv'), '--json'])).toBe(0);
    const r = JSON.parse(io.stdout().trim().split('\n').at(-1)!) as { accuracy: number; n: number };
    expect(r.n).toBe(96);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.6);
  }, 120_000);

  it('one example per intent: descriptions + the example beat the example alone on the other 84 sentences (measured 80.7 % vs 62.6 %)', async () => {
    const { backbone } = await loadBackbone('use-lite');
    try {
      const rows = await backbone.embed(sentences);
      const x: Matrix = { rows: rows.length, cols: backbone.dim, data: new Float32Array(rows.flatMap((r) => Array.from(r))) };
      const names = [...new Set(intents)].sort();
      const described = await backbone.embed(names.map((l) => l.replace(/_/g, ' ')));
      let alone = 0;
      let primed = 0;
      for (let seed = 0; seed < 5; seed++) {
        const pick = sampleFewShot(intents, 1, seed);
        const rest = intents.map((_, i) => i).filter((i) => !pick.includes(i));
        const test = selectRows(x, rest);
        const truth = rest.map((i) => intents[i]);
        const score = (h: CentroidHead) => h.predictLabels(test).filter((p, i) => p === truth[i]).length / truth.length;
        alone += score(CentroidHead.fit(selectRows(x, pick), pick.map((i) => intents[i])));
        primed += score(CentroidHead.fit(selectRows(x, pick), pick.map((i) => intents[i]), { prior: { embeddings: described, labels: names } }));
      }
      console.log(`demo intents, 1 example per intent: ${(100 * primed / 5).toFixed(1)} % with descriptions, ${(100 * alone / 5).toFixed(1)} % without`);
      expect(primed / 5).toBeGreaterThan(alone / 5 + 0.1);
    } finally {
      await backbone.dispose();
    }
  }, 120_000);

  it('clear errors: an image backbone, a label described twice, --head linear', async () => {
    const io = capture();
    expect(await main(['fit', '--labels', join(dir, 'labels.tsv'), '-b', 'mobilenetv2-int8', '--out', join(dir, 'x.json')])).toBe(2);
    expect(io.stderr()).toMatch(/needs a text backbone/);
    await writeFile(join(dir, 'twice.tsv'), 'a\tfirst\nb\tsecond\na\tagain\n');
    expect(await main(['fit', '--labels', join(dir, 'twice.tsv'), '-b', 'use-lite', '--out', join(dir, 'x.json')])).not.toBe(0);
    expect(io.stderr()).toMatch(/twice\.tsv:3: the label "a" is described twice/);
    expect(await main(['fit', join(REPO, 'models', 'examples', 'support-intents.tsv'), '--labels', join(dir, 'labels.tsv'), '--head', 'linear', '-b', 'use-lite', '--out', join(dir, 'x.json')])).toBe(2);
    expect(io.stderr()).toMatch(/--labels makes a centroid head/);
  }, 120_000);

  it('fit with data and --labels: a primed centroid head, cross-validated, whose file records the prior', async () => {
    const io = capture();
    const out = join(dir, 'primed.json');
    expect(await main(['fit', join(REPO, 'models', 'examples', 'support-intents.tsv'), '--labels', join(dir, 'labels.tsv'), '-b', 'use-lite', '--out', out, '--json'])).toBe(0);
    const file = JSON.parse(await readFile(out, 'utf8')) as { kind: string; training: { spec: { prior: { weight: number; descriptions: number } } } };
    expect(file.kind).toBe('centroid');
    expect(file.training.spec.prior).toEqual({ weight: 1, descriptions: 12 });
    expect(io.stdout()).toMatch(/"crossValidation"/);
  }, 120_000);
});
