/** A tenant's own API keys, managed with one of its write keys: list, revoke, rotate. */
import type { EdgeApiBody as Body } from 'edgehead';
import { Hono } from 'hono';
import { requireKey } from '../auth.js';
import type { AppEnv } from '../env.js';
import { keyInfo, revokeKey, rotateKey } from '../keys.js';
import { Store } from '../store/d1.js';

export const keys = new Hono<AppEnv>();
keys.use('*', requireKey('write'));

keys.get('/', async (c) => {
  const { tenantId, keyHash } = c.get('principal');
  const rows = await new Store(c.env.DB).listKeys(tenantId);
  return c.json({ keys: rows.map((r) => ({ ...keyInfo(r), current: r.key_hash === keyHash })) } satisfies Body<'/v1/keys', 'get', 200>);
});

keys.delete('/:keyId', async (c) => {
  await revokeKey(new Store(c.env.DB), c.get('principal').tenantId, c.req.param('keyId'));
  return c.json({ revoked: c.req.param('keyId') } satisfies Body<'/v1/keys/{keyId}', 'delete', 200>);
});

keys.post('/:keyId/rotate', async (c) =>
  c.json((await rotateKey(new Store(c.env.DB), c.get('principal').tenantId, c.req.param('keyId'))) satisfies Body<'/v1/keys/{keyId}/rotate', 'post', 201>, 201),
);
