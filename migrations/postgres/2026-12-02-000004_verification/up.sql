-- The verify capability: each account's verification window and its replay and throttling state,
-- in the account row itself, so that every outcome of a verification is one conditional UPDATE
-- of that row (race-free across replicas, no lock, no read-modify-write). The SQLite flavour
-- (same version stamp) adds the same columns.
--
-- - verify_window: TOTP steps either side / HOTP counters ahead; NULL for the type's default.
-- - last_verified_step: TOTP: the last time step accepted; it and every earlier one are refused.
--   (HOTP replay protection is the counter itself: an accepted counter moves it past.)
-- - failed_attempts: failed verifications since the last success.
-- - locked_until: verifications are refused until then (UTC, like every timestamp).
ALTER TABLE accounts ADD COLUMN verify_window INTEGER NULL CHECK (verify_window BETWEEN 0 AND 10);
ALTER TABLE accounts ADD COLUMN last_verified_step BIGINT NULL CHECK (last_verified_step >= 0);
ALTER TABLE accounts ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0);
ALTER TABLE accounts ADD COLUMN locked_until TIMESTAMP NULL;
