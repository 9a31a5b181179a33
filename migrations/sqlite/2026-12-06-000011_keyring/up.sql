-- The master keyring's records (issue "key rotation"). The PostgreSQL flavour (same version
-- stamp) creates the same tables.
--
-- keyring: one row. primary_key_id: the key every replica seals new values under (NULL until
-- the first replica starts: it records the first key of its ring).
CREATE TABLE keyring (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    primary_key_id  TEXT NULL,
    updated_at      TEXT NULL
) STRICT;
INSERT INTO keyring (id) VALUES (1);

-- Keys retired by `authd key retire` (nothing sealed under them; never primary again).
CREATE TABLE retired_keys (
    key_id      TEXT NOT NULL PRIMARY KEY,
    retired_at  TEXT NOT NULL
) STRICT;

-- One row per serving replica, refreshed by its heartbeat: the key ids of its ring (comma-
-- separated, in order) and the one it seals under. Removed when it stops.
CREATE TABLE replicas (
    id              TEXT NOT NULL PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    seen_at         TEXT NOT NULL,
    key_ids         TEXT NOT NULL,
    sealing_key_id  TEXT NOT NULL
) STRICT;

-- The keyring's system events (initialization, promotion, retirement, finished rewraps): not
-- any organization's, so not in audit_events.
CREATE TABLE key_events (
    id          TEXT NOT NULL PRIMARY KEY,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    details     TEXT NOT NULL
) STRICT;

-- The key a secret is sealed under, as its envelope names it (NULL: no known envelope), kept
-- beside it so values can be counted and selected by key. Existing values: from their bytes
-- (0x01: key 0; 0x02 [n] [id]: that id).
ALTER TABLE accounts ADD COLUMN secret_key_id TEXT NULL;
UPDATE accounts SET secret_key_id = CASE
    WHEN substr(secret, 1, 1) = x'01' THEN '0'
    WHEN substr(secret, 1, 1) = x'02' AND length(secret) >= 2
        THEN CAST(substr(secret, 3, unicode(CAST(substr(secret, 2, 1) AS TEXT))) AS TEXT)
    ELSE NULL
END;
