-- authd schema, PostgreSQL flavour. The SQLite flavour (migrations/sqlite, same version stamp)
-- must describe the same tables, columns, constraints and indexes.
--
-- Conventions (shared with SQLite):
-- - only the SQL types diesel's MultiConnection supports: TEXT, BIGINT, INTEGER, BYTEA and
--   TIMESTAMP (without time zone, always UTC);
-- - ids are UUIDs as lower-case hyphenated TEXT; identifier columns use the "C" collation, so
--   comparisons and index order are plain byte order, as in SQLite;
-- - nothing is hard-deleted by the application: `deleted_at` (or `revoked_at`) marks a row gone,
--   so every unique rule among live rows is a partial unique index `WHERE deleted_at IS NULL`;
-- - every table carries org_id and every index used by a request leads with it (the token
--   hashes, looked up across orgs, are the exception).

CREATE TABLE identities (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL,
    handle      TEXT COLLATE "C" NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    deleted_at  TIMESTAMP NULL
);

-- One live identity per handle and org (HandleTaken).
CREATE UNIQUE INDEX identities_org_handle_live_uq ON identities (org_id, handle) WHERE deleted_at IS NULL;
-- list_identities (newest first).
CREATE INDEX identities_org_created_live_idx ON identities (org_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE apps (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id       TEXT COLLATE "C" NOT NULL,
    identity_id  TEXT COLLATE "C" NULL REFERENCES identities (id),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    deleted_at   TIMESTAMP NULL
);

-- One live app per identity (IdentityHasApp); also serves app_of_identity.
CREATE UNIQUE INDEX apps_org_identity_live_uq ON apps (org_id, identity_id)
    WHERE deleted_at IS NULL AND identity_id IS NOT NULL;
-- list_apps (oldest first).
CREATE INDEX apps_org_created_live_idx ON apps (org_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE accounts (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    otp_type      TEXT NOT NULL CHECK (otp_type IN ('totp', 'hotp')),
    issuer        TEXT NULL,
    account_name  TEXT NOT NULL,
    display_name  TEXT NULL,
    description   TEXT NULL,
    algorithm     TEXT NOT NULL CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
    digits        INTEGER NOT NULL CHECK (digits IN (6, 8)),
    period        INTEGER NULL CHECK (period BETWEEN 1 AND 86400),
    counter       BIGINT NULL CHECK (counter >= 0),
    -- [key version][24-byte nonce][XChaCha20-Poly1305 ciphertext + tag]; never the plaintext.
    secret        BYTEA NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP NULL,
    CHECK ((otp_type = 'totp' AND period IS NOT NULL AND counter IS NULL)
        OR (otp_type = 'hotp' AND period IS NULL AND counter IS NOT NULL))
);

-- list_accounts (oldest first) and the DeleteAccountsOfApp cascade step.
CREATE INDEX accounts_org_app_created_live_idx ON accounts (org_id, app_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE instances (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES apps (id),
    identity_id   TEXT COLLATE "C" NOT NULL REFERENCES identities (id),
    device_id     TEXT COLLATE "C" NOT NULL,
    device_name   TEXT NOT NULL,
    platform      TEXT NOT NULL CHECK (platform IN ('ANDROID', 'IOS', 'WEB', 'WINDOWS', 'MACOS', 'LINUX', 'OTHER')),
    -- SHA-256 of the device token; never the token.
    token_hash    BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP NULL,
    deleted_at    TIMESTAMP NULL
);

-- list_instances (oldest first) and the RevokeInstancesOfApp cascade step.
CREATE INDEX instances_org_app_created_live_idx ON instances (org_id, app_id, created_at, id) WHERE deleted_at IS NULL;
-- list_identity_instances (OneWelcome, oldest first).
CREATE INDEX instances_org_identity_created_live_idx ON instances (org_id, identity_id, created_at, id)
    WHERE deleted_at IS NULL;

CREATE TABLE service_tokens (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL,
    name          TEXT NULL,
    -- SHA-256 of the token; never the token.
    token_hash    BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP NULL,
    revoked_at    TIMESTAMP NULL
);

-- list_service_tokens of one org (oldest first).
CREATE INDEX service_tokens_org_created_idx ON service_tokens (org_id, created_at, id);
