-- SQLite only (the PostgreSQL migration of the same stamp changes nothing there): `apps` as a
-- `WITHOUT ROWID` table, its rows stored in the primary key's b-tree.
--
-- A rowid table with `id TEXT PRIMARY KEY` is two b-trees, the rows by rowid and the unique
-- index on `id`; every app created wrote a page of each to the WAL. App rows are small (an id,
-- an organization, an optional identity, three timestamps, metadata), the case `WITHOUT ROWID`
-- is for. Nothing refers to an app's rowid.
--
-- SQLite cannot change this in place: the table is rebuilt (its documented procedure: create,
-- copy, drop, rename, indexes again). Migrations run with foreign keys off
-- (`storage-diesel/src/migrations.rs`), so dropping the table the `accounts` and `instances`
-- rows refer to by name is allowed; every row is copied with its id, so no reference dangles
-- (the migration test `apps_without_rowid_keeps_rows_and_references` checks it, and that the
-- references are enforced afterwards).
CREATE TABLE apps_new (
    id           TEXT NOT NULL PRIMARY KEY,
    org_id       TEXT NOT NULL,
    identity_id  TEXT NULL REFERENCES identities (id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}'
) STRICT, WITHOUT ROWID;
INSERT INTO apps_new (id, org_id, identity_id, created_at, updated_at, deleted_at, metadata)
    SELECT id, org_id, identity_id, created_at, updated_at, deleted_at, metadata FROM apps;
DROP TABLE apps;
ALTER TABLE apps_new RENAME TO apps;
CREATE UNIQUE INDEX apps_org_identity_live_uq ON apps (org_id, identity_id)
    WHERE deleted_at IS NULL AND identity_id IS NOT NULL;
CREATE INDEX apps_org_created_live_idx ON apps (org_id, created_at, id) WHERE deleted_at IS NULL;
