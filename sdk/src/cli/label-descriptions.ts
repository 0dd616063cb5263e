/**
 * `fit --labels labels.tsv`: label descriptions for zero-shot and description-primed text heads.
 * One line per label: `label<TAB>description[<TAB>another description…]`.
 */
import type { AnyBackbone } from '../backbone/create.js';
import { InvalidInputError } from '../core/errors.js';
import type { LabelPrior } from '../heads/centroid.js';
import { readInputFile } from '../inputs/read-file.js';
import { decodeTextFile } from './data.js';
import { embedItems } from './embed-items.js';

export interface LabelDescriptions {
  /** The label of each description, in file order. */
  labels: string[];
  texts: string[];
}

export async function readLabelDescriptions(path: string, encoding: 'utf8' | 'latin1' = 'utf8'): Promise<LabelDescriptions> {
  const text = decodeTextFile(await readInputFile(path), path, encoding);
  const out: LabelDescriptions = { labels: [], texts: [] };
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const [label, ...descriptions] = line.split('\t').map((f) => f.trim());
    const texts = descriptions.filter(Boolean);
    if (!label || texts.length === 0) {
      throw new InvalidInputError(`${path}:${i + 1}: expected "label<TAB>description" (more descriptions may follow, tab-separated); got "${line.slice(0, 80)}".`);
    }
    if (seen.has(label)) throw new InvalidInputError(`${path}:${i + 1}: the label "${label}" is described twice; put all its descriptions on one line, tab-separated.`);
    seen.add(label);
    for (const t of texts) {
      out.labels.push(label);
      out.texts.push(t);
    }
  });
  if (seen.size < 2) throw new InvalidInputError(`${path} describes ${seen.size} label(s); a classifier needs at least 2.`);
  return out;
}

/** The descriptions embedded by the head's own text backbone (through the embedding cache). */
export async function descriptionPrior(backbone: AnyBackbone, descriptions: LabelDescriptions, weight?: number, cache?: boolean): Promise<LabelPrior> {
  const embedded = await embedItems(backbone, 'text', descriptions.texts, { label: 'describing labels', cache, strict: true });
  return { embeddings: embedded.embeddings, labels: descriptions.labels, weight };
}
