"""End-to-end test: scoped, confined service tokens and the token API, through the official
Inkbox Python SDK (inkbox==0.2.0, unchanged) built on a confined token.

The admin token (AUTHD_TOKEN, every scope) makes two identities `<u>-bot` and `<u>-other`, an
app linked to each and a TOTP and an HOTP account in each, then mints through
`POST /api/v1/tokens` a token with the scopes apps:read and otp:generate confined to `<u>-bot`.
That token must see exactly the bot's records, get the 404 of a missing record for the other
identity's, a 403 naming the scope for routes it has no scope for, and a 401 within the token
cache bound (2 s) once the admin revokes it.

Environment and helpers as in e2e/test_sdk.py (normally run through e2e/run.sh; handles are
unique to the run, so a non-empty database is fine).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from inkbox import Inkbox, InkboxAPIError
from inkbox.authenticator.types import AuthenticatorAccount, AuthenticatorApp

from test_sdk import (
    AUTHD_TOKEN,
    AUTHD_URL,
    TS_RE,
    UUID_RE,
    api_error,
    assert_code_shape,
    assert_plain_detail,
    check_totp,
    hotp,
    hotp_uri,
    new_secret,
    raw,
    totp_uri,
    uniq,
)

TOKENS = "/api/v1/tokens"
# Every token as the API shows it; the plain "token" only in the answer to POST /tokens.
TOKEN_KEYS = {
    "id", "name", "scopes", "identities", "apps", "created_at", "last_used_at", "expires_at",
    "revoked_at",
}
CONFINED_SCOPES = ["apps:read", "otp:generate"]
LIFETIME = 3600
# How long a revoked token may still be served from a replica's token cache (bound: 2 s).
REVOKE_BOUND = 3.0
REVOKE_POLL = 5.0


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def as_token(token: str) -> dict:
    """Headers for raw() that authenticate with `token` instead of AUTHD_TOKEN."""
    return {"X-Service-Token": token}


def mint(server, body: dict, token: str = AUTHD_TOKEN, *, bearer: bool = False):
    """POST /api/v1/tokens as `token` (X-Service-Token, or Authorization: Bearer). (status, json)."""
    auth = {"Authorization": f"Bearer {token}"} if bearer else as_token(token)
    st, _, resp = raw(server, "POST", TOKENS, json.dumps(body).encode(),
                      {"Content-Type": "application/json", **auth}, service_token=False)
    return st, resp


def revoke(server, token_id: str, token: str = AUTHD_TOKEN):
    st, _, body = raw(server, "DELETE", f"{TOKENS}/{token_id}", None, as_token(token))
    return st, body


def missing_scope(scope: str) -> str:
    return f"this token lacks the scope {scope}"


def assert_missing_scope(err: InkboxAPIError, scope: str) -> None:
    assert err.detail == missing_scope(scope), f"403 detail does not name {scope}: {err.detail!r}"


def assert_token_shape(body: dict, *, plain: bool) -> None:
    """One token object: the keys of the spec, lower-case uuid, RFC 3339 UTC timestamps, and
    the plain token present exactly when `plain` (only the answer to POST /tokens has it)."""
    assert isinstance(body, dict), body
    assert TOKEN_KEYS <= set(body), f"missing keys {TOKEN_KEYS - set(body)}"
    assert UUID_RE.match(body["id"]), body["id"]
    for k in ("created_at", "last_used_at", "expires_at", "revoked_at"):
        if body[k] is not None:
            assert TS_RE.match(body[k]), f"{k} not RFC 3339 UTC: {body[k]!r}"
    assert body["created_at"] is not None
    assert isinstance(body["scopes"], list) and body["scopes"]
    if plain:
        assert isinstance(body.get("token"), str) and body["token"].startswith("authd_st_"), body
    else:
        assert "token" not in body, "the plain token is shown once, at minting"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


@dataclass
class Side:
    """One identity with its linked app, a TOTP and an HOTP account (and their secrets)."""

    handle: str
    identity_id: uuid.UUID
    app: AuthenticatorApp
    totp: AuthenticatorAccount
    totp_secret: str
    hotp: AuthenticatorAccount
    hotp_secret: str


@dataclass
class World:
    bot: Side
    other: Side
    minted: dict          # the answer to POST /api/v1/tokens (with "token")
    token: str            # the confined token
    client: Inkbox        # the SDK on the confined token


@pytest.fixture(scope="module")
def server():
    if not AUTHD_URL or not AUTHD_TOKEN:
        pytest.skip("AUTHD_URL and AUTHD_TOKEN must be set (e2e/run.sh sets them)")
    return urllib.parse.urlsplit(AUTHD_URL)


@pytest.fixture(scope="module")
def admin(server) -> Inkbox:
    client = Inkbox(api_key=AUTHD_TOKEN, base_url=AUTHD_URL, timeout=15.0)
    yield client
    client.close()


def make_side(admin: Inkbox, handle: str) -> Side:
    ident = admin.create_identity(handle)
    app = ident.create_authenticator_app()
    ts_, hs = new_secret(), new_secret()
    totp = ident.create_authenticator_account(otpauth_uri=totp_uri(ts_), display_name="totp")
    hotp_acc = ident.create_authenticator_account(otpauth_uri=hotp_uri(hs), display_name="hotp")
    return Side(handle, ident.id, app, totp, ts_, hotp_acc, hs)


@pytest.fixture(scope="module")
def world(server, admin) -> World:
    u = uniq("conf")
    bot = make_side(admin, f"{u}-bot")
    other = make_side(admin, f"{u}-other")
    # minted with Authorization: Bearer (the SDK itself only ever sends X-Service-Token)
    st, body = mint(server, {
        "name": f"{u}-confined",
        "scopes": CONFINED_SCOPES,
        "identities": [bot.handle],
        "apps": None,
        "expires_in_seconds": LIFETIME,
    }, bearer=True)
    assert st == 201, (st, body)
    client = Inkbox(api_key=body["token"], base_url=AUTHD_URL, timeout=15.0)
    yield World(bot, other, body, body["token"], client)
    client.close()


# --------------------------------------------------------------------------------------
# minting and listing (admin)
# --------------------------------------------------------------------------------------


def test_confined_mint_answer(world, server):
    body = world.minted
    assert_token_shape(body, plain=True)
    assert sorted(body["scopes"]) == sorted(CONFINED_SCOPES)
    assert body["identities"] == [world.bot.handle]
    assert body["apps"] is None
    assert body["name"] == world.bot.handle.removesuffix("-bot") + "-confined"
    assert body["revoked_at"] is None and body["last_used_at"] is None
    assert body["expires_at"] is not None
    lived = ts(body["expires_at"]) - ts(body["created_at"])
    assert abs(lived - timedelta(seconds=LIFETIME)) <= timedelta(seconds=2), lived

    # the admin's list has it, without the plain token
    st, _, listed = raw(server, "GET", TOKENS)
    assert st == 200, (st, listed)
    assert isinstance(listed, list)
    for t in listed:
        assert_token_shape(t, plain=False)
    mine = [t for t in listed if t["id"] == body["id"]]
    assert len(mine) == 1, "GET /tokens must list the minted token once"
    assert sorted(mine[0]["scopes"]) == sorted(CONFINED_SCOPES)
    assert mine[0]["identities"] == [world.bot.handle]
    assert world.token not in json.dumps(listed)


# --------------------------------------------------------------------------------------
# inside the restriction: the bot's records
# --------------------------------------------------------------------------------------


def test_confined_reads_its_app_and_accounts(world):
    c, bot = world.client, world.bot
    apps = c.authenticator_apps.list()
    assert [a.id for a in apps] == [bot.app.id], "a confined token lists exactly its one app"
    assert apps[0].identity_id == bot.identity_id

    assert c.authenticator_apps.get(bot.app.id) == bot.app
    accounts = c._auth_accounts.list(bot.app.id)
    assert [a.id for a in accounts] == [bot.totp.id, bot.hotp.id]
    got = c._auth_accounts.get(bot.app.id, bot.totp.id)
    assert (got.id, got.otp_type, got.display_name) == (bot.totp.id, "totp", "totp")
    got = c._auth_accounts.get(bot.app.id, bot.hotp.id)
    assert (got.id, got.otp_type, got.display_name) == (bot.hotp.id, "hotp", "hotp")


def test_confined_generates_codes(world, admin):
    c, bot = world.client, world.bot
    t0 = time.time()
    otp = c._auth_accounts.generate_otp(bot.app.id, bot.totp.id)
    t1 = time.time()
    assert_code_shape(otp, 6)
    check_totp(otp, bot.totp_secret, "sha1", 6, 30, t0, t1)

    counter = admin._auth_accounts.get(bot.app.id, bot.hotp.id).counter
    for n in range(counter, counter + 2):
        otp = c._auth_accounts.generate_otp(bot.app.id, bot.hotp.id)
        assert_code_shape(otp, 6)
        assert otp.otp_code == hotp(bot.hotp_secret, "sha1", 6, n), f"counter {n}"
    assert admin._auth_accounts.get(bot.app.id, bot.hotp.id).counter == counter + 2


# --------------------------------------------------------------------------------------
# outside the restriction: exactly the 404 of a missing record
# --------------------------------------------------------------------------------------


def test_confined_other_identity_is_not_found(world, admin, server):
    c, other = world.client, world.other
    missing_app, missing_acc = uuid.uuid4(), uuid.uuid4()

    err = api_error(404, c.authenticator_apps.get, other.app.id)
    assert_plain_detail(err)
    assert err.detail == api_error(404, c.authenticator_apps.get, missing_app).detail
    for acc in (other.totp, other.hotp):
        err = api_error(404, c._auth_accounts.generate_otp, other.app.id, acc.id)
        assert err.detail == api_error(404, c._auth_accounts.generate_otp, missing_app, acc.id).detail
        api_error(404, c._auth_accounts.get, other.app.id, acc.id)
    api_error(404, c._auth_accounts.list, other.app.id)
    assert other.app.id not in {a.id for a in c.authenticator_apps.list()}

    # on the wire too: the same status and body as a missing record
    tok = as_token(world.token)
    for outside, absent in (
        (f"/api/v1/authenticator/apps/{other.app.id}", f"/api/v1/authenticator/apps/{missing_app}"),
        (f"/api/v1/authenticator/apps/{other.app.id}/accounts/{other.hotp.id}/generate-otp",
         f"/api/v1/authenticator/apps/{missing_app}/accounts/{missing_acc}/generate-otp"),
    ):
        method = "POST" if outside.endswith("generate-otp") else "GET"
        hdrs = {**tok, "Content-Length": "0"} if method == "POST" else tok
        got = raw(server, method, outside, b"" if method == "POST" else None, hdrs)
        want = raw(server, method, absent, b"" if method == "POST" else None, hdrs)
        assert (got[0], got[2]) == (want[0], want[2]) == (404, want[2]), (outside, got[2], want[2])

    # the refused generations did not move the other identity's HOTP counter
    assert admin._auth_accounts.get(other.app.id, other.hotp.id).counter == 0
    assert admin.authenticator_apps.get(other.app.id) == other.app


# --------------------------------------------------------------------------------------
# routes without the scope: 403 naming the scope
# --------------------------------------------------------------------------------------


def test_confined_missing_scope_is_403(world, admin):
    c, bot = world.client, world.bot
    assert_missing_scope(api_error(403, c.list_identities), "identities:read")
    assert_missing_scope(api_error(403, c.get_identity, bot.handle), "identities:read")
    assert_missing_scope(api_error(403, c.authenticator_apps.create), "apps:write")
    assert_missing_scope(
        api_error(403, c.authenticator_apps.create, agent_handle=bot.handle), "apps:write"
    )
    assert_missing_scope(api_error(403, c.authenticator_apps.delete, bot.app.id), "apps:write")
    assert_missing_scope(
        api_error(403, c._auth_accounts.create, bot.app.id, otpauth_uri=totp_uri(new_secret())),
        "apps:write",
    )
    assert_missing_scope(
        api_error(403, c._auth_accounts.delete, bot.app.id, bot.totp.id), "apps:write"
    )
    # nothing changed
    assert admin.authenticator_apps.get(bot.app.id) == bot.app
    assert [a.id for a in admin._auth_accounts.list(bot.app.id)] == [bot.totp.id, bot.hotp.id]
    assert admin.get_identity(bot.handle).authenticator_app.id == bot.app.id


# --------------------------------------------------------------------------------------
# the token API as the confined token
# --------------------------------------------------------------------------------------


def test_confined_token_self_and_no_minting(world, server):
    tok = as_token(world.token)
    st, _, me = raw(server, "GET", f"{TOKENS}/self", None, tok)
    assert st == 200, (st, me)
    assert_token_shape(me, plain=False)
    assert me["id"] == world.minted["id"]
    assert sorted(me["scopes"]) == sorted(CONFINED_SCOPES)
    assert me["identities"] == [world.bot.handle]
    assert me["apps"] is None
    assert me["revoked_at"] is None
    assert me["expires_at"] is not None and ts(me["expires_at"]) == ts(world.minted["expires_at"])

    # it lacks tokens:write: no minting, even of a narrower token, and no token list
    for body in (
        {"scopes": ["apps:read"], "identities": [world.bot.handle]},
        {"scopes": ["admin"]},
    ):
        st, err = mint(server, body, world.token)
        assert st == 403, (st, err)
        assert err == {"detail": missing_scope("tokens:write")}, err
    st, _, err = raw(server, "GET", TOKENS, None, tok)
    assert st == 403 and err == {"detail": missing_scope("tokens:write")}, (st, err)
    st, _, err = raw(server, "DELETE", f"{TOKENS}/{world.minted['id']}", None, tok)
    assert st == 403 and err == {"detail": missing_scope("tokens:write")}, (st, err)


def test_confined_minter_mints_nothing_broader(world, server):
    """A confined token with tokens:write mints narrower tokens only."""
    bot, other = world.bot, world.other
    st, parent = mint(server, {
        "scopes": ["apps:read", "otp:generate", "tokens:write"], "identities": [bot.handle],
    })
    assert st == 201, (st, parent)
    try:
        broader = [
            {"scopes": ["apps:read", "apps:write"], "identities": [bot.handle]},   # a scope
            {"scopes": ["admin"], "identities": [bot.handle]},                      # admin
            {"scopes": ["apps:read"]},                                              # unrestricted
            {"scopes": ["apps:read"], "identities": [other.handle]},                # an identity
            {"scopes": ["apps:read"], "identities": ["*"]},                         # a pattern
            {"scopes": ["apps:read"], "apps": [str(other.app.id)]},                 # an app
        ]
        for body in broader:
            st, err = mint(server, body, parent["token"])
            assert st == 403, (body, st, err)
            assert isinstance(err, dict) and isinstance(err.get("detail"), str), err
            assert err["detail"].startswith("a token cannot mint a token broader than itself"), (body, err)

        st, child = mint(server, {"scopes": ["apps:read"], "identities": [bot.handle]}, parent["token"])
        assert st == 201, (st, child)
        assert_token_shape(child, plain=True)
        assert child["scopes"] == ["apps:read"] and child["identities"] == [bot.handle]
        with Inkbox(api_key=child["token"], base_url=AUTHD_URL, timeout=15.0) as ck:
            assert [a.id for a in ck.authenticator_apps.list()] == [bot.app.id]
            assert_missing_scope(
                api_error(403, ck._auth_accounts.generate_otp, bot.app.id, bot.totp.id), "otp:generate"
            )
        # the parent lists itself and its child, never the broader admin token
        st, _, admin_self = raw(server, "GET", f"{TOKENS}/self")
        assert st == 200, (st, admin_self)
        st, _, listed = raw(server, "GET", TOKENS, None, as_token(parent["token"]))
        assert st == 200, (st, listed)
        ids = {t["id"] for t in listed}
        assert {parent["id"], child["id"]} <= ids
        assert admin_self["id"] not in ids, "a token never lists a broader one"
        # nor revokes it: the admin token answers like a missing one
        st, err = revoke(server, admin_self["id"], parent["token"])
        assert st == 404, (st, err)
        assert raw(server, "GET", f"{TOKENS}/self")[0] == 200
        st, err = revoke(server, child["id"], parent["token"])
        assert st == 204, (st, err)
    finally:
        revoke(server, parent["id"])


# --------------------------------------------------------------------------------------
# revocation
# --------------------------------------------------------------------------------------


def test_revoked_confined_token_is_401_within_the_cache_bound(world, admin, server):
    bot = world.bot
    st, t = mint(server, {"scopes": CONFINED_SCOPES, "identities": [bot.handle]})
    assert st == 201, (st, t)
    with Inkbox(api_key=t["token"], base_url=AUTHD_URL, timeout=15.0) as ck:
        # in use (and so in the token cache) before it is revoked
        assert [a.id for a in ck.authenticator_apps.list()] == [bot.app.id]

        st, body = revoke(server, t["id"])
        assert st == 204 and body is None, (st, body)
        revoked = time.monotonic()
        elapsed = None
        while time.monotonic() - revoked < REVOKE_POLL:
            try:
                ck.authenticator_apps.list()
            except InkboxAPIError as e:
                assert e.status_code == 401, f"expected 401 after revocation, got {e.status_code}: {e.detail!r}"
                assert e.detail == "Invalid service token"
                elapsed = time.monotonic() - revoked
                break
            time.sleep(0.1)
        assert elapsed is not None, f"the revoked token still worked {REVOKE_POLL} s later"
        assert elapsed <= REVOKE_BOUND, f"the revoked token worked for {elapsed:.2f} s (bound {REVOKE_BOUND} s)"
        api_error(401, ck._auth_accounts.generate_otp, bot.app.id, bot.totp.id)

    # the admin sees it revoked (or no longer listed); revoking again is a 404
    st, _, listed = raw(server, "GET", TOKENS)
    assert st == 200
    for item in listed:
        if item["id"] == t["id"]:
            assert item["revoked_at"] is not None
    st, body = revoke(server, t["id"])
    assert st == 404, (st, body)
    # the other confined token is untouched
    assert [a.id for a in world.client.authenticator_apps.list()] == [bot.app.id]
