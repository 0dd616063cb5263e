-- A never-reused id per version. It names the version's Durable Object (online examples), so a
-- head deleted and uploaded again under the same name and number starts with no stale state.
-- Existing rows get the name their Durable Object already had, and keep their examples.
ALTER TABLE versions ADD COLUMN uid TEXT;
UPDATE versions SET uid = tenant_id || '/' || name || '/' || version WHERE uid IS NULL;
