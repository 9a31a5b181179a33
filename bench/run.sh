#!/usr/bin/env bash
# Side-by-side benchmark: authd against the stack's ceiling (bench/ceiling: actix-web + diesel +
# r2d2 and nothing else, built outside the workspace into target/ceiling),
# same machine, same wrk parameters, alternating the two in one run. Prints one line per run
#   <server> <backend> <request> rps=<N> p50_ms=<x> p99_ms=<y> errors=<k>
# and a ratio line per pair. Everything started here is stopped by PID on exit; all traffic
# goes to 127.0.0.1, every wrk run is bounded in time.
#
# Knobs: REPS=2 DURATION=8 WARMUP=2 THREADS=2 CONNS=64 ROWS=100000 BACKENDS="sqlite postgres"
#        APPS=10000 (apps seeded in authd) OTP_ACCOUNTS=200 (TOTP and as many HOTP accounts,
#        each request picks one at random, as the ceiling's writes and reads spread over rows)
#        ANCHOR=<path to the ceiling, default bench/ceiling> PORT_A=18080 PORT_B=18081
#        PG_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL; a fresh database is made)
#        SKIP_BUILD=1 (use the binaries already built) AUTHD_LOG=info (RUST_LOG of authd)
#        AUTHD_BIN=<path> (measure this authd binary instead of target/release/authd)
#        VERIFY=0 (skip the verify runs: for a binary without the verify endpoint)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-2}; DURATION=${DURATION:-8}; WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}; CONNS=${CONNS:-64}; ROWS=${ROWS:-100000}; APPS=${APPS:-10000}
OTP_ACCOUNTS=${OTP_ACCOUNTS:-200}
BACKENDS=${BACKENDS:-"sqlite postgres"}
ANCHOR=${ANCHOR:-$ROOT/bench/ceiling}
PORT_A=${PORT_A:-18080}; PORT_B=${PORT_B:-18081}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
log() { echo "[bench] $*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$DURATION" -le 8 ] || die "DURATION must be <= 8"

command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get update -qq >&2 && apt-get install -y -qq wrk >&2; } \
  || die "wrk not found (apt-get install wrk)"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building authd and the ceiling (release)"
  cargo build --release --locked -p server >&2
  # The ceiling is its own cargo project (own Cargo.lock, excluded from the workspace).
  CARGO_TARGET_DIR="$ROOT/target/ceiling" cargo build --release --locked --manifest-path "$ANCHOR/Cargo.toml" >&2
fi
# AUTHD_BIN: another authd binary to measure (e.g. an earlier build, for before/after ratios).
AUTHD=${AUTHD_BIN:-$ROOT/target/release/authd}
LIMIT="$ROOT/target/ceiling/release/limit"
[ -x "$AUTHD" ] || die "$AUTHD not built (run without SKIP_BUILD=1)"
[ -x "$LIMIT" ] || die "$LIMIT not built (run without SKIP_BUILD=1)"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/authd-bench.XXXXXX")
PIDS=()
DBS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "${DBS[@]}"; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  [ "${KEEP_RUN_DIR:-0}" = 1 ] && log "kept $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 600); do port_open "$1" && return 0; sleep 0.2; done; die "port $1 did not open"; }

api() { # method path [body]
  curl -sf -X "$1" -H "X-Service-Token: $TOKEN" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "http://127.0.0.1:$PORT_B$2"
}
jid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

wrk_run() { # label port mode secs [AUTHD_PATH]
  local label=$1 port=$2 mode=$3 secs=$4 path=${5:-/}
  AUTHD_MODE=$mode AUTHD_TOKEN=${TOKEN:-} AUTHD_PATH=$path AUTHD_LABEL="$label" AUTHD_PATHS="$RUN/$mode.txt" \
    AUTHD_IDS=$([ "$mode" = get_row ] && echo "$RUN/rows.txt" || echo "$RUN/apps.txt") \
    timeout -s INT -k 3 $((secs + 2)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s --latency \
    -s "$ROOT/bench/authd.lua" "http://127.0.0.1:$port" 2>&1 | grep -E "^$label rps=" || echo "$label rps=0 p50_ms=NaN p99_ms=NaN errors=-1"
}

ratio() { # a_line b_line name
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    for (i in x) { if (x[i] ~ /^rps=/) ra = substr(x[i], 5); if (x[i] ~ /^p99_ms=/) pa = substr(x[i], 8) }
    for (i in y) { if (y[i] ~ /^rps=/) rb = substr(y[i], 5); if (y[i] ~ /^p99_ms=/) pb = substr(y[i], 8) }
    printf "ratio %s rps=%.2f p99=%.2f\n", n, (rb > 0 ? ra / rb : 0), (pb > 0 ? pa / pb : 0) }'
}

bench_backend() { # backend authd_url limit_spec
  local be=$1 url=$2 spec=$3
  port_open "$PORT_A" && die "port $PORT_A busy"; port_open "$PORT_B" && die "port $PORT_B busy"
  log "$be: starting the ceiling (prefill $ROWS) and authd"
  "$LIMIT" --db "$spec" --bind "127.0.0.1:$PORT_A" --prefill "$ROWS" --ids-out "$RUN/rows.txt" >"$RUN/limit-$be.log" 2>&1 &
  PIDS+=($!)
  export AUTHD_MASTER_KEY
  AUTHD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
  RUST_LOG=${AUTHD_LOG:-info} "$AUTHD" serve --bind "127.0.0.1:$PORT_B" --database-url "$url" >"$RUN/authd-$be.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT_A"; wait_port "$PORT_B"
  TOKEN=$("$AUTHD" token create --org bench --database-url "$url" 2>/dev/null)
  log "$be: seeding $APPS apps, one app with 10 accounts, $OTP_ACCOUNTS TOTP and HOTP accounts"
  : >"$RUN/apps.txt"
  python3 - "$PORT_B" "$TOKEN" "$APPS" >>"$RUN/apps.txt" <<'PY'
import http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("POST", "/api/v1/authenticator/apps", "{}", {"X-Service-Token": token})
    r = c.getresponse(); body = r.read()
    assert r.status == 201, (r.status, body)
    print(json.loads(body)["id"])
PY
  local app
  app=$(api POST /api/v1/authenticator/apps '{}' | jid)
  for i in $(seq 1 10); do
    api POST "/api/v1/authenticator/apps/$app/accounts" "{\"otpauth_uri\":\"otpauth://totp/Bench:u$i?secret=JBSWY3DPEHPK3PXP&issuer=Bench\"}" >/dev/null
  done
  python3 - "$PORT_B" "$TOKEN" "$OTP_ACCOUNTS" "$RUN" <<'PY'
import http.client, json, sys
port, token, n, run = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port)
h = {"X-Service-Token": token}
def post(path, body):
    c.request("POST", path, json.dumps(body), h)
    r = c.getresponse(); b = r.read()
    assert r.status == 201, (r.status, b)
    return json.loads(b)["id"]
app = post("/api/v1/authenticator/apps", {})
base = f"/api/v1/authenticator/apps/{app}/accounts"
for kind in ("totp", "hotp"):
    with open(f"{run}/{kind}.txt", "w") as f:
        for i in range(n):
            acc = post(base, {"otpauth_uri": f"otpauth://{kind}/Bench:{kind}{i}?secret=JBSWY3DPEHPK3PXP"})
            f.write(f"{base}/{acc}/generate-otp\n")
PY
  sed 's#/generate-otp$#/verify#' "$RUN/totp.txt" >"$RUN/verify.txt"
  local base="/api/v1/authenticator/apps/$app/accounts"
  if [ "$WARMUP" -gt 0 ]; then
    wrk_run warm "$PORT_A" get_row "$WARMUP" >/dev/null; wrk_run warm "$PORT_B" get_app "$WARMUP" >/dev/null
  fi
  for rep in $(seq 1 "$REPS"); do
    log "$be: repetition $rep/$REPS"
    local lr la lt lw lc lh ll lv
    lr=$(wrk_run "limit $be get_row" "$PORT_A" get_row "$DURATION"); echo "$lr"
    la=$(wrk_run "authd $be get_app" "$PORT_B" get_app "$DURATION"); echo "$la"
    lt=$(wrk_run "authd $be totp" "$PORT_B" totp "$DURATION"); echo "$lt"
    ll=$(wrk_run "authd $be list_accounts" "$PORT_B" list_accounts "$DURATION" "$base"); echo "$ll"
    if [ "${VERIFY:-1}" = 1 ]; then
      lv=$(wrk_run "authd $be verify" "$PORT_B" verify "$DURATION"); echo "$lv"
    fi
    lw=$(wrk_run "limit $be post_row" "$PORT_A" post_row "$DURATION"); echo "$lw"
    lc=$(wrk_run "authd $be create_app" "$PORT_B" create_app "$DURATION"); echo "$lc"
    lh=$(wrk_run "authd $be hotp" "$PORT_B" hotp "$DURATION"); echo "$lh"
    ratio "$la" "$lr" "$be get_app/get_row"
    ratio "$lt" "$lr" "$be totp/get_row"
    ratio "$ll" "$lr" "$be list_accounts/get_row"
    [ -n "${lv:-}" ] && ratio "$lv" "$lr" "$be verify/get_row"
    ratio "$lc" "$lw" "$be create_app/post_row"
    ratio "$lh" "$lw" "$be hotp/post_row"
  done
  local served
  served=$(curl -s "http://127.0.0.1:$PORT_B/metrics" | awk '/^authd_http_requests_total/ { n += $2 } END { print n + 0 }')
  echo "memory $be authd_rss_kib=$(ps -o rss= -p "${PIDS[-1]}" | tr -d ' ') after_requests=$served"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
  # Ready to serve after a start on the existing (now large) database: time from exec to the
  # first 200 from /readyz, polled every millisecond.
  local t0 t1
  t0=$(date +%s%N)
  RUST_LOG=warn "$AUTHD" serve --bind "127.0.0.1:$PORT_B" --database-url "$url" >"$RUN/authd-$be-restart.log" 2>&1 &
  PIDS+=($!)
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT_B/readyz"; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "authd exited on restart"
    sleep 0.001
  done
  t1=$(date +%s%N)
  echo "startup $be ready_ms=$(( (t1 - t0) / 1000000 ))"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}

log "$(date -u +%FT%TZ) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) wrk -t$THREADS -c$CONNS -d${DURATION}s reps=$REPS"
for be in $BACKENDS; do
  case $be in
    sqlite) bench_backend sqlite "sqlite://$RUN/authd.sqlite" "sqlite:$RUN/limit.sqlite" ;;
    postgres)
      a="authd_bench_$$"; l="limit_bench_$$"; DBS+=("$a" "$l")
      psql "$PG_URL" -qc "CREATE DATABASE $a" && psql "$PG_URL" -qc "CREATE DATABASE $l"
      base=${PG_URL%/*}
      bench_backend postgres "$base/$a" "postgres:$base/$l" ;;
    *) die "unknown backend $be" ;;
  esac
done
