/**
 * End to end: fit heads with the SDK on real MobileNetV2 embeddings of CIFAR-10, push them to
 * the worker running under `wrangler dev` on 127.0.0.1, classify remotely, and compare with
 * local predictions: identical labels, probabilities within 1e-6. Each test uploads the heads
 * it uses (under a fresh name), and every call rides out a restart of the dev runtime (bounded
 * retries on dropped connections and proxy 503s only, each logged), so the file passes on a busy
 * machine while other processes rebuild sdk/dist under wrangler's watcher.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EdgeApiError, EdgeClient } from '../src/client/edge-client.js';
import { bootstrapTenant, restartTolerantFetch, startLocalWorker, type LocalWorker } from '../src/cli/local-worker.js';
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
/** A head name no other test (nor an earlier run against a kept state folder) uses. */
const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

const realFetch = globalThis.fetch;
/** A page on another origin allowed to call this deployment (CORS_ORIGINS). */
const PAGE_ORIGIN = 'http://page.example:5173';

beforeAll(async () => {
  // A busy machine starts wrangler dev slowly: a generous start timeout, not a flaky one.
  worker = await startLocalWorker({ startTimeoutMs: 180_000, vars: { CORS_ORIGINS: PAGE_ORIGIN } });
  // From here every call in this file (EdgeClient, the CLI, the admin bootstrap) rides out a
  // dev-runtime restart. Not before: startLocalWorker polls a port that is not listening yet.
  globalThis.fetch = restartTolerantFetch(realFetch);
  keys = await bootstrapTenant(worker.url, worker.adminToken, 'e2e');
}, 240_000);
afterAll(async () => {
  globalThis.fetch = realFetch;
  await worker?.stop();
});
afterEach(() => vi.restoreAllMocks());

describe('restartTolerantFetch: a dev-runtime restart is retried, an application error is not', () => {
  const socketError = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });

  it('retries a dropped connection and a proxy 503, logging why, then answers', async () => {
    const answers: Array<() => Response> = [
      () => {
        throw socketError();
      },
      () => new Response('Service Unavailable', { status: 503 }),
      () => Response.json({ ok: true }),
    ];
    const logged: string[] = [];
    const f = restartTolerantFetch(async () => (answers.shift() as () => Response)(), { log: (l) => logged.push(l) });
    expect(await (await f('http://x/v1/health')).json()).toEqual({ ok: true });
    expect(logged).toHaveLength(2);
    expect(logged[0]).toContain('UND_ERR_SOCKET');
    expect(logged[1]).toContain('HTTP 503 without an app error body');
  });

  it('never retries an app error (even a 503 with a JSON error body) and gives up after the bound', async () => {
    let calls = 0;
    const appError = restartTolerantFetch(async () => (calls++, Response.json({ error: { code: 'NOT_MIGRATED', message: 'm' } }, { status: 503 })), { log: () => undefined });
    expect((await appError('http://x/')).status).toBe(503);
    expect(calls).toBe(1);
    calls = 0;
    const down = restartTolerantFetch(async () => (calls++, Promise.reject(socketError())), { attempts: 3, log: () => undefined });
    await expect(down('http://x/')).rejects.toThrow('fetch failed');
    expect(calls).toBe(3);
  });
});

describe('EdgeClient under back-pressure', () => {
  const refusal = (status: number, retryAfter?: string) =>
    Response.json({ error: { code: status === 429 ? 'RATE_LIMITED' : 'OVERLOADED', message: 'busy' } }, { status, headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter } });

  it('waits as Retry-After says and sends again (429, 503 OVERLOADED), up to `retries` times', async () => {
    const answers = [refusal(503, '0'), refusal(429, '0'), Response.json({ head: 'h', version: 1, predictions: [] })];
    let calls = 0;
    const client = new EdgeClient({ baseUrl: 'http://x', apiKey: 'k', fetch: async () => (calls++, answers.shift() as Response) });
    expect(await client.classify('h', [[1, 2]])).toMatchObject({ version: 1 });
    expect(calls).toBe(3);
    const stubborn = new EdgeClient({ baseUrl: 'http://x', apiKey: 'k', retries: 1, fetch: async () => refusal(503, '0') });
    await expect(stubborn.classify('h', [[1, 2]])).rejects.toMatchObject({ status: 503, code: 'OVERLOADED' });
  });

  it('does not retry a 503 without Retry-After, nor one asking for longer than maxRetryWaitMs', async () => {
    let calls = 0;
    const plain = new EdgeClient({ baseUrl: 'http://x', apiKey: 'k', fetch: async () => (calls++, refusal(503)) });
    await expect(plain.list()).rejects.toMatchObject({ status: 503 });
    expect(calls).toBe(1);
    calls = 0;
    const long = new EdgeClient({ baseUrl: 'http://x', apiKey: 'k', fetch: async () => (calls++, refusal(429, '60')) });
    await expect(long.list()).rejects.toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(calls).toBe(1);
  });
});

describe('SDK → worker (wrangler dev) → SDK', () => {
  it.each(['linear', 'knn'] as const)('%s head: remote predictions equal local ones', async (kind) => {
    const head = kind === 'linear' ? LinearHead.fit(data.train, data.train.labels, { C: 1 }) : KnnHead.fit(data.train, data.train.labels, { k: 5, weights: 'distance' });
    const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey });
    const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
    const name = fresh(`cifar-${kind}`);
    const pushed = await writer.upload(name, headToJson(head, { backbone }), { alias: 'prod' });
    expect(pushed).toMatchObject({ dim: 1280, alias: 'prod' });
    const remote = await reader.classify(`${name}@prod`, rows, { fingerprint: data.fingerprint, topK: 10 });
    const local = head.predict(data.test, { topK: 10 });
    expect(remote.version).toBe(pushed.version);
    expect(remote.predictions.map((p) => p.label)).toEqual(local.map((p) => p.label));
    remote.predictions.forEach((p, i) =>
      p.topK.forEach((t, j) => {
        expect(t.label).toBe(local[i].topK[j].label);
        expect(Math.abs(t.probability - local[i].topK[j].probability)).toBeLessThanOrEqual(1e-6);
      }),
    );
    // JSON numbers instead of base64: same answer.
    const viaJson = await reader.classify(`${name}@prod`, rows.slice(0, 5), { binary: false, topK: 10 });
    expect(viaJson.predictions).toEqual(remote.predictions.slice(0, 5));
  });

  it('a fingerprint from another backbone is refused with 409 naming both', async () => {
    // Its own head: this test does not depend on another test's upload.
    const name = fresh('fingerprint');
    const head = LinearHead.fit(data.train, data.train.labels, { C: 1 });
    await new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey }).upload(name, headToJson(head, { backbone }));
    const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
    const err = await reader.classify(name, rows.slice(0, 1), { fingerprint: 'sha256:someone-else' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeApiError);
    expect((err as EdgeApiError).status).toBe(409);
    expect((err as EdgeApiError).message).toContain(data.fingerprint);
  });

  it('a page on an allowed origin can call the API (CORS preflight, then the answer is readable)', async () => {
    const name = fresh('cors');
    await new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey }).upload(name, headToJson(LinearHead.fit(data.train, data.train.labels, { C: 1 }), { backbone }));
    const preflight = await fetch(`${worker.url}/v1/heads/${name}/classify`, {
      method: 'OPTIONS',
      headers: { origin: PAGE_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE_ORIGIN);
    // What a browser's EdgeClient sends once the preflight passed.
    const pageFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), origin: PAGE_ORIGIN } });
    let seen: Response | undefined;
    const client = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey, fetch: async (i, init) => (seen = await pageFetch(i, init)) });
    expect((await client.classify(name, rows.slice(0, 2))).predictions).toHaveLength(2);
    expect(seen?.headers.get('access-control-allow-origin')).toBe(PAGE_ORIGIN);
    const other = await fetch(`${worker.url}/v1/heads`, { headers: { origin: 'http://elsewhere.example', authorization: `Bearer ${keys.readKey}` } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('the served OpenAPI document passes a standard validator (@apidevtools/swagger-parser)', async () => {
    const res = await fetch(`${worker.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Parameters<typeof SwaggerParser.validate>[0];
    const valid = await SwaggerParser.validate(doc);
    expect((valid as { openapi?: string }).openapi).toBe('3.1.0');
  });

  it('every route answers as the served document describes, errors included (ajv, JSON Schema 2020-12, on the dereferenced document)', async () => {
    const served = (await (await fetch(`${worker.url}/v1/openapi.json`)).json()) as Parameters<typeof SwaggerParser.dereference>[0];
    type Content = { content?: Record<string, { schema: object }> };
    const doc = (await SwaggerParser.dereference(served)) as unknown as { paths: Record<string, Record<string, { requestBody?: Content; responses?: Record<string, Content> }>> };
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    const covered = new Set<string>();
    const requestsRefused = new Set<string>();
    const problems: string[] = [];
    /** Calls `path` (an instance of `template`) and checks the answer against the document's schema for its status. */
    const call = async (method: string, template: string, path: string, options: { key?: string; body?: unknown; raw?: string } = {}) => {
      const res = await fetch(`${worker.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(options.key ? { authorization: `Bearer ${options.key}` } : {}) },
        body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      });
      const body = (await res.json()) as any;
      const op = doc.paths[template]?.[method.toLowerCase()];
      // The request against the document's requestBody: the route and the document must agree
      // on whether a body is valid (the route checks with the zod schema the document is made from).
      const requestSchema = op?.requestBody?.content?.['application/json']?.schema;
      if (requestSchema && options.body !== undefined) {
        const documentAccepts = ajv.validate(requestSchema, options.body);
        if (documentAccepts && res.status === 400 && body?.error?.code === 'INVALID_FIELD') problems.push(`${method} ${template}: the document accepts ${JSON.stringify(options.body).slice(0, 120)}, the route refused it (${body.error.message})`);
        if (!documentAccepts && res.status < 400) problems.push(`${method} ${template}: the document refuses ${JSON.stringify(options.body).slice(0, 120)} (${ajv.errorsText()}), the route answered ${res.status}`);
        if (!documentAccepts) requestsRefused.add(`${method} ${template}`);
      }
      const schema = op?.responses?.[String(res.status)]?.content?.['application/json']?.schema;
      if (!schema) problems.push(`${method} ${template} → ${res.status}: no such response in the document`);
      else if (!ajv.validate(schema, body)) problems.push(`${method} ${template} → ${res.status}: ${ajv.errorsText()} in ${JSON.stringify(body).slice(0, 200)}`);
      covered.add(`${method.toLowerCase()} ${template}`);
      return { status: res.status, body };
    };
    const admin = worker.adminToken;
    await call('GET', '/v1/health', '/v1/health');
    await call('GET', '/v1/version', '/v1/version');
    await call('GET', '/v1/openapi.json', '/v1/openapi.json');
    const tenantId = (await call('POST', '/v1/admin/tenants', '/v1/admin/tenants', { key: admin, body: { name: fresh('contract') } })).body.id as string;
    const keysPath = `/v1/admin/tenants/${tenantId}/keys`;
    const write = (await call('POST', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin, body: { scope: 'write' } })).body as { id: string; key: string };
    const read = (await call('POST', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin, body: { scope: 'read' } })).body as { id: string; key: string };
    await call('GET', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin });
    const spare = (await call('POST', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin, body: { scope: 'read' } })).body as { id: string };
    const rotated = (await call('POST', '/v1/admin/tenants/{id}/keys/{keyId}/rotate', `${keysPath}/${spare.id}/rotate`, { key: admin })).body as { id: string };
    await call('DELETE', '/v1/admin/tenants/{id}/keys/{keyId}', `${keysPath}/${rotated.id}`, { key: admin });
    await call('POST', '/v1/admin/seal-versions', '/v1/admin/seal-versions', { key: admin });
    await call('GET', '/v1/keys', '/v1/keys', { key: write.key });
    const own = (await call('POST', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin, body: { scope: 'read' } })).body as { id: string };
    const ownRotated = (await call('POST', '/v1/keys/{keyId}/rotate', `/v1/keys/${own.id}/rotate`, { key: write.key })).body as { id: string };
    await call('DELETE', '/v1/keys/{keyId}', `/v1/keys/${ownRotated.id}`, { key: write.key });

    const name = fresh('contract-head');
    const knn = KnnHead.fit(data.train, data.train.labels, { k: 3 });
    await call('POST', '/v1/heads/{name}/versions', `/v1/heads/${name}/versions`, { key: write.key, raw: headToJson(knn, { backbone }) });
    await call('GET', '/v1/heads', '/v1/heads', { key: read.key });
    await call('GET', '/v1/heads/{name}', `/v1/heads/${name}`, { key: read.key });
    await call('PUT', '/v1/heads/{name}/aliases/{alias}', `/v1/heads/${name}/aliases/prod`, { key: write.key, body: { version: 1 } });
    const row = Array.from(rows[0]);
    await call('POST', '/v1/heads/{ref}/classify', `/v1/heads/${name}@prod/classify`, { key: read.key, body: { embeddings: [row], topK: 3 } });
    const added = await call('POST', '/v1/heads/{ref}/examples', `/v1/heads/${name}/examples`, { key: write.key, body: { embeddings: [row], labels: ['cat'] } });
    await call('DELETE', '/v1/heads/{ref}/examples', `/v1/heads/${name}/examples`, { key: write.key, body: { ids: added.body.ids } });
    await call('GET', '/v1/heads/{ref}/drift', `/v1/heads/${name}/drift`, { key: read.key });
    await call('DELETE', '/v1/heads/{name}/aliases/{alias}', `/v1/heads/${name}/aliases/prod`, { key: write.key });
    // Bodies the document refuses are refused by the route, with the documented error body.
    await call('POST', '/v1/admin/tenants', '/v1/admin/tenants', { key: admin, body: { name: '   ' } });
    await call('POST', '/v1/admin/tenants/{id}/keys', keysPath, { key: admin, body: { scope: 'admin' } });
    await call('PUT', '/v1/heads/{name}/aliases/{alias}', `/v1/heads/${name}/aliases/prod`, { key: write.key, body: { version: 0 } });
    await call('PUT', '/v1/heads/{name}/aliases/{alias}', `/v1/heads/${name}/aliases/prod`, { key: write.key, body: { version: 1, canary: { version: 1, weight: 2 } } });
    await call('POST', '/v1/heads/{ref}/classify', `/v1/heads/${name}/classify`, { key: read.key, body: { embeddings: [row], topK: 0 } });
    await call('POST', '/v1/heads/{ref}/examples', `/v1/heads/${name}/examples`, { key: write.key, body: { embeddings: [row], labels: [''] } });
    await call('DELETE', '/v1/heads/{ref}/examples', `/v1/heads/${name}/examples`, { key: write.key, body: { ids: [] } });
    await call('POST', '/v1/heads/{ref}/classify', `/v1/heads/${name}/classify`, { key: read.key, body: { embeddings: 'not a list' } });
    await call('GET', '/v1/heads/{name}', '/v1/heads/no-such-head', { key: read.key });
    await call('POST', '/v1/heads/{name}/versions', `/v1/heads/${name}/versions`, { key: read.key, raw: '{}' });
    await call('DELETE', '/v1/heads/{name}', `/v1/heads/${name}`, { key: write.key });
    await call('GET', '/v1/backbones', '/v1/backbones', { key: read.key });
    await call('PUT', '/v1/admin/backbones/{id}/files/{name}', '/v1/admin/backbones/use-lite/files/vocab.json', { key: admin, raw: '[]' });

    expect(problems).toEqual([]);
    expect([...requestsRefused].sort()).toEqual(
      ['DELETE /v1/heads/{ref}/examples', 'POST /v1/admin/tenants', 'POST /v1/admin/tenants/{id}/keys', 'POST /v1/heads/{ref}/classify', 'POST /v1/heads/{ref}/examples', 'PUT /v1/heads/{name}/aliases/{alias}'],
    );
    // Every documented operation was exercised: a new route without a check here fails.
    const documented = Object.entries(doc.paths).flatMap(([template, ops]) => Object.keys(ops).filter((m) => m !== 'parameters').map((m) => `${m} ${template}`));
    expect(documented.filter((op) => !covered.has(op))).toEqual([]);
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
    const name = fresh('cli-head');
    expect(await main(['push', path, '--name', name, '--alias', 'prod', '--url', worker.url, '--key', keys.writeKey, '--json'])).toBe(0);
    const pushed = JSON.parse(stdout.pop() as string) as { name: string; version: number };
    expect(pushed).toMatchObject({ name });
    const image = cifar('test', 'ship', 3);
    const classify = async (...extra: string[]) => {
      expect(await main(['classify', '--remote', `${name}@prod`, '-b', 'mobilenetv2-int8', '--url', worker.url, '--key', keys.readKey, '--json', ...extra, image])).toBe(0);
      return JSON.parse(stdout.pop() as string) as { label: string | null; nearest: string; version: number; probability: number };
    };
    const local = await classify('--embed-locally');
    expect(local.version).toBe(pushed.version);
    // The same image through the SDK locally.
    const { loadBackbone, readImageFile } = await import('../src/node.js');
    const { backbone: mobilenet } = await loadBackbone('mobilenetv2-int8');
    const [embedding] = await (mobilenet as import('../src/backbone/backbone.js').Backbone<import('../src/inputs/image/image.js').DecodedImage>).embed([await readImageFile(image)]);
    await mobilenet.dispose();
    const expected = head.predict([embedding])[0];
    expect(local.nearest).toBe(expected.nearest);

    // Once the backbone is pushed, classify sends the photo itself and the worker embeds it: the
    // worker has the backbone loaded only after that call (--embed-locally never loads it there).
    expect(await main(['push', '--backbone', 'mobilenetv2-int8', '--url', worker.url, '--key', worker.adminToken, '--json'])).toBe(0);
    expect(JSON.parse(stdout.pop() as string)).toMatchObject({ backbone: 'mobilenetv2-int8', ready: true });
    const loadedThere = async () => (await new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey }).backbones()).backbones.find((b) => b.id === 'mobilenetv2-int8')?.loadedInThisIsolate;
    expect(await loadedThere()).toBe(false);
    const raw = await classify();
    expect(await loadedThere()).toBe(true);
    expect(raw.nearest).toBe(expected.nearest);
    expect(raw.probability).toBeCloseTo(expected.probability, 4);

    // A 12-megapixel photo (over the worker's 4-megapixel limit) is reduced here first, losslessly
    // encoded, so the worker sees the pixels local embedding uses: the same answer as --embed-locally.
    const sharp = (await import('sharp')).default;
    const bigPath = join(await mkdtemp(join(tmpdir(), 'edgehead-big-')), 'big.jpg');
    await sharp(image).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 92 }).toFile(bigPath);
    // Without --backbone: the CLI reads the head's own from the worker.
    const classifyBig = async (...extra: string[]) => {
      expect(await main(['classify', '--remote', `${name}@prod`, '--url', worker.url, '--key', keys.readKey, '--json', ...extra, bigPath])).toBe(0);
      return JSON.parse(stdout.pop() as string) as { nearest: string; probability: number };
    };
    const bigLocal = await classifyBig('--embed-locally');
    const bigRaw = await classifyBig();
    expect(bigRaw.nearest).toBe(bigLocal.nearest);
    expect(bigRaw.probability).toBeCloseTo(bigLocal.probability, 4);

    // A GIF (which the worker does not decode) goes as the PNG of its pixels: the same answer again.
    const gifPath = bigPath.replace(/\.jpg$/, '.gif');
    await sharp(image).gif().toFile(gifPath);
    expect(await main(['classify', '--remote', `${name}@prod`, '--url', worker.url, '--key', keys.readKey, '--json', '--embed-locally', gifPath])).toBe(0);
    const gifLocal = JSON.parse(stdout.pop() as string) as { nearest: string; probability: number };
    expect(await main(['classify', '--remote', `${name}@prod`, '--url', worker.url, '--key', keys.readKey, '--json', gifPath])).toBe(0);
    const gifRaw = JSON.parse(stdout.pop() as string) as { nearest: string; probability: number };
    expect([gifRaw.nearest, gifRaw.probability.toFixed(4)]).toEqual([gifLocal.nearest, gifLocal.probability.toFixed(4)]);

    // A --backbone other than the head's is refused before anything is sent.
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
    expect(await main(['classify', '--remote', `${name}@prod`, '-b', 'use-lite', '--url', worker.url, '--key', keys.readKey, 'a sentence'])).not.toBe(0);
    expect(stderr.join('')).toMatch(/was fitted on mobilenetv2-int8/);
  });
});
