-- App metadata: the caller's own string keys and values, stored as the accounts' are (one JSON
-- object text, written and read by the storage adapter; the domain's limits are checked before a
-- write, and a stored value the domain would refuse is a corrupt row). Existing apps have none:
-- '{}'. The SQLite flavour (same version stamp) adds the same column.
ALTER TABLE apps ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
