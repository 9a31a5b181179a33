#!/usr/bin/env bash
# What each kind of request costs the database: a private PostgreSQL 15 (initdb into a temporary
# directory, pg_stat_statements loaded, track_io_timing on, autovacuum off so that nothing but
# authd writes), authd on it with a service token, then for each request kind N requests with,
# around them, pg_stat_statements (reset before), pg_stat_database and pg_stat_wal, the WAL
# position and `pg_waldump --stats` over that range, and the CPU time of the PostgreSQL backends
# and of authd. Then: how long the audit sequencer takes to number a backlog of unnumbered events
# through authd; (with wrk installed) bench/run.sh's wrk load on five kinds, with the CPU the
# whole PostgreSQL instance and authd spent per request, and one audit read on what that load
# left unnumbered; the tables' bytes per row. Prints a table of per-request figures, the
# statements of each kind, and the rest. The driver is bench/dbcost.py (Python standard library
# only). docs/SCALING.md has the figures and how to read them.
#
# Everything started here is stopped by PID on exit, the temporary directory removed; all
# traffic goes to 127.0.0.1; the run is bounded (about 10 minutes with the defaults, most of it
# waiting for PostgreSQL to publish its statistics between kinds).
#
# Knobs: N=500 (measured requests per kind) WARM=16 (warm-up requests per kind, not measured)
#        CONC=1 (client threads; 1: sequential) SEED_APPS=10000 (apps seeded, as bench/run.sh)
#        LIST_APPS=10 (apps of the organization whose list is measured) STATS_WAIT=11 (seconds
#        idle before reading pg_stat_database: a backend publishes its counters after 10 s idle)
#        KINDS="..." (a subset, by name; create_app_linked, create_account_totp, verify_valid,
#        verify_wrong and delete_app use what the kinds before them made)
#        AUTHD_BIN=<path> (default target/release/authd, else target/debug/authd)
#        AUTHD_LOG=info POOL=8 (authd --pool-size) OUT_JSON=<file>
#        LOAD=1 (0: no wrk phase) LOAD_SECS=8 LOAD_CONNS=64
#        BACKLOG="2000 5000 10000" (audit backlogs the sequencer numbers in one read; "" skips)
#        PG_BIN=/usr/lib/postgresql/15/bin KEEP_RUN_DIR=1 HOLD=<seconds> (keep PostgreSQL and authd
#        up that long after the report, for inspection; at most 1800)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
POOL=${POOL:-8}
log() { echo "[dbcost] $*" >&2; }
die() { log "error: $*"; exit 1; }

AUTHD=${AUTHD_BIN:-}
if [ -z "$AUTHD" ]; then
  AUTHD=$ROOT/target/release/authd
  [ -x "$AUTHD" ] || AUTHD=$ROOT/target/debug/authd
fi
[ -x "$AUTHD" ] || die "no authd binary (cargo build --release -p server, or set AUTHD_BIN)"
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql-15)"
[ -f "$PG_BIN/../lib/pg_stat_statements.so" ] || die "pg_stat_statements missing (postgresql-contrib)"
command -v psql >/dev/null || die "psql not found"
command -v python3 >/dev/null || die "python3 not found"

# PostgreSQL refuses to run as root: as root, its programs run as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

RUN=$(mktemp -d "${TMPDIR:-/tmp}/authd-dbcost.XXXXXX")
chmod 755 "$RUN"
PGDATA=$RUN/pg
PG_PID=""
AUTHD_PID=""
stop_pid() { # pid signal seconds: the signal, then SIGKILL after that many seconds
  local pid=$1 sig=$2 tries=$(( $3 * 10 ))
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  while (( tries-- > 0 )) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid still there after SIG$sig; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$AUTHD_PID" TERM 15
  # The postmaster was started by pg_ctl (not our child): its PID is in postmaster.pid. SIGINT is
  # PostgreSQL's fast shutdown.
  if [ -z "$PG_PID" ] && [ -f "$PGDATA/postmaster.pid" ]; then PG_PID=$(head -1 "$PGDATA/postmaster.pid"); fi
  stop_pid "$PG_PID" INT 30
  if [ "$rc" != 0 ]; then
    [ -f "$RUN/authd.log" ] && { log "last lines of authd's log:"; tail -n 20 "$RUN/authd.log" >&2; }
    [ -f "$RUN/pg.log" ] && { log "last lines of PostgreSQL's log:"; tail -n 20 "$RUN/pg.log" >&2; }
  fi
  if [ "${KEEP_RUN_DIR:-0}" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a private PostgreSQL ----------------------------------------------------------------------
PGPORT=$(free_port)
mkdir -p "$PGDATA"
[ "$(id -u)" = 0 ] && chown postgres: "$PGDATA" "$RUN"
log "initdb into $PGDATA"
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$RUN/initdb.log" 2>&1 \
  || { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
# Defaults otherwise (shared_buffers 128 MB, synchronous_commit on, fsync on). No autovacuum and
# no timed checkpoint during the run, so that the WAL of a kind is authd's alone; the run takes
# a CHECKPOINT before each kind itself (the FPI column is what follows a checkpoint).
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$RUN'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.track_utility = on
pg_stat_statements.track_planning = on
pg_stat_statements.max = 10000
track_io_timing = on
autovacuum = off
checkpoint_timeout = 1h
max_wal_size = 8GB
EOF
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$RUN/pg.log" -w -t 60 start >/dev/null || die "PostgreSQL did not start"
PG_PID=$(head -1 "$PGDATA/postmaster.pid")
log "PostgreSQL up on 127.0.0.1:$PGPORT (postmaster pid $PG_PID)"
PSQL=(psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE EXTENSION pg_stat_statements" -c "CREATE DATABASE authd" >/dev/null

# --- authd -------------------------------------------------------------------------------------
URL="postgres://postgres@127.0.0.1:$PGPORT/authd"
export AUTHD_MASTER_KEY
AUTHD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
unset AUTHD_MASTER_KEY_FILE AUTHD_BIND AUTHD_DATABASE_URL
PORT=$(free_port)
RUST_LOG=${AUTHD_LOG:-info} "$AUTHD" serve --bind "127.0.0.1:$PORT" --database-url "$URL" --pool-size "$POOL" \
  >"$RUN/authd.log" 2>&1 &
AUTHD_PID=$!
for _ in $(seq 1 150); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  kill -0 "$AUTHD_PID" 2>/dev/null || die "authd exited"
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" || die "authd not ready within 30 s"
TOKEN=$("$AUTHD" token create --org dbcost --name dbcost --database-url "$URL" 2>/dev/null)
TOKEN_LIST=$("$AUTHD" token create --org dbcost-list --name dbcost --database-url "$URL" 2>/dev/null)
log "authd (pid $AUTHD_PID) on 127.0.0.1:$PORT, $AUTHD"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates migrations 2>/dev/null || commit="$commit+changes"
DBCOST_BASE="http://127.0.0.1:$PORT" DBCOST_TOKEN=$TOKEN DBCOST_TOKEN_LIST=$TOKEN_LIST \
  DBCOST_AUTHD_PID=$AUTHD_PID DBCOST_PGPORT=$PGPORT DBCOST_PGDATA=$PGDATA DBCOST_PGBIN=$PG_BIN \
  DBCOST_PG_PID=$PG_PID DBCOST_RUN=$RUN \
  DBCOST_COMMIT=$commit DBCOST_AUTHD_BIN="$AUTHD ($(date -u -r "$AUTHD" +%FT%TZ))" DBCOST_POOL=$POOL \
  NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
  python3 "$ROOT/bench/dbcost.py"
