import { applyD1Migrations, env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { ADMIN, call, headFile, isErrorBody, readResponse, tenant, upload } from './helpers.js';
import { contentChecksum, type HeadFile } from 'edgehead/heads';

const app = createApp();

/** Straight into the app (same isolate as the test, so console spies see its logs), with settings overridden. */
async function direct(path: string, init: RequestInit & { key?: string }, vars: Partial<typeof env> = {}) {
  const headers = new Headers(init.headers);
  if (init.key) headers.set('authorization', `Bearer ${init.key}`);
  return readResponse(await app.request(`https://edge.test${path}`, { ...init, headers }, { ...env, RATE_LIMITER: undefined, ...vars }));
}

/** A body without a length (chunked), `total` bytes of `chunk` repeated, counting what the server pulled. */
function countedStream(chunk: Uint8Array, total: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      controller.enqueue(piece.slice());
    },
  });
  return { body, pulled: () => sent };
}

afterEach(() => vi.restoreAllMocks());

describe('deeply nested JSON is a clear 400, not a stack overflow', () => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const crafted = (path: 'dtype' | 'shape' | 'metric') => {
    const file = JSON.parse(headFile('centroid')) as { params: { sums: Record<string, unknown> }; config: Record<string, unknown> };
    if (path === 'metric') file.config.metric = '@DEEP@';
    else file.params.sums[path] = '@DEEP@';
    return JSON.stringify(file).replace('"@DEEP@"', deep(10_000));
  };

  for (const where of ['dtype', 'shape', 'metric'] as const) {
    it(`an upload nested 10,000 deep in ${where === 'metric' ? 'config.metric' : `params.sums.${where}`}`, async () => {
      const t = await tenant();
      const r = await upload(t.write, 'deep', crafted(where));
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('JSON_TOO_DEEP');
      expect(r.body.error.message).toContain('64');
      expect((await call('GET', '/v1/heads/deep', { key: t.read })).status).toBe(404);
    });
  }

  it('request bodies too: embeddings nested 100,000 deep', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    const r = await call('POST', '/v1/heads/toy/classify', { key: t.read, raw: `{"embeddings":${deep(100_000)}}` });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('JSON_TOO_DEEP');
    // Brackets inside strings are text, not nesting.
    const ok = await call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]], note: deep(1000) } });
    expect(ok.status).toBe(200);
  });
});

describe('the body limit counts bytes while streaming', () => {
  const limit = { MAX_BODY_BYTES: String(64 * 1024) };

  it('multibyte characters count as their UTF-8 bytes (a chunked body of "€")', async () => {
    const t = await tenant();
    // 30,000 characters, 90,000 bytes: under the limit in characters, over it in bytes.
    const text = `{"embeddings":[[1,0,0,0]],"pad":"${'€'.repeat(30_000)}"}`;
    const { body } = countedStream(new TextEncoder().encode(text), 3 * 30_000 + 100);
    const r = await direct('/v1/heads/toy/classify', { method: 'POST', body, key: t.read }, limit);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('BODY_TOO_LARGE');
    expect(r.body.error.message).toContain(`${64 * 1024} bytes`);
  });

  it('stops reading a chunked body at the limit instead of reading all of it', async () => {
    const t = await tenant();
    const stream = countedStream(new Uint8Array(16 * 1024).fill(0x20), 64 * 1024 * 1024);
    const r = await direct('/v1/heads/big/versions', { method: 'POST', body: stream.body, key: t.write }, limit);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('BODY_TOO_LARGE');
    // At most the limit plus the chunk that crossed it (and what the stream buffered ahead).
    expect(stream.pulled()).toBeLessThanOrEqual(64 * 1024 + 4 * 16 * 1024);
  });

  it('a declared Content-Length over the limit is refused before reading', async () => {
    const t = await tenant();
    const r = await direct('/v1/heads/toy/classify', { method: 'POST', body: 'x'.repeat(70_000), key: t.read, headers: { 'content-length': '70000' } }, limit);
    expect(r.status).toBe(413);
    expect(r.body.error.message).toContain('70000');
  });

  it('a body exactly at the limit in bytes is read', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    const head = `{"embeddings":[[1,0,0,0.1]],"pad":"`;
    const room = 64 * 1024 - head.length - 2;
    const pad = 'é'.repeat(Math.floor(room / 2)) + 'x'.repeat(room % 2);
    const text = `${head}${pad}"}`;
    expect(new TextEncoder().encode(text).length).toBe(64 * 1024);
    const r = await direct('/v1/heads/toy/classify', { method: 'POST', body: text, key: t.read }, limit);
    expect(r.status).toBe(200);
  });

  it('a body that is not UTF-8 is a 400', async () => {
    const t = await tenant();
    const r = await direct('/v1/heads/toy/classify', { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), key: t.read });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_UTF8');
  });
});

describe('a client that disconnects mid-body', () => {
  it('gets a 400 BODY_INCOMPLETE, not an unhandled 500', async () => {
    const t = await tenant();
    const logged = vi.spyOn(console, 'error');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"embeddings": [[1, 0,'));
        controller.error(new Error('connection reset by peer'));
      },
    });
    const r = await direct('/v1/heads/toy/versions', { method: 'POST', body, key: t.write });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('BODY_INCOMPLETE');
    expect(isErrorBody(r.body)).toBe(true);
    expect(logged).not.toHaveBeenCalled();
  });

  it('with a declared Content-Length (read in one call): the same 400, and a body longer than declared is refused, not cut', async () => {
    const t = await tenant();
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"embeddings": [[1, 0,'));
        controller.error(new Error('connection reset by peer'));
      },
    });
    const r = await direct('/v1/heads/toy/versions', { method: 'POST', body: broken, key: t.write, headers: { 'content-length': '1000' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('BODY_INCOMPLETE');
    const body = '{"embeddings": [[1, 0, 0, 0]]}';
    const longer = await direct('/v1/heads/toy/classify', { method: 'POST', body, key: t.read, headers: { 'content-length': '10' } });
    expect(longer.status).toBe(400);
    expect(longer.body.error.code).toBe('BODY_INCOMPLETE');
    expect(longer.body.error.message).toContain(`${body.length} bytes, not the 10`);
  });
});

describe('a database without migrations (plain `wrangler dev`)', () => {
  it('answers 503 NOT_MIGRATED naming the command to run, for keys and admin routes alike', async () => {
    const keyed = await direct('/v1/heads', { key: 'ehk_anything' }, { DB: env.EMPTY_DB });
    expect(keyed.status).toBe(503);
    expect(keyed.body.error.code).toBe('NOT_MIGRATED');
    expect(keyed.body.error.message).toContain('npx wrangler d1 migrations apply edgehead --local');
    const admin = await direct('/v1/admin/tenants', { method: 'POST', body: '{"name":"x"}', key: ADMIN }, { DB: env.EMPTY_DB });
    expect(admin.status).toBe(503);
    expect(admin.body.error.code).toBe('NOT_MIGRATED');
  });

  it('a database with only the first migration applied is NOT_MIGRATED too (missing columns and tables)', async () => {
    await applyD1Migrations(env.OLD_DB, env.TEST_MIGRATIONS.slice(0, 1));
    const created = await direct('/v1/admin/tenants', { method: 'POST', body: '{"name":"x"}', key: ADMIN }, { DB: env.OLD_DB });
    expect(created.status).toBe(201);
    const key = await direct(`/v1/admin/tenants/${created.body.id}/keys`, { method: 'POST', body: '{"scope":"write"}', key: ADMIN }, { DB: env.OLD_DB });
    expect(key.status).toBe(503);
    expect(key.body.error.code).toBe('NOT_MIGRATED');
    expect(key.body.error.message).toContain('api_keys');
    const lookup = await direct('/v1/heads', { key: 'ehk_anything' }, { DB: env.OLD_DB });
    expect(lookup.status).toBe(503);
    expect(lookup.body.error.code).toBe('NOT_MIGRATED');
  });
});

describe('uploads are measured in bytes', () => {
  it('a head file with multibyte labels reports its size in bytes, and its sha256 over those bytes', async () => {
    const t = await tenant();
    // Relabelled, then re-checksummed as `edgehead sign` does (an edited head is otherwise refused).
    const edited = JSON.parse(headFile('centroid').replace(/"a"/g, '"café"')) as HeadFile;
    const text = JSON.stringify({ ...edited, checksum: contentChecksum(edited) });
    const bytes = new TextEncoder().encode(text);
    expect(bytes.length).toBeGreaterThan(text.length);
    const r = await upload(t.write, 'accents', text);
    expect(r.status).toBe(201);
    expect(r.body.labels).toContain('café');
    expect(r.body.size).toBe(bytes.length);
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(r.body.sha256).toBe(digest);
  });
});
