#!/usr/bin/env bash
# End-to-end test: start a fresh authd, create a service token, run e2e/test_*.py against it
# (test_sdk.py: the official Inkbox Python SDK, inkbox==0.2.0; test_openapi.py: /openapi.json
# validated as OpenAPI 3.1 and checked against real responses, /docs), stop the server.
#
# Environment (all optional):
#   AUTHD_BIN           authd binary (default target/debug/authd). Must be the binary itself,
#                       not a wrapper such as `cargo run`: it is stopped by its PID.
#   AUTHD_DATABASE_URL  database to use instead of a fresh SQLite file in a temp dir
#                       (e.g. postgres://user:pass@127.0.0.1/authd_e2e). Tests use unique
#                       handles, so a non-empty database is fine.
#   VENV                virtualenv to create/reuse (default .venv)
#   PYTHON              interpreter used to create the venv (default python3; needs >= 3.11)
#   E2E_ORG             org of the service token (default e2e_org)
#   E2E_HEALTH_TIMEOUT  seconds to wait for GET /healthz (default 30)
#   E2E_KEEP_TMP=1      keep the temp dir (server log, SQLite file) for inspection
# Extra arguments are passed to pytest (e.g. e2e/run.sh -k hotp -x).
# Exit status: pytest's, or 1 when the server could not be started or a token not created.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
AUTHD_BIN="${AUTHD_BIN:-target/debug/authd}"
ORG="${E2E_ORG:-e2e_org}"
HEALTH_TIMEOUT="${E2E_HEALTH_TIMEOUT:-30}"

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# --- (a) virtualenv --------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$VENV uses Python < 3.11; inkbox 0.2.0 needs >= 3.11 (remove $VENV or set PYTHON)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt 2>&1 \
    | { grep -v -i 'yanked' || true; } >&2
PY="$VENV/bin/python"

# --- (b) binary --------------------------------------------------------------------------
[[ -x "$AUTHD_BIN" ]] || die "authd binary not found or not executable: $AUTHD_BIN (build it, or set AUTHD_BIN)"

# --- (c) temp dir, port, master key, server ----------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/authd-e2e.XXXXXX")"
SERVER_PID=""
PYTEST_PID=""
SERVER_LOG="$TMP/authd.log"

stop_pid() {  # stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; reap it
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

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "$PYTEST_PID" ]] && stop_pid "$PYTEST_PID" 5
    [[ -n "$SERVER_PID" ]] && stop_pid "$SERVER_PID" 10   # graceful drain, then SIGKILL
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
DB_URL="${AUTHD_DATABASE_URL:-sqlite://$TMP/authd.sqlite}"
BASE_URL="http://127.0.0.1:$PORT"   # the SDK allows plain http only for 127.0.0.1 / localhost

AUTHD_MASTER_KEY="$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
export AUTHD_MASTER_KEY
unset AUTHD_MASTER_KEY_FILE AUTHD_BIND
# httpx (inside the SDK) honours *_PROXY variables: never send loopback traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

log "starting $AUTHD_BIN on $BASE_URL (database ${DB_URL%%://*}://...)"
"$AUTHD_BIN" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

"$PY" - "$BASE_URL/healthz" "$SERVER_PID" "$HEALTH_TIMEOUT" <<'PYEOF' || die "authd did not become healthy"
import os, sys, time, urllib.request
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + timeout
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"e2e: authd (pid {pid}) exited before it was healthy")
    try:
        with opener.open(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"e2e: GET {url} was not 200 within {timeout:g} s")
    time.sleep(0.2)
PYEOF
log "authd is healthy (pid $SERVER_PID)"

# --- (d) service token -------------------------------------------------------------------
TOKEN="$("$AUTHD_BIN" token create --org "$ORG" --database-url "$DB_URL")" \
    || die "authd token create failed"
TOKEN="${TOKEN//[$'\r\n\t ']/}"
[[ -n "$TOKEN" ]] || die "authd token create printed no token"

# --- (e) tests ---------------------------------------------------------------------------
# pytest runs as a background child that we wait for, so that a signal to this script is
# handled at once (the trap stops pytest and the server by their PIDs).
AUTHD_URL="$BASE_URL" AUTHD_TOKEN="$TOKEN" AUTHD_ORG="$ORG" \
    "$PY" -m pytest e2e/test_*.py -p no:cacheprovider "$@" </dev/null &
PYTEST_PID=$!
STATUS=0
wait "$PYTEST_PID" || STATUS=$?
PYTEST_PID=""

# --- (f) cleanup runs from the EXIT trap -------------------------------------------------
exit "$STATUS"
