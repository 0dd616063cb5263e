/** Bootstrap routes, behind ADMIN_TOKEN: create tenants; issue, list, revoke and rotate their API keys; seal version rows. */
import type { EdgeApiBody as Body } from 'edgehead';
import { Hono, type Context } from 'hono';
import { requireAdmin } from '../auth.js';
import { CreateKeyRequest, CreateTenantRequest, validated } from '../contract.js';
import { notFound } from '../errors.js';
import type { AppEnv } from '../env.js';
import { integritySecret, sealVersion } from '../integrity.js';
import { issueKey, keyInfo, revokeKey, rotateKey } from '../keys.js';
import { readJsonObject } from '../request.js';
import { Store } from '../store/d1.js';

export const admin = new Hono<AppEnv>();
admin.use('*', requireAdmin);

admin.post('/tenants', async (c) => {
  const name = validated(CreateTenantRequest, await readJsonObject(c)).name.trim();
  const id = `t_${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`;
  await new Store(c.env.DB).createTenant(id, name);
  return c.json({ id, name } satisfies Body<'/v1/admin/tenants', 'post', 201>, 201);
});

/** The store, once the tenant in the path is known to exist. */
async function tenantStore(c: Context<AppEnv>): Promise<{ store: Store; tenantId: string }> {
  const store = new Store(c.env.DB);
  const tenantId = c.req.param('id') ?? '';
  if (!(await store.tenantExists(tenantId))) throw notFound(`No tenant ${tenantId}.`);
  return { store, tenantId };
}

admin.post('/tenants/:id/keys', async (c) => {
  const scope = validated(CreateKeyRequest, await readJsonObject(c)).scope ?? 'read';
  const { store, tenantId } = await tenantStore(c);
  // The key itself is returned once and never stored.
  return c.json((await issueKey(store, tenantId, scope)) satisfies Body<'/v1/admin/tenants/{id}/keys', 'post', 201>, 201);
});

admin.get('/tenants/:id/keys', async (c) => {
  const { store, tenantId } = await tenantStore(c);
  return c.json({ keys: (await store.listKeys(tenantId)).map(keyInfo) } satisfies Body<'/v1/admin/tenants/{id}/keys', 'get', 200>);
});

admin.delete('/tenants/:id/keys/:keyId', async (c) => {
  const { store, tenantId } = await tenantStore(c);
  await revokeKey(store, tenantId, c.req.param('keyId'));
  return c.json({ revoked: c.req.param('keyId') } satisfies Body<'/v1/admin/tenants/{id}/keys/{keyId}', 'delete', 200>);
});

admin.post('/tenants/:id/keys/:keyId/rotate', async (c) => {
  const { store, tenantId } = await tenantStore(c);
  return c.json((await rotateKey(store, tenantId, c.req.param('keyId'))) satisfies Body<'/v1/admin/tenants/{id}/keys/{keyId}/rotate', 'post', 201>, 201);
});

/**
 * Seals version rows that have no seal (written before migration 0004), or with `?all=true`
 * every row (after INTEGRITY_KEY changed). The admin vouches that the rows are intact: run it
 * once after migrating, not to silence a STORAGE_CORRUPT nobody explained.
 */
admin.post('/seal-versions', async (c) => {
  const all = c.req.query('all') === 'true';
  const store = new Store(c.env.DB);
  const secret = integritySecret(c.env);
  let after = 0;
  let sealed = 0;
  for (;;) {
    const rows = await store.rowsToSeal(all, after, 100);
    if (rows.length === 0) break;
    await store.setSeals(await Promise.all(rows.map(async (r) => ({ rid: r.rid, seal: await sealVersion(secret, r) }))));
    sealed += rows.length;
    after = rows[rows.length - 1].rid;
  }
  return c.json({ sealed } satisfies Body<'/v1/admin/seal-versions', 'post', 200>);
});
