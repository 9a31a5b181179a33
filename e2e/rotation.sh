#!/usr/bin/env bash
# End-to-end test of master key rotation (e2e/rotation/test_rotation.py): each test starts its
# own `authd serve` processes on a fresh database and rotates the key under load, then checks
# every code with pyotp; one kills `authd key rewrap` with SIGKILL mid-run and reruns it.
#
# Environment (all optional):
#   AUTHD_BIN         authd binary (default target/debug/authd)
#   ROTATION_PG_URL   postgres://... of a role that may create databases: run on PostgreSQL
#                     (two replicas) instead of SQLite (one replica)
#   VENV, PYTHON      as in e2e/run.sh
# Extra arguments are passed to pytest.
set -euo pipefail

LOG_PREFIX=rotation
# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # cd to the repository; AUTHD_BIN

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt 2>&1 \
    | { grep -v -i 'yanked' || true; } >&2
require_authd "cargo build -p server"

if [[ -n "${ROTATION_PG_URL:-}" ]]; then
    export ROTATION_BACKEND=postgres ROTATION_PG_URL
    command -v psql >/dev/null || die "psql not found (apt-get install -y postgresql-client)"
else
    export ROTATION_BACKEND=sqlite
fi
export AUTHD_BIN
log "backend: $ROTATION_BACKEND"
exec "$VENV/bin/python" -m pytest e2e/rotation/test_rotation.py -p no:cacheprovider -x "$@" </dev/null
