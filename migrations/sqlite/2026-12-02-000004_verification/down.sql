-- SQLite (3.35+) drops a column together with its own CHECK constraint.
ALTER TABLE accounts DROP COLUMN locked_until;
ALTER TABLE accounts DROP COLUMN failed_attempts;
ALTER TABLE accounts DROP COLUMN last_verified_step;
ALTER TABLE accounts DROP COLUMN verify_window;
