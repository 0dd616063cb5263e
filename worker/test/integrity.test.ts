/**
 * Integrity of stored state: a version row is sealed (HMAC over tenant, name, version, uid, blob
 * key, sha256, size, kind, dim, labels, backbone and fingerprint) and online examples carry a
 * checksum; tampering with D1 or the Durable Object's storage is a 500 STORAGE_CORRUPT, never a
 * wrong answer.
 */
import { applyD1Migrations, env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ADMIN, call, headFile, readResponse, tenant, upload } from './helpers.js';

const q = { embeddings: [[1, 0, 0, 0.1]], rejectUnknown: false };

const tamper = (sql: string, ...params: unknown[]) => env.DB.prepare(sql).bind(...params).run();

async function expectCorrupt(path: string, key: string, method = 'POST', body: unknown = q) {
  const r = await call(method, path, { key, body: method === 'GET' ? undefined : body });
  expect(r.status).toBe(500);
  expect(r.body.error.code).toBe('STORAGE_CORRUPT');
  return r;
}

describe('version rows are sealed', () => {
  it.each([
    ['kind', "UPDATE versions SET kind = 'knn' WHERE tenant_id = ? AND name = 'sealed'"],
    ['dim', "UPDATE versions SET dim = 3 WHERE tenant_id = ? AND name = 'sealed'"],
    ['labels', `UPDATE versions SET labels = '["x","y","z"]' WHERE tenant_id = ? AND name = 'sealed'`],
    ['fingerprint', "UPDATE versions SET fingerprint = 'sha256:other' WHERE tenant_id = ? AND name = 'sealed'"],
    ['sha256', "UPDATE versions SET sha256 = 'ab' || substr(sha256, 3) WHERE tenant_id = ? AND name = 'sealed'"],
  ])('a tampered %s is STORAGE_CORRUPT on classify and on metadata', async (_, sql) => {
    const t = await tenant();
    await upload(t.write, 'sealed', headFile('linear'));
    expect((await call('POST', '/v1/heads/sealed/classify', { key: t.read, body: q })).status).toBe(200);
    await tamper(sql, t.id);
    const r = await expectCorrupt('/v1/heads/sealed/classify', t.read);
    expect(r.body.error.message).toContain('sealed@1');
    await expectCorrupt('/v1/heads/sealed', t.read, 'GET');
  });

  it("a row pointed at another tenant's blob (with that blob's sha256) is refused, not served", async () => {
    const victim = await tenant('victim');
    const thief = await tenant('thief');
    await upload(victim.write, 'secret', headFile('knn'));
    await upload(thief.write, 'mine', headFile('linear'));
    const v = await env.DB.prepare("SELECT blob_key, sha256, size, kind, labels FROM versions WHERE tenant_id = ? AND name = 'secret'").bind(victim.id).first<Record<string, string>>();
    await tamper("UPDATE versions SET blob_key = ?, sha256 = ?, size = ?, kind = ?, labels = ? WHERE tenant_id = ? AND name = 'mine'", v?.blob_key, v?.sha256, v?.size, v?.kind, v?.labels, thief.id);
    await expectCorrupt('/v1/heads/mine/classify', thief.read);
  });

  it('swapped version numbers are refused (the seal binds the number), explicit and latest', async () => {
    const t = await tenant();
    await upload(t.write, 'swap', headFile('linear'));
    await upload(t.write, 'swap', headFile('centroid'));
    await env.DB.batch([
      env.DB.prepare("UPDATE versions SET version = 99 WHERE tenant_id = ? AND name = 'swap' AND version = 1").bind(t.id),
      env.DB.prepare("UPDATE versions SET version = 1 WHERE tenant_id = ? AND name = 'swap' AND version = 2").bind(t.id),
      env.DB.prepare("UPDATE versions SET version = 2 WHERE tenant_id = ? AND name = 'swap' AND version = 99").bind(t.id),
    ]);
    await expectCorrupt('/v1/heads/swap@1/classify', t.read);
    await expectCorrupt('/v1/heads/swap/classify', t.read);
  });

  it('a removed seal is refused, naming the admin route that seals rows written before seals existed', async () => {
    const t = await tenant();
    await upload(t.write, 'old', headFile('linear'));
    await tamper("UPDATE versions SET seal = NULL WHERE tenant_id = ? AND name = 'old'", t.id);
    const r = await expectCorrupt('/v1/heads/old/classify', t.read);
    expect(r.body.error.message).toContain('/v1/admin/seal-versions');
    const sealed = await call('POST', '/v1/admin/seal-versions', { key: ADMIN });
    expect(sealed.status).toBe(200);
    expect(sealed.body.sealed).toBeGreaterThanOrEqual(1);
    expect((await call('POST', '/v1/heads/old/classify', { key: t.read, body: q })).status).toBe(200);
  });

  it('with INTEGRITY_KEY set, a seal made without it does not verify (forging needs the key)', async () => {
    const t = await tenant();
    await upload(t.write, 'keyed', headFile('linear'));
    const keyed = { ...env, INTEGRITY_KEY: 'k'.repeat(8) + crypto.randomUUID() };
    const r = await readResponse(await createApp().request('/v1/heads/keyed/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: JSON.stringify(q) }, keyed));
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('STORAGE_CORRUPT');
    const up = await readResponse(await createApp().request('/v1/heads/keyed2/versions', { method: 'POST', headers: { authorization: `Bearer ${t.write}` }, body: headFile('linear') }, keyed));
    expect(up.status).toBe(201);
    const ok = await createApp().request('/v1/heads/keyed2/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: JSON.stringify(q) }, keyed);
    expect(ok.status).toBe(200);
  });

  it('concurrent uploads still get versions 1..n with no gaps, each sealed', async () => {
    const t = await tenant();
    const text = headFile('linear');
    const results = await Promise.all(Array.from({ length: 40 }, () => upload(t.write, 'many', text)));
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(201));
    expect(results.map((r) => r.body.version as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const v of [1, 17, 40]) expect((await call('POST', `/v1/heads/many@${v}/classify`, { key: t.read, body: q })).status).toBe(200);
  });
});

describe('a database without the seal column (migration 0004 not applied)', () => {
  it('uploads and reads answer 503 NOT_MIGRATED, not STORAGE_CORRUPT or STORAGE_UNAVAILABLE', async () => {
    await applyD1Migrations(env.PRE_SEAL_DB, env.TEST_MIGRATIONS.slice(0, 3));
    const db = { ...env, DB: env.PRE_SEAL_DB };
    const admin = async (path: string, body: unknown) => {
      const res = await createApp().request(path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) }, db);
      return (await res.json()) as Record<string, string>;
    };
    const t = await admin('/v1/admin/tenants', { name: 'pre' });
    const w = await admin(`/v1/admin/tenants/${t.id}/keys`, { scope: 'write' });
    const up = await readResponse(await createApp().request('/v1/heads/pre/versions', { method: 'POST', headers: { authorization: `Bearer ${w.key}` }, body: headFile('linear') }, db));
    expect(up.status).toBe(503);
    expect(up.body.error.code).toBe('NOT_MIGRATED');
    expect(up.body.error.message).toContain('seal');
    // A row written by the previous worker, read by this one.
    await env.PRE_SEAL_DB.batch([
      env.PRE_SEAL_DB.prepare("INSERT INTO heads (tenant_id, name, created_at) VALUES (?, 'pre', 'x')").bind(t.id),
      env.PRE_SEAL_DB.prepare(
        "INSERT INTO versions (tenant_id, name, version, uid, blob_key, sha256, size, kind, dim, labels, created_at) VALUES (?, 'pre', 1, 'u', 'k', 's', 1, 'linear', 4, '[]', 'x')",
      ).bind(t.id),
    ]);
    const read = await readResponse(await createApp().request('/v1/heads/pre/classify', { method: 'POST', headers: { authorization: `Bearer ${w.key}` }, body: JSON.stringify(q) }, db));
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('NOT_MIGRATED');
  });
});

describe('online examples are checksummed', () => {
  async function stubOf(tenantId: string, name: string) {
    const row = await env.DB.prepare('SELECT uid FROM versions WHERE tenant_id = ? AND name = ?').bind(tenantId, name).first<{ uid: string }>();
    return env.HEAD_STATE.get(env.HEAD_STATE.idFromName(row?.uid ?? ''));
  }

  it.each(['knn', 'centroid'] as const)('%s: a relabelled or moved example is quarantined with STORAGE_CORRUPT, never served', async (kind) => {
    const t = await tenant();
    await upload(t.write, 'ex', headFile(kind));
    const added = await call('POST', '/v1/heads/ex/examples', { key: t.write, body: { embeddings: [[0, 0, 0, 5], [0, 0, 0, -5]], labels: ['up', 'down'] } });
    expect(added.status).toBe(201);
    const stub = await stubOf(t.id, 'ex');
    await runInDurableObject(stub, async (instance, state) => {
      const up = (await state.storage.get<{ label: string }>('ex:000000000000')) as Record<string, unknown>;
      await state.storage.put('ex:000000000000', { ...up, label: 'EVIL' });
      // The second example copied under another id.
      await state.storage.put('ex:000000000007', await state.storage.get('ex:000000000001'));
      (instance as unknown as { loadedFrom?: string }).loadedFrom = undefined;
    });
    const probe = { embeddings: [[0, 0, 0, 5]], rejectUnknown: false, topK: 3 };
    const first = await call('POST', '/v1/heads/ex/classify', { key: t.read, body: probe });
    expect(first.status).toBe(500);
    expect(first.body.error.code).toBe('STORAGE_CORRUPT');
    expect(first.body.error.message).toContain('checksum');
    expect(first.body.error.message).toMatch(/ids 0, 7/);
    const second = await call('POST', '/v1/heads/ex/classify', { key: t.read, body: probe });
    expect(second.status).toBe(200);
    expect(second.body.predictions[0].topK.map((p: { label: string }) => p.label)).not.toContain('EVIL');
  });
});
