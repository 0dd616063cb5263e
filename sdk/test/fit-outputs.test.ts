/**
 * `fit` never destroys data: outputs that point at an input, inside an input folder, at each
 * other or at a file that is not ours are refused before any work; bad flags too.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { capture, cifar } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

let dir: string;
let tsv: string;
let photos: string;
const TSV = 'billing\trefund my payment\nbilling\tI was charged twice\nlogin\treset my password\nlogin\tI cannot sign in\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgehead-outputs-'));
  tsv = join(dir, 'tickets.tsv');
  await writeFile(tsv, TSV);
  photos = join(dir, 'photos');
  for (const c of ['cat', 'ship']) {
    await mkdir(join(photos, c), { recursive: true });
    await copyFile(cifar('train', c, 0), join(photos, c, '0000.jpg'));
  }
});

/**
 * The backbone named is one that does not exist: a refusal that came after loading it would be
 * NOT_FOUND (exit 1), so exit 2 with the message shows the check ran before any work.
 */
async function refused(args: string[], message: RegExp): Promise<void> {
  const io = capture();
  expect(await main(['fit', ...args.map((a) => (a === 'use-lite' || a === 'mobilenetv2-int8' ? 'no-such-backbone' : a))])).toBe(2);
  expect(io.stderr()).toMatch(message);
  expect(io.stderr()).not.toMatch(/Unknown backbone/);
}

describe('fit outputs and flags', () => {
  it('refuses --out over the training file, and the file is untouched', async () => {
    await refused([tsv, '-b', 'use-lite', '--out', tsv], /--out .*tickets\.tsv is the training data itself/);
    expect(await readFile(tsv, 'utf8')).toBe(TSV);
  });

  it('refuses --out inside the data folder (it would replace or become a photo)', async () => {
    await refused([photos, '-b', 'mobilenetv2-int8', '--out', join(photos, 'cat', '0000.jpg')], /inside a class folder of/);
    expect((await readFile(join(photos, 'cat', '0000.jpg'))).equals(await readFile(cifar('train', 'cat', 0)))).toBe(true);
  });

  it('refuses --out and --report on one path, a folder as --out, a missing folder, and a foreign file without --force', async () => {
    const h = join(dir, 'h.json');
    await refused([tsv, '-b', 'use-lite', '--out', h, '--report', h], /--report and --out both point at/);
    await refused([tsv, '-b', 'use-lite', '--out', dir], /is a folder; give a file name/);
    await refused([tsv, '-b', 'use-lite', '--out', join(dir, 'nope', 'h.json')], /the folder .*nope does not exist/);
    const notes = join(dir, 'notes.json');
    await writeFile(notes, '{"my": "notes"}');
    await refused([tsv, '-b', 'use-lite', '--out', notes], /exists and is not an edgehead head file; refusing to overwrite it \(pass --force/);
    expect(await readFile(notes, 'utf8')).toBe('{"my": "notes"}');
  });

  it.each([
    [['--seed', 'abc'], /--seed must be an integer ≥ 0, not "abc"/],
    [['--folds', '1'], /--folds must be an integer ≥ 2/],
    [['--head', 'linear', '--class-weight', 'heavy'], /--class-weight takes "balanced", not "heavy"/],
    [['--head', 'linear', '--metric', 'cosine'], /--metric applies to knn and centroid heads/],
    [['--head', 'knn', '--k', '0'], /--k must be an integer ≥ 1/],
  ])('refuses %j before any work', async (flags, message) => {
    await refused([tsv, '-b', 'use-lite', '--out', join(dir, 'x.json'), ...flags], message);
  });

  it('overwrites its own head file, and leaves no temporary file behind', async () => {
    const out = join(dir, 'own.json');
    const io = capture();
    expect(await main(['fit', tsv, '-b', 'use-lite', '--head', 'centroid', '--out', out, '--json'])).toBe(0);
    expect(await main(['fit', tsv, '-b', 'use-lite', '--head', 'centroid', '--out', out, '--json'])).toBe(0);
    expect(io.stdout()).toContain('"head"');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});
