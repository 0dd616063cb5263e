-- Tenants, their API keys (only SHA-256 hashes are stored), heads, immutable versions and aliases.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
  created_at TEXT NOT NULL
);

CREATE TABLE heads (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

-- A version row is written only after its blob is in R2, in one statement: a failed upload
-- leaves no visible version.
CREATE TABLE versions (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  blob_key TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  kind TEXT NOT NULL,
  dim INTEGER NOT NULL,
  labels TEXT NOT NULL,
  backbone_id TEXT,
  fingerprint TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, name, version),
  FOREIGN KEY (tenant_id, name) REFERENCES heads(tenant_id, name) ON DELETE CASCADE
);

-- An alias points at a version, optionally sending `canary_weight` of traffic to another.
CREATE TABLE aliases (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  canary_version INTEGER,
  canary_weight REAL NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, name, alias),
  FOREIGN KEY (tenant_id, name) REFERENCES heads(tenant_id, name) ON DELETE CASCADE
);
