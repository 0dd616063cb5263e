/**
 * API key management, shared by the admin routes (any tenant) and the tenant routes (own keys):
 * issue, list, revoke, rotate. A key is shown once, when issued; only its SHA-256 is stored.
 */
import { forgetCachedKeys, newKey, newKeyId } from './auth.js';
import { sha256Hex } from './hash.js';
import { notFound } from './errors.js';
import type { KeyRow, Store } from './store/d1.js';

export type Scope = 'read' | 'write';

export interface IssuedKey {
  id: string;
  key: string;
  scope: Scope;
  tenant: string;
}

export async function issueKey(store: Store, tenantId: string, scope: Scope): Promise<IssuedKey> {
  const key = newKey();
  const id = newKeyId();
  await store.addKey(tenantId, id, await sha256Hex(key), scope);
  return { id, key, scope, tenant: tenantId };
}

/** What a listing shows of a key: never the key or its hash. */
export function keyInfo(row: KeyRow) {
  return { id: row.id, scope: row.scope, createdAt: row.created_at };
}

const noKey = (tenantId: string, id: string) => notFound(`Tenant ${tenantId} has no key ${id} (revoked already, or another tenant's).`);

export async function revokeKey(store: Store, tenantId: string, id: string): Promise<void> {
  const revoked = await store.revokeKey(tenantId, id);
  forgetCachedKeys();
  if (!revoked) throw noKey(tenantId, id);
}

/** A new key with the old one's scope; the old one is revoked in the same transaction. */
export async function rotateKey(store: Store, tenantId: string, id: string): Promise<IssuedKey & { replaces: string }> {
  const key = newKey();
  const newId = newKeyId();
  const scope = await store.rotateKey(tenantId, id, newId, await sha256Hex(key));
  forgetCachedKeys();
  if (!scope) throw noKey(tenantId, id);
  return { id: newId, key, scope, tenant: tenantId, replaces: id };
}
