import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { call, headFile, isErrorBody, tenant } from './helpers.js';

/** The binding with one method failing, as a storage outage would make it. */
function failing<T extends object>(binding: T, method: string): T {
  return new Proxy(binding, {
    get(target, prop) {
      if (prop === method) return async () => Promise.reject(new Error(`injected ${method} failure`));
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function uploadWith(envOverride: Partial<typeof env>, key: string, text = headFile('linear')) {
  const res = await createApp().request(
    '/v1/heads/atomic/versions',
    { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: text },
    { ...env, ...envOverride },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('uploads are atomic', () => {
  it('a D1 failure after the blob was stored leaves no visible version and no orphan blob', async () => {
    const t = await tenant();
    const r = await uploadWith({ DB: failing(env.DB, 'batch') }, t.write);
    expect(r.status).toBe(503);
    expect(isErrorBody(r.body)).toBe(true);
    expect((await call('GET', '/v1/heads/atomic', { key: t.read })).status).toBe(404);
    expect((await env.BLOBS.list({ prefix: `heads/${t.id}/` })).objects).toHaveLength(0);
    // And the same upload succeeds once storage is back, as version 1.
    expect((await uploadWith({}, t.write)).body).toMatchObject({ version: 1 });
  });

  it('an R2 failure creates nothing', async () => {
    const t = await tenant();
    const r = await uploadWith({ BLOBS: failing(env.BLOBS, 'put') }, t.write);
    expect(r.status).toBe(503);
    expect((await call('GET', '/v1/heads', { key: t.read })).body.heads).toEqual([]);
  });

  it('a delete landing right after an upload committed: the upload still answers 201, not 500', async () => {
    const t = await tenant();
    const text = headFile('linear');
    // Deletes the head the moment the upload's version row is in: before the upload answers.
    const racing = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === 'batch') {
          return async (statements: D1PreparedStatement[]) => {
            const results = await target.batch(statements);
            if (statements.length === 2) expect((await call('DELETE', '/v1/heads/atomic', { key: t.write })).status).toBe(200);
            return results;
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const r = await uploadWith({ DB: racing }, t.write, text);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'atomic', version: 1, kind: 'linear' });
    // The name is free again and the same bytes upload and serve as usual.
    const again = await uploadWith({}, t.write, text);
    expect(again.status).toBe(201);
    const c = await call('POST', '/v1/heads/atomic/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]] } });
    expect(c.status).toBe(200);
    expect(c.body.predictions[0].label).toBe('a');
  });

  it('a head delete whose R2 cleanup fails still answers 200: the rows are gone, the head is deleted', async () => {
    const t = await tenant();
    await call('POST', '/v1/heads/gone/versions', { key: t.write, raw: headFile('knn') });
    const res = await createApp().request('/v1/heads/gone', { method: 'DELETE', headers: { authorization: `Bearer ${t.write}` } }, { ...env, BLOBS: failing(env.BLOBS, 'delete') });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: 'gone', versions: 1 });
    expect((await call('GET', '/v1/heads/gone', { key: t.read })).status).toBe(404);
  });

  it('two versions with the same content have their own blobs (a delete racing an upload cannot take its file)', async () => {
    const t = await tenant();
    const text = headFile('knn');
    await call('POST', '/v1/heads/one/versions', { key: t.write, raw: text });
    await call('POST', '/v1/heads/one/versions', { key: t.write, raw: text });
    const { results } = await env.DB.prepare('SELECT blob_key FROM versions WHERE tenant_id = ? AND name = ?').bind(t.id, 'one').all<{ blob_key: string }>();
    expect(new Set(results.map((r) => r.blob_key)).size).toBe(2);
  });

  it('a blob that fails its sha256 check on read is reported, not used', async () => {
    const t = await tenant();
    // Content no other test uploads: parsed linear heads are cached per isolate by sha256.
    await call('POST', '/v1/heads/tampered/versions', { key: t.write, raw: headFile('linear', { id: 'tampered', fingerprint: 'sha256:tampered' }) });
    const row = await env.DB.prepare('SELECT blob_key FROM versions WHERE tenant_id = ? AND name = ?').bind(t.id, 'tampered').first<{ blob_key: string }>();
    await env.BLOBS.put(row?.blob_key ?? '', headFile('centroid'));
    const r = await call('POST', '/v1/heads/tampered/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('STORAGE_CORRUPT');
  });
});

describe('per-key rate limit (Workers rate-limiting binding)', () => {
  it('answers 429 once a key exceeds its budget, other keys unaffected', async () => {
    const t = await tenant();
    const other = await tenant('other');
    // A limit of 5 a minute: 12 requests put at least 6 in one fixed window, even if they straddle
    // a minute boundary (110 requests against the suite's 100 did not, on a busy machine).
    const tight = { ...env, RATE_LIMITER: env.TIGHT_LIMITER };
    const get = async (key: string) => {
      const res = await createApp().request('/v1/heads', { headers: { authorization: `Bearer ${key}` } }, tight);
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const r = await get(t.read);
      if (r.status === 429) {
        limited++;
        expect(r.body.error?.code).toBe('RATE_LIMITED');
      }
    }
    expect(limited).toBeGreaterThan(0);
    expect((await get(other.read)).status).toBe(200);
  });
});
