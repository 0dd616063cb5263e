/** Tenants, keys, heads, versions and aliases in D1. Every query is scoped by tenant. */
/** A version by number and never-reused id. */
export interface VersionPointer {
  version: number;
  uid: string;
}

/** Where an alias points: its main version, and a canary taking `weight` of classify traffic. */
export interface AliasTargets {
  main: VersionPointer;
  canary: VersionPointer | null;
  weight: number;
}

export interface VersionRow {
  tenant_id: string;
  name: string;
  version: number;
  /** Never reused, even when a deleted head's name and version number come back: names its Durable Object. */
  uid: string;
  blob_key: string;
  sha256: string;
  size: number;
  /** Written only from a parsed head, and sealed: a changed kind fails the seal before it is used. */
  kind: 'linear' | 'knn' | 'centroid';
  dim: number;
  labels: string;
  backbone_id: string | null;
  fingerprint: string | null;
  /** Integrity seal over the other fields (integrity.ts); null for rows written before seals. */
  seal: string | null;
  created_at: string;
}

type Scope = 'read' | 'write';

export interface KeyRow {
  id: string;
  key_hash: string;
  scope: Scope;
  created_at: string;
}

export interface AliasRow {
  alias: string;
  version: number;
  canary_version: number | null;
  canary_weight: number;
  updated_at: string;
}

const now = () => new Date().toISOString();

export class Store {
  constructor(private readonly db: D1Database) {}

  async createTenant(id: string, name: string): Promise<void> {
    await this.db.prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)').bind(id, name, now()).run();
  }

  async tenantExists(id: string): Promise<boolean> {
    return (await this.db.prepare('SELECT 1 AS x FROM tenants WHERE id = ?').bind(id).first()) !== null;
  }

  async addKey(tenantId: string, id: string, keyHash: string, scope: 'read' | 'write'): Promise<void> {
    await this.db.prepare('INSERT INTO api_keys (id, key_hash, tenant_id, scope, created_at) VALUES (?, ?, ?, ?, ?)').bind(id, keyHash, tenantId, scope, now()).run();
  }

  async listKeys(tenantId: string): Promise<KeyRow[]> {
    const { results } = await this.db
      .prepare('SELECT id, key_hash, scope, created_at FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id')
      .bind(tenantId)
      .all<KeyRow>();
    return results;
  }

  /** The key's tenant and scope, with the revocation generation read by the same statement (one round trip, one snapshot). */
  async keyWithGeneration(keyHash: string): Promise<{ key: { tenant_id: string; scope: Scope } | null; generation: number }> {
    const row = await this.db
      .prepare(
        `SELECT g.generation, k.tenant_id, k.scope FROM key_generation g LEFT JOIN api_keys k ON k.key_hash = ?
         WHERE g.id = 1`,
      )
      .bind(keyHash)
      .first<{ generation: number; tenant_id: string | null; scope: Scope | null }>();
    const key = row?.tenant_id && row.scope ? { tenant_id: row.tenant_id, scope: row.scope } : null;
    return { key, generation: row?.generation ?? 0 };
  }

  async keyGeneration(): Promise<number> {
    return (await this.db.prepare('SELECT generation FROM key_generation WHERE id = 1').first<{ generation: number }>())?.generation ?? 0;
  }

  /** Deletes the tenant's key and bumps the revocation generation, in one transaction; false if no such key. */
  async revokeKey(tenantId: string, id: string): Promise<boolean> {
    const [deleted] = await this.db.batch([
      this.db.prepare('DELETE FROM api_keys WHERE tenant_id = ? AND id = ? RETURNING id').bind(tenantId, id),
      this.db.prepare('UPDATE key_generation SET generation = generation + 1 WHERE id = 1'),
    ]);
    return deleted.results.length > 0;
  }

  /**
   * Replaces the tenant's key by a new one with the same scope, in one transaction (the old key
   * is revoked as by revokeKey); the new key's scope, or null if there was no such key.
   */
  async rotateKey(tenantId: string, id: string, newId: string, newHash: string): Promise<'read' | 'write' | null> {
    const [inserted] = await this.db.batch([
      this.db
        .prepare('INSERT INTO api_keys (id, key_hash, tenant_id, scope, created_at) SELECT ?, ?, tenant_id, scope, ? FROM api_keys WHERE tenant_id = ? AND id = ? RETURNING scope')
        .bind(newId, newHash, now(), tenantId, id),
      this.db.prepare('DELETE FROM api_keys WHERE tenant_id = ? AND id = ?').bind(tenantId, id),
      this.db.prepare('UPDATE key_generation SET generation = generation + 1 WHERE id = 1'),
    ]);
    return (inserted.results[0] as { scope: 'read' | 'write' } | undefined)?.scope ?? null;
  }

  /**
   * Creates the head if needed and inserts the next version number in one batch (a D1
   * transaction): either both rows land or neither does. The number is computed inside the
   * statement (concurrent uploads get 1..n, no gaps), but the seal binds it, so the caller seals
   * every number from `base + 1` to `base + window` and the statement stores the one it took;
   * null when concurrent uploads took all of them (read the base again and retry).
   */
  async insertVersion(
    row: Omit<VersionRow, 'version' | 'created_at' | 'seal'>,
    seals: { base: number; seals: string[] },
    alias?: string,
  ): Promise<VersionRow | null> {
    const created = now();
    const aliasStatement = alias
      ? [
          this.db
            .prepare(
              `INSERT INTO aliases (tenant_id, name, alias, version, canary_version, canary_weight, updated_at)
               SELECT ?1, ?2, ?3, version, NULL, 0, ?4 FROM versions WHERE uid = ?5
               ON CONFLICT (tenant_id, name, alias) DO UPDATE SET version = excluded.version, canary_version = NULL, canary_weight = 0, updated_at = excluded.updated_at`,
            )
            .bind(row.tenant_id, row.name, alias, created, row.uid),
        ]
      : [];
    const results = await this.db.batch([
      this.db.prepare('INSERT OR IGNORE INTO heads (tenant_id, name, created_at) VALUES (?, ?, ?)').bind(row.tenant_id, row.name, created),
      this.db
        .prepare(
          `INSERT INTO versions (tenant_id, name, version, uid, blob_key, sha256, size, kind, dim, labels, backbone_id, fingerprint, seal, created_at)
           SELECT ?1, ?2, n.next, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, json_extract(?13, '$[' || CAST(n.next - ?14 - 1 AS INTEGER) || ']'), ?12
           FROM (SELECT COALESCE(MAX(version), 0) + 1 AS next FROM versions WHERE tenant_id = ?1 AND name = ?2) n
           WHERE n.next BETWEEN ?14 + 1 AND ?14 + ?15
           RETURNING version, seal, created_at`,
        )
        .bind(row.tenant_id, row.name, row.uid, row.blob_key, row.sha256, row.size, row.kind, row.dim, row.labels, row.backbone_id, row.fingerprint, created, JSON.stringify(seals.seals), seals.base, seals.seals.length),
      ...aliasStatement,
    ]);
    const inserted = results[1].results[0] as Pick<VersionRow, 'version' | 'seal' | 'created_at'> | undefined;
    return inserted ? { ...row, ...inserted } : null;
  }

  /** The head's highest version number (0 for none). */
  async maxVersion(tenantId: string, name: string): Promise<number> {
    return (await this.db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM versions WHERE tenant_id = ? AND name = ?').bind(tenantId, name).first<{ v: number }>())?.v ?? 0;
  }

  /** Rows to seal: those without a seal, or every row (`all`), a page at a time by rowid. */
  async rowsToSeal(all: boolean, afterRowid: number, limit: number): Promise<(VersionRow & { rid: number })[]> {
    const { results } = await this.db
      .prepare(`SELECT rowid AS rid, * FROM versions WHERE rowid > ? ${all ? '' : 'AND seal IS NULL'} ORDER BY rowid LIMIT ?`)
      .bind(afterRowid, limit)
      .all<VersionRow & { rid: number }>();
    return results;
  }

  async setSeals(seals: { rid: number; seal: string }[]): Promise<void> {
    if (seals.length) await this.db.batch(seals.map((s) => this.db.prepare('UPDATE versions SET seal = ? WHERE rowid = ?').bind(s.seal, s.rid)));
  }

  async listHeads(tenantId: string) {
    const { results } = await this.db
      .prepare(
        `SELECT h.name, h.created_at, MAX(v.version) AS latest, COUNT(v.version) AS versions
         FROM heads h LEFT JOIN versions v ON v.tenant_id = h.tenant_id AND v.name = h.name
         WHERE h.tenant_id = ? GROUP BY h.name, h.created_at ORDER BY h.name`,
      )
      .bind(tenantId)
      .all<{ name: string; created_at: string; latest: number | null; versions: number }>();
    return results;
  }

  async versions(tenantId: string, name: string): Promise<VersionRow[]> {
    const { results } = await this.db.prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ? ORDER BY version').bind(tenantId, name).all<VersionRow>();
    return results;
  }

  async version(tenantId: string, name: string, version: number): Promise<VersionRow | null> {
    return this.db.prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ? AND version = ?').bind(tenantId, name, version).first<VersionRow>();
  }

  async latestVersion(tenantId: string, name: string): Promise<VersionRow | null> {
    return this.db.prepare('SELECT * FROM versions WHERE tenant_id = ? AND name = ? ORDER BY version DESC LIMIT 1').bind(tenantId, name).first<VersionRow>();
  }

  /** The alias's target and canary rows in one read (the caller picks by weight). */
  /**
   * An alias's targets as version numbers and their never-reused ids, not whole rows: the rows
   * come from the isolate's version cache, checked against the ids (a head deleted and uploaded
   * again reuses numbers, never ids).
   */
  async aliasTargets(tenantId: string, name: string, alias: string): Promise<AliasTargets | null> {
    const { results } = await this.db
      .prepare(
        `SELECT v.version, v.uid, a.version AS alias_main, a.canary_weight AS alias_weight FROM aliases a JOIN versions v
           ON v.tenant_id = a.tenant_id AND v.name = a.name AND (v.version = a.version OR v.version = a.canary_version)
         WHERE a.tenant_id = ? AND a.name = ? AND a.alias = ?`,
      )
      .bind(tenantId, name, alias)
      .all<VersionPointer & { alias_main: number; alias_weight: number }>();
    const main = results.find((r) => r.version === r.alias_main);
    if (!main) return null;
    const pointer = (r: VersionPointer): VersionPointer => ({ version: r.version, uid: r.uid });
    const canary = results.find((r) => r.version !== r.alias_main);
    return { main: pointer(main), canary: canary ? pointer(canary) : null, weight: main.alias_weight };
  }

  async aliases(tenantId: string, name: string): Promise<AliasRow[]> {
    const { results } = await this.db
      .prepare('SELECT alias, version, canary_version, canary_weight, updated_at FROM aliases WHERE tenant_id = ? AND name = ? ORDER BY alias')
      .bind(tenantId, name)
      .all<AliasRow>();
    return results;
  }

  async alias(tenantId: string, name: string, alias: string): Promise<AliasRow | null> {
    return this.db
      .prepare('SELECT alias, version, canary_version, canary_weight, updated_at FROM aliases WHERE tenant_id = ? AND name = ? AND alias = ?')
      .bind(tenantId, name, alias)
      .first<AliasRow>();
  }

  /** Moves (or creates) an alias in one statement: readers see the old or the new target, never a mix. */
  async setAlias(tenantId: string, name: string, alias: string, version: number, canary: { version: number; weight: number } | null): Promise<void> {
    await this.db
      .prepare(
        `INSERT INTO aliases (tenant_id, name, alias, version, canary_version, canary_weight, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, name, alias) DO UPDATE SET version = excluded.version, canary_version = excluded.canary_version,
           canary_weight = excluded.canary_weight, updated_at = excluded.updated_at`,
      )
      .bind(tenantId, name, alias, version, canary?.version ?? null, canary?.weight ?? 0, now())
      .run();
  }

  async deleteAlias(tenantId: string, name: string, alias: string): Promise<boolean> {
    const r = await this.db.prepare('DELETE FROM aliases WHERE tenant_id = ? AND name = ? AND alias = ?').bind(tenantId, name, alias).run();
    return r.meta.changes > 0;
  }

  /**
   * Deletes a head with its versions and aliases in one batch; returns exactly the version rows it
   * deleted (their blobs and Durable Object state are the caller's to remove), or null if no head.
   */
  async deleteHead(tenantId: string, name: string): Promise<VersionRow[] | null> {
    const [, versions, heads] = await this.db.batch([
      this.db.prepare('DELETE FROM aliases WHERE tenant_id = ? AND name = ?').bind(tenantId, name),
      this.db.prepare('DELETE FROM versions WHERE tenant_id = ? AND name = ? RETURNING *').bind(tenantId, name),
      this.db.prepare('DELETE FROM heads WHERE tenant_id = ? AND name = ? RETURNING name').bind(tenantId, name),
    ]);
    if (heads.results.length === 0) return null;
    return versions.results as VersionRow[];
  }
}
