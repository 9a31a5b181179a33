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

LOG_PREFIX=e2e
# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # cd to the repository; AUTHD_BIN, HEALTH_TIMEOUT

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
ORG="${E2E_ORG:-e2e_org}"

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
require_authd "build it, or set AUTHD_BIN"

# --- (c) temp dir, port, master key, server (e2e/lib.sh) -----------------------------------
CLIENT_PID=""   # pytest, once started
e2e_tmp e2e
DB_URL="${AUTHD_DATABASE_URL:-sqlite://$TMP/authd.sqlite}"
start_authd "$DB_URL"

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
CLIENT_PID=$!
STATUS=0
wait "$CLIENT_PID" || STATUS=$?
CLIENT_PID=""

# --- (f) cleanup runs from the EXIT trap -------------------------------------------------
exit "$STATUS"
