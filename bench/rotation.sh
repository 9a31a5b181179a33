#!/usr/bin/env bash
# Key rotation cost: the throughput of `authd key rewrap` (values per second) alone, and what a
# rewrap running alongside costs the serving path: the same binary, the same wrk parameters,
# idle then during a rewrap, side by side in one run. Prints per backend
#   rewrap <backend> alone values=<N> values_per_s=<x>
#   authd <backend> <request> idle rps=... / authd <backend> <request> rewrap rps=...
#   rewrap <backend> under-load values=<N> values_per_s=<x> outlasted_window=<yes|no>
#   ratio <backend> <request> rewrap/idle rps=<r> p99=<q>
# Everything started here is stopped by PID on exit; all traffic goes to 127.0.0.1.
#
# Knobs: SEED_SECONDS=20 (wrk creates accounts this long first) DURATION=8 THREADS=2 CONNS=64
#        BATCH=500 PAUSE_MS=20 (authd key rewrap --pause-ms) BACKENDS="sqlite postgres" PORT=18090
#        AUTHD_BIN=<path> SKIP_BUILD=1
#        PG_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL; a fresh database is made)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SEED_SECONDS=${SEED_SECONDS:-20}; DURATION=${DURATION:-8}; THREADS=${THREADS:-2}; CONNS=${CONNS:-64}
BATCH=${BATCH:-500}; PAUSE_MS=${PAUSE_MS:-20}; BACKENDS=${BACKENDS:-"sqlite postgres"}; PORT=${PORT:-18090}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
log() { echo "[rotation] $*" >&2; }
die() { log "error: $*"; exit 1; }
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --locked -p server >&2
fi
AUTHD=${AUTHD_BIN:-$ROOT/target/release/authd}
[ -x "$AUTHD" ] || die "$AUTHD not built"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/authd-rotation.XXXXXX")
PIDS=(); DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "${DBS[@]}"; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

K0=$(head -c 32 /dev/urandom | base64); K2=$(head -c 32 /dev/urandom | base64)
export AUTHD_MASTER_KEY="0:$K0,k2:$K2"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 600); do port_open "$1" && return 0; sleep 0.2; done; die "port $1 did not open"; }
api() { curl -sf -X "$1" -H "X-Service-Token: $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://127.0.0.1:$PORT$2"; }
jid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

wrk_run() { # label mode secs [path]
  AUTHD_MODE=$2 AUTHD_TOKEN=$TOKEN AUTHD_PATH=${4:-/} AUTHD_LABEL="$1" AUTHD_PATHS="$RUN/totp.txt" \
    timeout -s INT -k 3 $(($3 + 2)) wrk -t"$THREADS" -c"$CONNS" -d"$3s" --timeout 5s --latency \
    -s "$ROOT/bench/authd.lua" "http://127.0.0.1:$PORT" 2>&1 | grep -E "^$1 rps=" || echo "$1 rps=0 p50_ms=NaN p99_ms=NaN errors=-1"
}
ratio() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { split(a, x, " "); split(b, y, " ");
  for (i in x) { if (x[i] ~ /^rps=/) ra = substr(x[i], 5); if (x[i] ~ /^p99_ms=/) pa = substr(x[i], 8) }
  for (i in y) { if (y[i] ~ /^rps=/) rb = substr(y[i], 5); if (y[i] ~ /^p99_ms=/) pb = substr(y[i], 8) }
  printf "ratio %s rps=%.2f p99=%.2f\n", n, (rb > 0 ? ra / rb : 0), (pb > 0 ? pa / pb : 0) }'; }

# promote KEY, then wait until the replica seals under it (its next heartbeat).
promote() {
  "$AUTHD" key promote "$1" --database-url "$URL" >/dev/null
  for _ in $(seq 1 100); do
    "$AUTHD" key status --json --database-url "$URL" | python3 -c \
      "import json,sys; s=json.load(sys.stdin); sys.exit(0 if all(r['sealing']=='$1' for r in s['replicas']) else 1)" && return 0
    sleep 0.2
  done
  die "the replica did not adopt $1"
}
# rewrap LABEL: runs the rewrap, prints "rewrap <label> values=N values_per_s=x" from its summary.
rewrap() {
  local out; out=$("$AUTHD" key rewrap --batch-size "$BATCH" --pause-ms "$PAUSE_MS" --database-url "$URL" 2>/dev/null)
  echo "$out" | sed -E "s/^rewrapped ([0-9]+) values under [^ ]+ in ([0-9.]+) s \(([0-9]+) values\/s.*/rewrap $1 values=\1 seconds=\2 values_per_s=\3/"
}

bench_backend() { # backend url
  local be=$1; URL=$2
  port_open "$PORT" && die "port $PORT busy"
  RUST_LOG=warn "$AUTHD" serve --bind "127.0.0.1:$PORT" --database-url "$URL" >"$RUN/authd-$be.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
  TOKEN=$("$AUTHD" token create --org bench --database-url "$URL" 2>/dev/null)
  local app; app=$(api POST /api/v1/authenticator/apps '{}' | jid)
  local base="/api/v1/authenticator/apps/$app/accounts"
  : >"$RUN/totp.txt"
  for i in $(seq 1 200); do
    echo "$base/$(api POST "$base" "{\"otpauth_uri\":\"otpauth://totp/B:u$i?secret=JBSWY3DPEHPK3PXP\"}" | jid)/generate-otp" >>"$RUN/totp.txt"
  done
  log "$be: seeding accounts for ${SEED_SECONDS}s"
  wrk_run seed create_account "$SEED_SECONDS" "$base" >/dev/null
  # 1. The rewrap alone (0 -> k2).
  promote k2
  rewrap "$be alone"
  # 2. Each request idle, then during a rewrap (alternating the primary: k2 -> 0 -> k2).
  local key=0 r
  for r in totp create_account; do
    local idle during path="$base"
    idle=$(wrk_run "authd $be $r idle" "$r" "$DURATION" "$path"); echo "$idle"
    promote "$key"
    local t0; t0=$(date +%s.%N)
    rewrap "$be under-load" >"$RUN/rw.txt" &
    local rw=$!
    during=$(wrk_run "authd $be $r rewrap" "$r" "$DURATION" "$path"); echo "$during"
    local t1; t1=$(date +%s.%N)
    wait "$rw"
    local outlasted; outlasted=$(awk -v a="$t0" -v b="$t1" -v s="$(sed -E 's/.*seconds=([0-9.]+).*/\1/' "$RUN/rw.txt")" 'BEGIN { print (s >= b - a ? "yes" : "no") }')
    echo "$(cat "$RUN/rw.txt") outlasted_window=$outlasted"
    ratio "$during" "$idle" "$be $r rewrap/idle"
    key=$([ "$key" = 0 ] && echo k2 || echo 0)
  done
  "$AUTHD" key status --json --database-url "$URL" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("status", "'"$be"'", "primary=" + s["primary"], "sealed=" + json.dumps(s["sealed"]))'
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

for be in $BACKENDS; do
  case $be in
    sqlite) bench_backend sqlite "sqlite://$RUN/authd.sqlite" ;;
    postgres)
      db="authd_rot_$$"; psql "$PG_URL" -qc "CREATE DATABASE $db"; DBS+=("$db")
      bench_backend postgres "${PG_URL%/*}/$db" ;;
    *) die "unknown backend $be" ;;
  esac
done
