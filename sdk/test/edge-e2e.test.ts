/**
 * End to end: fit heads with the SDK on real MobileNetV2 embeddings of CIFAR-10, push them to
 * the worker running under `wrangler dev` on 127.0.0.1, classify remotely, and compare with
 * local predictions: identical labels, probabilities within 1e-6.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EdgeApiError, EdgeClient } from '../src/client/edge-client.js';
import { bootstrapTenant, startLocalWorker, type LocalWorker } from '../src/cli/local-worker.js';
import { main } from '../src/cli/main.js';
import { headToJson } from '../src/heads/format.js';
import { KnnHead } from '../src/heads/knn.js';
import { LinearHead } from '../src/heads/linear.js';
import { fixture } from './heads-fixtures.js';
import { cifar } from './helpers.js';

let worker: LocalWorker;
let keys: { writeKey: string; readKey: string };
const data = fixture('cifar10-mobilenetv2');
const backbone = { id: 'mobilenetv2-int8', fingerprint: data.fingerprint };
const rows = Array.from({ length: data.test.rows }, (_, i) => data.test.data.subarray(i * data.test.cols, (i + 1) * data.test.cols));

beforeAll(async () => {
  worker = await startLocalWorker();
  keys = await bootstrapTenant(worker.url, worker.adminToken, 'e2e');
}, 120_000);
afterAll(async () => {
  await worker?.stop();
});
afterEach(() => vi.restoreAllMocks());

describe('SDK → worker (wrangler dev) → SDK', () => {
  it.each(['linear', 'knn'] as const)('%s head: remote predictions equal local ones', async (kind) => {
    const head = kind === 'linear' ? LinearHead.fit(data.train, data.train.labels, { C: 1 }) : KnnHead.fit(data.train, data.train.labels, { k: 5, weights: 'distance' });
    const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey });
    const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
    const pushed = await writer.upload(`cifar-${kind}`, headToJson(head, { backbone }), { alias: 'prod' });
    expect(pushed).toMatchObject({ version: 1, dim: 1280, alias: 'prod' });
    const remote = await reader.classify(`cifar-${kind}@prod`, rows, { fingerprint: data.fingerprint, topK: 10 });
    const local = head.predict(data.test, { topK: 10 });
    expect(remote.version).toBe(1);
    expect(remote.predictions.map((p) => p.label)).toEqual(local.map((p) => p.label));
    remote.predictions.forEach((p, i) =>
      p.topK.forEach((t, j) => {
        expect(t.label).toBe(local[i].topK[j].label);
        expect(Math.abs(t.probability - local[i].topK[j].probability)).toBeLessThanOrEqual(1e-6);
      }),
    );
    // JSON numbers instead of base64: same answer.
    const viaJson = await reader.classify(`cifar-${kind}@prod`, rows.slice(0, 5), { binary: false, topK: 10 });
    expect(viaJson.predictions).toEqual(remote.predictions.slice(0, 5));
  });

  it('a fingerprint from another backbone is refused with 409 naming both', async () => {
    const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
    const err = await reader.classify('cifar-linear', rows.slice(0, 1), { fingerprint: 'sha256:someone-else' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeApiError);
    expect((err as EdgeApiError).status).toBe(409);
    expect((err as EdgeApiError).message).toContain(data.fingerprint);
  });

  it('CLI: push a head file and classify an image remotely', async () => {
    const stdout: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(await mkdtemp(join(tmpdir(), 'edgehead-push-')), 'head.json');
    const head = LinearHead.fit(data.train, data.train.labels, { C: 1 });
    await writeFile(path, headToJson(head, { backbone }));
    expect(await main(['push', path, '--name', 'cli-head', '--alias', 'prod', '--url', worker.url, '--key', keys.writeKey, '--json'])).toBe(0);
    expect(JSON.parse(stdout.pop() as string)).toMatchObject({ name: 'cli-head', version: 1 });
    const image = cifar('test', 'ship', 3);
    expect(await main(['classify', '--remote', 'cli-head@prod', '-b', 'mobilenetv2-int8', '--url', worker.url, '--key', keys.readKey, '--json', image])).toBe(0);
    const remote = JSON.parse(stdout.pop() as string) as { label: string | null; nearest: string; version: number };
    expect(remote.version).toBe(1);
    // The same image through the SDK locally.
    const { loadBackbone, readImageFile } = await import('../src/node.js');
    const { backbone: mobilenet } = await loadBackbone('mobilenetv2-int8');
    const [embedding] = await (mobilenet as import('../src/backbone/backbone.js').Backbone<import('../src/inputs/image/image.js').DecodedImage>).embed([await readImageFile(image)]);
    await mobilenet.dispose();
    expect(remote.nearest).toBe(head.predict([embedding])[0].nearest);
  });
});
