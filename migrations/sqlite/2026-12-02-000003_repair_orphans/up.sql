-- Data repair, no schema change. Before this version, concurrent requests on PostgreSQL could
-- interleave with a cascade (delete app, unlink app, delete identity; see PRODUCT.md, "Lifecycle
-- and soft-delete cascades") and leave records the cascade should have reached:
--   (a) live accounts of a deleted app;
--   (b) live instances of a deleted app;
--   (c) live instances whose identity is deleted;
--   (d) live apps still linked to a deleted identity (the app could never be reassigned);
--   (e) live instances of a live app no longer linked to the instance's identity.
-- A device token of an instance of (b), (c) or (e) would still work. This migration applies the
-- missing part of each cascade, with the timestamp of the cascade it belongs to, so a cascade can
-- still be identified as a unit by its one `deleted_at`:
--   (a), (b) the app's deleted_at; (c), (d) the identity's deleted_at; (e) the app's updated_at,
--   the time of its last link change (so (e) runs after (d), which sets it).
-- Only live rows (`deleted_at IS NULL`) are touched, and every join is on (org_id, id). On a
-- consistent database no row matches and nothing changes. The SQL is the same for SQLite and
-- PostgreSQL (migrations/sqlite and migrations/postgres, same version stamp).
--
-- It cannot be undone: down.sql is a no-op (`SELECT 1;`), since the inconsistent state is not
-- recorded and must not come back. Running it again (after a revert) finds nothing to repair.
--
-- SET (..) = (SELECT ..) and every other expression of an UPDATE see the row as it was before the
-- UPDATE, on both backends.

-- (a) Live accounts of a deleted app: deleted with the app.
UPDATE accounts
SET (deleted_at, updated_at) = (
    SELECT a.deleted_at, a.deleted_at FROM apps a
    WHERE a.org_id = accounts.org_id AND a.id = accounts.app_id
)
WHERE accounts.deleted_at IS NULL
  AND EXISTS (
    SELECT 1 FROM apps a
    WHERE a.org_id = accounts.org_id AND a.id = accounts.app_id AND a.deleted_at IS NOT NULL
  );

-- (b) Live instances of a deleted app: deleted with the app.
UPDATE instances
SET (deleted_at, updated_at) = (
    SELECT a.deleted_at, a.deleted_at FROM apps a
    WHERE a.org_id = instances.org_id AND a.id = instances.app_id
)
WHERE instances.deleted_at IS NULL
  AND EXISTS (
    SELECT 1 FROM apps a
    WHERE a.org_id = instances.org_id AND a.id = instances.app_id AND a.deleted_at IS NOT NULL
  );

-- (c) Live instances whose identity is deleted: revoked with the identity.
UPDATE instances
SET (deleted_at, updated_at) = (
    SELECT i.deleted_at, i.deleted_at FROM identities i
    WHERE i.org_id = instances.org_id AND i.id = instances.identity_id
)
WHERE instances.deleted_at IS NULL
  AND EXISTS (
    SELECT 1 FROM identities i
    WHERE i.org_id = instances.org_id AND i.id = instances.identity_id AND i.deleted_at IS NOT NULL
  );

-- (d) Live apps linked to a deleted identity: unlinked with the identity (updated_at is computed
-- from the old identity_id).
UPDATE apps
SET updated_at = (
        SELECT i.deleted_at FROM identities i
        WHERE i.org_id = apps.org_id AND i.id = apps.identity_id
    ),
    identity_id = NULL
WHERE apps.deleted_at IS NULL
  AND EXISTS (
    SELECT 1 FROM identities i
    WHERE i.org_id = apps.org_id AND i.id = apps.identity_id AND i.deleted_at IS NOT NULL
  );

-- (e) Live instances of a live app that is unlinked or linked to another identity: revoked at the
-- app's last link change.
UPDATE instances
SET (deleted_at, updated_at) = (
    SELECT a.updated_at, a.updated_at FROM apps a
    WHERE a.org_id = instances.org_id AND a.id = instances.app_id
)
WHERE instances.deleted_at IS NULL
  AND EXISTS (
    SELECT 1 FROM apps a
    WHERE a.org_id = instances.org_id AND a.id = instances.app_id AND a.deleted_at IS NULL
      AND (a.identity_id IS NULL OR a.identity_id <> instances.identity_id)
  );
