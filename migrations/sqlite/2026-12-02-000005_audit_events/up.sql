-- The audit trail (SQLite flavour; migrations/postgres has the same stamp and the same columns,
-- plus the indexes PostgreSQL's concurrent writers need).
--
-- Every mutation inserts its event in its own transaction, unnumbered (seq NULL). The store's
-- sequencer numbers committed events per organization afterwards (1, 2, 3, ... continuing after
-- the organization's highest number), one sequencer at a time, so the numbers have no gaps and
-- an event committed late is numbered after every event numbered before it: a reader paging
-- with `seq > cursor` never skips it. Writers never wait on each other for a number.
-- details: a JSON object written by the domain; it never holds a secret.
--
-- SQLite runs one writer at a time, so the rowid (`pos`) of a new event is in commit order, and
-- the events not numbered yet are exactly those after `audit_sequencer.last_pos`. An insert
-- therefore touches one b-tree only (appending to the table): no index on `id` (a UUID v7, unique
-- by construction) and no index of the unnumbered events, which PostgreSQL needs instead.

CREATE TABLE audit_events (
    pos            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    seq            INTEGER NULL CHECK (seq >= 1),
    at             TEXT NOT NULL,
    actor_kind     TEXT NOT NULL CHECK (actor_kind IN ('service_token', 'device', 'cli')),
    actor_id       TEXT NULL,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    request_id     TEXT NULL,
    details        TEXT NOT NULL,
    CHECK ((actor_kind = 'cli') = (actor_id IS NULL))
) STRICT;

-- Numbers are unique per organization; the list reads `org_id = ? AND seq > ?` in this order.
CREATE UNIQUE INDEX audit_events_org_seq_uq ON audit_events (org_id, seq) WHERE seq IS NOT NULL;
-- The `resource_id` filter.
CREATE INDEX audit_events_org_resource_idx ON audit_events (org_id, resource_id, seq) WHERE seq IS NOT NULL;
-- The purge.
CREATE INDEX audit_events_at_idx ON audit_events (at) WHERE seq IS NOT NULL;

-- The sequencer's place: every event with a `pos` up to `last_pos` is numbered.
CREATE TABLE audit_sequencer (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_pos  INTEGER NOT NULL
) STRICT;
INSERT INTO audit_sequencer (id, last_pos) VALUES (1, 0);
