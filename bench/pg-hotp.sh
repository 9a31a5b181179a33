#!/usr/bin/env bash
# What a HOTP code costs PostgreSQL itself, without authd: pgbench runs authd's own statements
# (as `log_statement = all` shows them) on a fresh database migrated by `authd migrate`, 200 HOTP
# accounts in one app, 8 clients (authd's pool and the ceiling's), prepared statements. Each
# transaction first picks an account at random (one `SELECT ... \gset`, the same in every
# script), then runs one of:
#   insert    the ceiling's `POST /row`: one INSERT of one row
#   update    the counter advance alone: `UPDATE accounts SET counter = counter + 1 ... RETURNING`
#   event     the audit event's INSERT alone
#   advance   both in one statement (a data-modifying WITH): authd's advance with its event
#   read+adv  the material read (accounts JOIN apps LEFT JOIN identities), then that statement:
#             the HOTP code as it was before 2026-12-06 (two round trips)
#   one       the statement authd now runs for an account whose secret opened before: the
#             advance guarded by the sealed value and the app/identity EXISTS, with its event
# Prints one `tps` line per script and repetition, in alternation. Read the ratios to `insert`.
#
# Knobs: REPS=2 SECS=5 CLIENTS=8 PG_URL=postgres://postgres@127.0.0.1:5432/postgres (admin
#        URL; a database is made and dropped) AUTHD_BIN=<path> (default target/release/authd)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-2}; SECS=${SECS:-5}; CLIENTS=${CLIENTS:-8}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
AUTHD=${AUTHD_BIN:-target/release/authd}
[ -x "$AUTHD" ] || { echo "[pg-hotp] $AUTHD not built (cargo build --release -p server)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "[pg-hotp] pgbench not found (postgresql-client)" >&2; exit 1; }
DB="authd_pghotp_$$"; URL="${PG_URL%/*}/$DB"
RUN=$(mktemp -d "${TMPDIR:-/tmp}/pg-hotp.XXXXXX")
cleanup() { psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$RUN"; }
trap cleanup EXIT
psql "$PG_URL" -qc "CREATE DATABASE $DB"
AUTHD_MASTER_KEY=$(head -c 32 /dev/urandom | base64) "$AUTHD" migrate --database-url "$URL" >/dev/null 2>&1
psql "$URL" -q <<'SQL'
INSERT INTO apps (id, org_id, identity_id, created_at, updated_at) VALUES ('app-1', 'bench', NULL, now(), now());
INSERT INTO accounts (id, org_id, app_id, otp_type, account_name, algorithm, digits, counter, secret,
                      created_at, updated_at, secret_key_id)
  SELECT 'acc-' || n, 'bench', 'app-1', 'hotp', 'a' || n, 'sha1', 6, 0,
         decode(repeat('01', 64), 'hex'), now(), now(), '0'
  FROM generate_series(1, 200) n;
CREATE TABLE bench_ids (n int PRIMARY KEY, id text NOT NULL, app_id text NOT NULL);
INSERT INTO bench_ids SELECT n, 'acc-' || n, 'app-1' FROM generate_series(1, 200) n;
CREATE TABLE bench_rows (id text PRIMARY KEY, organization_id text NOT NULL, identity_id text,
                         status text NOT NULL, created_at timestamp NOT NULL DEFAULT now());
SQL
PICK='\set i random(1, 200)
SELECT id AS acc, app_id AS app FROM bench_ids WHERE n = :i \gset'
EVENT_COLS="INSERT INTO audit_events (id, org_id, seq, at, actor_kind, actor_id, action, resource_type, resource_id, request_id, details)"
EVENT_VALS="gen_random_uuid()::text, 'bench', NULL, now(), 'service_token', 'x', 'otp.generate', 'account', :acc, 'r', '{\"app_id\":\"app-1\",\"otp_type\":\"hotp\"}'"
ADVANCE="UPDATE accounts SET counter = counter + 1 WHERE org_id = 'bench' AND id = :acc AND otp_type = 'hotp' AND deleted_at IS NULL AND counter < 9223372036854775807 RETURNING counter"
READ='SELECT accounts.id, accounts.org_id, accounts.app_id, accounts.otp_type, accounts.issuer, accounts.account_name, accounts.display_name, accounts.description, accounts.algorithm, accounts.digits, accounts.period, accounts.counter, accounts.verify_window, accounts.metadata, accounts.created_at, accounts.updated_at, accounts.secret, identities.status FROM ((accounts INNER JOIN apps ON (((apps.org_id = accounts.org_id) AND (apps.id = accounts.app_id)) AND (apps.deleted_at IS NULL))) LEFT OUTER JOIN identities ON (((identities.org_id = apps.org_id) AND (identities.id = apps.identity_id)) AND (identities.deleted_at IS NULL))) WHERE ((((accounts.org_id = '"'bench'"') AND (accounts.app_id = :app)) AND (accounts.id = :acc)) AND (accounts.deleted_at IS NULL));'
GUARDED="UPDATE accounts SET counter = counter + 1 WHERE org_id = 'bench' AND app_id = :app AND id = :acc AND otp_type = 'hotp' AND deleted_at IS NULL AND counter < 9223372036854775807 AND secret = decode(repeat('01', 64), 'hex') AND EXISTS (SELECT 1 FROM apps LEFT JOIN identities ON identities.org_id = apps.org_id AND identities.id = apps.identity_id AND identities.deleted_at IS NULL WHERE apps.org_id = accounts.org_id AND apps.id = accounts.app_id AND apps.deleted_at IS NULL AND (identities.status IS NULL OR identities.status <> 'paused')) RETURNING counter, algorithm, digits"
printf '%s\n%s\n' "$PICK" "INSERT INTO bench_rows (id, organization_id, identity_id, status) VALUES (gen_random_uuid()::text, 'org_0001', :acc, 'active');" >"$RUN/insert.sql"
printf '%s\n%s;\n' "$PICK" "$ADVANCE" >"$RUN/update.sql"
printf '%s\n%s VALUES (%s);\n' "$PICK" "$EVENT_COLS" "$EVENT_VALS" >"$RUN/event.sql"
WITH_EVENT="WITH adv AS ($ADVANCE), ev AS ($EVENT_COLS SELECT $EVENT_VALS FROM adv) SELECT counter FROM adv;"
printf '%s\n%s\n' "$PICK" "$WITH_EVENT" >"$RUN/advance.sql"
printf '%s\n%s\n%s\n' "$PICK" "$READ" "$WITH_EVENT" >"$RUN/read+adv.sql"
printf '%s\n%s\n' "$PICK" "WITH adv AS ($GUARDED), ev AS ($EVENT_COLS SELECT $EVENT_VALS FROM adv) SELECT counter, algorithm, digits FROM adv;" >"$RUN/one.sql"
echo "[pg-hotp] $(date -u +%FT%TZ) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) clients=$CLIENTS secs=$SECS reps=$REPS" >&2
for rep in $(seq 1 "$REPS"); do
  for s in insert update event advance read+adv one; do
    tps=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -f "$RUN/$s.sql" "$URL" 2>&1 \
      | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    echo "pg-hotp rep=$rep $s tps=${tps:-failed}"
  done
done
