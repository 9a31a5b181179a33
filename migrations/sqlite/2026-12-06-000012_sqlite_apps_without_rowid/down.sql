-- Back to a rowid table (see up.sql).
CREATE TABLE apps_old (
    id           TEXT NOT NULL PRIMARY KEY,
    org_id       TEXT NOT NULL,
    identity_id  TEXT NULL REFERENCES identities (id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}'
) STRICT;
INSERT INTO apps_old (id, org_id, identity_id, created_at, updated_at, deleted_at, metadata)
    SELECT id, org_id, identity_id, created_at, updated_at, deleted_at, metadata FROM apps;
DROP TABLE apps;
ALTER TABLE apps_old RENAME TO apps;
CREATE UNIQUE INDEX apps_org_identity_live_uq ON apps (org_id, identity_id)
    WHERE deleted_at IS NULL AND identity_id IS NOT NULL;
CREATE INDEX apps_org_created_live_idx ON apps (org_id, created_at, id) WHERE deleted_at IS NULL;
