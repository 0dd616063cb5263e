/**
 * Labelled text files as they come: Latin-1 and UTF-16 files, header lines, other column names,
 * stray JSON values. Never a U+FFFD in a label, never a header as a class, never a stack trace.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/core/errors.js';
import { readLabelledData } from '../src/cli/data.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgehead-textdata-'));
});

async function file(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

const latin1 = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));

describe('labelled text files', () => {
  it('Latin-1 bytes are an error naming the line, or read exactly with encoding latin1', async () => {
    const path = await file('latin1.tsv', latin1('café\tun petit noir\nthé\tune tasse de thé vert\n'));
    await expect(readLabelledData(path)).rejects.toThrow(/latin1\.tsv:1: not valid UTF-8.*--encoding latin1/);
    const data = await readLabelledData(path, { encoding: 'latin1' });
    expect(data.labels).toEqual(['café', 'thé']);
    expect(data.items[1]).toBe('une tasse de thé vert');
  });

  it('UTF-16 with a BOM (LE and BE) and UTF-8 with a BOM read as the same labels', async () => {
    const text = 'café\tun petit noir\nthé\tune tasse\n';
    const le = Uint8Array.from([0xff, 0xfe, ...new Uint8Array(Uint16Array.from([...text].map((c) => c.charCodeAt(0))).buffer)]);
    const be = Uint8Array.from([0xfe, 0xff, ...[...text].flatMap((c) => [c.charCodeAt(0) >> 8, c.charCodeAt(0) & 0xff])]);
    const utf8 = Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
    for (const [name, bytes] of [['le.tsv', le], ['be.tsv', be], ['bom.tsv', utf8]] as const) {
      const data = await readLabelledData(await file(name, bytes));
      expect(data.labels, name).toEqual(['café', 'thé']);
      expect(data.labels.join('')).not.toMatch(/\u0000|\uFFFD/);
    }
  });

  it('a header line of a label<TAB>text file is skipped with a note, not read as a class', async () => {
    const notes: string[] = [];
    const data = await readLabelledData(await file('sms.tsv', 'Label\tSMS\nham\thi there\nspam\twin a prize now\nham\tsee you\n'), { onNote: (n) => notes.push(n) });
    expect(data.labels).toEqual(['ham', 'spam', 'ham']);
    expect(notes[0]).toMatch(/sms\.tsv:1: "Label\tSMS" looks like a header line/);
    // A class that happens to be called "label" with several examples is data, not a header.
    const real = await readLabelledData(await file('real.tsv', 'label\tone\nlabel\ttwo\nother\tthree\n'));
    expect(real.labels).toEqual(['label', 'label', 'other']);
  });

  it('CSV and JSONL with other column names: a clear error naming the columns, then --text-column/--label-column', async () => {
    const csv = await file('banking.csv', 'text,category\nmy card is lost,lost_card\nwhere is my refund,refund\n');
    await expect(readLabelledData(csv)).rejects.toThrow(/no "label" column \(columns: text, category\)\. Name the columns with --text-column <name> and --label-column <name>/);
    expect((await readLabelledData(csv, { labelColumn: 'category' })).labels).toEqual(['lost_card', 'refund']);
    const jsonl = await file('news.jsonl', '{"title":"Stocks rally","topic":"business"}\n{"title":"Cup final","topic":"sport"}\n');
    expect((await readLabelledData(jsonl, { textColumn: 'title', labelColumn: 'topic' })).items).toEqual(['Stocks rally', 'Cup final']);
  });

  it('a JSONL line that is null, a number or an array is an error naming the line', async () => {
    for (const [line, what] of [['null', 'null'], ['42', 'number'], ['[1,2]', 'an array']]) {
      const path = await file(`bad-${what.replace(' ', '')}.jsonl`, `{"text":"ok","label":"a"}\n${line}\n`);
      const error = await readLabelledData(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).toMatch(new RegExp(`:2: expected a JSON object .*got ${what}`));
    }
  });
});
