-- Service-token expiry: the instant a token stops working (NULL: it lives until revoked).
-- Existing tokens keep no expiry. The PostgreSQL flavour (same version stamp) adds the same column.
ALTER TABLE service_tokens ADD COLUMN expires_at TEXT NULL;
