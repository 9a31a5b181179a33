#!/usr/bin/env bash
# Browser test of the operator console (/console): start a fresh authd on a temp SQLite file,
# create an admin service token, and run e2e/browser/test_console.py, which drives Debian's
# headless Chromium through Selenium and Debian's chromium-driver (nothing is downloaded: no
# browser build, no driver). It signs in, walks every view, performs every action, checks the
# results through the API and the audit trail, checks the security headers and that database
# values render as text, and fails on any browser console error.
#
# Needs /usr/bin/chromium and /usr/bin/chromedriver (`apt-get install -y chromium
# chromium-driver`; CONSOLE_INSTALL_CHROMIUM=1 makes this script install them when missing) and
# python3 >= 3.11 (the virtualenv of e2e/run.sh, plus e2e/requirements-console.txt).
#
# Environment (all optional):
#   AUTHD_BIN            authd binary (default target/debug/authd)
#   VENV                 virtualenv to create/reuse (default .venv)
#   PYTHON               interpreter used to create the venv (default python3)
#   CONSOLE_SCREENSHOTS  directory for the screenshots (default: the temp dir, removed at exit;
#                        docs/console refreshes those of docs/CONSOLE.md)
#   E2E_HEALTH_TIMEOUT   seconds to wait for GET /healthz (default 30)
#   E2E_KEEP_TMP=1       keep the temp dir (server log, screenshots, browser logs)
# Extra arguments are passed to pytest. Exit status: pytest's, or 1 when the set-up failed.
set -euo pipefail

LOG_PREFIX=console
# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # cd to the repository; AUTHD_BIN, HEALTH_TIMEOUT

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
ORG=console_org

if ! [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    if [[ "${CONSOLE_INSTALL_CHROMIUM:-0}" == 1 ]]; then
        log "installing Debian's chromium and chromium-driver"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        die "chromium and chromium-driver are needed: apt-get install -y chromium chromium-driver (or CONSOLE_INSTALL_CHROMIUM=1)"
    fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r e2e/requirements.txt -r e2e/requirements-console.txt 2>&1 | { grep -v -i 'yanked' || true; } >&2
PY="$VENV/bin/python"

require_authd "cargo build -p server"

CLIENT_PID=""
e2e_tmp console
start_authd "sqlite://$TMP/authd.sqlite"

TOKEN="$("$AUTHD_BIN" token create --org "$ORG" --database-url "sqlite://$TMP/authd.sqlite")" \
    || die "authd token create failed"
TOKEN="${TOKEN//[$'\r\n\t ']/}"
[[ -n "$TOKEN" ]] || die "authd token create printed no token"

SHOTS="${CONSOLE_SCREENSHOTS:-$TMP/screenshots}"
mkdir -p "$SHOTS"
log "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1); screenshots in $SHOTS"

AUTHD_URL="$BASE_URL" AUTHD_TOKEN="$TOKEN" AUTHD_ORG="$ORG" CONSOLE_SCREENSHOTS="$SHOTS" \
    CONSOLE_BROWSER_LOG="$TMP/browser.log" \
    "$PY" -m pytest e2e/browser/test_console.py -p no:cacheprovider "$@" </dev/null &
CLIENT_PID=$!
STATUS=0
wait "$CLIENT_PID" || STATUS=$?
CLIENT_PID=""
exit "$STATUS"
