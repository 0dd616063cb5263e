import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { LinearHead, headToJson } from 'edgehead/heads';
import { createApp } from '../src/app.js';
import { aliasReadStats } from '../src/services/versions.js';
import { Store } from '../src/store/d1.js';
import { call, FINGERPRINT, headFile, isErrorBody, tenant, upload } from './helpers.js';
import { toyData } from './toy-data.js';

describe('service routes', () => {
  it('health, version and the OpenAPI document', async () => {
    expect((await call('GET', '/v1/health')).body).toEqual({ ok: true });
    expect((await call('GET', '/v1/version')).body).toMatchObject({ service: 'edgehead', headFormatVersion: 1, limits: { maxLabelLength: 200 } });
    const doc = await call('GET', '/v1/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toContain('/v1/heads/{ref}/classify');
  });

  it('unknown routes and bad admin tokens are JSON errors', async () => {
    const r = await call('GET', '/v1/nope');
    expect(r.status).toBe(404);
    expect(isErrorBody(r.body)).toBe(true);
    expect((await call('POST', '/v1/admin/tenants', { key: 'wrong', body: { name: 'x' } })).status).toBe(401);
  });
});

describe('heads: upload, versions, aliases, classify', () => {
  it('uploads immutable numbered versions and lists them', async () => {
    const t = await tenant();
    const v1 = await upload(t.write, 'toy', headFile('linear'));
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ name: 'toy', version: 1, kind: 'linear', dim: 4, labels: ['a', 'b', 'c'] });
    const v2 = await upload(t.write, 'toy', headFile('centroid'), 'prod');
    expect(v2.body).toMatchObject({ version: 2, kind: 'centroid', alias: 'prod' });
    const list = await call('GET', '/v1/heads', { key: t.read });
    expect(list.body.heads).toEqual([expect.objectContaining({ name: 'toy', latestVersion: 2, versions: 2 })]);
    const meta = await call('GET', '/v1/heads/toy', { key: t.read });
    expect(meta.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    expect(meta.body.aliases).toEqual([expect.objectContaining({ alias: 'prod', version: 2, canary: null })]);
  });

  it('classifies by name, name@version and name@alias; says which version answered', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    await upload(t.write, 'toy', headFile('knn'));
    await call('PUT', '/v1/heads/toy/aliases/prod', { key: t.write, body: { version: 1 } });
    const embeddings = [
      [0.9, 0.1, 0, 0.1],
      [0, 0.1, 1.1, 0.1],
    ];
    const latest = await call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings, rejectUnknown: false } });
    expect(latest.status).toBe(200);
    expect(latest.body.version).toBe(2);
    expect(latest.body.predictions.map((p: { label: string }) => p.label)).toEqual(['a', 'c']);
    expect((await call('POST', '/v1/heads/toy@1/classify', { key: t.read, body: { embeddings } })).body.version).toBe(1);
    const prod = await call('POST', '/v1/heads/toy@prod/classify', { key: t.read, body: { embeddings, topK: 2 } });
    expect(prod.body.version).toBe(1);
    expect(prod.body.predictions[0].topK).toHaveLength(2);
    // Moving the alias is atomic and takes effect at once.
    await call('PUT', '/v1/heads/toy/aliases/prod', { key: t.write, body: { version: 2 } });
    expect((await call('POST', '/v1/heads/toy@prod/classify', { key: t.read, body: { embeddings } })).body.version).toBe(2);
  });

  it('concurrent requests through an alias share its reads, and every request after a move gets the new version', async () => {
    const t = await tenant();
    await upload(t.write, 'moving', headFile('linear'));
    await upload(t.write, 'moving', headFile('linear'));
    await call('PUT', '/v1/heads/moving/aliases/prod', { key: t.write, body: { version: 1 } });
    const body = { embeddings: [[0.9, 0.1, 0, 0.1]] };
    const classify = () => call('POST', '/v1/heads/moving@prod/classify', { key: t.read, body });
    const before = aliasReadStats();
    const first = await Promise.all(Array.from({ length: 24 }, classify));
    const shared = aliasReadStats();
    expect(first.map((r) => r.body.version)).toEqual(Array(24).fill(1));
    expect(shared.members - before.members).toBe(24);
    expect(shared.rounds - before.rounds).toBeLessThan(24);
    // Requests in flight while the alias moves get either version; those sent after the move
    // was acknowledged get version 2, every one.
    const during = Array.from({ length: 12 }, classify);
    expect((await call('PUT', '/v1/heads/moving/aliases/prod', { key: t.write, body: { version: 2 } })).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 24 }, classify));
    expect((await Promise.all(during)).every((r) => r.body.version === 1 || r.body.version === 2)).toBe(true);
    expect(after.map((r) => r.body.version)).toEqual(Array(24).fill(2));
    expect(aliasReadStats().pending).toBe(0);
  });

  it('base64 little-endian float32 embeddings give the same answer as JSON arrays', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    const rows = [
      [0.9, 0.1, 0, 0.1],
      [0.1, 0.95, 0, 0.1],
    ];
    const bytes = new Uint8Array(new Float32Array(rows.flat()).buffer);
    const base64 = btoa(String.fromCharCode(...bytes));
    const a = await call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: rows } });
    const b = await call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: { base64, dim: 4 } } });
    expect(b.body.predictions).toEqual(a.body.predictions);
  });

  it('an alias can split traffic between two versions by weight', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    await upload(t.write, 'toy', headFile('linear'));
    await call('PUT', '/v1/heads/toy/aliases/live', { key: t.write, body: { version: 1, canary: { version: 2, weight: 0.3 } } });
    const counts: Record<number, number> = { 1: 0, 2: 0 };
    for (let i = 0; i < 80; i++) {
      const r = await call('POST', '/v1/heads/toy@live/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } });
      counts[r.body.version]++;
    }
    // 30 % of 80 = 24; a binomial(80, 0.3) lies in [10, 40] with probability > 0.9999.
    expect(counts[2]).toBeGreaterThanOrEqual(10);
    expect(counts[2]).toBeLessThanOrEqual(40);
    await call('PUT', '/v1/heads/toy/aliases/live', { key: t.write, body: { version: 1, canary: { version: 2, weight: 0 } } });
    for (let i = 0; i < 10; i++) expect((await call('POST', '/v1/heads/toy@live/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } })).body.version).toBe(1);
  });

  it('the worker predicts exactly what the SDK predicts locally from the same file', async () => {
    const t = await tenant();
    const { parseHead } = await import('edgehead/heads');
    for (const kind of ['linear', 'knn', 'centroid'] as const) {
      const file = headFile(kind);
      await upload(t.write, kind, file);
      const { x } = toyData();
      const remote = await call('POST', `/v1/heads/${kind}/classify`, { key: t.read, body: { embeddings: x, topK: 3 } });
      const local = parseHead(file).head.predict(x, { topK: 3 });
      expect(remote.body.predictions).toEqual(JSON.parse(JSON.stringify(local)));
    }
  });

  it('an alias serves the head uploaded again under a reused version number, not a row cached for the old one', async () => {
    const t = await tenant();
    await upload(t.write, 'again', headFile('linear'), 'prod');
    const before = await call('POST', '/v1/heads/again@prod/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]] } });
    expect(before.body.predictions[0].label).toBe('a');
    // Deleted from another isolate (straight in D1, so this isolate's caches are not told), then
    // uploaded again: version 1 once more, with other labels and a new id.
    await env.DB.batch([
      env.DB.prepare("DELETE FROM aliases WHERE tenant_id = ? AND name = 'again'").bind(t.id),
      env.DB.prepare("DELETE FROM versions WHERE tenant_id = ? AND name = 'again'").bind(t.id),
    ]);
    const { x, y } = toyData();
    const renamed = headToJson(LinearHead.fit(x, y.map((l) => `new-${l}`), { C: 10 }), { backbone: { id: 'toy', fingerprint: FINGERPRINT } });
    expect((await upload(t.write, 'again', renamed, 'prod')).body.version).toBe(1);
    const after = await call('POST', '/v1/heads/again@prod/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]] } });
    expect(after.body.predictions[0].label).toBe('new-a');
  });

  it('an alias read that names a version since replaced is read again, not answered from the number', async () => {
    const t = await tenant();
    await upload(t.write, 'race', headFile('linear'));
    const { x, y } = toyData();
    await upload(t.write, 'race', headToJson(LinearHead.fit(x, y.map((l) => `new-${l}`), { C: 10 }), { backbone: { id: 'toy', fingerprint: FINGERPRINT } }), 'prod');
    // As if the alias had been read (version 1, an id since deleted) just before the head was
    // replaced and the alias moved to version 2.
    const read = vi.spyOn(Store.prototype, 'aliasTargets').mockResolvedValueOnce({ main: { version: 1, uid: 'deleted-upload' }, canary: null, weight: 0 });
    const r = await call('POST', '/v1/heads/race@prod/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0.1]] } });
    expect(read).toHaveBeenCalledTimes(2);
    expect([r.body.version, r.body.predictions[0].label]).toEqual([2, 'new-a']);
    read.mockRestore();
  });

  it('deletes a head with its versions, aliases and blobs', async () => {
    const t = await tenant();
    await upload(t.write, 'gone', headFile('linear'), 'prod');
    expect((await call('DELETE', '/v1/heads/gone', { key: t.write })).body).toEqual({ deleted: 'gone', versions: 1 });
    expect((await call('GET', '/v1/heads/gone', { key: t.read })).status).toBe(404);
    const listed = await env.BLOBS.list({ prefix: `heads/${t.id}/gone/` });
    expect(listed.objects).toHaveLength(0);
  });
});

describe('bad input: 4xx with a message that says what to fix', () => {
  it('covers auth, scope, JSON, shapes, dimension, NaN, fingerprint and unknown refs', async () => {
    const t = await tenant();
    await upload(t.write, 'toy', headFile('linear'));
    const cases: Array<[Promise<{ status: number; body: any }>, number, string]> = [
      [call('POST', '/v1/heads/toy/classify', { body: { embeddings: [[1, 0, 0, 0]] } }), 401, 'UNAUTHORIZED'],
      [call('POST', '/v1/heads/toy/classify', { key: 'ehk_wrong', body: { embeddings: [[1, 0, 0, 0]] } }), 401, 'UNAUTHORIZED'],
      [upload(t.read, 'toy', headFile('linear')), 403, 'FORBIDDEN'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, raw: '{"embeddings": [[1,0,' }), 400, 'MALFORMED_JSON'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, raw: '[1,2]' }), 400, 'INVALID_BODY'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: 'x' } }), 400, 'INVALID_EMBEDDING'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [] } }), 400, 'EMPTY_BATCH'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0]] } }), 400, 'DIMENSION_MISMATCH'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 'a']] } }), 400, 'INVALID_EMBEDDING'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: { base64: btoa(String.fromCharCode(...new Uint8Array(new Float32Array([1, NaN, 0, 0]).buffer))), dim: 4 } } }), 400, 'INVALID_EMBEDDING'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: Array.from({ length: 300 }, () => [1, 0, 0, 0]) } }), 400, 'BATCH_TOO_LARGE'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]], fingerprint: 'sha256:other' } }), 409, 'BACKBONE_MISMATCH'],
      [call('POST', '/v1/heads/toy@7/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } }), 404, 'NOT_FOUND'],
      [call('POST', '/v1/heads/toy@beta/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } }), 404, 'NOT_FOUND'],
      [call('POST', '/v1/heads/toy@Bad!/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]] } }), 400, 'INVALID_REF'],
      [call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]], topK: 0 } }), 400, 'INVALID_FIELD'],
      [upload(t.write, 'toy', '{"format":"edgehead-head","formatVersion":9}'), 400, 'UNSUPPORTED_VERSION'],
      [upload(t.write, 'toy', headFile('linear').slice(0, 500)), 400, 'TRUNCATED'],
      [upload(t.write, 'bad name!', headFile('linear')), 400, 'INVALID_NAME'],
      [call('PUT', '/v1/heads/toy/aliases/prod', { key: t.write, body: { version: 9 } }), 404, 'NOT_FOUND'],
      [call('PUT', '/v1/heads/toy/aliases/prod', { key: t.write, body: { version: 1, canary: { version: 1, weight: 2 } } }), 400, 'INVALID_FIELD'],
      [call('POST', '/v1/heads/toy/examples', { key: t.write, body: { embeddings: [[1, 0, 0, 0]], labels: ['a'] } }), 400, 'NOT_SUPPORTED'],
    ];
    for (const [promise, status, code] of cases) {
      const r = await promise;
      expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status, code });
      expect(isErrorBody(r.body)).toBe(true);
    }
    const mismatch = await call('POST', '/v1/heads/toy/classify', { key: t.read, body: { embeddings: [[1, 0, 0, 0]], fingerprint: 'sha256:other' } });
    expect(mismatch.body.error.message).toContain(FINGERPRINT);
    expect(mismatch.body.error.message).toContain('sha256:other');
  });

  it('a body over the size cap is 413', async () => {
    const t = await tenant();
    const app = createApp();
    const res = await app.request(
      '/v1/heads/toy/versions',
      { method: 'POST', headers: { authorization: `Bearer ${t.write}` }, body: headFile('linear') },
      { ...env, MAX_BODY_BYTES: '100' },
    );
    expect(res.status).toBe(413);
    expect(isErrorBody(await res.json())).toBe(true);
  });
});

describe('tenants are isolated', () => {
  it("another tenant's head is the same 404 as a head that does not exist", async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    await upload(a.write, 'secret', headFile('linear'));
    const other = await call('POST', '/v1/heads/secret/classify', { key: b.read, body: { embeddings: [[1, 0, 0, 0]] } });
    const none = await call('POST', '/v1/heads/missing/classify', { key: b.read, body: { embeddings: [[1, 0, 0, 0]] } });
    expect(other.status).toBe(404);
    expect(other.body.error.message.replace('secret', 'X')).toBe(none.body.error.message.replace('missing', 'X'));
    expect((await call('GET', '/v1/heads/secret', { key: b.read })).status).toBe(404);
    expect((await call('DELETE', '/v1/heads/secret', { key: b.write })).status).toBe(404);
    expect((await call('GET', '/v1/heads', { key: b.read })).body.heads).toEqual([]);
    expect((await call('POST', '/v1/heads/secret/classify', { key: a.read, body: { embeddings: [[1, 0, 0, 0]] } })).status).toBe(200);
  });
});
