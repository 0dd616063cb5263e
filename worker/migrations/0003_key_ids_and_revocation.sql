-- Keys get a public id (to list, revoke and rotate them without ever showing the key or its
-- hash), and one revocation generation, bumped by every revocation: each isolate re-reads it at
-- least every 2 s and drops its cached keys when it has moved.
ALTER TABLE api_keys ADD COLUMN id TEXT;
UPDATE api_keys SET id = 'k_' || substr(key_hash, 1, 20) WHERE id IS NULL;
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE key_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO key_generation (id, generation) VALUES (1, 0);
