#!/usr/bin/env bash
# How authd's cost grows with data size, on SQLite: the same get_app and HOTP loads against a
# database holding SIZES apps (bulk-inserted with sqlite3, plus accounts for the HOTP load),
# one after the other in one run. Prints `scale <rows> <request> rps= p50_ms= p99_ms= errors=`.
# Everything started here is stopped by PID; traffic to 127.0.0.1 only; bounded runs.
# Knobs: SIZES="10000 1000000" DURATION=8 THREADS=2 CONNS=64 PORT=18082
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-"10000 1000000"}; DURATION=${DURATION:-8}; THREADS=${THREADS:-2}; CONNS=${CONNS:-64}
PORT=${PORT:-18082}
AUTHD="$ROOT/target/release/authd"
[ -x "$AUTHD" ] || cargo build --release --locked -p server >&2
command -v sqlite3 >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq sqlite3 >&2; }
RUN=$(mktemp -d "${TMPDIR:-/tmp}/authd-scale.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$RUN"; }
trap cleanup EXIT
export AUTHD_MASTER_KEY
AUTHD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
for n in $SIZES; do
  db="$RUN/scale-$n.sqlite"; url="sqlite://$db"
  "$AUTHD" migrate --database-url "$url" 2>/dev/null
  TOKEN=$("$AUTHD" token create --org bench --database-url "$url" 2>/dev/null)
  # n apps (random v4 ids, so the B-tree is as scattered as real v7 ids across many clients)
  sqlite3 "$db" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n)
    INSERT INTO apps (id, org_id, identity_id, created_at, updated_at)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
      || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))), 'bench', NULL, '2026-11-25 00:00:00', '2026-11-25 00:00:00'
    FROM s;"
  sqlite3 "$db" "SELECT id FROM apps ORDER BY random() LIMIT 10000" > "$RUN/apps.txt"
  RUST_LOG=warn "$AUTHD" serve --bind "127.0.0.1:$PORT" --database-url "$url" >"$RUN/authd.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.1; done
  app=$(head -1 "$RUN/apps.txt")
  : >"$RUN/hotp.txt"
  for i in $(seq 1 200); do
    acc=$(curl -sf -H "X-Service-Token: $TOKEN" -d "{\"otpauth_uri\":\"otpauth://hotp/S:h$i?secret=JBSWY3DPEHPK3PXP\"}" \
      "http://127.0.0.1:$PORT/api/v1/authenticator/apps/$app/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    echo "/api/v1/authenticator/apps/$app/accounts/$acc/generate-otp" >>"$RUN/hotp.txt"
  done
  for mode in get_app hotp; do
    AUTHD_MODE=$mode AUTHD_TOKEN=$TOKEN AUTHD_IDS="$RUN/apps.txt" AUTHD_PATHS="$RUN/hotp.txt" AUTHD_LABEL="scale $n $mode" \
      timeout -s INT -k 3 $((DURATION + 2)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency \
      -s "$ROOT/bench/authd.lua" "http://127.0.0.1:$PORT" 2>&1 | grep -E "^scale "
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  echo "scale $n db_bytes=$(stat -c %s "$db")"
done
