/**
 * How many inputs a command line can name: folders and @lists for files, and the launcher's
 * relaunch past onnxruntime-node 1.30's crash on command lines over ~32 KB (SIGSEGV in
 * InferenceSession.create, reproduced with a bare session before the fix).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeTinyBert } from '../../models/fixtures/tiny-bert.js';
import { REPO, SHARED, cifar } from './helpers.js';

const run = promisify(execFile);
const BIN = join(REPO, 'sdk', 'bin', 'edgehead.js');
let env: NodeJS.ProcessEnv;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgehead-inputs-'));
  // The embedding cache goes to this test's folder, not the user's ~/.cache.
  env = { ...process.env, EDGEHEAD_SHARED_DIR: SHARED, EDGEHEAD_CACHE_DIR: join(dir, 'cache') };
});

const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: string; embedding: number[] });

describe('inputs on the command line', () => {
  it('5,000 sentences (≈ 80 KB of arguments) embed on onnxruntime-node instead of crashing it', async () => {
    const paths = await writeTinyBert(join(dir, 'tiny-bert'));
    const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
    const manifest = join(dir, 'tiny-bert.json');
    await writeFile(
      manifest,
      JSON.stringify({
        id: 'tiny-bert', name: 'generated BERT-shaped encoder', modality: 'text', format: 'onnx', license: { name: 'generated' },
        files: { model: { sha256: await sha(paths.model), sources: [{ file: paths.model }] }, tokenizer: { sha256: await sha(paths.tokenizer), sources: [{ file: paths.tokenizer }] } },
        input: { maxTokens: 16 }, output: { tensor: 'last_hidden_state', pooling: 'mean', dim: 4 },
      }),
    );
    const sentences = Array.from({ length: 5000 }, (_, i) => `hello world ${String(i).padStart(4, '0')}`);
    expect(sentences.join(' ').length).toBeGreaterThan(64 * 1024);
    const { stdout } = await run(process.execPath, [BIN, 'embed', '--backbone', manifest, '--device', 'node', '--json', ...sentences], { env, maxBuffer: 64 << 20 });
    const out = lines(stdout);
    expect(out.map((o) => o.input)).toEqual(sentences);
    expect(out.every((o) => o.embedding.length === 4 && o.embedding.every(Number.isFinite))).toBe(true);
  }, 120_000);

  it('a folder (walked recursively) and an @list name the same photos as the paths themselves, with the same embeddings', async () => {
    const photos = join(dir, 'photos');
    await mkdir(join(photos, 'nested'), { recursive: true });
    await copyFile(cifar('test', 'cat', 0), join(photos, 'a.jpg'));
    await copyFile(cifar('test', 'ship', 0), join(photos, 'nested', 'b.jpg'));
    await writeFile(join(photos, 'notes.txt'), 'not an image');
    const files = [join(photos, 'a.jpg'), join(photos, 'nested', 'b.jpg')];
    await writeFile(join(dir, 'list.txt'), `${files.join('\n')}\n`);
    const embed = async (...args: string[]) => lines((await run(process.execPath, [BIN, 'embed', '-b', 'mobilenetv2-int8', '--json', ...args], { env, maxBuffer: 64 << 20 })).stdout);
    const [byPath, byFolder, byList] = [await embed(...files), await embed(photos), await embed(`@${join(dir, 'list.txt')}`)];
    expect(byFolder.map((o) => o.input)).toEqual(files);
    expect(byList.map((o) => o.input)).toEqual(files);
    expect(byFolder.map((o) => o.embedding)).toEqual(byPath.map((o) => o.embedding));
    expect(byList.map((o) => o.embedding)).toEqual(byPath.map((o) => o.embedding));
  }, 120_000);

  it('10,000 photos from a folder: predict streams one answer per photo, in order; a repeated photo is embedded once per batch, then served from the cache', async () => {
    // 10,000 links to 5 photos: the streaming, ordering and per-input bookkeeping run at full
    // scale while the model embeds each distinct photo only in the first batch (cache by content).
    const many = join(dir, 'many');
    await mkdir(many);
    const sources = [0, 1, 2, 3, 4].map((i) => cifar('test', 'ship', i));
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => symlink(sources[i % 5], join(many, `${String(i).padStart(5, '0')}.jpg`))));
    await run(process.execPath, [BIN, 'fit', join(SHARED, 'data', 'cifar10', 'test'), '-b', 'mobilenetv2-int8', '--head', 'centroid', '--per-class', '3', '--no-cv', '--out', join(dir, 'head.json')], { env });
    const { stdout } = await run(process.execPath, [BIN, 'predict', join(dir, 'head.json'), many, '--json', '--no-reject'], { env, maxBuffer: 64 << 20 });
    const answers = stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: string; label: string });
    expect(answers).toHaveLength(10_000);
    expect(answers.map((a) => a.input)).toEqual(Array.from({ length: 10_000 }, (_, i) => join(many, `${String(i).padStart(5, '0')}.jpg`)));
    // Same photo, same answer, wherever it sits in the stream.
    const first = answers.slice(0, 5).map((a) => a.label);
    expect(answers.every((a, i) => a.label === first[i % 5])).toBe(true);
  }, 300_000);
});
