-- A data repair cannot be undone (the inconsistent state it repaired is not recorded, and must
-- not come back): reverting it changes nothing. A statement rather than an empty file, which
-- PostgreSQL would refuse as an empty query.
SELECT 1;
