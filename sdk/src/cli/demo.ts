/**
 * `edgehead demo`: the README's first command. Embeds a few sentences with USE-lite (shipped in
 * an npm package, so it runs offline) and shows that paraphrases land close together.
 */
import type { Backbone } from '../backbone/backbone.js';
import { cosineSimilarity } from '../core/vector.js';
import { loadBackbone } from '../node.js';
import { out } from './io.js';

const SENTENCES = [
  'How do I reset my password?',
  'I forgot my password and cannot log in.',
  'Where is my parcel? It has not arrived yet.',
  'My order still has not been delivered.',
  'Please cancel my subscription.',
];

export async function demoCommand(): Promise<number> {
  const started = performance.now();
  const { backbone, manifest } = await loadBackbone('use-lite');
  try {
    out(`edgehead demo — backbone ${manifest.id}: ${manifest.name}`);
    out(`licence: ${manifest.license.name}; runtime: ${backbone.device}; fingerprint ${backbone.fingerprint.slice(0, 23)}…`);
    const embeddings = await (backbone as Backbone<string>).embed(SENTENCES);
    out('');
    SENTENCES.forEach((s, i) => out(`[${i}] ${embeddings[i].length}-d  ${s}`));
    out('\ncosine similarity:');
    out(`     ${SENTENCES.map((_, j) => `[${j}]`.padStart(6)).join('')}`);
    embeddings.forEach((a, i) => out(`[${i}]  ${embeddings.map((b) => cosineSimilarity(a, b).toFixed(2).padStart(6)).join('')}`));
    const nearest = embeddings.map((a, i) => {
      let best = -1;
      embeddings.forEach((b, j) => {
        if (j !== i && (best < 0 || cosineSimilarity(a, b) > cosineSimilarity(a, embeddings[best]))) best = j;
      });
      return best;
    });
    out(`\nnearest neighbour of each sentence: ${nearest.map((j, i) => `${i}→${j}`).join(', ')}`);
    out(`done in ${((performance.now() - started) / 1000).toFixed(1)} s. Try: npx edgehead embed --backbone mobilenetv2-int8 photo.jpg --json`);
    return 0;
  } finally {
    await backbone.dispose();
  }
}
