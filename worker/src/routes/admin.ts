/** Bootstrap routes, behind ADMIN_TOKEN: create tenants and their API keys. */
import { Hono } from 'hono';
import { newKey, requireAdmin, sha256Hex } from '../auth.js';
import { badRequest, notFound } from '../errors.js';
import type { AppEnv } from '../env.js';
import { readJsonObject } from '../request.js';
import { Store } from '../store/d1.js';

export const admin = new Hono<AppEnv>();
admin.use('*', requireAdmin);

admin.post('/tenants', async (c) => {
  const body = await readJsonObject(c);
  const name = body.name;
  if (typeof name !== 'string' || !name.trim() || name.length > 200) throw badRequest('INVALID_FIELD', '"name" must be a non-empty string (≤ 200 characters).');
  const id = `t_${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`;
  await new Store(c.env.DB).createTenant(id, name.trim());
  return c.json({ id, name: name.trim() }, 201);
});

admin.post('/tenants/:id/keys', async (c) => {
  const body = await readJsonObject(c);
  const scope = body.scope ?? 'read';
  if (scope !== 'read' && scope !== 'write') throw badRequest('INVALID_FIELD', '"scope" must be "read" or "write".');
  const store = new Store(c.env.DB);
  const tenantId = c.req.param('id');
  if (!(await store.tenantExists(tenantId))) throw notFound(`No tenant ${tenantId}.`);
  const key = newKey();
  await store.addKey(tenantId, await sha256Hex(key), scope);
  // The key itself is returned once and never stored.
  return c.json({ key, scope, tenant: tenantId }, 201);
});
