/** Per-deployment settings: CORS for browser clients on other origins, and the admin token's strength. */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ADMIN, headFile, readResponse, tenant, upload } from './helpers.js';

const PAGE = 'https://app.example.com';

function request(path: string, init: RequestInit & { origin?: string }, envOverride: Partial<typeof env> = {}) {
  const headers = new Headers(init.headers);
  if (init.origin) headers.set('origin', init.origin);
  return createApp().request(path, { ...init, headers }, { ...env, ...envOverride });
}

describe('CORS (CORS_ORIGINS, off by default)', () => {
  it('off by default: no CORS headers, so a page on another origin cannot read answers', async () => {
    const t = await tenant();
    const res = await request('/v1/heads', { origin: PAGE, headers: { authorization: `Bearer ${t.read}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await request('/v1/heads/x/classify', { method: 'OPTIONS', origin: PAGE, headers: { 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a listed origin gets a preflight and readable answers (errors included); others do not', async () => {
    const t = await tenant();
    await upload(t.write, 'cors', headFile('linear'));
    const on = { CORS_ORIGINS: `${PAGE}, https://other.example.org` };
    const preflight = await request(
      '/v1/heads/cors/classify',
      { method: 'OPTIONS', origin: PAGE, headers: { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } },
      on,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(preflight.headers.get('vary')).toContain('Origin');

    const ok = await request('/v1/heads/cors/classify', { method: 'POST', origin: PAGE, headers: { authorization: `Bearer ${t.read}` }, body: JSON.stringify({ embeddings: [[1, 0, 0, 0.1]] }) }, on);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(ok.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('retry-after');

    // An error the page must be able to read (its code says what to fix).
    const denied = await request('/v1/heads/cors/classify', { method: 'POST', origin: PAGE, headers: { authorization: 'Bearer nope' }, body: '{}' }, on);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(PAGE);

    const stranger = await request('/v1/heads', { origin: 'https://evil.example.net', headers: { authorization: `Bearer ${t.read}` } }, on);
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('"*" allows any origin (keys are bearer tokens, never cookies: no credentials mode)', async () => {
    const t = await tenant();
    const res = await request('/v1/heads', { origin: 'https://anything.example', headers: { authorization: `Bearer ${t.read}` } }, { CORS_ORIGINS: '*' });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('admin routes never answer cross-origin: the admin token does not belong in a page', async () => {
    const res = await request('/v1/admin/tenants', { method: 'POST', origin: PAGE, headers: { authorization: `Bearer ${ADMIN}` }, body: '{"name":"x"}' }, { CORS_ORIGINS: '*' });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a malformed CORS_ORIGINS is a clear 500 naming the setting, not a silent allow-all', async () => {
    const r = await readResponse(await request('/v1/health', { origin: PAGE }, { CORS_ORIGINS: 'app.example.com' }));
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INVALID_SETTING');
    expect(r.body.error.message).toContain('CORS_ORIGINS');
  });
});

describe('ADMIN_TOKEN strength', () => {
  it.each(['changeme', 'test-admin-token', 'a'.repeat(40), '0123456701234567012345670123456701'])('a weak token (%s) switches admin routes off with a clear 503, even when sent right', async (weak) => {
    const r = await readResponse(await request('/v1/admin/tenants', { method: 'POST', headers: { authorization: `Bearer ${weak}` }, body: '{"name":"x"}' }, { ADMIN_TOKEN: weak }));
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('ADMIN_TOKEN_WEAK');
    expect(r.body.error.message).toContain('wrangler secret put ADMIN_TOKEN');
    expect(r.body.error.message).not.toContain(weak);
  });

  it('a strong token works', async () => {
    const strong = `local-${crypto.randomUUID()}`;
    const res = await request('/v1/admin/tenants', { method: 'POST', headers: { authorization: `Bearer ${strong}` }, body: '{"name":"x"}' }, { ADMIN_TOKEN: strong });
    expect(res.status).toBe(201);
  });
});
