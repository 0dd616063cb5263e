/**
 * Text → token ids through @huggingface/tokenizers (a maintained pure-JS port of Hugging Face
 * tokenizers: WordPiece, BPE, Unigram), plus the truncation and padding that library leaves to us.
 * @module
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidInputError } from '../../core/errors.js';

export interface TokenizedBatch {
  /** Row-major `[batch, length]`. */
  inputIds: number[];
  attentionMask: number[];
  tokenTypeIds: number[];
  batch: number;
  length: number;
  /** Indices of inputs that were longer than maxTokens and cut. */
  truncated: number[];
}

export interface TextTokenizer {
  /**
   * Token ids of `text`. With `maxTokens`, a long text is first cut to a character budget
   * (clipText), so a 1 MB line costs what a short one does instead of overflowing the stack.
   */
  encode(text: string, maxTokens?: number): number[];
}

/** Characters kept per allowed token before tokenizing: far more than any real token spans. */
export const CHARS_PER_TOKEN_BUDGET = 64;

/**
 * Cuts `text` to max(4096, maxTokens × CHARS_PER_TOKEN_BUDGET) characters, at a space when one is
 * near the end, so tokenizing stays bounded; the tokens kept after truncation are unchanged
 * unless the average token would span more than the budget (e.g. one endless URL).
 */
export function clipText(text: string, maxTokens: number): string {
  const budget = Math.max(4096, maxTokens * CHARS_PER_TOKEN_BUDGET);
  if (text.length <= budget) return text;
  const space = text.lastIndexOf(' ', budget);
  // Never split a UTF-16 surrogate pair.
  let end = space > budget * 0.9 ? space : budget;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end);
}

/** Wraps a parsed tokenizer.json (and optional tokenizer_config.json). */
export function createHfTokenizer(tokenizerJson: unknown, config: Record<string, unknown> = {}): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson as object, config);
  } catch (cause) {
    throw new InvalidInputError(`tokenizer.json could not be loaded: ${(cause as Error).message}. Use a tokenizer.json saved by Hugging Face tokenizers.`, { cause });
  }
  return { encode: (text, maxTokens) => tok.encode(maxTokens === undefined ? text : clipText(text, maxTokens)).ids };
}

/** The SentencePiece Unigram tokenizer of Universal Sentence Encoder lite, from its vocab.json. */
export function createUseTokenizer(vocab: Array<[string, number]>): TextTokenizer {
  return createHfTokenizer({
    normalizer: { type: 'NFKC' },
    // USE replaces spaces with ▁ and prefixes one, without splitting into words.
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always' },
    model: { type: 'Unigram', unk_id: 0, vocab },
    post_processor: null,
    decoder: null,
    added_tokens: [],
  });
}

export function checkTexts(texts: readonly unknown[]): asserts texts is string[] {
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new InvalidInputError(`Text input #${i} is ${typeof t}, not a string.`);
  });
}

/**
 * Truncates each sequence to `maxTokens` (keeping the final special token when the tokenizer
 * added one) and right-pads the batch to its longest row.
 */
export function padBatch(sequences: number[][], maxTokens: number, padId = 0, endId?: number): TokenizedBatch {
  const truncated: number[] = [];
  const rows = sequences.map((ids, i) => {
    if (ids.length <= maxTokens) return ids;
    truncated.push(i);
    const cut = ids.slice(0, maxTokens);
    if (endId !== undefined && ids[ids.length - 1] === endId) cut[maxTokens - 1] = endId;
    return cut;
  });
  const length = Math.max(1, ...rows.map((r) => r.length));
  const inputIds: number[] = [];
  const attentionMask: number[] = [];
  for (const r of rows) {
    for (let j = 0; j < length; j++) {
      inputIds.push(j < r.length ? r[j] : padId);
      attentionMask.push(j < r.length ? 1 : 0);
    }
  }
  return { inputIds, attentionMask, tokenTypeIds: new Array(inputIds.length).fill(0), batch: rows.length, length, truncated };
}
