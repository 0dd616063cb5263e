import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { aliasDirectoryName, ALIAS_DIRECTORY_TTL_MS } from '../src/durable/alias-directory.js';
import { Store, type AliasTargets } from '../src/store/d1.js';
import { call, headFile, tenant, upload } from './helpers.js';

const directory = (tenantId: string, name: string) => env.ALIASES.get(env.ALIASES.idFromName(aliasDirectoryName(tenantId, name)));
const embeddings = [[0.9, 0.1, 0, 0.1]];

/** The directory's insides a test reaches into: its D1 read (to hold or fail it) and its answers (to age them). */
interface DirectoryInsides {
  read: () => Promise<AliasTargets>;
  answers: Map<string, { readAt: number }>;
}
const inside = (stub: ReturnType<typeof directory>, fn: (d: DirectoryInsides) => void) => runInDurableObject(stub, (instance) => fn(instance as unknown as DirectoryInsides));

/** A head with two linear versions and `prod` on version 1. */
async function twoVersions(name: string) {
  const t = await tenant();
  await upload(t.write, name, headFile('linear'));
  await upload(t.write, name, headFile('linear'));
  expect((await call('PUT', `/v1/heads/${name}/aliases/prod`, { key: t.write, body: { version: 1 } })).status).toBe(200);
  const classify = () => call('POST', `/v1/heads/${name}@prod/classify`, { key: t.read, body: { embeddings } });
  return { t, classify };
}

describe('alias directory: aliases answered from memory, moves immediate', () => {
  it('a busy alias costs one D1 read until it moves, then one more', async () => {
    const { classify } = await twoVersions('busy');
    const reads = vi.spyOn(Store.prototype, 'aliasTargets');
    try {
      const first = await Promise.all(Array.from({ length: 16 }, classify));
      for (let i = 0; i < 8; i++) expect((await classify()).body.version).toBe(1);
      expect(first.map((r) => r.body.version)).toEqual(Array(16).fill(1));
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });

  it('every kind of alias change is seen by the next request: move, upload with ?alias, delete alias, delete head', async () => {
    const { t, classify } = await twoVersions('changes');
    expect((await classify()).body.version).toBe(1);
    await call('PUT', '/v1/heads/changes/aliases/prod', { key: t.write, body: { version: 2 } });
    expect((await classify()).body.version).toBe(2);
    expect((await upload(t.write, 'changes', headFile('linear'), 'prod')).body.version).toBe(3);
    expect((await classify()).body.version).toBe(3);
    expect((await call('DELETE', '/v1/heads/changes/aliases/prod', { key: t.write })).status).toBe(200);
    expect((await classify()).status).toBe(404);
    await call('PUT', '/v1/heads/changes/aliases/prod', { key: t.write, body: { version: 1 } });
    expect((await classify()).body.version).toBe(1);
    expect((await call('DELETE', '/v1/heads/changes', { key: t.write })).status).toBe(200);
    expect((await classify()).status).toBe(404);
    // Uploaded again under the same name: version 1 once more, a new upload.
    await upload(t.write, 'changes', headFile('centroid'), 'prod');
    const again = await classify();
    expect([again.status, again.body.version]).toEqual([200, 1]);
    expect((await call('GET', '/v1/heads/changes', { key: t.read })).body.versions[0].kind).toBe('centroid');
  });

  it('a read in flight when a move is announced answers only those who asked before it, and is not kept', async () => {
    const t = await tenant();
    const stub = directory(t.id, 'racing');
    const old: AliasTargets = { main: { version: 1, uid: 'v_old' }, canary: null, weight: 0 };
    const moved: AliasTargets = { main: { version: 2, uid: 'v_new' }, canary: null, weight: 0 };
    // The directory's D1 read held open: the first read returns the old target late, the next the new one.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    await inside(stub, (d) => {
      d.read = async () => {
        calls++;
        if (calls === 1) {
          await held;
          return old;
        }
        return moved;
      };
    });
    const before = stub.targets(t.id, 'racing', 'prod');
    await vi.waitFor(() => expect(calls).toBe(1));
    await stub.moved();
    const after = await stub.targets(t.id, 'racing', 'prod');
    release();
    expect(await before).toEqual(old);
    expect(after).toEqual(moved);
    expect(calls).toBe(2);
    // And what is kept is the read made after the move.
    expect(await stub.targets(t.id, 'racing', 'prod')).toEqual(moved);
    expect(calls).toBe(2);
  });

  it('an alias changed in D1 behind the directory (by hand, or an announcement that failed) is seen within its TTL', async () => {
    const { t, classify } = await twoVersions('by-hand');
    expect((await classify()).body.version).toBe(1);
    await env.DB.prepare("UPDATE aliases SET version = 2 WHERE tenant_id = ? AND name = 'by-hand' AND alias = 'prod'").bind(t.id).run();
    // Not announced: the directory still answers from memory ...
    expect((await classify()).body.version).toBe(1);
    // ... until its answer is older than the TTL.
    await inside(directory(t.id, 'by-hand'), (d) => {
      for (const a of d.answers.values()) a.readAt -= ALIAS_DIRECTORY_TTL_MS;
    });
    expect((await classify()).body.version).toBe(2);
  });

  it('a failed directory read is not remembered: the next request reads again', async () => {
    const t = await tenant();
    const stub = directory(t.id, 'flaky');
    const targets: AliasTargets = { main: { version: 1, uid: 'v_1' }, canary: null, weight: 0 };
    let calls = 0;
    await inside(stub, (d) => {
      d.read = async () => {
        if (++calls === 1) throw new Error('D1 is away');
        return targets;
      };
    });
    const failed = await stub.targets(t.id, 'flaky', 'prod').then(
      () => 'answered',
      (e: Error) => e.message,
    );
    expect(failed).toContain('D1 is away');
    expect(await stub.targets(t.id, 'flaky', 'prod')).toEqual(targets);
    expect(calls).toBe(2);
  });
});
