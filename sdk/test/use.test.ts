import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UseBackbone } from '../src/backbone/tfjs/use-backbone.js';
import { cosineSimilarity } from '../src/core/vector.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import type { UseManifest } from '../src/manifest/manifest.js';
import { manifest, mean } from './helpers.js';

const PAIRS: Array<[string, string]> = [
  ['How do I reset my password?', 'I forgot my password, how can I change it?'],
  ['The cat is sleeping on the sofa.', 'A kitten naps on the couch.'],
  ['What time does the store open tomorrow?', 'When will the shop open tomorrow morning?'],
  ['The stock market fell sharply today.', 'Share prices dropped steeply this afternoon.'],
  ['I would like to cancel my order.', 'Please cancel the order I placed.'],
  ['It is raining heavily outside.', 'There is a downpour out there.'],
];

let backbone: UseBackbone;
const truncations: number[] = [];

beforeAll(async () => {
  const m = manifest('use-lite') as UseManifest;
  backbone = await UseBackbone.create(m, await loadModelFilesNode(m), { onTruncate: (_, n) => truncations.push(n) });
});
afterAll(() => backbone.dispose());

describe('Universal Sentence Encoder lite (TF.js WASM, npm weights)', () => {
  it('puts paraphrases much closer than unrelated sentences', async () => {
    const flat = PAIRS.flat();
    const e = await backbone.embed(flat);
    expect(e[0]).toHaveLength(512);
    const para = PAIRS.map((_, i) => cosineSimilarity(e[2 * i], e[2 * i + 1]));
    const unrelated: number[] = [];
    for (let i = 0; i < PAIRS.length; i++)
      for (let j = 0; j < PAIRS.length; j++) if (i !== j) unrelated.push(cosineSimilarity(e[2 * i], e[2 * j + 1]));
    // Measured here: paraphrases 0.61–0.92 (mean 0.79), unrelated mean 0.16 (max 0.38).
    expect(mean(para) - mean(unrelated)).toBeGreaterThan(0.35);
    // And every sentence's paraphrase beats all of the unrelated sentences.
    PAIRS.forEach((_, i) => {
      const others = PAIRS.map((__, j) => (j === i ? -1 : cosineSimilarity(e[2 * i], e[2 * j + 1])));
      expect(para[i]).toBeGreaterThan(Math.max(...others));
    });
  });

  it('embeds the same sentence identically alone and inside a batch', async () => {
    const [alone] = await backbone.embed([PAIRS[2][0]]);
    const batch = await backbone.embed([PAIRS[0][0], PAIRS[2][0], 'x']);
    expect(cosineSimilarity(alone, batch[1])).toBeGreaterThan(0.99999);
  });

  it('truncates a text longer than the model maximum and reports it', async () => {
    const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
    const [e] = await backbone.embed([long]);
    expect(e).toHaveLength(512);
    expect(truncations.length).toBe(1);
    expect(truncations[0]).toBeGreaterThan(512);
  });
});
