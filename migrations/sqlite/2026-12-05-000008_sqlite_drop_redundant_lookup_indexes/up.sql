-- SQLite only (the PostgreSQL migration of the same stamp changes nothing there): drop the
-- `(org_id, id)` lookup indexes of 2026-11-25-000002.
--
-- They were added for PostgreSQL, whose cached generic plan for a prepared
-- `WHERE org_id = $1 AND id = $2` could pick a list index and scan a whole organization. SQLite
-- has no such trap: every one of these tables has `id TEXT PRIMARY KEY`, whose unique index
-- (`sqlite_autoindex_<table>_1`) answers `id = ?` in one seek, and the planner prefers a unique
-- equality over any other index (EXPLAIN QUERY PLAN: `SEARCH apps USING INDEX
-- sqlite_autoindex_apps_1 (id=?)`). Their uniqueness adds nothing either: `id` alone is unique.
--
-- What they cost: one more b-tree written by every insert, so one more page (4 KiB + its frame
-- header, two pwrite calls) appended to the WAL by every commit that creates an app, account,
-- identity or instance. Creating an app wrote 5.35 WAL frames per commit with it, 4.7 without
-- (the ceiling's one-row insert writes 2.3; counted with strace, 2026-12-05).
DROP INDEX IF EXISTS identities_org_id_live_uq;
DROP INDEX IF EXISTS apps_org_id_live_uq;
DROP INDEX IF EXISTS accounts_org_id_live_uq;
DROP INDEX IF EXISTS instances_org_id_uq;
