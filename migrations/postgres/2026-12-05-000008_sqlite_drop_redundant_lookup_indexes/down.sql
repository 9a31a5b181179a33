-- Nothing on PostgreSQL: its `(org_id, id)` lookup indexes (2026-11-25-000002) keep its generic
-- plans on the right index. The SQLite migration of the same stamp drops them there, where the
-- primary key serves the same lookups. A statement rather than an empty file, which PostgreSQL
-- would refuse as an empty query.
SELECT 1;
