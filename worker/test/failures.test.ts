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

async function uploadWith(envOverride: Partial<typeof env>, key: string) {
  const res = await createApp().request(
    '/v1/heads/atomic/versions',
    { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: headFile('linear') },
    { ...env, ...envOverride },
  );
  return { status: res.status, body: (await res.json()) as unknown };
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

  it('a blob that fails its sha256 check on read is reported, not used', async () => {
    const t = await tenant();
    const up = await call('POST', '/v1/heads/tampered/versions', { key: t.write, raw: headFile('linear') });
    const key = `heads/${t.id}/tampered/${up.body.sha256}.json`;
    await env.BLOBS.put(key, headFile('centroid'));
    const r = await call('POST', '/v1/heads/tampered/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('STORAGE_CORRUPT');
  });
});

describe('per-key rate limit (Workers rate-limiting binding)', () => {
  it('answers 429 once a key exceeds its budget, other keys unaffected', async () => {
    const t = await tenant();
    const other = await tenant('other');
    let limited = 0;
    for (let i = 0; i < 110; i++) {
      const r = await call('GET', '/v1/heads', { key: t.read });
      if (r.status === 429) {
        limited++;
        expect(r.body.error.code).toBe('RATE_LIMITED');
      }
    }
    expect(limited).toBeGreaterThan(0);
    expect((await call('GET', '/v1/heads', { key: other.read })).status).toBe(200);
  });
});
