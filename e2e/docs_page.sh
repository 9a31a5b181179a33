#!/usr/bin/env bash
# Headless-browser check of the /docs viewer: start a fresh authd, load /docs in Debian's
# Chromium (offline: nothing but loopback is reachable, and the page's CSP allows only its own
# origin), and check that the rendered DOM lists the API's operations.
#
# Needs /usr/bin/chromium (`apt-get install -y chromium`; set DOCS_INSTALL_CHROMIUM=1 to have
# this script install it when missing) and python3.
#
# Environment (all optional):
#   AUTHD_BIN           authd binary (default target/debug/authd)
#   CHROMIUM            browser (default chromium)
#   DOCS_SCREENSHOT     also write a PNG of the page there (e.g. /tmp/docs.png), to look at
#   E2E_HEALTH_TIMEOUT  seconds to wait for GET /healthz (default 30)
#   E2E_KEEP_TMP=1      keep the temp dir (server log, DOM dump)
# Exit status: 0 when the DOM lists the operations, 1 otherwise.
set -euo pipefail

LOG_PREFIX=docs-check
# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # cd to the repository; AUTHD_BIN, HEALTH_TIMEOUT

CHROMIUM="${CHROMIUM:-chromium}"

if ! command -v "$CHROMIUM" >/dev/null; then
    if [[ "${DOCS_INSTALL_CHROMIUM:-0}" == 1 ]]; then
        log "installing Debian's chromium"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        die "$CHROMIUM not found: apt-get install -y chromium (or DOCS_INSTALL_CHROMIUM=1)"
    fi
fi
require_authd "cargo build -p server"

e2e_tmp docs
start_authd "sqlite://$TMP/authd.sqlite"

# One browser run per output; each with a fresh profile, no background traffic of its own.
browse() {
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d "$TMP/profile.XXXXXX")" \
        --virtual-time-budget=10000 "$@" "$BASE_URL/docs" 2>>"$TMP/chromium.log"
}

log "loading $BASE_URL/docs in $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
browse --dump-dom >"$TMP/dom.html" || die "chromium failed (see $TMP/chromium.log; E2E_KEEP_TMP=1 keeps it)"
if [[ -n "${DOCS_SCREENSHOT:-}" ]]; then
    browse --window-size=1280,2400 --screenshot="$DOCS_SCREENSHOT" >/dev/null && log "screenshot: $DOCS_SCREENSHOT"
fi

# The rendered page (not the static HTML, which has no operation in it) must list the operations:
# Swagger UI shows each operation id, summary and path once the document has been fetched and
# rendered. The DOM must not be Swagger UI's error view.
python3 - "$TMP/dom.html" "$SERVER_LOG" <<'PYEOF'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
log = open(sys.argv[2], encoding="utf-8", errors="replace").read()
problems = []
if "Failed to load API definition" in dom:
    problems.append("Swagger UI could not load /openapi.json")
ids = re.findall(r'class="opblock-summary-operation-id"[^>]*>([a-z_]+)<', dom)
for want in ("generate_otp", "list_user_authentication_apps", "list_identities_slash", "get_docs"):
    if want not in ids:
        problems.append(f"operation {want} is not in the rendered page")
if len(ids) < 30:
    problems.append(f"only {len(ids)} operations rendered")
for summary in ("Generate a code", "List a user's authentication apps"):
    if summary not in dom.replace("&#39;", "'"):
        problems.append(f"summary {summary!r} is not in the rendered page")
# The page really fetched the document and its assets from authd.
for route in ("/openapi.json", "/docs/{asset}"):
    if route not in log:
        problems.append(f"the server log shows no request to {route}")
if problems:
    print("docs-check: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"docs-check: /docs rendered {len(ids)} operations ({len(dom)} bytes of DOM)", file=sys.stderr)
PYEOF
