"""End-to-end test: the official Inkbox Python SDK (inkbox==0.2.0) against a running authd.

Environment:
  AUTHD_URL    server root, e.g. http://127.0.0.1:8080 (the SDK appends /api/v1 itself;
               it only allows plain http for the hosts 127.0.0.1 and localhost)
  AUTHD_TOKEN  a service token (authd token create --org ORG)
  AUTHD_ORG    optional: when set, organization_id in responses must equal it
  AUTHD_CLOCK_SKEW  optional: seconds of clock difference tolerated with the server (default 1;
               run.sh runs the server on this machine)

Normally run through e2e/run.sh, which starts a fresh authd and sets these.
Every test makes its own identities and apps with handles unique to this run, so the
suite can run against a non-empty database.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from inkbox import AgentIdentity, Inkbox, InkboxAPIError
from inkbox.authenticator.types import AuthenticatorAccount, AuthenticatorApp, OTPCode
from inkbox.identities.types import AgentIdentitySummary

AUTHD_URL = os.environ.get("AUTHD_URL", "")
AUTHD_TOKEN = os.environ.get("AUTHD_TOKEN", "")
AUTHD_ORG = os.environ.get("AUTHD_ORG") or None

RUN = uuid.uuid4().hex[:10]
_seq = 0

# Allowed clock difference between this process and the server, in seconds. run.sh runs the
# server on this machine (same clock); raise it for a remote server.
CLOCK_SKEW = float(os.environ.get("AUTHD_CLOCK_SKEW", "1"))
# Timestamps in responses must be this close to our clock.
CLOCK_SLACK = timedelta(minutes=5)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def uniq(prefix: str = "e2e") -> str:
    """A handle unique to this run: [A-Za-z0-9._-], first char alphanumeric."""
    global _seq
    _seq += 1
    return f"{prefix}-{RUN}-{_seq}"


def api_error(expected: int, fn, /, *args, **kwargs) -> InkboxAPIError:
    """Call fn(*args, **kwargs) and require the SDK to raise InkboxAPIError with this status."""
    with pytest.raises(InkboxAPIError) as excinfo:
        fn(*args, **kwargs)
    err = excinfo.value
    assert err.status_code == expected, f"expected HTTP {expected}, got {err.status_code}: {err.detail!r}"
    assert isinstance(err.detail, str)
    return err


def assert_plain_detail(err: InkboxAPIError) -> None:
    """A non-422 error body is {"detail": "<message>"}: the SDK gives the message itself."""
    assert err.detail, "empty error detail"
    # If the body were not a JSON object with "detail", the SDK would put the raw body text here.
    assert not err.detail.lstrip().startswith(("{", "[")), f"detail is not a plain message: {err.detail!r}"


def assert_validation_detail(err: InkboxAPIError) -> None:
    """A 422 body is {"detail": [{"loc", "msg", "type"}]}: the SDK gives str(list) (Python repr)."""
    assert err.detail.startswith("[{"), f"422 detail is not a list of objects: {err.detail!r}"
    for key in ("'loc'", "'msg'", "'type'"):
        assert key in err.detail, f"422 detail lacks {key}: {err.detail!r}"


def assert_ts(dt: datetime) -> None:
    assert isinstance(dt, datetime)
    assert dt.tzinfo is not None, f"timestamp without offset: {dt!r}"
    assert dt.utcoffset() == timedelta(0), f"timestamp not UTC: {dt!r}"
    now = datetime.now(timezone.utc)
    assert now - CLOCK_SLACK <= dt <= now + CLOCK_SLACK, f"timestamp far from now: {dt!r}"


def assert_org(org: str) -> None:
    assert isinstance(org, str) and org
    if AUTHD_ORG is not None:
        assert org == AUTHD_ORG


def assert_app(app, *, identity_id: uuid.UUID | None) -> None:
    assert isinstance(app.id, uuid.UUID)
    assert_org(app.organization_id)
    assert app.identity_id == identity_id
    assert app.status == "active"
    assert_ts(app.created_at)
    assert_ts(app.updated_at)
    assert app.updated_at >= app.created_at


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def new_secret() -> str:
    return b32(os.urandom(20))


def totp_uri(secret: str, *, label="ACME:alice@example.com", **params) -> str:
    q = {"secret": secret, **{k: str(v) for k, v in params.items()}}
    return f"otpauth://totp/{urllib.parse.quote(label, safe=':@')}?{urllib.parse.urlencode(q)}"


def hotp_uri(secret: str, *, label="ACME:bob@example.com", **params) -> str:
    q = {"secret": secret, **{k: str(v) for k, v in params.items()}}
    return f"otpauth://hotp/{urllib.parse.quote(label, safe=':@')}?{urllib.parse.urlencode(q)}"


DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


# pyotp >= 2.10 refuses secrets under 112 bits; authd must accept shorter ones (common in the wild).
class _TOTP(pyotp.TOTP):
    min_secret_length_bits = 8


class _HOTP(pyotp.HOTP):
    min_secret_length_bits = 8


def check_totp(otp: OTPCode, secret: str, algorithm: str, digits: int, period: int,
               t0: float, t1: float) -> None:
    """The code must be TOTP(secret) for a time step around [t0, t1] (one step either side is
    tolerated at the boundaries), and valid_for_seconds must agree with that step: the server
    time it implies, step * period + (period - valid_for_seconds), lies within [t0, t1]
    (plus AUTHD_CLOCK_SKEW seconds)."""
    assert isinstance(otp.valid_for_seconds, int) and not isinstance(otp.valid_for_seconds, bool)
    assert 1 <= otp.valid_for_seconds <= period, otp.valid_for_seconds
    totp = _TOTP(secret, digits=digits, digest=DIGESTS[algorithm], interval=period)
    first = int(t0 - CLOCK_SKEW) // period - 1
    last = int(t1 + CLOCK_SKEW) // period + 1
    steps = [st for st in range(first, last + 1) if totp.at(st * period) == otp.otp_code]
    assert steps, f"{otp.otp_code} is not the TOTP code of any step in [{t0:.1f}, {t1:.1f}]"
    implied = [st * period + (period - otp.valid_for_seconds) for st in steps]
    lo, hi = int(t0) - CLOCK_SKEW, t1 + CLOCK_SKEW
    assert any(lo <= t <= hi for t in implied), (
        f"valid_for_seconds={otp.valid_for_seconds} implies server time {implied}, "
        f"outside [{t0:.1f}, {t1:.1f}] (+/- {CLOCK_SKEW} s)"
    )


def hotp(secret: str, algorithm: str, digits: int, counter: int) -> str:
    return _HOTP(secret, digits=digits, digest=DIGESTS[algorithm]).at(counter)


def assert_code_shape(otp: OTPCode, digits: int) -> None:
    assert isinstance(otp.otp_code, str)
    assert len(otp.otp_code) == digits and otp.otp_code.isdigit(), otp.otp_code


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server() -> urllib.parse.SplitResult:
    if not AUTHD_URL or not AUTHD_TOKEN:
        pytest.skip("AUTHD_URL and AUTHD_TOKEN must be set (e2e/run.sh sets them)")
    return urllib.parse.urlsplit(AUTHD_URL)


@pytest.fixture(scope="session")
def ik(server) -> Inkbox:
    client = Inkbox(api_key=AUTHD_TOKEN, base_url=AUTHD_URL, timeout=15.0)
    yield client
    client.close()


@pytest.fixture
def identity(ik) -> AgentIdentity:
    return ik.create_identity(uniq())


@pytest.fixture
def app(ik) -> AuthenticatorApp:
    return ik.authenticator_apps.create()


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
        *, service_token: bool = True):
    """One request with http.client (never follows redirects). Returns (status, response, json|None)."""
    conn = http.client.HTTPConnection(server.hostname, server.port or 80, timeout=15)
    try:
        hdrs = {"X-Service-Token": AUTHD_TOKEN} if service_token else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        parsed = json.loads(data) if data else None
        return resp.status, resp, parsed
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------


def test_identity_create_with_at_prefix_and_get(ik):
    handle = uniq()
    # create_identity POSTs {"agent_handle": "@..."} then GETs /identities/@<handle>
    ident = ik.create_identity("@" + handle)
    assert ident.agent_handle == handle  # leading @ stripped
    assert isinstance(ident.id, uuid.UUID)
    assert ident.status == "active"
    assert_org(ident._data.organization_id)
    assert_ts(ident._data.created_at)
    assert_ts(ident._data.updated_at)
    assert ident.authenticator_app is None
    assert ident.mailbox is None
    assert ident.phone_number is None

    for h in (handle, "@" + handle):
        again = ik.get_identity(h)
        assert again.id == ident.id
        assert again.agent_handle == handle
        assert again.authenticator_app is None


def test_identity_list_contains_new_ones_newest_first(ik):
    older = ik.create_identity(uniq())
    time.sleep(0.05)
    newer = ik.create_identity(uniq())
    listed = ik.list_identities()
    assert all(isinstance(s, AgentIdentitySummary) for s in listed)
    ids = [s.id for s in listed]
    assert older.id in ids and newer.id in ids
    assert ids.index(newer.id) < ids.index(older.id), "GET /identities/ must be newest first"
    assert len(ids) == len(set(ids))
    mine = next(s for s in listed if s.id == newer.id)
    assert mine.agent_handle == newer.agent_handle
    assert mine.status == "active"
    assert_org(mine.organization_id)
    assert_ts(mine.created_at)


def test_identity_rename(ik):
    ident = ik.create_identity(uniq())
    old, new = ident.agent_handle, uniq("renamed")
    ident.update(new_handle=new)
    assert ident.agent_handle == new  # taken from the PATCH response
    fetched = ik.get_identity(new)
    assert fetched.id == ident.id
    assert fetched._data.updated_at >= fetched._data.created_at
    api_error(404, ik.get_identity, old)

    # "@" is stripped from the new handle in the body too
    newer = uniq("renamed")
    summary = ik._ids_resource.update(new, new_handle="@" + newer)
    assert summary.agent_handle == newer
    assert summary.id == ident.id
    assert ik.get_identity(newer).id == ident.id

    # the old handle is free again
    reused = ik.create_identity(old)
    assert reused.id != ident.id


def test_identity_pause_and_unpause(ik):
    ident = ik.create_identity(uniq())
    ident.update(status="paused")
    assert ident.status == "paused"
    assert ik.get_identity(ident.agent_handle).status == "paused"
    listed = {s.id: s for s in ik.list_identities()}
    assert listed[ident.id].status == "paused"

    ident.update(status="active")
    assert ident.status == "active"
    assert ik.get_identity(ident.agent_handle).status == "active"

    # an empty PATCH changes nothing
    summary = ik._ids_resource.update(ident.agent_handle)
    assert summary.agent_handle == ident.agent_handle
    assert summary.status == "active"


def test_identity_delete(ik):
    ident = ik.create_identity(uniq())
    handle = ident.agent_handle
    ident.delete()
    err = api_error(404, ik.get_identity, handle)
    assert_plain_detail(err)
    assert ident.id not in {s.id for s in ik.list_identities()}
    api_error(404, ik._ids_resource.delete, handle)  # a deleted record is 404 to deletes too
    # the handle is free again, for a new identity
    again = ik.create_identity(handle)
    assert again.id != ident.id


def test_identity_errors(ik):
    ident = ik.create_identity(uniq())
    err = api_error(409, ik.create_identity, ident.agent_handle)
    assert_plain_detail(err)
    api_error(409, ik.create_identity, "@" + ident.agent_handle)

    other = ik.create_identity(uniq())
    api_error(409, other.update, new_handle=ident.agent_handle)
    assert ik.get_identity(other.agent_handle).id == other.id  # unchanged

    api_error(400, ik._ids_resource.update, ident.agent_handle, status="bogus")
    assert ik.get_identity(ident.agent_handle).status == "active"

    for bad in ("-leading-dash", "has space", "x" * 256):
        assert_validation_detail(api_error(422, ik._ids_resource.create, agent_handle=bad))

    assert_plain_detail(api_error(404, ik.get_identity, uniq("missing")))
    api_error(404, ik._ids_resource.update, uniq("missing"), status="paused")


# --------------------------------------------------------------------------------------
# authenticator apps and linking
# --------------------------------------------------------------------------------------


def test_app_create_unlinked_get_list_delete(ik):
    first = ik.authenticator_apps.create()
    assert_app(first, identity_id=None)
    time.sleep(0.05)
    second = ik.authenticator_apps.create()
    assert second.id != first.id

    got = ik.authenticator_apps.get(first.id)
    assert got == first
    assert ik.authenticator_apps.get(str(first.id)).id == first.id

    listed = ik.authenticator_apps.list()
    assert all(isinstance(a, AuthenticatorApp) for a in listed)
    ids = [a.id for a in listed]
    assert ids.index(first.id) < ids.index(second.id), "GET /apps must be oldest first"

    ik.authenticator_apps.delete(first.id)
    assert_plain_detail(api_error(404, ik.authenticator_apps.get, first.id))
    assert first.id not in {a.id for a in ik.authenticator_apps.list()}
    api_error(404, ik.authenticator_apps.delete, first.id)
    assert ik.authenticator_apps.get(second.id).id == second.id


def test_app_create_linked_by_handle(ik):
    ident = ik.create_identity(uniq())
    app = ik.authenticator_apps.create(agent_handle="@" + ident.agent_handle)
    assert_app(app, identity_id=ident.id)

    detail = ik.get_identity(ident.agent_handle)
    assert detail.authenticator_app is not None
    assert detail.authenticator_app.id == app.id
    assert detail.authenticator_app.identity_id == ident.id
    assert detail.authenticator_app.status == "active"
    assert_org(detail.authenticator_app.organization_id)

    # 409: the identity already has an app (by either handle spelling)
    assert_plain_detail(api_error(409, ik.authenticator_apps.create, agent_handle=ident.agent_handle))
    api_error(409, ik.authenticator_apps.create, agent_handle="@" + ident.agent_handle)
    # 404: no such identity
    api_error(404, ik.authenticator_apps.create, agent_handle=uniq("missing"))
    # the failed creates made no app for the identity
    assert ik.get_identity(ident.agent_handle).authenticator_app.id == app.id


def test_identity_create_authenticator_app_helper(ik):
    ident = ik.create_identity(uniq())
    app = ident.create_authenticator_app()
    assert_app(app, identity_id=ident.id)
    assert ident.authenticator_app.id == app.id
    assert ik.get_identity(ident.agent_handle).authenticator_app.id == app.id


def test_assign_and_unlink_through_identity_api(ik):
    app = ik.authenticator_apps.create()
    b = ik.create_identity(uniq())
    c = ik.create_identity(uniq())

    b_id, b_handle = b.id, b.agent_handle
    linked = b.assign_authenticator_app(str(app.id))
    assert linked.id == app.id
    assert linked.identity_id == b_id
    assert b.authenticator_app.id == app.id
    # the response is the identity detail (the SDK replaces its cached identity with it)
    assert (b.id, b.agent_handle, b.status) == (b_id, b_handle, "active")
    assert ik.authenticator_apps.get(app.id).identity_id == b.id

    # same app again: 200 no-op
    again = ik._ids_resource.assign_authenticator_app("@" + b.agent_handle, authenticator_app_id=app.id)
    assert again.id == b.id
    assert again.authenticator_app.id == app.id

    # app already linked to another identity
    assert_plain_detail(api_error(409, c.assign_authenticator_app, str(app.id)))
    # identity already has a different app
    other_app = ik.authenticator_apps.create()
    api_error(409, b.assign_authenticator_app, str(other_app.id))
    assert ik.authenticator_apps.get(other_app.id).identity_id is None
    # unknown app / unknown identity
    api_error(404, c.assign_authenticator_app, str(uuid.uuid4()))
    api_error(404, ik._ids_resource.assign_authenticator_app, uniq("missing"), authenticator_app_id=app.id)
    assert ik.get_identity(c.agent_handle).authenticator_app is None

    # unlink: the app stays, unlinked
    b.unlink_authenticator_app()
    assert b.authenticator_app is None
    assert ik.get_identity(b.agent_handle).authenticator_app is None
    assert ik.authenticator_apps.get(app.id).identity_id is None
    # unlink when nothing is linked is still 204
    ik._ids_resource.unlink_authenticator_app(b.agent_handle)
    api_error(404, ik._ids_resource.unlink_authenticator_app, uniq("missing"))

    # reassign the freed app to c
    c.assign_authenticator_app(str(app.id))
    assert ik.authenticator_apps.get(app.id).identity_id == c.id

    # deleting the identity unlinks its app, which survives
    c.delete()
    assert_app(ik.authenticator_apps.get(app.id), identity_id=None)

    # deleting a linked app clears the identity's link
    d = ik.create_identity(uniq())
    d.assign_authenticator_app(str(app.id))
    ik.authenticator_apps.delete(app.id)
    assert ik.get_identity(d.agent_handle).authenticator_app is None


def test_app_errors(ik):
    err = api_error(404, ik.authenticator_apps.get, uuid.uuid4())
    assert_plain_detail(err)
    api_error(404, ik.authenticator_apps.delete, uuid.uuid4())
    api_error(404, ik._auth_accounts.list, uuid.uuid4())
    api_error(
        404,
        ik._auth_accounts.create,
        uuid.uuid4(),
        otpauth_uri=totp_uri(new_secret()),
    )
    assert_validation_detail(api_error(422, ik.authenticator_apps.get, "not-a-uuid"))


def test_bad_token_is_401(server):
    bad = Inkbox(api_key="authd_st_" + "A" * 43, base_url=AUTHD_URL, timeout=15.0)
    try:
        err = api_error(401, bad.authenticator_apps.list)
        assert err.detail == "Invalid service token"
        api_error(401, bad.list_identities)
    finally:
        bad.close()


# --------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------


def test_account_crud(ik, app):
    secret = new_secret()
    acc = ik._auth_accounts.create(
        app.id,
        otpauth_uri=totp_uri(secret, label="ACME:alice@example.com", issuer="ACME"),
        display_name="Work",
        description="the work account",
    )
    assert isinstance(acc, AuthenticatorAccount)
    assert isinstance(acc.id, uuid.UUID)
    assert acc.authenticator_app_id == app.id
    assert acc.otp_type == "totp"
    assert acc.issuer == "ACME"
    assert acc.account_name == "alice@example.com"
    assert acc.display_name == "Work"
    assert acc.description == "the work account"
    assert (acc.algorithm, acc.digits, acc.period, acc.counter) == ("sha1", 6, 30, None)
    assert acc.status == "active"
    assert_ts(acc.created_at)
    assert_ts(acc.updated_at)

    time.sleep(0.05)
    second = ik._auth_accounts.create(app.id, otpauth_uri=hotp_uri(new_secret()))
    assert second.display_name is None and second.description is None

    assert ik._auth_accounts.get(app.id, acc.id) == acc
    listed = ik._auth_accounts.list(app.id)
    assert [a.id for a in listed] == [acc.id, second.id]  # oldest first, only this app's

    # display_name only: description kept (the SDK omits the unset key)
    upd = ik._auth_accounts.update(app.id, acc.id, display_name="Renamed")
    assert (upd.display_name, upd.description) == ("Renamed", "the work account")
    assert upd.updated_at >= acc.updated_at
    # description=None is sent as null: clears it, display_name kept
    upd = ik._auth_accounts.update(app.id, acc.id, description=None)
    assert (upd.display_name, upd.description) == ("Renamed", None)
    # set description again, then clear display_name
    upd = ik._auth_accounts.update(app.id, acc.id, description="notes")
    assert (upd.display_name, upd.description) == ("Renamed", "notes")
    upd = ik._auth_accounts.update(app.id, acc.id, display_name=None)
    assert (upd.display_name, upd.description) == (None, "notes")
    # empty PATCH ({}) changes nothing
    upd = ik._auth_accounts.update(app.id, acc.id)
    assert (upd.display_name, upd.description) == (None, "notes")
    got = ik._auth_accounts.get(app.id, acc.id)
    assert (got.display_name, got.description) == (None, "notes")
    assert (got.issuer, got.account_name, got.otp_type) == ("ACME", "alice@example.com", "totp")

    # PATCH length limit is a 422
    assert_validation_detail(
        api_error(422, ik._auth_accounts.update, app.id, acc.id, display_name="x" * 256)
    )

    # delete
    ik._auth_accounts.delete(app.id, acc.id)
    assert_plain_detail(api_error(404, ik._auth_accounts.get, app.id, acc.id))
    api_error(404, ik._auth_accounts.delete, app.id, acc.id)
    api_error(404, ik._auth_accounts.generate_otp, app.id, acc.id)
    api_error(404, ik._auth_accounts.update, app.id, acc.id, display_name="x")
    assert [a.id for a in ik._auth_accounts.list(app.id)] == [second.id]


def test_account_belongs_to_its_app(ik):
    app1 = ik.authenticator_apps.create()
    app2 = ik.authenticator_apps.create()
    acc = ik._auth_accounts.create(app1.id, otpauth_uri=totp_uri(new_secret()))
    api_error(404, ik._auth_accounts.get, app2.id, acc.id)
    api_error(404, ik._auth_accounts.generate_otp, app2.id, acc.id)
    api_error(404, ik._auth_accounts.delete, app2.id, acc.id)
    assert ik._auth_accounts.list(app2.id) == []
    assert ik._auth_accounts.get(app1.id, acc.id).id == acc.id

    # deleting the app deletes its accounts
    ik.authenticator_apps.delete(app1.id)
    api_error(404, ik._auth_accounts.list, app1.id)
    api_error(404, ik._auth_accounts.get, app1.id, acc.id)


def test_identity_helper_update_clears_the_other_field(ik):
    """AgentIdentity.update_authenticator_account defaults both fields to None, so it always
    sends both keys: {"display_name": "X", "description": null} clears the description."""
    ident = ik.create_identity(uniq())
    ident.create_authenticator_app()
    acc = ident.create_authenticator_account(
        otpauth_uri=totp_uri(new_secret()), display_name="A", description="keep?"
    )
    assert [a.id for a in ident.list_authenticator_accounts()] == [acc.id]
    assert ident.get_authenticator_account(str(acc.id)).description == "keep?"
    upd = ident.update_authenticator_account(str(acc.id), display_name="B")
    assert (upd.display_name, upd.description) == ("B", None)
    ident.delete_authenticator_account(str(acc.id))
    assert ident.list_authenticator_accounts() == []


# --------------------------------------------------------------------------------------
# OTP generation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm,digits,period",
    [("sha1", 6, 30), ("sha256", 8, 60), ("sha512", 8, 30)],
)
def test_totp_codes_match_pyotp(ik, app, algorithm, digits, period):
    secret = new_secret()
    acc = ik._auth_accounts.create(
        app.id,
        otpauth_uri=totp_uri(secret, algorithm=algorithm.upper(), digits=digits, period=period),
    )
    assert (acc.otp_type, acc.algorithm, acc.digits, acc.period, acc.counter) == (
        "totp", algorithm, digits, period, None,
    )
    for _ in range(2):
        t0 = time.time()
        otp = ik._auth_accounts.generate_otp(app.id, acc.id)
        t1 = time.time()
        assert isinstance(otp, OTPCode)
        assert (otp.otp_type, otp.algorithm, otp.digits, otp.period) == ("totp", algorithm, digits, period)
        assert_code_shape(otp, digits)
        check_totp(otp, secret, algorithm, digits, period, t0, t1)
    # a TOTP account has no counter, before or after generation
    assert ik._auth_accounts.get(app.id, acc.id).counter is None


def test_totp_two_accounts_use_their_own_secrets(ik, app):
    """Guard against a server that mixes up secrets: each account's code follows its own secret."""
    s1, s2 = new_secret(), new_secret()
    a1 = ik._auth_accounts.create(app.id, otpauth_uri=totp_uri(s1))
    a2 = ik._auth_accounts.create(app.id, otpauth_uri=totp_uri(s2))
    t0 = time.time()
    o1 = ik._auth_accounts.generate_otp(app.id, a1.id)
    o2 = ik._auth_accounts.generate_otp(app.id, a2.id)
    t1 = time.time()
    check_totp(o1, s1, "sha1", 6, 30, t0, t1)
    check_totp(o2, s2, "sha1", 6, 30, t0, t1)


@pytest.mark.parametrize("algorithm,digits", [("sha1", 6), ("sha256", 8)])
def test_hotp_consecutive_codes(ik, app, algorithm, digits):
    secret = new_secret()
    params = {} if algorithm == "sha1" else {"algorithm": "SHA256", "digits": digits}
    acc = ik._auth_accounts.create(app.id, otpauth_uri=hotp_uri(secret, **params))
    assert (acc.otp_type, acc.algorithm, acc.digits, acc.period, acc.counter) == (
        "hotp", algorithm, digits, None, 0,
    )
    for counter in range(3):
        otp = ik._auth_accounts.generate_otp(app.id, acc.id)
        assert (otp.otp_type, otp.algorithm, otp.digits, otp.period) == ("hotp", algorithm, digits, None)
        assert otp.valid_for_seconds is None
        assert_code_shape(otp, digits)
        assert otp.otp_code == hotp(secret, algorithm, digits, counter), f"counter {counter}"
    assert ik._auth_accounts.get(app.id, acc.id).counter == 3


def test_hotp_explicit_counter(ik, app):
    secret = new_secret()
    acc = ik._auth_accounts.create(app.id, otpauth_uri=hotp_uri(secret, counter=41))
    assert acc.counter == 41
    assert ik._auth_accounts.generate_otp(app.id, acc.id).otp_code == hotp(secret, "sha1", 6, 41)
    assert ik._auth_accounts.generate_otp(app.id, acc.id).otp_code == hotp(secret, "sha1", 6, 42)
    assert [a.counter for a in ik._auth_accounts.list(app.id) if a.id == acc.id] == [43]


def test_hotp_counter_maximum(ik, app):
    """counter is an i64: MAX-1 gives one code, then the counter is at its maximum: 409."""
    i64_max = 2**63 - 1
    secret = new_secret()
    acc = ik._auth_accounts.create(app.id, otpauth_uri=hotp_uri(secret, counter=i64_max - 1))
    assert acc.counter == i64_max - 1
    assert ik._auth_accounts.generate_otp(app.id, acc.id).otp_code == hotp(secret, "sha1", 6, i64_max - 1)
    assert ik._auth_accounts.get(app.id, acc.id).counter == i64_max
    assert_plain_detail(api_error(409, ik._auth_accounts.generate_otp, app.id, acc.id))
    assert ik._auth_accounts.get(app.id, acc.id).counter == i64_max  # unchanged by the failure


def test_paused_identity_cannot_generate_and_counter_does_not_move(ik):
    ident = ik.create_identity(uniq())
    app = ident.create_authenticator_app()
    secret = new_secret()
    acc = ident.create_authenticator_account(otpauth_uri=hotp_uri(secret))
    ident.update(status="paused")
    err = api_error(403, ik._auth_accounts.generate_otp, app.id, acc.id)
    assert_plain_detail(err)
    api_error(403, ident.generate_otp, str(acc.id))
    # reads still work while paused, and the failed calls did not advance the counter
    assert ik._auth_accounts.get(app.id, acc.id).counter == 0
    ident.update(status="active")
    assert ident.generate_otp(str(acc.id)).otp_code == hotp(secret, "sha1", 6, 0)
    assert ik._auth_accounts.get(app.id, acc.id).counter == 1


# --------------------------------------------------------------------------------------
# otpauth URI parsing and errors
# --------------------------------------------------------------------------------------


def test_otpauth_parsing_variants(ik, app):
    raw_secret = os.urandom(11)  # not a multiple of 5 bytes: base32 has "=" padding
    padded = base64.b32encode(raw_secret).decode()
    assert padded.endswith("=")
    canonical = padded.rstrip("=")
    spaced_lower = " ".join(canonical[i : i + 4] for i in range(0, len(canonical), 4)).lower()

    # case-insensitive scheme, type and parameter names; lower-case, spaced and padded secret;
    # percent-decoded label; issuer parameter wins over the label prefix; unknown params ignored
    secret_param = urllib.parse.quote(spaced_lower + padded[len(canonical):], safe="")
    uri = (
        f"OTPAUTH://TOTP/Label%20Co:carol%40example.com?Secret={secret_param}&ISSUER=Real%20Co"
        "&Algorithm=SHA256&DIGITS=8&Period=45&image=https%3A%2F%2Fexample.com%2Fx.png"
    )
    acc = ik._auth_accounts.create(app.id, otpauth_uri=uri)
    assert (acc.otp_type, acc.issuer, acc.account_name) == ("totp", "Real Co", "carol@example.com")
    assert (acc.algorithm, acc.digits, acc.period) == ("sha256", 8, 45)
    t0 = time.time()
    otp = ik._auth_accounts.generate_otp(app.id, acc.id)
    t1 = time.time()
    check_totp(otp, canonical, "sha256", 8, 45, t0, t1)

    # no colon in the label: all of it is the account name, no issuer
    acc2 = ik._auth_accounts.create(app.id, otpauth_uri=f"otpauth://hotp/just-a-name?secret={new_secret()}")
    assert (acc2.issuer, acc2.account_name, acc2.counter) == (None, "just-a-name", 0)


def test_short_secret_is_accepted(ik, app):
    secret = b32(os.urandom(10))  # 80 bits, common in the wild
    acc = ik._auth_accounts.create(app.id, otpauth_uri=hotp_uri(secret))
    assert ik._auth_accounts.generate_otp(app.id, acc.id).otp_code == hotp(secret, "sha1", 6, 0)


# Bad OTP parameters in a well-formed otpauth URI: 400 with a plain detail.
BAD_OTP_PARAMETERS = [
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=7",
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=md5",
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
    "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=-1",
    "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=9223372036854775808",
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=86401",
    "otpauth://totp/x?secret=not*base32!",
    "otpauth://totp/x?issuer=NoSecret",
    "otpauth://totp/x?secret=",
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=",
    "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=6&digits=8",
]
# Not an otpauth URI of a known type at all: 422 with a validation detail.
BAD_URI_SHAPES = [
    "http://x",
    "https://example.com/totp?secret=JBSWY3DPEHPK3PXP",
    "otpauth://motp/x?secret=JBSWY3DPEHPK3PXP",
    "not a uri",
    "",
]


@pytest.mark.parametrize(
    ("uri", "status"),
    [(uri, 400) for uri in BAD_OTP_PARAMETERS] + [(uri, 422) for uri in BAD_URI_SHAPES],
)
def test_account_bad_uri_is_refused_and_creates_nothing(ik, app, uri, status):
    err = api_error(status, ik._auth_accounts.create, app.id, otpauth_uri=uri)
    if status == 400:
        assert_plain_detail(err)
    else:
        assert_validation_detail(err)
    assert ik._auth_accounts.list(app.id) == []  # nothing was created


def test_account_field_limits_are_422(ik, app):
    ok = totp_uri(new_secret())
    assert_validation_detail(
        api_error(422, ik._auth_accounts.create, app.id, otpauth_uri=ok, display_name="x" * 256)
    )
    api_error(422, ik._auth_accounts.create, app.id, otpauth_uri=ok, description="x" * 4097)
    # limits are counted in characters, not bytes
    acc = ik._auth_accounts.create(app.id, otpauth_uri=ok, display_name="é" * 255)
    assert acc.display_name == "é" * 255
    assert [a.id for a in ik._auth_accounts.list(app.id)] == [acc.id]


# --------------------------------------------------------------------------------------
# raw wire checks (http.client, never follows redirects): what the SDK parses leniently
# --------------------------------------------------------------------------------------

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
APP_KEYS = {"id", "organization_id", "identity_id", "status", "created_at", "updated_at"}
ACCOUNT_KEYS = {
    "id", "authenticator_app_id", "otp_type", "issuer", "account_name", "display_name",
    "description", "algorithm", "digits", "period", "counter", "status", "created_at", "updated_at",
    "verify_window",  # authd extension (the SDK ignores unknown keys)
}
OTP_KEYS = {"otp_code", "valid_for_seconds", "otp_type", "algorithm", "digits", "period"}
SUMMARY_KEYS = {"id", "organization_id", "agent_handle", "status", "created_at", "updated_at"}
DETAIL_KEYS = SUMMARY_KEYS | {"mailbox", "phone_number", "authenticator_app"}


def _check_obj(obj, keys):
    assert isinstance(obj, dict)
    assert keys <= set(obj), f"missing keys {keys - set(obj)}"
    for k in ("id", "identity_id", "authenticator_app_id"):
        if obj.get(k) is not None:
            assert UUID_RE.match(obj[k]), f"{k} not lower-case hyphenated: {obj[k]!r}"
    for k in ("created_at", "updated_at"):
        if k in obj:
            assert TS_RE.match(obj[k]), f"{k} not RFC 3339 UTC: {obj[k]!r}"


def test_raw_wire_shapes(server):
    handle = uniq()
    st, resp, body = raw(server, "POST", "/api/v1/identities", json.dumps({"agent_handle": handle}).encode(),
                         {"Content-Type": "application/json"})
    assert st == 201, (st, body)
    assert resp.getheader("Content-Type", "").startswith("application/json")
    _check_obj(body, SUMMARY_KEYS)

    for path in ("/api/v1/identities", "/api/v1/identities/"):
        st, _, body = raw(server, "GET", path)
        assert st == 200, f"{path}: {st} (redirects are not followed by the SDK)"
        assert isinstance(body, list) and handle in [i["agent_handle"] for i in body]

    st, _, detail = raw(server, "GET", f"/api/v1/identities/@{handle}")
    assert st == 200
    _check_obj(detail, DETAIL_KEYS)
    assert detail["mailbox"] is None and detail["phone_number"] is None and detail["authenticator_app"] is None

    # POST /apps with no body at all, authenticated with Authorization: Bearer
    st, _, app = raw(server, "POST", "/api/v1/authenticator/apps", None,
                     {"Authorization": f"Bearer {AUTHD_TOKEN}"}, service_token=False)
    assert st == 201, (st, app)
    _check_obj(app, APP_KEYS)
    assert app["identity_id"] is None and app["status"] == "active"

    secret = new_secret()
    uri = hotp_uri(secret)
    # no Content-Type: the body is parsed as JSON anyway
    st, _, acc = raw(server, "POST", f"/api/v1/authenticator/apps/{app['id']}/accounts",
                     json.dumps({"otpauth_uri": uri}).encode())
    assert st == 201, (st, acc)
    _check_obj(acc, ACCOUNT_KEYS)
    assert acc["period"] is None and acc["counter"] == 0 and acc["algorithm"] == "sha1"
    assert "secret" not in acc and secret.lower() not in json.dumps(acc).lower()

    # generate-otp exactly as the SDK sends it: Content-Length: 0, no Content-Type
    st, _, otp = raw(server, "POST",
                     f"/api/v1/authenticator/apps/{app['id']}/accounts/{acc['id']}/generate-otp",
                     b"", {"Content-Length": "0"})
    assert st == 200, (st, otp)
    assert set(otp) >= OTP_KEYS and otp["valid_for_seconds"] is None and otp["period"] is None

    st, _, linked = raw(server, "POST", f"/api/v1/identities/{handle}/authenticator_app",
                        json.dumps({"authenticator_app_id": app["id"]}).encode(),
                        {"Content-Type": "application/json"})
    assert st == 200, (st, linked)
    _check_obj(linked, DETAIL_KEYS)
    _check_obj(linked["authenticator_app"], APP_KEYS)
    assert linked["authenticator_app"]["identity_id"] == linked["id"]

    st, resp, body = raw(server, "DELETE", f"/api/v1/identities/{handle}/authenticator_app")
    assert st == 204 and body is None

    st, _, err = raw(server, "GET", f"/api/v1/authenticator/apps/{uuid.uuid4()}")
    assert st == 404 and isinstance(err, dict) and isinstance(err.get("detail"), str)

    st, _, err = raw(server, "GET", "/api/v1/authenticator/apps/nope")
    assert st == 422 and isinstance(err["detail"], list)
    assert {"loc", "msg", "type"} <= set(err["detail"][0])

    st, _, err = raw(server, "GET", "/api/v1/identities/", None, {"X-Service-Token": "wrong"})
    assert st == 401 and err == {"detail": "Invalid service token"}
