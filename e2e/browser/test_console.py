"""Browser test of the operator console (/console) against a running authd.

Debian's headless Chromium, driven by Selenium through Debian's chromium-driver, signs in with a
service token, walks every view (identities, apps, an app's accounts and devices, tokens, the
audit trail), performs every action the console offers, and checks each result through the API
and the audit trail. It also checks the security headers of /console, that values from the
database render as text (an issuer, a token name and an app's metadata that are HTML), that no
token or secret stays in the page after it was shown once, that what is offered follows the
token's scopes (a 403 is shown as such), labels and keyboard use, a phone-sized window, and it
fails on any browser console error (an HTTP error the test provokes on purpose, a 403 or a 429,
is the one kind of entry allowed, and only for the request that was expected to fail).

Environment (e2e/console.sh sets them):
  AUTHD_URL            server root, e.g. http://127.0.0.1:8080
  AUTHD_TOKEN          an admin service token (authd token create --org ORG)
  CONSOLE_SCREENSHOTS  directory for the screenshots of docs/CONSOLE.md
  CONSOLE_BROWSER_LOG  file the browser console log is written to
  CHROMIUM, CHROMEDRIVER  default /usr/bin/chromium and /usr/bin/chromedriver

The tests run in file order and share one browser and one set of records.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pyotp
import pytest
import segno
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

AUTHD_URL = os.environ.get("AUTHD_URL", "").rstrip("/")
AUTHD_TOKEN = os.environ.get("AUTHD_TOKEN", "")
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS", "")
BROWSER_LOG = os.environ.get("CONSOLE_BROWSER_LOG", "")
RUN = uuid.uuid4().hex[:8]

# HTML in values of the database: each must show as these characters and run nothing.
XSS_ISSUER = "<img src=x onerror=alert(1)>"
XSS_TOKEN_NAME = "<script>alert(2)</script>"
XSS_METADATA = "<img src=x onerror=alert(3)>"

SECRET = pyotp.random_base32()
QR_SECRET = pyotp.random_base32()

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WAIT = 15

pytestmark = pytest.mark.skipif(not (AUTHD_URL and AUTHD_TOKEN), reason="AUTHD_URL and AUTHD_TOKEN must be set (e2e/console.sh)")


# ------------------------------------------------------------------------------- the API


def call(method: str, path: str, body=None, token: str | None = AUTHD_TOKEN):
    """(status, headers, parsed JSON or raw bytes) of one request."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-Service-Token": token} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(AUTHD_URL + path, data=data, method=method, headers=headers)
    try:
        with OPENER.open(req, timeout=15) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return status, hdrs, parsed


def api(method: str, path: str, body=None, want: int = 200, token: str = AUTHD_TOKEN):
    status, _, parsed = call(method, path, body, token)
    assert status == want, f"{method} {path}: {status} {parsed}"
    return parsed


def events(**query) -> list[dict]:
    """The audit trail, newest first (the console's own order), filtered."""
    q = urllib.parse.urlencode({"order": "desc", "limit": 1000, **query})
    return api("GET", f"/api/v1/audit/events?{q}")["events"]


def otpauth(issuer: str, label: str, secret: str) -> str:
    return (
        f"otpauth://totp/{urllib.parse.quote(label)}?secret={secret}&issuer={urllib.parse.quote(issuer)}"
    )


# ------------------------------------------------------------------------------- the browser

# Requests the test makes fail on purpose: (method-less URL path regex, status). Chromium logs a
# failed fetch as a console error; each expected one is allowed once, nothing else is.
EXPECTED_ERRORS: list[tuple[str, int]] = []
SEEN_LOG: list[dict] = []


def expect_http_error(path_regex: str, status: int) -> None:
    EXPECTED_ERRORS.append((path_regex, status))


NETWORK = re.compile(r"^(\S+) - Failed to load resource: the server responded with a status of (\d+)")


def unexpected_log_entries(driver) -> list[dict]:
    bad = []
    for entry in driver.get_log("browser"):
        SEEN_LOG.append(entry)
        if entry["level"] != "SEVERE":
            continue
        m = NETWORK.match(entry["message"])
        if m and entry.get("source") == "network":
            path = urllib.parse.urlsplit(m.group(1)).path
            status = int(m.group(2))
            match = next((e for e in EXPECTED_ERRORS if re.fullmatch(e[0], path) and e[1] == status), None)
            if match:
                EXPECTED_ERRORS.remove(match)
                continue
        bad.append(entry)
    return bad


@pytest.fixture(scope="module")
def driver():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="authd-console-profile-")
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
    d.set_window_size(1280, 900)
    yield d
    if BROWSER_LOG:
        with open(BROWSER_LOG, "w", encoding="utf-8") as f:
            json.dump(SEEN_LOG, f, indent=1)
    d.quit()


@pytest.fixture(autouse=True)
def no_console_errors(request):
    """After every test: no browser console error but those the test expected, and no alert."""
    yield
    if "driver" not in request.fixturenames:
        return
    d = request.getfixturevalue("driver")
    assert_no_alert(d)
    text = js(d, "return document.body.innerText")
    for wrong in ("[object ", "undefined", "NaN"):
        assert wrong not in text, f"{wrong!r} rendered: {text!r}"
    bad = unexpected_log_entries(d)
    assert not bad, f"browser console errors: {json.dumps(bad, indent=1)}"


def assert_no_alert(d) -> None:
    try:
        text = d.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"an alert ran: {text!r}")


def wait(d, timeout: float = WAIT):
    return WebDriverWait(d, timeout, poll_frequency=0.1)


def js(d, script: str, *args):
    return d.execute_script(script, *args)


HEADING = "const h = document.querySelector('main h1'); return h && document.activeElement === h ? h.textContent : null;"


def go(d, route: str) -> None:
    """Opens a console route (hash navigation, no reload, rendered anew even when it is the
    current one) and waits for its heading to have the focus."""
    js(d, "location.hash = '#/_'")
    wait(d).until(lambda d: js(d, HEADING) == "Not found")
    js(d, "location.hash = arguments[0]", "#/" + route)
    wait(d).until(lambda d: js(d, HEADING) not in (None, "Not found"))


def main_text(d) -> str:
    return d.find_element("id", "main").text


def wait_text(d, text: str, timeout: float = WAIT) -> None:
    try:
        wait(d, timeout).until(lambda d: text in main_text(d))
    except Exception:
        raise AssertionError(f"{text!r} not in the page: {main_text(d)!r}") from None


FIND_BUTTON = """
const name = arguments[0];
return [...document.querySelectorAll('button')].find(b => !b.disabled && b.offsetParent !== null &&
  (b.getAttribute('aria-label') === name || b.textContent.trim() === name)) || null;
"""


def button(d, name: str):
    """The visible, enabled button whose accessible name is `name`."""
    try:
        return wait(d).until(lambda d: js(d, FIND_BUTTON, name))
    except Exception:
        raise AssertionError(f"no button {name!r}: {main_text(d)!r}") from None


def no_button(d, name: str) -> None:
    assert js(d, FIND_BUTTON, name) is None, f"button {name!r} is offered"


FIND_FIELD = """
const label = [...document.querySelectorAll('label')].find(l => l.textContent.trim() === arguments[0]);
return label ? document.getElementById(label.htmlFor) : null;
"""


def field(d, label: str):
    """The form control whose <label> reads `label` (so a screen reader reads it too)."""
    try:
        return wait(d).until(lambda d: js(d, FIND_FIELD, label))
    except Exception:
        raise AssertionError(f"no field labelled {label!r}: {main_text(d)!r}") from None


def type_into(d, label: str, text: str) -> None:
    """Replaces the field's text by typing (so every keystroke's input event fires)."""
    f = field(d, label)
    f.send_keys(Keys.CONTROL, "a")
    f.send_keys(Keys.BACKSPACE)
    if text:
        f.send_keys(text)


def choose(d, label: str, option: str) -> None:
    Select(field(d, label)).select_by_visible_text(option)


ACCESSIBILITY = """
const problems = [];
for (const c of document.querySelectorAll('input, select, textarea')) {
  if (c.type === 'hidden' || c.closest('[hidden]')) continue;
  if (!(c.labels && c.labels.length) && !c.getAttribute('aria-label')) problems.push('unlabelled ' + c.outerHTML.slice(0, 80));
}
for (const b of document.querySelectorAll('button, a')) {
  if (b.closest('[hidden]')) continue;
  if (!(b.getAttribute('aria-label') || b.textContent.trim())) problems.push('nameless ' + b.outerHTML.slice(0, 80));
}
for (const t of document.querySelectorAll('table')) {
  if (!t.querySelector('caption') || !t.querySelector('th[scope=col]')) problems.push('table without caption or headers');
}
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
if (dup.length) problems.push('duplicate ids ' + dup.join(' '));
if (!document.querySelector('main h1')) problems.push('no h1');
return problems;
"""


def assert_accessible(d) -> None:
    problems = js(d, ACCESSIBILITY)
    assert not problems, problems


XSS_CHECK = """
return {
  imgs: document.querySelectorAll('img').length,
  scripts: [...document.querySelectorAll('script')].map(s => s.getAttribute('src')),
  handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
};
"""


def assert_no_injection(d) -> None:
    assert_no_alert(d)
    got = js(d, XSS_CHECK)
    assert got == {"imgs": 0, "scripts": ["console/jsqr.js", "console/console.js"], "handlers": 0}, got


def screenshot(d, name: str, element=None) -> None:
    """A PNG of the window, scrolled to the top or to `element` (for docs/CONSOLE.md)."""
    if SHOTS:
        if element is None:
            js(d, "window.scrollTo(0, 0)")
        else:
            js(d, "arguments[0].scrollIntoView({block: 'center'})", element)
        d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def tab_to(d, script: str, limit: int = 80):
    """Presses Tab until the focused element satisfies `script` (a JS expression on `el`)."""
    for _ in range(limit):
        if js(d, f"const el = document.activeElement; return !!({script});"):
            return d.switch_to.active_element
        d.switch_to.active_element.send_keys(Keys.TAB)
    raise AssertionError(f"Tab never reached {script}")


def row_of(d, record_id: str):
    return wait(d).until(lambda d: js(d, "return document.querySelector(`tr[data-id='${arguments[0]}']`)", record_id))


# ------------------------------------------------------------------------------- shared records


class World:
    pass


W = World()


@pytest.fixture(scope="module")
def world():
    """Records made through the API before the browser acts on them."""
    W.admin_id = api("GET", "/api/v1/tokens/self")["id"]
    W.agent = f"agent-{RUN}"
    W.doomed = f"doomed-{RUN}"
    W.bot = f"console-bot-{RUN}"
    for handle in (W.agent, W.doomed):
        api("POST", "/api/v1/identities", {"agent_handle": handle}, 201)
    W.app = api("POST", "/api/v1/authenticator/apps", {"agent_handle": W.agent, "metadata": {"team": XSS_METADATA}}, 201)["id"]
    W.xss_account = api("POST", f"/api/v1/authenticator/apps/{W.app}/accounts",
                        {"otpauth_uri": otpauth(XSS_ISSUER, "xss-label", pyotp.random_base32())}, 201)["id"]
    W.device = api("POST", f"/api/v1/authenticator/apps/{W.app}/instances",
                   {"device_name": "Alice's Pixel", "platform": "android"}, 201)
    W.doomed_app = api("POST", "/api/v1/authenticator/apps", {"agent_handle": W.doomed}, 201)["id"]
    api("POST", f"/api/v1/authenticator/apps/{W.doomed_app}/accounts",
        {"otpauth_uri": otpauth("Doomed", "d", pyotp.random_base32())}, 201)
    W.doomed_device = api("POST", f"/api/v1/authenticator/apps/{W.doomed_app}/instances",
                          {"device_name": "old phone", "platform": "ios"}, 201)["id"]
    W.xss_token = api("POST", "/api/v1/tokens", {"scopes": ["otp:verify"], "name": XSS_TOKEN_NAME}, 201)
    return W


# ------------------------------------------------------------------------------- the tests


def test_console_headers_over_plain_http():
    status, headers, body = call("GET", "/console", token=None)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"], csp
    assert directives["script-src"] == ["'self'"], csp
    assert directives["style-src"] == ["'self'"], csp
    assert directives["connect-src"] == ["'self'"], csp
    assert directives["frame-ancestors"] == ["'none'"], csp
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'none'"], csp
    assert "unsafe" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    html = body.decode() if isinstance(body, bytes) else str(body)
    assert "<script>" not in html and " style=" not in html and "<style" not in html
    for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css"), ("jsqr.js", "text/javascript")):
        status, h, _ = call("GET", f"/console/{asset}", token=None)
        assert status == 200 and h["Content-Type"].startswith(kind), asset
        assert h["Content-Security-Policy"] == csp and h["X-Content-Type-Options"] == "nosniff"
    # The console adds no header to the API.
    _, h, _ = call("GET", "/api/v1/tokens/self")
    assert "Content-Security-Policy" not in h


def test_sign_in_keeps_the_token_in_session_storage_only(driver, world):
    d = driver
    d.get(AUTHD_URL + "/console")
    token_field = field(d, "Service token")
    assert token_field.get_attribute("type") == "password"
    assert_accessible(d)
    screenshot(d, "sign-in")
    # A wrong token: 401, shown, not kept.
    expect_http_error(r"/api/v1/tokens/self", 401)
    token_field.send_keys("authd_st_not-a-token" + Keys.ENTER)
    wait_text(d, "Unauthorized (401)")
    assert js(d, "return sessionStorage.length") == 0
    # By keyboard: type the token, press Enter.
    field(d, "Service token").send_keys(AUTHD_TOKEN + Keys.ENTER)
    wait(d).until(lambda d: js(d, "return !document.getElementById('nav').hidden"))
    wait_text(d, "Identities")
    assert js(d, "return sessionStorage.getItem('authd.console.token')") == AUTHD_TOKEN
    assert js(d, "return localStorage.length") == 0
    assert js(d, "return document.cookie") == ""
    assert AUTHD_TOKEN not in d.current_url
    assert AUTHD_TOKEN not in d.page_source
    assert AUTHD_TOKEN not in json.dumps(js(d, "return [...document.querySelectorAll('input')].map(i => i.value)"))
    assert "admin" in d.find_element("id", "who-text").text
    # A reload keeps the session (same tab); the token never went into the URL or a cookie.
    d.refresh()
    wait_text(d, "Identities")


def test_identities_create_search_pause_resume(driver, world):
    d = driver
    go(d, "identities")
    wait_text(d, world.agent)
    assert_accessible(d)
    type_into(d, "New identity handle", world.bot)
    button(d, "Create identity").click()
    wait_text(d, world.bot)
    assert api("GET", f"/api/v1/identities/{world.bot}")["status"] == "active"
    # Search by handle, filter by status.
    type_into(d, "Search by handle", "console-bot")
    wait(d).until(lambda d: world.agent not in main_text(d))
    assert world.bot in main_text(d)
    # Pause by keyboard: Tab from the search field to the button, press Enter.
    tab_to(d, f"el.getAttribute('aria-label') === 'Pause {world.bot}'").send_keys(Keys.ENTER)
    wait(d).until(lambda d: api("GET", f"/api/v1/identities/{world.bot}")["status"] == "paused")
    button(d, f"Resume {world.bot}")
    type_into(d, "Search by handle", "")
    choose(d, "Status", "paused")
    wait(d).until(lambda d: world.agent not in main_text(d) and world.bot in main_text(d))
    button(d, f"Resume {world.bot}").click()
    wait(d).until(lambda d: api("GET", f"/api/v1/identities/{world.bot}")["status"] == "active")
    wait_text(d, "No identity matches.")
    choose(d, "Status", "Any status")
    wait_text(d, world.agent)
    statuses = [e["details"].get("status") for e in events(action="identity.update")]
    assert statuses[:2] == ["active", "paused"], statuses
    screenshot(d, "identities")


def test_identity_delete_spells_out_the_cascade(driver, world):
    d = driver
    go(d, "identities")
    button(d, f"Delete {world.doomed}").click()
    wait_text(d, f"Delete identity {world.doomed}?")
    wait_text(d, "This cannot be undone.")
    text = main_text(d)
    assert f"unlink its app {world.doomed_app} (the app and its 1 account(s) are kept)" in text, text
    assert "revoke the app's 1 device instance(s)" in text, text
    # Escape cancels.
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(d).until(lambda d: "This cannot be undone." not in main_text(d))
    api("GET", f"/api/v1/identities/{world.doomed}")
    button(d, f"Delete {world.doomed}").click()
    button(d, f"Yes, delete {world.doomed}").click()
    wait(d).until(lambda d: call("GET", f"/api/v1/identities/{world.doomed}")[0] == 404)
    assert api("GET", f"/api/v1/authenticator/apps/{world.doomed_app}")["identity_id"] is None
    assert api("GET", f"/api/v1/authenticator/apps/{world.doomed_app}/instances") == []
    assert call("GET", f"/api/v1/authenticator/apps/{world.doomed_app}/instances/{world.doomed_device}")[0] == 404
    deleted = events(action="identity.delete")[0]
    assert deleted["actor"] == {"kind": "service_token", "id": world.admin_id}, deleted
    assert deleted["details"].get("agent_handle") == world.doomed, deleted
    wait(d).until(lambda d: world.doomed not in main_text(d))


def test_apps_list_and_create(driver, world):
    d = driver
    go(d, "apps")
    wait_text(d, world.app)
    assert world.agent in main_text(d), "the linked identity's handle"
    assert_accessible(d)
    screenshot(d, "apps")
    type_into(d, "Link to identity (handle, optional)", world.bot)
    button(d, "Create app").click()
    wait(d).until(lambda d: re.search(r"#/apps/[0-9a-f-]{36}$", d.current_url))
    new_app = d.current_url.rsplit("/", 1)[1]
    assert api("GET", f"/api/v1/authenticator/apps/{new_app}")["identity_id"] == api("GET", f"/api/v1/identities/{world.bot}")["id"]
    world.bot_app = new_app


def test_app_page_renders_database_values_as_text(driver, world):
    d = driver
    go(d, f"apps/{world.app}")
    wait_text(d, "xss-label")
    text = main_text(d)
    assert XSS_ISSUER in text, "the issuer shows as its characters"
    assert f"team: {XSS_METADATA}" in text, "app metadata shows as its characters"
    assert "Alice's Pixel" in text and "ANDROID" in text
    assert_no_injection(d)
    assert_accessible(d)
    screenshot(d, "app")
    # The account row: issuer, label, type, algorithm, digits, period, window, lockout; no secret.
    row = row_of(d, world.xss_account).text
    for want in (XSS_ISSUER, "xss-label", "totp", "sha1", "6", "30 s", "1", "0", "not locked"):
        assert want in row, (want, row)


def test_add_accounts_from_a_uri_and_from_a_qr_code(driver, world, tmp_path):
    d = driver
    go(d, f"apps/{world.app}")
    uri = otpauth("Console", "alice@example.com", SECRET)
    type_into(d, "otpauth:// URI", uri)
    button(d, "Add account").click()
    wait_text(d, "alice@example.com")
    accounts = api("GET", f"/api/v1/authenticator/apps/{world.app}/accounts")
    world.account = next(a["id"] for a in accounts if a["account_name"] == "alice@example.com")
    assert field(d, "otpauth:// URI").get_attribute("value") == ""
    assert SECRET not in d.page_source

    # A QR code image, decoded in the browser (jsQR): the same code path as a dropped file.
    qr_uri = otpauth("QR Issuer", "qr-user", QR_SECRET)
    png = tmp_path / "qr.png"
    segno.make(qr_uri, error="m").save(str(png), scale=6, border=4)
    field(d, "QR code image").send_keys(str(png))
    wait(d).until(lambda d: field(d, "otpauth:// URI").get_attribute("value") == qr_uri)
    wait_text(d, "QR code read")
    button(d, "Add account").click()
    wait_text(d, "qr-user")
    accounts = api("GET", f"/api/v1/authenticator/apps/{world.app}/accounts")
    qr = next(a for a in accounts if a["account_name"] == "qr-user")
    assert qr["issuer"] == "QR Issuer"
    assert QR_SECRET not in d.page_source
    assert QR_SECRET not in json.dumps(js(d, "return [...document.querySelectorAll('input')].map(i => i.value)"))
    created = [e for e in events(action="account.create") if e["resource"]["id"] in (world.account, qr["id"])]
    assert len(created) == 2


def test_generate_a_code_with_its_countdown(driver, world):
    d = driver
    go(d, f"apps/{world.app}?account={world.account}")
    row = row_of(d, world.account)
    assert "highlight" in row.get_attribute("class")
    before = len(events(action="otp.generate", resource_id=world.account))
    button(d, "Generate a code for Console: alice@example.com").click()
    wait(d).until(lambda d: re.search(r"Code \d{6} valid for \d+ s", row_of(d, world.account).text))
    text = row_of(d, world.account).text
    code = re.search(r"Code (\d{6})", text).group(1)
    totp = pyotp.TOTP(SECRET)
    assert totp.verify(code, valid_window=1), "the code shown is the account's"
    first = int(re.search(r"valid for (\d+) s", text).group(1))
    assert 1 <= first <= 30
    assert js(d, "return document.querySelector(`tr[data-id='${arguments[0]}'] progress`).max", world.account) == 30
    if first > 2:
        wait(d).until(lambda d: int(re.search(r"valid for (\d+) s|$", row_of(d, world.account).text).group(1) or 99) < first)
    screenshot(d, "app-code", row_of(d, world.account))
    after = events(action="otp.generate", resource_id=world.account)
    assert len(after) == before + 1
    assert after[0]["actor"] == {"kind": "service_token", "id": world.admin_id}


def test_verify_shows_remaining_attempts_retry_after_and_the_lockout(driver, world):
    d = driver
    base = f"/api/v1/authenticator/apps/{world.app}/accounts/{world.account}"
    totp = pyotp.TOTP(SECRET)
    near = {totp.at(time.time() + k * 30) for k in (-1, 0, 1)}
    wrong = next(c for c in (f"{n:06d}" for n in range(1000)) if c not in near)
    go(d, f"apps/{world.app}")
    label = "Console: alice@example.com"
    # A wrong code through the console: refused, counted, remaining_attempts shown.
    field_id = f"verify-{world.account}"
    d.find_element("id", field_id).send_keys(wrong + Keys.ENTER)
    wait(d).until(lambda d: "remaining_attempts: 99" in row_of(d, world.account).text)
    time.sleep(1.1)
    # Three more through the API (past each lock): 4 failures in a row, locked for 8 s.
    api("POST", base + "/verify", {"otp_code": wrong})
    time.sleep(2.1)
    api("POST", base + "/verify", {"otp_code": wrong})
    time.sleep(4.1)
    api("POST", base + "/verify", {"otp_code": wrong})
    lockout = api("GET", base + "/lockout")
    assert lockout["failed_attempts"] == 4 and lockout["locked_until"], lockout
    go(d, f"apps/{world.app}")
    wait(d).until(lambda d: re.search(re.escape(lockout["locked_until"]) + r" \([1-8] s left\)", row_of(d, world.account).text))
    assert re.search(r"\b4\b", row_of(d, world.account).text)
    # While locked: 429, shown with its Retry-After.
    expect_http_error(re.escape(base) + "/verify", 429)
    d.find_element("id", field_id).send_keys(wrong + Keys.ENTER)
    wait(d).until(lambda d: "Locked: too many failed attempts. Retry-After:" in row_of(d, world.account).text)
    assert re.search(r"Retry-After: [1-8] s \(retry_after_seconds: [1-8]\)", row_of(d, world.account).text)
    screenshot(d, "verify-locked", row_of(d, world.account))
    wait(d, 12).until(lambda d: api("GET", base + "/lockout")["locked_until"] is None)
    # The right code: valid; the count is reset.
    d.find_element("id", field_id).send_keys(totp.now() + Keys.ENTER)
    wait(d).until(lambda d: re.search(r"Valid \(matched offset -?[01]\)", row_of(d, world.account).text))
    wait(d).until(lambda d: "not locked" in row_of(d, world.account).text)
    assert api("GET", base + "/lockout")["failed_attempts"] == 0
    results = [e["details"]["result"] for e in events(action="otp.verify", resource_id=world.account)]
    assert results[:5] == ["valid", "invalid", "invalid", "invalid", "invalid"], results
    button(d, f"Generate a code for {label}")


def test_revoke_a_device(driver, world):
    d = driver
    go(d, f"apps/{world.app}")
    row_of(d, world.device["id"])
    button(d, "Revoke device Alice's Pixel").click()
    wait_text(d, "Its device token stops working at once")
    button(d, "Yes, revoke Alice's Pixel").click()
    wait(d).until(lambda d: api("GET", f"/api/v1/authenticator/apps/{world.app}/instances") == [])
    wait_text(d, "No device instance.")
    req = urllib.request.Request(AUTHD_URL + "/api/v1/device/accounts",
                                 headers={"Authorization": "Bearer " + world.device["device_token"]})
    try:
        OPENER.open(req, timeout=10)
        pytest.fail("the revoked device token still works")
    except urllib.error.HTTPError as e:
        assert e.code == 401
    assert events(action="instance.revoke", resource_id=world.device["id"])


def test_audit_trail_newest_first_filters_links_and_live(driver, world):
    d = driver
    go(d, "audit")
    wait(d).until(lambda d: js(d, "return document.querySelectorAll('tr[data-seq]').length") > 5)
    assert_accessible(d)
    seqs = js(d, "return [...document.querySelectorAll('tr[data-seq]')].map(r => Number(r.dataset.seq))")
    assert seqs == sorted(seqs, reverse=True), "newest first"
    assert seqs[0] == events(limit=1)[0]["seq"]
    # The issuer's HTML in the account.create details shows as text.
    wait_text(d, f'"issuer":"{XSS_ISSUER}"')
    assert_no_injection(d)
    screenshot(d, "audit")

    # "Who fetched a code for this account, and when": the account's code history.
    go(d, f"apps/{world.app}")
    row = row_of(d, world.account)
    row.find_element("link text", "Code history").click()
    wait(d).until(lambda d: "resource_id=" + world.account in d.current_url)
    choose(d, "Action", "otp.generate")
    button(d, "Apply filters").click()
    wait(d).until(lambda d: "action=otp.generate" in d.current_url)
    wait(d).until(lambda d: js(d, "return document.querySelectorAll('tr[data-seq]').length") >= 1)
    rows = js(d, "return [...document.querySelectorAll('tr[data-seq]')].map(r => r.innerText)")
    api_rows = events(action="otp.generate", resource_id=world.account)
    assert len(rows) == len(api_rows) >= 1
    assert all("otp.generate" in r and f"service_token {world.admin_id} (this token)" in r for r in rows), rows

    # Live: a code generated elsewhere shows up at the top, without a reload.
    api("POST", f"/api/v1/authenticator/apps/{world.app}/accounts/{world.account}/generate-otp")
    wait(d, 10).until(lambda d: js(d, "return document.querySelectorAll('tr.fresh').length") == 1)
    newest = events(action="otp.generate", resource_id=world.account)[0]["seq"]
    assert js(d, "return Number(document.querySelector('tr[data-seq]').dataset.seq)") == newest

    # Each event links to its resource: the account's link opens its app, the row highlighted.
    d.find_element("css selector", "tr.fresh a").click()
    wait(d).until(lambda d: f"#/apps/{world.app}?account={world.account}" in d.current_url)
    assert "highlight" in row_of(d, world.account).get_attribute("class")
    # An identity event links to the identity.
    go(d, "audit?action=identity.create")
    wait(d).until(lambda d: js(d, "return document.querySelectorAll('tr[data-seq]').length") >= 3)
    d.find_element("link text", f"identity {world.bot}").click()
    wait(d).until(lambda d: "#/identities?id=" in d.current_url)
    wait_text(d, world.bot)
    assert world.agent not in main_text(d)


def test_tokens_mint_once_copy_and_revoke(driver, world):
    d = driver
    go(d, "tokens")
    wait_text(d, XSS_TOKEN_NAME)
    assert_no_injection(d)
    assert_accessible(d)
    type_into(d, "Name", f"console-minted-{RUN}")
    for scope in ("apps:read", "audit:read", "otp:generate"):
        field(d, scope).click()
    type_into(d, "Identity patterns", f"agent-{RUN}*")
    choose(d, "Expires in", "1 day")
    button(d, "Mint token").click()
    wait_text(d, "it is shown this once")
    minted = d.find_element("id", "new-token").text
    assert minted.startswith("authd_st_")
    me = api("GET", "/api/v1/tokens/self", token=minted)
    assert me["scopes"] == ["apps:read", "otp:generate", "audit:read"]
    assert me["identities"] == [f"agent-{RUN}*"] and me["apps"] is None
    assert me["expires_at"] and me["name"] == f"console-minted-{RUN}"
    world.minted, world.minted_id = minted, me["id"]
    # Copy: the clipboard then holds the token (the permission a person would grant, granted).
    d.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": AUTHD_URL, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    button(d, "Copy").click()
    wait(d).until(lambda d: d.find_element("css selector", ".once .hint").text == "Copied.")
    pasted = d.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error ' + e))")
    assert pasted == minted
    screenshot(d, "token-minted", d.find_element("id", "new-token"))
    button(d, "Done: I have copied it").click()
    wait(d).until(lambda d: js(d, "return document.getElementById('new-token')") is None)
    assert minted not in d.page_source
    assert minted not in js(d, "return document.body.innerText")
    created = events(action="token.create", resource_id=world.minted_id)
    assert created and created[0]["actor"]["id"] == world.admin_id and minted not in json.dumps(created)

    # Revoke the token whose name is HTML.
    button(d, f"Revoke token {XSS_TOKEN_NAME}").click()
    wait_text(d, "every token it minted")
    button(d, f"Yes, revoke {XSS_TOKEN_NAME}").click()
    wait(d).until(lambda d: call("GET", "/api/v1/tokens/self", token=world.xss_token["token"])[0] == 401)
    listed = next(t for t in api("GET", "/api/v1/tokens") if t["id"] == world.xss_token["id"])
    assert listed["revoked_at"]
    assert events(action="token.revoke", resource_id=world.xss_token["id"])
    assert_no_injection(d)
    screenshot(d, "tokens")


def test_phone_sized_window(driver, world):
    d = driver
    d.set_window_size(390, 844)
    try:
        for route, shot in ((f"apps/{world.app}", "phone-app"), ("identities", "phone-identities"), ("audit", None)):
            go(d, route)
            wait(d).until(lambda d: js(d, "return document.querySelectorAll('tbody tr').length") > 0)
            width = js(d, "return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{route}: the page scrolls sideways on a phone ({width})"
            if shot:
                screenshot(d, shot)
    finally:
        d.set_window_size(1280, 900)


def test_what_is_offered_follows_the_scopes(driver, world):
    d = driver
    button(d, "Sign out").click()
    field(d, "Service token")
    assert js(d, "return sessionStorage.length") == 0
    assert AUTHD_TOKEN not in d.page_source
    # The confined token: apps:read, otp:generate, audit:read, identities agent-<run>*.
    field(d, "Service token").send_keys(world.minted + Keys.ENTER)
    wait(d).until(lambda d: js(d, "return !document.getElementById('nav').hidden"))
    nav = [a.text for a in d.find_elements("css selector", "#nav li:not([hidden]) a")]
    assert nav == ["Apps", "Audit trail"], nav
    wait(d).until(lambda d: "#/apps" in d.current_url)
    wait_text(d, world.app)
    assert world.bot_app not in main_text(d), "outside the restriction"
    no_button(d, "Create app")
    go(d, f"apps/{world.app}")
    wait_text(d, "alice@example.com")
    button(d, "Generate a code for Console: alice@example.com")
    assert d.find_elements("id", f"verify-{world.account}") == [], "no otp:verify: no verify form"
    no_button(d, "Add account")
    assert "Device instances" not in main_text(d), "no instances:read"
    assert_accessible(d)
    # A view the token may not read: the API's 403, shown as such.
    expect_http_error(r"/api/v1/identities", 403)
    go(d, "identities")
    wait_text(d, "Forbidden (403): this token lacks the scope identities:read")
    screenshot(d, "forbidden")
    expect_http_error(r"/api/v1/tokens", 403)
    go(d, "tokens")
    wait_text(d, "Forbidden (403): this token lacks the scope tokens:write")
    # Outside its restriction: the app answers like a missing one.
    expect_http_error(re.escape(f"/api/v1/authenticator/apps/{world.bot_app}") + r"(/accounts)?", 404)
    expect_http_error(re.escape(f"/api/v1/authenticator/apps/{world.bot_app}") + r"(/accounts)?", 404)
    go(d, f"apps/{world.bot_app}")
    wait_text(d, "Not found (404): Authenticator app not found")
    button(d, "Sign out").click()
    field(d, "Service token")
    assert js(d, "return sessionStorage.length") == 0


def test_every_expected_error_happened():
    """Each HTTP error the test announced was seen in the browser's log (so the allowance was used)."""
    assert EXPECTED_ERRORS == [], EXPECTED_ERRORS
