/**
 * `npm run bench:zeroshot`: text heads from label descriptions (CentroidHead with a LabelPrior),
 * from zero examples to ten per class, beside heads from examples only, on the same samples.
 *   TREC (6 question types, use-lite): hand-written one-line descriptions of each type; test: the
 *     20 % split of accuracy.bench.ts.
 *   BANKING77 (77 intents, use-lite): the intent names as words ("card_arrival" → "card arrival");
 *     pool: the first 20 queries per intent, test: the next 20.
 *   The demo's support intents (12 × 8, use-lite): the intent names as words; k examples per
 *     intent drawn from its 8, tested on the others.
 * Accuracy %, mean over seeds 0…4; embeddings cached in .cache/embeddings.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CentroidHead } from '../src/heads/centroid.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { loadBackbone } from '../src/node.js';
import { banking77, embedSet, trecSplit, type LabelledSet } from './datasets.js';

const SEEDS = Number(process.env.BENCH_SEEDS ?? 5);
const SHOTS = [1, 2, 5, 10];
const WEIGHTS = [1, 3, 10];

/** TREC's coarse classes as numbered in ../shared (0 DESC, 1 ENTY, 2 ABBR, 3 HUM, 4 LOC, 5 NUM). */
const TREC_DESCRIPTIONS: Record<string, string> = {
  '0': 'a question asking for a description, a definition, a manner or a reason: how, why, what is',
  '1': 'a question asking for a thing: an animal, a colour, a food, a product, a sport, an event, an invention',
  '2': 'a question asking what an abbreviation stands for, or the abbreviation of a name',
  '3': 'a question asking who: a person, a group of people, an organisation',
  '4': 'a question asking where: a city, a country, a mountain, a place or a location',
  '5': 'a question asking for a number: how many, how much, a date, a year, a distance, a price, a percentage',
};
const asWords = (label: string) => label.replace(/_/g, ' ');

interface Task {
  name: string;
  described: string;
  pool: Matrix;
  poolLabels: string[];
  /** Test rows; undefined: the pool rows not sampled (the demo). */
  test?: { x: Matrix; labels: string[] };
  descriptions: { x: Matrix; labels: string[] };
  maxShots: number;
}

async function embedTexts(texts: string[]): Promise<Matrix> {
  const { backbone } = await loadBackbone('use-lite');
  try {
    const rows = await backbone.embed(texts);
    const data = new Float32Array(rows.length * backbone.dim);
    rows.forEach((r, i) => data.set(r, i * backbone.dim));
    return { rows: rows.length, cols: backbone.dim, data };
  } finally {
    await backbone.dispose();
  }
}

async function tasks(): Promise<Task[]> {
  const { pool, test } = await trecSplit();
  const trecLabels = Object.keys(TREC_DESCRIPTIONS);
  const bank = await banking77(20);
  const bankLabels = [...new Set(bank.train.labels)].sort();
  const demoLines = (await readFile(join(import.meta.dirname, '..', '..', 'models', 'examples', 'support-intents.tsv'), 'utf8')).split('\n').filter((l) => l.trim());
  const demo: LabelledSet<string> = { name: 'support-intents', inputs: demoLines.map((l) => l.split('\t')[1]), labels: demoLines.map((l) => l.split('\t')[0]) };
  const demoLabels = [...new Set(demo.labels)].sort();
  return [
    {
      name: 'TREC (6 types)',
      described: 'one hand-written sentence per type',
      pool: await embedSet('use-lite', pool),
      poolLabels: pool.labels,
      test: { x: await embedSet('use-lite', test), labels: test.labels },
      descriptions: { x: await embedTexts(trecLabels.map((l) => TREC_DESCRIPTIONS[l])), labels: trecLabels },
      maxShots: 10,
    },
    {
      name: 'BANKING77 (77 intents)',
      described: 'the intent names as words',
      pool: await embedSet('use-lite', bank.train),
      poolLabels: bank.train.labels,
      test: { x: await embedSet('use-lite', bank.test), labels: bank.test.labels },
      descriptions: { x: await embedTexts(bankLabels.map(asWords)), labels: bankLabels },
      maxShots: 10,
    },
    {
      name: 'demo support intents (12)',
      described: 'the intent names as words',
      pool: await embedTexts(demo.inputs),
      poolLabels: demo.labels,
      descriptions: { x: await embedTexts(demoLabels.map(asWords)), labels: demoLabels },
      maxShots: 5,
    },
  ];
}

const accuracyOf = (head: CentroidHead, x: Matrix, labels: string[]) => head.predictLabels(x).filter((p, i) => p === labels[i]).length / labels.length;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => (100 * x).toFixed(1);

const rows: string[] = [];
for (const t of await tasks()) {
  const shots = SHOTS.filter((k) => k <= t.maxShots);
  const cells = new Map<string, string[]>();
  const cell = (method: string, value: string) => cells.set(method, [...(cells.get(method) ?? []), value]);
  // Zero examples: the descriptions alone.
  const zero = CentroidHead.fromDescriptions({ embeddings: t.descriptions.x, labels: t.descriptions.labels });
  const zeroAcc = t.test ? accuracyOf(zero, t.test.x, t.test.labels) : accuracyOf(zero, t.pool, t.poolLabels);
  cell('examples only', '—');
  for (const w of WEIGHTS) cell(`descriptions (weight ${w}) + examples`, pct(zeroAcc));
  for (const k of shots) {
    const only: number[] = [];
    const withPrior = new Map<number, number[]>();
    for (let seed = 0; seed < SEEDS; seed++) {
      const pick = sampleFewShot(t.poolLabels, k, seed);
      const x = selectRows(t.pool, pick);
      const y = pick.map((i) => t.poolLabels[i]);
      const held = new Set(pick);
      const rest = t.poolLabels.map((_, i) => i).filter((i) => !held.has(i));
      const test = t.test ?? { x: selectRows(t.pool, rest), labels: rest.map((i) => t.poolLabels[i]) };
      only.push(accuracyOf(CentroidHead.fit(x, y, { metric: 'cosine' }), test.x, test.labels));
      for (const w of WEIGHTS) {
        const head = CentroidHead.fit(x, y, { metric: 'cosine', prior: { embeddings: t.descriptions.x, labels: t.descriptions.labels, weight: w } });
        withPrior.set(w, [...(withPrior.get(w) ?? []), accuracyOf(head, test.x, test.labels)]);
      }
    }
    cell('examples only', pct(mean(only)));
    for (const w of WEIGHTS) cell(`descriptions (weight ${w}) + examples`, pct(mean(withPrior.get(w)!)));
  }
  rows.push(`\n### ${t.name} — descriptions: ${t.described}\n`);
  rows.push(`| head | 0 | ${shots.map((k) => `${k}`).join(' | ')} |`, `|---|---|${shots.map(() => '---').join('|')}|`);
  for (const [method, values] of cells) rows.push(`| ${method} | ${values.join(' | ')} |`);
}
console.log(`Accuracy % by examples per class (mean over ${SEEDS} seeds), centroid heads (cosine), use-lite embeddings.`);
console.log(rows.join('\n'));
