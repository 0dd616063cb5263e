-- An integrity seal per version: an HMAC (key: the INTEGRITY_KEY secret) over the row's tenant,
-- name, version, uid, blob key, sha256, size, kind, dim, labels, backbone and fingerprint. A row
-- without a valid seal is never served (STORAGE_CORRUPT). Rows written before this migration
-- have none: an admin seals them once with `POST /v1/admin/seal-versions`.
ALTER TABLE versions ADD COLUMN seal TEXT;
