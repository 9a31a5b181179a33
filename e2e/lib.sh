# Shell shared by e2e/run.sh and e2e/docs_page.sh; sourced (not run), after `set -euo pipefail`.
#
# The sourcing script sets LOG_PREFIX (what its log lines start with) first, and PY (the Python
# interpreter of the helpers; default python3) before `start_authd`. Sourcing moves to the
# repository's root and sets:
#   AUTHD_BIN       the authd binary: $AUTHD_BIN, default target/debug/authd
#   HEALTH_TIMEOUT  seconds to wait for GET /healthz: $E2E_HEALTH_TIMEOUT, default 30
# `e2e_tmp` and `start_authd` set TMP, SERVER_LOG, SERVER_PID, PORT and BASE_URL. CLIENT_PID,
# when a script sets it, is a child stopped (within 5 s) before the server on exit.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
AUTHD_BIN="${AUTHD_BIN:-target/debug/authd}"
HEALTH_TIMEOUT="${E2E_HEALTH_TIMEOUT:-30}"

log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() { log "$*"; exit 1; }

# require_authd HINT: dies unless AUTHD_BIN is an executable (HINT: how to get one).
require_authd() {
    [[ -x "$AUTHD_BIN" ]] || die "authd binary not found or not executable: $AUTHD_BIN ($1)"
}

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; reap it.
stop_pid() {
    local pid=$1 tries=$(( $2 * 10 ))
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while (( tries-- > 0 )) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop on SIGTERM within $2 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# The EXIT trap of `e2e_tmp`: stops CLIENT_PID, then the server (a graceful drain, then
# SIGKILL), shows the end of the server log when the script failed, and removes TMP unless
# E2E_KEEP_TMP=1.
e2e_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "${CLIENT_PID:-}" ]] && stop_pid "$CLIENT_PID" 5
    [[ -n "$SERVER_PID" ]] && stop_pid "$SERVER_PID" 10
    if [[ $rc -ne 0 && -s "$SERVER_LOG" ]]; then
        log "last lines of the server log ($SERVER_LOG):"
        tail -n 40 "$SERVER_LOG" >&2 || true
    fi
    if [[ "${E2E_KEEP_TMP:-0}" == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}

# e2e_tmp NAME: a new temp dir TMP (authd-NAME.XXXXXX) for the server log and data, removed on
# exit by `e2e_cleanup`, which also stops what was started.
e2e_tmp() {
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/authd-$1.XXXXXX")"
    SERVER_PID=""
    SERVER_LOG="$TMP/authd.log"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# start_authd DB_URL: `authd serve` on DB_URL, on a free loopback port (BASE_URL) with a fresh
# master key, its output in SERVER_LOG; waits up to HEALTH_TIMEOUT s for GET /healthz to be 200.
start_authd() {
    local py="${PY:-python3}"
    PORT="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    BASE_URL="http://127.0.0.1:$PORT"   # the SDK allows plain http only for 127.0.0.1 / localhost
    AUTHD_MASTER_KEY="$("$py" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
    export AUTHD_MASTER_KEY
    unset AUTHD_MASTER_KEY_FILE AUTHD_BIND
    # httpx (inside the SDK) honours *_PROXY variables: never send loopback traffic through a proxy.
    export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
    export no_proxy="$NO_PROXY"

    log "starting $AUTHD_BIN on $BASE_URL (database ${1%%://*}://...)"
    "$AUTHD_BIN" serve --bind "127.0.0.1:$PORT" --database-url "$1" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!

    "$py" - "$BASE_URL/healthz" "$SERVER_PID" "$HEALTH_TIMEOUT" "$LOG_PREFIX" <<'PYEOF' || die "authd did not become healthy"
import os, sys, time, urllib.request
url, pid, timeout, prefix = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + timeout
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"{prefix}: authd (pid {pid}) exited before it was healthy")
    try:
        with opener.open(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"{prefix}: GET {url} was not 200 within {timeout:g} s")
    time.sleep(0.2)
PYEOF
    log "authd is healthy (pid $SERVER_PID)"
}
