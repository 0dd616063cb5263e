import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseCsv } from '../src/cli/data.js';
import { parseHead } from '../src/heads/format.js';
import { capture, cifar, SHARED } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

let dir: string;
const CLASSES = ['automobile', 'frog', 'ship'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgehead-cli-'));
  // Class folders of symlinks into the shared data (read in place, never copied).
  for (const split of ['train', 'test'] as const) {
    for (const c of CLASSES) {
      await mkdir(join(dir, split, c), { recursive: true });
      for (let i = 0; i < 8; i++) await symlink(cifar(split, c, i), join(dir, split, c, `${i}.jpg`));
    }
  }
  await writeFile(join(dir, 'train', 'frog', 'notes.txt'), 'not an image');
  await writeFile(join(dir, 'train', 'ship', 'broken.jpg'), 'definitely not a jpeg');
  const sst = (await readFile(join(SHARED, 'data', 'sst2', 'train.txt'), 'utf8')).split('\n').slice(0, 60);
  await writeFile(join(dir, 'sst.tsv'), sst.map((l) => `${l[0] === '1' ? 'pos' : 'neg'}\t${l.slice(2)}`).join('\n'));
  await writeFile(join(dir, 'sst.csv'), `text,label\n${sst.slice(0, 20).map((l) => `"${l.slice(2).replace(/"/g, '""')}",${l[0] === '1' ? 'pos' : 'neg'}`).join('\n')}\n`);
});

describe('edgehead fit / eval / predict', () => {
  it('fits an image head from class folders, skipping unreadable files, and writes a valid head file', async () => {
    const io = capture();
    const out = join(dir, 'head.json');
    const code = await main(['fit', join(dir, 'train'), '--backbone', 'mobilenetv2-int8', '--head', 'linear', '--out', out, '--json']);
    expect(code, io.stderr()).toBe(0);
    const report = JSON.parse(io.stdout()) as { n: number; skipped: string[]; crossValidation: { folds: number; accuracy: number }; nPerClass: Record<string, number> };
    expect(report.n).toBe(24);
    expect(report.skipped).toEqual([join(dir, 'train', 'ship', 'broken.jpg')]);
    expect(report.nPerClass).toEqual({ automobile: 8, frog: 8, ship: 8 });
    expect(report.crossValidation.folds).toBe(5);
    const head = parseHead(await readFile(out, 'utf8'));
    expect(head.head.labels).toEqual(CLASSES);
    expect(head.backbone?.id).toBe('mobilenetv2-int8');
  });

  it('--strict fails on the unreadable file and writes nothing', async () => {
    const io = capture();
    const out = join(dir, 'strict.json');
    expect(await main(['fit', join(dir, 'train'), '-b', 'mobilenetv2-int8', '--out', out, '--strict'])).toBe(1);
    expect(io.stderr()).toMatch(/broken\.jpg/);
    await expect(readFile(out)).rejects.toThrow();
  });

  it('eval --json reports accuracy, macro-F1, per-class metrics and the confusion matrix', async () => {
    const io = capture();
    expect(await main(['eval', join(dir, 'head.json'), join(dir, 'test'), '--json'])).toBe(0);
    const r = JSON.parse(io.stdout()) as { accuracy: number; macroF1: number; n: number; unknown: number; confusion: number[][]; perClass: Record<string, { support: number }> };
    expect(r.n).toBe(24);
    // Inputs rejected as unknown have no predicted-label column.
    expect(r.confusion.flat().reduce((a, b) => a + b, 0) + r.unknown).toBe(24);
    expect(r.perClass.ship.support).toBe(8);
    // Cars, frogs and ships from 8 examples each: measured 0.875 (21/24) here.
    expect(r.accuracy).toBeGreaterThan(0.7);
  });

  it('eval rejects unknowns by default exactly as predict does, and reports accuracy without rejection too', async () => {
    const io = capture();
    // A threshold so tight that some test photos are surely rejected: the head's own gate, scaled down.
    const text = await readFile(join(dir, 'head.json'), 'utf8');
    const stored = JSON.parse(text) as { openSet: { threshold: number } };
    stored.openSet.threshold /= 2;
    const tight = join(dir, 'tight.json');
    await writeFile(tight, JSON.stringify(stored));
    expect(await main(['sign', tight])).toBe(0);
    expect(await main(['eval', tight, join(dir, 'test'), '--json'])).toBe(0);
    const files = CLASSES.flatMap((c) => Array.from({ length: 8 }, (_, i) => join(dir, 'test', c, `${i}.jpg`)));
    expect(await main(['predict', tight, ...files, '--json'])).toBe(0);
    const lines = io.stdout().trim().split('\n');
    const r = JSON.parse(lines[lines.length - 25]) as {
      accuracy: number;
      rejection: { on: boolean; rejected: number };
      withoutRejection: { accuracy: number };
    };
    const answers = lines.slice(-24).map((l) => JSON.parse(l) as { input: string; unknown: boolean; nearest: string });
    const predictedUnknown = answers.filter((a) => a.unknown).length;
    expect(predictedUnknown).toBeGreaterThan(0);
    expect(r.rejection.on).toBe(true);
    expect(r.rejection.rejected).toBe(predictedUnknown);
    // Accuracy as predict answers: an input counts only when predict gave its true label.
    const right = answers.filter((a) => !a.unknown && a.input.includes(`/${a.nearest}/`)).length;
    expect(r.accuracy).toBeCloseTo(right / 24, 10);
    expect(r.withoutRejection.accuracy).toBeCloseTo(answers.filter((a) => a.input.includes(`/${a.nearest}/`)).length / 24, 10);
    expect(await main(['eval', tight, join(dir, 'test'), '--json', '--no-reject'])).toBe(0);
    const off = JSON.parse(io.stdout().trim().split('\n').at(-1)!) as { accuracy: number; rejection: { on: boolean; rejected: number } };
    expect(off.rejection).toMatchObject({ on: false, rejected: 0 });
    expect(off.accuracy).toBe(r.withoutRejection.accuracy);
    // The text confusion matrix gives rejected inputs their own column: every row adds up to its 8 photos.
    const before = io.stdout().length;
    expect(await main(['eval', tight, join(dir, 'test')])).toBe(0);
    const rows = io.stdout().slice(before).split('\n').filter((l) => CLASSES.some((c) => l.startsWith(c.slice(0, 12).padEnd(12))) && /\|/.test(l));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.slice(12).replace('|', ' ').trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0)).toBe(8);
    expect(await main(['eval', tight, join(dir, 'test'), '--no-reject', '--reject-unknown'])).toBe(2);
    expect(io.stderr()).toMatch(/contradict/);
  });

  it('predict --json gives label, probability, top-k and the unknown flag', async () => {
    const io = capture();
    expect(await main(['predict', join(dir, 'head.json'), cifar('test', 'ship', 20), '--json', '--top-k', '2'])).toBe(0);
    const p = JSON.parse(io.stdout()) as { label: string | null; probability: number; topK: Array<{ label: string }>; unknown: boolean };
    expect(p.topK).toHaveLength(2);
    expect(typeof p.unknown).toBe('boolean');
    expect(p.probability).toBeGreaterThan(0);
  });

  it('text heads from TSV and CSV; a head refuses another backbone', async () => {
    const io = capture();
    const out = join(dir, 'text.json');
    expect(await main(['fit', join(dir, 'sst.tsv'), '-b', 'use-lite', '--head', 'centroid', '--out', out, '--json'])).toBe(0);
    expect(await main(['eval', out, join(dir, 'sst.csv'), '--json'])).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect((JSON.parse(lines[1]) as { n: number }).n).toBe(20);
    expect(await main(['predict', out, '--backbone', 'mobilenetv2-int8', cifar('test', 'cat', 0)])).toBe(1);
    expect(io.stderr()).toMatch(/BACKBONE_MISMATCH/);
  });

  it('refuses a modality mismatch and an empty class folder with a clear message', async () => {
    const io = capture();
    expect(await main(['fit', join(dir, 'sst.tsv'), '-b', 'mobilenetv2-int8', '--out', join(dir, 'x.json')])).toBe(1);
    expect(io.stderr()).toMatch(/holds text data but backbone "mobilenetv2-int8" embeds image/);
    await mkdir(join(dir, 'empty', 'a'), { recursive: true });
    await mkdir(join(dir, 'empty', 'b'), { recursive: true });
    await symlink(cifar('test', 'cat', 0), join(dir, 'empty', 'a', '0.jpg'));
    expect(await main(['fit', join(dir, 'empty'), '-b', 'mobilenetv2-int8', '--out', join(dir, 'x.json')])).toBe(1);
    expect(io.stderr()).toMatch(/"b" contain no image or WAV files/);
  });
});

describe('CSV parsing', () => {
  it('handles quotes, doubled quotes, commas and newlines inside fields', () => {
    expect(parseCsv('text,label\n"a, b",x\n"say ""hi""\nthere",y\r\nplain,z')).toEqual([
      ['text', 'label'],
      ['a, b', 'x'],
      ['say "hi"\nthere', 'y'],
      ['plain', 'z'],
    ]);
  });
});

describe('labels with odd characters', () => {
  it('survive fit, the head file, predict --json and the HTML report', async () => {
    const root = await mkdtemp(join(tmpdir(), 'edgehead-odd-'));
    const names = ['café «au» lait', '<b>bold & "quoted"', '🚢 ship'];
    const sources = ['cat', 'dog', 'ship'];
    for (let c = 0; c < 3; c++) {
      await mkdir(join(root, 'data', names[c]), { recursive: true });
      for (let i = 0; i < 4; i++) await symlink(cifar('train', sources[c], i), join(root, 'data', names[c], `${i}.jpg`));
    }
    const io = capture();
    const out = join(root, 'odd.json');
    expect(await main(['fit', join(root, 'data'), '-b', 'mobilenetv2-int8', '--head', 'centroid', '--out', out, '--report', join(root, 'r.html'), '--json'])).toBe(0);
    const head = parseHead(await readFile(out, 'utf8'));
    expect([...head.head.labels].sort()).toEqual([...names].sort());
    expect(await main(['predict', out, cifar('test', 'ship', 9), '--json'])).toBe(0);
    const lines = io.stdout().trim().split('\n');
    const p = JSON.parse(lines[lines.length - 1]) as { nearest: string };
    expect(names).toContain(p.nearest);
    const html = await readFile(join(root, 'r.html'), 'utf8');
    expect(html).toContain('&lt;b&gt;bold &amp; &quot;quoted&quot;');
    expect(html).not.toContain('<b>bold');
  });
});
