/**
 * What a script or a person at a terminal expects of each command: `--help` prints that
 * command's usage and does nothing else; with `--json`, failures are one JSON object on stdout.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { capture, cifar } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('CLI manners', () => {
  it.each([
    ['embed', /^edgehead embed --backbone/],
    ['fit', /^edgehead fit <data>/],
    ['eval', /^edgehead eval head\.json/],
    ['predict', /^edgehead predict head\.json/],
    ['models', /^edgehead models list/],
    ['serve', /edgehead serve/],
    ['push', /edgehead push head\.json/],
    ['classify', /edgehead classify --remote/],
    ['demo', /^edgehead demo/],
  ])('%s --help prints its usage, exits 0 and runs nothing', async (command, usage) => {
    const io = capture();
    // Required arguments missing on purpose: --help must win before any checking or work.
    expect(await main([command, '--help'])).toBe(0);
    expect(io.stdout()).toMatch(usage);
    // Nothing ran: no step of the demo ("1. embed with …"), no model loaded (its line goes to stderr).
    expect(io.stdout()).not.toMatch(/^\s*\d\. /m);
    expect(io.stderr()).toBe('');
  });

  it('with --json, a failure is one {"error":{code,message}} object on stdout and a non-zero exit', async () => {
    const io = capture();
    expect(await main(['embed', '-b', 'no-such-backbone', '--json', 'x.jpg'])).toBe(1);
    expect(JSON.parse(io.stdout())).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('Unknown backbone "no-such-backbone"') } });
    const usage = capture();
    expect(await main(['embed', '--json', '--bogus'])).toBe(2);
    expect((JSON.parse(usage.stdout()) as { error: { code: string } }).error.code).toBe('USAGE');
  });

  it('an edge API error is its code and message, not an "unexpected error" with a stack trace', async () => {
    // A stand-in server answering as the worker does when a head is missing.
    const server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No head "pets".' } })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const io = capture();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await main(['classify', '--remote', 'pets', '-b', 'mobilenetv2-int8', '--url', url, '--key', 'k', '--json', cifar('test', 'cat', 0)])).toBe(1);
      expect((JSON.parse(io.stdout().trim().split('\n').pop()!) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
      expect(io.stderr()).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      server.close();
    }
  });
});

describe('inputs stream through predict and embed', () => {
  it('one truncated JPEG among good ones: the good ones are answered, the bad one is named, exit 1', async () => {
    const { mkdtemp, readFile, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-stream-'));
    const bad = join(dir, 'truncated.jpg');
    await writeFile(bad, (await readFile(cifar('test', 'dog', 3))).subarray(0, 300));
    const good = [cifar('test', 'cat', 0), cifar('test', 'ship', 1)];
    const io = capture();
    expect(await main(['embed', '-b', 'mobilenetv2-int8', '--json', good[0], bad, good[1]])).toBe(1);
    const lines = io.stdout().trim().split('\n').map((l) => JSON.parse(l) as { input: string; dim?: number; error?: { code: string } });
    expect(lines.find((l) => l.input === bad)?.error?.code).toBe('UNREADABLE_INPUT');
    expect(lines.filter((l) => l.dim === 1280).map((l) => l.input)).toEqual(good);
  });

  it('numeric and enum flags are checked before any work, naming the flag and what it accepts', async () => {
    const io = capture();
    expect(await main(['embed', '-b', 'mobilenetv2-int8', '--threads', 'abc', cifar('test', 'cat', 0)])).toBe(2);
    expect(io.stderr()).toMatch(/--threads must be an integer ≥ 1 and ≤ 64, not "abc"/);
    expect(await main(['embed', '-b', 'mobilenetv2-int8', '--device', 'gpu', cifar('test', 'cat', 0)])).toBe(2);
    expect(io.stderr()).toMatch(/--device must be auto, node, wasm or webgpu, not "gpu"/);
    expect(await main(['predict', 'no-such-head.json', '--top-k', '0', 'x.jpg'])).toBe(2);
    expect(io.stderr()).toMatch(/--top-k must be an integer ≥ 1/);
  });
});

describe('inputs that do not fit the command', () => {
  it('a photo given to a text backbone is refused instead of embedding its path as a sentence', async () => {
    const io = capture();
    expect(await main(['embed', '-b', 'use-lite', cifar('test', 'cat', 0)])).toBe(1);
    expect(io.stderr()).toMatch(/is a file, but this backbone embeds text\. Use an image backbone/);
  });

  it('fit refuses when every file of a class is unreadable, instead of dropping the class', async () => {
    const { mkdir, mkdtemp, copyFile, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-lost-'));
    await mkdir(join(dir, 'data', 'cat'), { recursive: true });
    await mkdir(join(dir, 'data', 'ship'), { recursive: true });
    await copyFile(cifar('train', 'cat', 0), join(dir, 'data', 'cat', 'a.jpg'));
    await copyFile(cifar('train', 'cat', 1), join(dir, 'data', 'cat', 'b.jpg'));
    await writeFile(join(dir, 'data', 'ship', 'broken.jpg'), 'not a jpeg');
    const io = capture();
    expect(await main(['fit', join(dir, 'data'), '-b', 'mobilenetv2-int8', '--out', join(dir, 'h.json'), '--no-cache'])).toBe(1);
    expect(io.stderr()).toMatch(/Every example of class\(es\) ship was unreadable/);
  });
});
