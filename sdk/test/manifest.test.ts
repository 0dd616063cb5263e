import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, InvalidManifestError, NotFoundError } from '../src/core/errors.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import { parseManifest, type Manifest } from '../src/manifest/manifest.js';
import { REPO } from './helpers.js';

const payload = new TextEncoder().encode('pretend model bytes');
const payloadSha = createHash('sha256').update(payload).digest('hex');
let server: Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/model.bin') res.end(payload);
    else if (req.url === '/tampered.bin') res.end('something else');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function urlManifest(path: string): Manifest {
  return parseManifest({
    id: 'remote-test',
    name: 'served from loopback',
    modality: 'image',
    format: 'onnx',
    license: { name: 'test' },
    files: { model: { sha256: payloadSha, sources: [{ url: `${base}${path}` }] } },
    input: {
      name: 'input',
      image: { width: 2, height: 2, resize: 'area', channelOrder: 'RGB', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], layout: 'NCHW' },
    },
    output: { tensor: 'out', pooling: 'none', dim: 2 },
  });
}

describe('manifests in models/', () => {
  it('every manifest parses, names a licence and hashes each file', async () => {
    const dir = join(REPO, 'models', 'manifests');
    const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
    expect(names.length).toBeGreaterThanOrEqual(5);
    for (const n of names) {
      const m = parseManifest(JSON.parse(await readFile(join(dir, n), 'utf8')));
      expect(`${m.id}.json`).toBe(n);
      expect(m.license.name.length).toBeGreaterThan(0);
    }
  });

  it('bad manifests say which field to fix', () => {
    expect(() => parseManifest({ id: 'x', name: 'x', license: { name: 'x' }, files: {} })).toThrow(/files/);
    const bad = JSON.parse(JSON.stringify(urlManifest('/model.bin'))) as Record<string, any>;
    bad.input.image.layout = 'CHW';
    expect(() => parseManifest(bad)).toThrow(InvalidManifestError);
    expect(() => parseManifest(bad)).toThrow(/layout/);
  });
});

describe('model file loading', () => {
  it('downloads by URL, verifies, caches on disk, and serves the cache next time', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    hits = 0;
    const first = await loadModelFilesNode(urlManifest('/model.bin'), { cacheDir });
    expect(new TextDecoder().decode(first.model)).toBe('pretend model bytes');
    expect(await readdir(cacheDir)).toEqual([payloadSha]);
    const second = await loadModelFilesNode(urlManifest('/model.bin'), { cacheDir });
    expect(second.model).toEqual(first.model);
    expect(hits).toBe(1);
  });

  it('a download whose sha256 does not match is refused and not cached', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'edgehead-cache-'));
    await expect(loadModelFilesNode(urlManifest('/tampered.bin'), { cacheDir })).rejects.toBeInstanceOf(IntegrityError);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('a local override path is used instead (offline), and is verified too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-override-'));
    await writeFile(join(dir, 'good.bin'), payload);
    await writeFile(join(dir, 'bad.bin'), 'nope');
    const m = urlManifest('/missing.bin');
    const files = await loadModelFilesNode(m, { overrides: { model: join(dir, 'good.bin') }, download: false });
    expect(files.model).toEqual(payload);
    await expect(loadModelFilesNode(m, { overrides: { model: join(dir, 'bad.bin') } })).rejects.toThrow(/Integrity check failed/);
  });

  it('with downloads disabled and nothing local, says what was tried', async () => {
    const err = await loadModelFilesNode(urlManifest('/model.bin'), { cacheDir: await mkdtemp(join(tmpdir(), 'c-')), download: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/downloads disabled/);
  });
});
