-- The audit trail (PostgreSQL flavour; migrations/sqlite has the same stamp and columns; it
-- orders the unnumbered events by rowid instead of the index below, see there).
--
-- Every mutation inserts its event in its own transaction, unnumbered (seq NULL). The store's
-- sequencer numbers committed events per organization afterwards (1, 2, 3, ... continuing after
-- the organization's highest number), one sequencer at a time, so the numbers have no gaps and
-- an event committed late is numbered after every event numbered before it: a reader paging
-- with `seq > cursor` never skips it. Writers never wait on each other for a number.
-- details: a JSON object written by the domain; it never holds a secret.

CREATE TABLE audit_events (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id         TEXT COLLATE "C" NOT NULL,
    seq            BIGINT NULL CHECK (seq >= 1),
    at             TIMESTAMP NOT NULL,
    actor_kind     TEXT NOT NULL CHECK (actor_kind IN ('service_token', 'device', 'cli')),
    actor_id       TEXT COLLATE "C" NULL,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT COLLATE "C" NOT NULL,
    request_id     TEXT NULL,
    details        TEXT NOT NULL,
    CHECK ((actor_kind = 'cli') = (actor_id IS NULL))
);

-- Numbers are unique per organization; the list reads `org_id = ? AND seq > ?` in this order.
CREATE UNIQUE INDEX audit_events_org_seq_uq ON audit_events (org_id, seq) WHERE seq IS NOT NULL;
-- The sequencer's work list.
CREATE INDEX audit_events_unnumbered_idx ON audit_events (id) WHERE seq IS NULL;
-- The `resource_id` filter.
CREATE INDEX audit_events_org_resource_idx ON audit_events (org_id, resource_id, seq) WHERE seq IS NOT NULL;
-- The purge.
CREATE INDEX audit_events_at_idx ON audit_events (at) WHERE seq IS NOT NULL;
