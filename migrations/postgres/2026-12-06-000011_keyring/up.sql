-- The master keyring's records (issue "key rotation"). The SQLite flavour (same version stamp)
-- creates the same tables.
--
-- keyring: one row, locked by a promotion (FOR UPDATE) and by a replica registering (FOR
-- SHARE), so the two never interleave. primary_key_id: the key every replica seals new values
-- under (NULL until the first replica starts: it records the first key of its ring).
CREATE TABLE keyring (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    primary_key_id  TEXT COLLATE "C" NULL,
    updated_at      TIMESTAMP NULL
);
INSERT INTO keyring (id) VALUES (1);

-- Keys retired by `authd key retire` (nothing sealed under them; never primary again).
CREATE TABLE retired_keys (
    key_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    retired_at  TIMESTAMP NOT NULL
);

-- One row per serving replica, refreshed by its heartbeat: the key ids of its ring (comma-
-- separated, in order) and the one it seals under. Removed when it stops.
CREATE TABLE replicas (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             BIGINT NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    seen_at         TIMESTAMP NOT NULL,
    key_ids         TEXT NOT NULL,
    sealing_key_id  TEXT NOT NULL
);

-- The keyring's system events (initialization, promotion, retirement, finished rewraps): not
-- any organization's, so not in audit_events.
CREATE TABLE key_events (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    action      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    details     TEXT NOT NULL
);

-- The key a secret is sealed under, as its envelope names it (NULL: no known envelope), kept
-- beside it so values can be counted and selected by key. Existing values: from their bytes
-- (0x01: key 0; 0x02 [n] [id]: that id).
ALTER TABLE accounts ADD COLUMN secret_key_id TEXT COLLATE "C" NULL;
UPDATE accounts SET secret_key_id = CASE
    WHEN get_byte(secret, 0) = 1 THEN '0'
    WHEN get_byte(secret, 0) = 2 AND length(secret) >= 2
        THEN convert_from(substring(secret from 3 for get_byte(secret, 1)), 'UTF8')
    ELSE NULL
END;
