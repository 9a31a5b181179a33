#!/usr/bin/env bash
# Side-by-side benchmark: authd against privacyIDEA 3.14 (the peer's runner in bench/peer, which
# installs privacyIDEA from PyPI into bench/peer/.venv on first use), on the same machine, with the
# same load tool and parameters (wrk -t2 -c16 -d10s --timeout 10s, one closed-loop run per operation).
#
#   bash bench/peer.sh                 # peer PROFILE=default, then authd
#   PROFILE=wal bash bench/peer.sh     # peer with SQLite WAL + synchronous=NORMAL (authd's mode)
#
# 1. Runs the peer's own run.sh (fresh DB, gunicorn 2 x sync on 127.0.0.1:5001, functional
#    check, four loads, server stopped by the peer script itself) and captures its lines.
# 2. Right after, starts authd (release binary, fresh SQLite in a temp folder, 127.0.0.1:$PORT),
#    seeds it through the API, checks its codes against RFC 4226/6238 (stdlib), and runs the
#    comparable loads with bench/peer.lua, each behind the same quiet-machine wait and CPU audit
#    as the peer's bench.py.
#
# Operation pairs (privacyIDEA <-> authd):
#   list           GET /token/ (admin JWT)              <-> GET  .../apps/{app}/accounts (10 TOTP)
#   validate_totp  POST /validate/check, wrong TOTP     <-> POST .../accounts/{totp}/generate-otp
#   validate_hotp  POST /validate/check, wrong HOTP     <-> POST .../accounts/{hotp}/generate-otp
#   enroll         POST /token/init type=totp genkey=1  <-> POST .../apps/{app}/accounts (otpauth URI)
# authd has no verify endpoint: generating a code is its closest per-request OTP operation.
#
# Output: the peer's raw lines, then per operation
#   privacyidea <op> rps=<N> p50_ms=<x> p99_ms=<y> errors=<k>
#   authd <op> rps=<N> p50_ms=<x> p99_ms=<y> errors=<k>
#   ratio <op> authd/privacyidea rps=<x> p50=<y>
# Lines starting with '#' are details (wrk error breakdown, CPU split, state checks).
#
# Knobs: PROFILE=default|wal  CONC=16  DURATION=10 (capped at 13, as the peer does)  PORT=18090
#        PEER=<peer runner folder, default bench/peer>  AUTHD=<binary>  AUTHD_LOG=info (RUST_LOG)
#        KEEP_RUN_DIR=1
#        DRY=1 (no load at all: skip the peer, start + seed + check authd, stop)
#        SKIP_PEER=1 (authd only, e.g. a DURATION=1 smoke test of the script)
# Everything started here is stopped by PID on exit; all traffic goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PEER=${PEER:-$ROOT/bench/peer}
PEER=$(cd "$PEER" && pwd)
PROFILE=${PROFILE:-default}
CONC=${CONC:-16}
DURATION=${DURATION:-10}
[ "$DURATION" -gt 13 ] && DURATION=13
THREADS=2   # the peer's bench.py runs wrk -t2
PORT=${PORT:-18090}
AUTHD=${AUTHD:-$ROOT/target/release/authd}
log() { echo "[peer] $*" >&2; }
die() { log "error: $*"; exit 1; }

case "$PROFILE" in default|wal) ;; *) die "PROFILE must be default or wal" ;; esac
command -v wrk >/dev/null || die "wrk not found (the peer's setup.sh installs it)"
[ -x "$AUTHD" ] || die "$AUTHD not built (cargo build --release -p server)"
[ -x "$PEER/run.sh" ] || die "peer runner not found at $PEER"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/authd-peer.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
  [ "${KEEP_RUN_DIR:-0}" = 1 ] && log "kept $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

echo "# peer.sh $(date -u +%FT%TZ) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) wrk -t$THREADS -c$CONC -d${DURATION}s --timeout 10s profile=$PROFILE"

# ---------------------------------------------------------------- 1. privacyIDEA (its own run.sh)
: >"$RUN/peer.out"
if [ "${DRY:-0}" != 1 ] && [ "${SKIP_PEER:-0}" != 1 ]; then
log "privacyIDEA: running $PEER/run.sh (PROFILE=$PROFILE CONC=$CONC DURATION=$DURATION)"
PROFILE=$PROFILE CONC=$CONC DURATION=$DURATION timeout -k 30 900 "$PEER/run.sh" >"$RUN/peer.out" &
PIDS+=($!)
rc=0; wait "${PIDS[-1]}" || rc=$?
PIDS=()
cat "$RUN/peer.out"
[ "$rc" = 0 ] || die "peer run.sh failed (exit $rc)"
grep -q '^privacyidea ' "$RUN/peer.out" || die "no privacyidea lines from the peer"
fi

# ---------------------------------------------------------------- 2. authd
port_open "$PORT" && die "port $PORT busy"
DB="sqlite://$RUN/authd.sqlite"
export AUTHD_MASTER_KEY
AUTHD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
RUST_LOG=${AUTHD_LOG:-info} "$AUTHD" serve --bind "127.0.0.1:$PORT" --database-url "$DB" >"$RUN/authd.log" 2>&1 &
AUTHD_PID=$!
PIDS+=("$AUTHD_PID")
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  kill -0 "$AUTHD_PID" 2>/dev/null || die "authd exited; see $RUN/authd.log"
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" || die "authd not ready after 30 s"
TOKEN=$("$AUTHD" token create --org peer --database-url "$DB" 2>/dev/null)
[ -n "$TOKEN" ] || die "no service token"
log "authd: started pid $AUTHD_PID ($("$AUTHD" --version 2>/dev/null)) on 127.0.0.1:$PORT"

api() { # method path [body]
  curl -sf -X "$1" -H "X-Service-Token: $TOKEN" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "http://127.0.0.1:$PORT$2"
}
jid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# Seed: app A with 10 TOTP accounts (listed, first one used for codes), app B with one HOTP
# account, app C (empty) receives the enrollments.
APPS=/api/v1/authenticator/apps
APP_A=$(api POST $APPS '{}' | jid)
APP_B=$(api POST $APPS '{}' | jid)
APP_C=$(api POST $APPS '{}' | jid)
TOTP=""
for i in $(seq 1 10); do
  id=$(api POST "$APPS/$APP_A/accounts" "{\"otpauth_uri\":\"otpauth://totp/Peer:u$i?secret=JBSWY3DPEHPK3PXP&issuer=Peer\"}" | jid)
  [ -n "$TOTP" ] || TOTP=$id
done
HOTP=$(api POST "$APPS/$APP_B/accounts" '{"otpauth_uri":"otpauth://hotp/Peer:h?secret=JBSWY3DPEHPK3PXP&issuer=Peer"}' | jid)

# Functional check: authd's codes are the RFC 6238/4226 codes of the same secret.
api POST "$APPS/$APP_A/accounts/$TOTP/generate-otp" >"$RUN/totp.json"
api POST "$APPS/$APP_B/accounts/$HOTP/generate-otp" >"$RUN/hotp.json"
python3 - "$RUN/totp.json" "$RUN/hotp.json" <<'PY' || die "authd functional check failed"
import base64, hashlib, hmac, json, struct, sys, time
def hotp(counter, key=base64.b32decode("JBSWY3DPEHPK3PXP")):  # RFC 4226, 6 digits, SHA-1
    d = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = d[-1] & 15
    return "%06d" % ((struct.unpack(">I", d[o:o + 4])[0] & 0x7FFFFFFF) % 10**6)
t, h = (json.load(open(p)) for p in sys.argv[1:3])
step = int(time.time()) // 30
assert t["otp_code"] in {hotp(step + d) for d in (-1, 0, 1)}, t
assert h["otp_code"] == hotp(0), h
sys.stderr.write(f"[peer] authd: ok: TOTP code {t['otp_code']} and HOTP #0 {h['otp_code']} match RFC 6238/4226\n")
PY
n=$(api GET "$APPS/$APP_A/accounts" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 10 ] || die "app A lists $n accounts, expected 10"
# warm-up, as the peer does (6 list requests)
for _ in 1 2 3 4 5 6; do api GET "$APPS/$APP_A/accounts" >/dev/null; done
[ "${DRY:-0}" = 1 ] && { log "DRY=1: authd seeded and checked, no loads"; exit 0; }

# One bounded wrk run with the peer's quiet-machine wait and CPU audit (a port of its bench.py:
# wait up to QUIET_WAIT_S until the rest of the machine uses < FOREIGN_MAX_PCT, split the CPU
# into server / wrk / foreign / idle, retry at most 3 times when disturbed).
cat >"$RUN/wrkrun.py" <<'PY'
import os, resource, subprocess, sys, time
label, server_pid, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cmd = sys.argv[4:]
hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
FOREIGN_MAX = float(os.environ.get("FOREIGN_MAX_PCT", "15"))
QUIET_WAIT = float(os.environ.get("QUIET_WAIT_S", "120"))

def machine():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = f[:8]
    return user + nice + system + irq + softirq, idle + iowait, steal

def server_ticks():
    try:
        fields = open(f"/proc/{server_pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0

def children_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def wait_quiet():
    t_start = time.monotonic()
    while True:
        m0, s0, t0 = machine(), server_ticks(), time.monotonic()
        time.sleep(2)
        m1, s1, t1 = machine(), server_ticks(), time.monotonic()
        other = ((m1[0] - m0[0]) - (s1 - s0)) / hz
        if 100.0 * other / ((t1 - t0) * ncpu) < FOREIGN_MAX or t1 - t_start > QUIET_WAIT:
            return t1 - t_start

def one_run():
    waited = wait_quiet()
    m0, s0, c0, t0 = machine(), server_ticks(), children_s(), time.monotonic()
    try:
        out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=15).stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += f"# {label}: wrk killed at the 15 s bound\n"
    m1, s1, c1, t1 = machine(), server_ticks(), children_s(), time.monotonic()
    lines = [ln for ln in out.splitlines() if ln.startswith((label + " ", "# "))]
    if not any(ln.startswith(label + " ") for ln in lines):
        lines.insert(0, f"{label} rps=0 p50_ms=0 p99_ms=0 errors=-1")
    cap = (t1 - t0) * ncpu
    busy, srv, gen = (m1[0] - m0[0]) / hz, (s1 - s0) / hz, c1 - c0
    foreign, idle, steal = max(0.0, busy - srv - gen), (m1[1] - m0[1]) / hz, (m1[2] - m0[2]) / hz
    pct = lambda x: 100.0 * x / cap if cap else 0.0  # noqa: E731
    lines.append(f"# {label} cpu (% of {ncpu} cores over {t1 - t0:.1f}s): server={pct(srv):.0f} "
                 f"wrk={pct(gen):.0f} foreign={pct(foreign):.0f} idle={pct(idle):.0f} "
                 f"steal={pct(steal):.0f} (waited {waited:.0f}s for a quiet machine)")
    return pct(foreign), lines

runs = []
for _ in range(3):
    runs.append(one_run())
    if runs[-1][0] < FOREIGN_MAX:
        break
foreign, lines = min(runs, key=lambda r: r[0])
if len(runs) > 1:
    lines.append(f"# {label}: {len(runs)} runs, reporting the least disturbed one")
if foreign >= FOREIGN_MAX:
    lines.append(f"# {label}: DISTURBED, other jobs used {foreign:.0f}% of the CPU; figures not comparable")
print("\n".join(lines), flush=True)
PY

authd_load() { # op mode path
  AUTHD_MODE=$2 AUTHD_TOKEN=$TOKEN AUTHD_PATH=$3 AUTHD_LABEL="authd $1" \
    python3 "$RUN/wrkrun.py" "authd $1" "$AUTHD_PID" "http://127.0.0.1:$PORT" \
    wrk -t"$THREADS" -c"$CONC" -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/peer.lua"
}

log "authd: loads (same order as the peer: list, validate_totp, validate_hotp, enroll)"
authd_load list list_accounts "$APPS/$APP_A/accounts" >"$RUN/authd.out"
authd_load validate_totp totp "$APPS/$APP_A/accounts/$TOTP/generate-otp" >>"$RUN/authd.out"
authd_load validate_hotp hotp "$APPS/$APP_B/accounts/$HOTP/generate-otp" >>"$RUN/authd.out"
authd_load enroll enroll "$APPS/$APP_C/accounts" >>"$RUN/authd.out"
cat "$RUN/authd.out"

# State after the loads: every completed HOTP generation must have advanced the counter exactly
# once (wrk's count excludes up to CONC requests still in flight when it stops), and every
# enrollment must be listed.
hotp_req=$(sed -n 's/^# authd validate_hotp detail: requests=\([0-9]*\).*/\1/p' "$RUN/authd.out" | tail -1)
enr_req=$(sed -n 's/^# authd enroll detail: requests=\([0-9]*\).*/\1/p' "$RUN/authd.out" | tail -1)
counter=$(api GET "$APPS/$APP_B/accounts/$HOTP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counter"])')
enrolled=$(api GET "$APPS/$APP_C/accounts" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "# authd state: hotp_counter=$counter (1 + wrk-completed generations $hotp_req, + up to $CONC in flight; includes retried runs) enrolled_accounts=$enrolled (wrk-completed $enr_req) rss_kib=$(ps -o rss= -p "$AUTHD_PID" | tr -d ' ')"

# ---------------------------------------------------------------- 3. side by side
val() { # line key
  tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}
for pair in list:token_list validate_totp:validate_check_wrong_totp \
            validate_hotp:validate_check_wrong_hotp enroll:token_init; do
  op=${pair%%:*}; pname=${pair#*:}
  suffix=""; [ "$PROFILE" != default ] && suffix=".$PROFILE"
  p=$(grep -E "^privacyidea ${pname//./\\.}${suffix//./\\.} rps=" "$RUN/peer.out" | tail -1 || true)
  a=$(grep -E "^authd $op rps=" "$RUN/authd.out" | tail -1 || true)
  [ -n "$p" ] || p="privacyidea $pname$suffix rps=0 p50_ms=0 p99_ms=0 errors=-1"
  [ -n "$a" ] || a="authd $op rps=0 p50_ms=0 p99_ms=0 errors=-1"
  echo "privacyidea $op ${p#privacyidea $pname$suffix }"
  echo "$a"
  awk -v op="$op" -v ar="$(val "$a" rps)" -v pr="$(val "$p" rps)" \
      -v a5="$(val "$a" p50_ms)" -v p5="$(val "$p" p50_ms)" 'BEGIN {
    printf "ratio %s authd/privacyidea rps=%.1f p50=%.3g\n", op, (pr > 0 ? ar / pr : 0), (p5 > 0 ? a5 / p5 : 0) }'
done
