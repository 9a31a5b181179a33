-- Service-token scopes and restrictions, and the organizations' own settings. The PostgreSQL
-- flavour (same version stamp) adds the same columns and table.
--
-- scopes: the token's scope names, space-separated (`apps:read otp:generate`), written and read
-- by the storage adapter; existing tokens keep full access: 'admin'.
-- restriction: the identities and apps the token is confined to (the domain's stored form:
-- space-separated `identity:<pattern>`, `identity:<handle>@<uuid>` and `app:<uuid>` items);
-- NULL: the whole organization. A stored value the domain cannot read is a corrupt row.
ALTER TABLE service_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE service_tokens ADD COLUMN restriction TEXT NULL;
-- parent_id: the token that minted it (NULL: minted by the CLI, or before this version);
-- revoking a token revokes its descendants.
ALTER TABLE service_tokens ADD COLUMN parent_id TEXT NULL;

-- One row per organization that has a setting. max_token_lifetime_seconds: the longest lifetime
-- a new service token of the organization may have (NULL or no row: no maximum; a value out of
-- the domain's bounds is a corrupt row).
CREATE TABLE org_settings (
    org_id                      TEXT NOT NULL PRIMARY KEY,
    max_token_lifetime_seconds  INTEGER NULL,
    updated_at                  TEXT NOT NULL
) STRICT;
