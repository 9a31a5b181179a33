-- Account metadata: the caller's own string keys and values, as one JSON object text written and
-- read by the storage adapter (at most 50 keys of 1-40 characters, values of at most 500: the
-- domain's limits, checked before a write; a stored value the domain would refuse is a corrupt
-- row). Existing accounts have none: '{}'. The SQLite flavour (same version stamp) adds the
-- same column.
ALTER TABLE accounts ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
