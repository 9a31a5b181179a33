-- Nothing on PostgreSQL, whose tables have no rowid: the SQLite migration of the same stamp
-- rebuilds `apps` there as a `WITHOUT ROWID` table. A statement rather than an empty file,
-- which PostgreSQL would refuse as an empty query.
SELECT 1;
