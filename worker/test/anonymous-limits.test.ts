import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ADMIN, freshMinute, readResponse, tenant } from './helpers.js';

const app = createApp();

/** D1 with a count of the statements prepared on it. */
function countingDb(): { db: D1Database; statements: () => number } {
  let n = 0;
  const db = new Proxy(env.DB, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (prop === 'prepare') n++;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db, statements: () => n };
}

/** From one client address, through a real rate-limit binding allowing 5 requests a minute per key. */
async function from(ip: string, path: string, token: string, db: D1Database = env.DB, init: RequestInit = {}) {
  const headers = { authorization: `Bearer ${token}`, 'cf-connecting-ip': ip };
  return readResponse(await app.request(`https://edge.test${path}`, { ...init, headers }, { ...env, DB: db, AUTH_RATE_LIMITER: env.TIGHT_LIMITER }));
}

describe('traffic without a valid key is rate limited per client address', () => {
  it('invalid keys: 401 up to the limit, then 429 without touching D1; other addresses and cached valid keys unaffected', async () => {
    const t = await tenant();
    await freshMinute();
    const ip = '203.0.113.7';
    // A valid key, looked up once (counted) and cached from then on.
    expect((await from(ip, '/v1/heads', t.read)).status).toBe(200);
    const { db, statements } = countingDb();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await from(ip, '/v1/heads', `ehk_bogus${i}`, db)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
    // One key lookup per 401; none for a 429.
    expect(statements()).toBe(4);
    const limited = await from(ip, '/v1/heads', 'ehk_bogus', db);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(limited.body.error.message).toContain('address');
    expect((await from('203.0.113.8', '/v1/heads', 'ehk_bogus')).status).toBe(401);
    expect((await from(ip, '/v1/heads', t.read)).status).toBe(200);
  });

  it('requests without any key count too', async () => {
    await freshMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await app.request('https://edge.test/v1/heads', { headers: { 'cf-connecting-ip': '203.0.113.9' } }, { ...env, AUTH_RATE_LIMITER: env.TIGHT_LIMITER });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('admin routes: 5 attempts a minute per address, right token or wrong', async () => {
    await freshMinute();
    const ip = '203.0.113.10';
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await from(ip, '/v1/admin/tenants', `wrong${i}`, env.DB, { method: 'POST', body: '{"name":"x"}' })).status);
    statuses.push((await from(ip, '/v1/admin/tenants', ADMIN, env.DB, { method: 'POST', body: '{"name":"x"}' })).status);
    statuses.push((await from(ip, '/v1/admin/tenants', ADMIN, env.DB, { method: 'POST', body: '{"name":"x"}' })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 201, 429]);
    expect((await from('203.0.113.11', '/v1/admin/tenants', ADMIN, env.DB, { method: 'POST', body: '{"name":"x"}' })).status).toBe(201);
  });
});
