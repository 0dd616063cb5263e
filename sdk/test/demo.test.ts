import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';

afterEach(() => vi.restoreAllMocks());

describe('edgehead demo (the README first command)', () => {
  it('fits by CV, serves the head locally and classifies new sentences over HTTP', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['demo'])).toBe(0);
    const text = lines.join('');
    const cv = /cross-validated accuracy (\d\.\d+)/.exec(text);
    expect(cv).not.toBeNull();
    // Measured 0.885 (4-fold CV, seed 0); 12 intents, so chance is 0.083.
    expect(Number(cv?.[1])).toBeGreaterThan(0.7);
    expect(text).toMatch(/pushed support-intents v1 \(alias prod/);
    // Human labels for the five new sentences, in order.
    const expected = ['track_order', 'reset_password', 'cancel_subscription', 'technical_problem', 'opening_hours'];
    const answers = [...text.matchAll(/→ (\S+)\s+p=\d\.\d+\s+\(answered by v1, same as local\)/g)].map((m) => m[1]);
    expect(answers).toHaveLength(5);
    expect(answers.filter((a, i) => a === expected[i]).length).toBeGreaterThanOrEqual(4);
  });
});
