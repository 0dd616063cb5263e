import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyBert, wordRow } from '../../models/fixtures/tiny-bert.js';
import { OnnxTextBackbone } from '../src/backbone/onnx/text-backbone.js';
import { InvalidInputError } from '../src/core/errors.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest, type TextOnnxManifest } from '../src/manifest/manifest.js';

let manifest: TextOnnxManifest;
const open: OnnxTextBackbone[] = [];

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const meanRow = (ids: number[]) => {
  const m = ids.reduce((a, b) => a + b, 0) / ids.length;
  return [m, 1, -m, 0.5 * m];
};

beforeAll(async () => {
  const paths = await writeTinyBert(await mkdtemp(join(tmpdir(), 'edgehead-tiny-bert-')));
  manifest = parseManifest({
    id: 'tiny-bert',
    name: 'generated BERT-shaped encoder',
    modality: 'text',
    format: 'onnx',
    license: { name: 'generated' },
    files: {
      model: { sha256: sha(paths.model), sources: [{ file: paths.model }] },
      tokenizer: { sha256: sha(paths.tokenizer), sources: [{ file: paths.tokenizer }] },
    },
    input: { maxTokens: 16 },
    output: { tensor: 'last_hidden_state', pooling: 'mean', dim: 4 },
  }) as TextOnnxManifest;
});
afterAll(async () => {
  await Promise.all(open.map((b) => b.dispose()));
});

async function create(options: Parameters<typeof OnnxTextBackbone.create>[2] = {}, edit?: (m: TextOnnxManifest) => void) {
  const m = structuredClone(manifest);
  edit?.(m);
  const b = await OnnxTextBackbone.create(m, await loadModelFilesNode(m), { device: 'wasm', ...options });
  open.push(b);
  return b;
}

describe('ONNX text encoder: tokenizer.json → BERT inputs → masked pooling', () => {
  it('mean pooling over a padded batch ignores the padding (hand-computed)', async () => {
    const b = await create();
    const [long, short] = await b.embed(['The cats sat on the mat', 'a dog']);
    // [CLS] the cat ##s sat on the mat [SEP] = 2 4 5 10 6 7 4 8 3 ; [CLS] a dog [SEP] = 2 11 9 3
    expect(Array.from(long)).toEqual(meanRow([2, 4, 5, 10, 6, 7, 4, 8, 3]).map(Math.fround));
    expect(Array.from(short)).toEqual(meanRow([2, 11, 9, 3]).map(Math.fround));
  });

  it('CLS pooling takes the [CLS] row; unknown words map to [UNK]', async () => {
    const b = await create({ pooling: 'cls' });
    const [e] = await b.embed(['zebra']);
    expect(Array.from(e)).toEqual(wordRow(2));
    const mean = await create();
    const [unk] = await mean.embed(['zebra']);
    expect(Array.from(unk)).toEqual(meanRow([2, 1, 3]).map(Math.fround));
  });

  it('truncates long texts to maxTokens, keeps [SEP], and says so', async () => {
    const truncated: Array<[number, number]> = [];
    const b = await create({ onTruncate: (i, n) => truncated.push([i, n]) }, (m) => (m.input.maxTokens = 4));
    const [e] = await b.embed(['the cat sat on the mat']);
    expect(Array.from(e)).toEqual(meanRow([2, 4, 5, 3]).map(Math.fround));
    expect(truncated).toEqual([[0, 8]]);
  });

  it('normalize yields unit vectors; non-strings are refused', async () => {
    const b = await create({ normalize: true });
    const [e] = await b.embed(['a dog']);
    expect(Math.hypot(...e)).toBeCloseTo(1, 6);
    await expect(b.embed([42 as unknown as string])).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('the same model on onnxruntime-node gives the same numbers', async () => {
    const b = await create({ device: 'node' });
    const [e] = await b.embed(['a dog']);
    expect(b.device).toBe('node');
    expect(Array.from(e)).toEqual(meanRow([2, 11, 9, 3]).map(Math.fround));
  });
});
