"""End-to-end test of GET /openapi.json and GET /docs against a running authd.

- The document is a valid OpenAPI 3.1 document (openapi-spec-validator), its operation ids
  are `<verb>_<resource>`, and it has every path of docs/HTTP-API.md.
- Real responses of the server (one walk through the API with a service token and a device
  token) are declared by the document: their status is listed for the operation and their body
  validates against the declared schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
- /docs is a page whose scripts and stylesheets are all served by authd itself.

Environment: AUTHD_URL (server root) and, for the walk, AUTHD_TOKEN (a service token); skipped
when unset. Normally run through e2e/run.sh, which starts a fresh authd and sets them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from html.parser import HTMLParser

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

AUTHD_URL = os.environ.get("AUTHD_URL", "").rstrip("/")
AUTHD_TOKEN = os.environ.get("AUTHD_TOKEN", "")
RUN = uuid.uuid4().hex[:10]

# Every operation id is <verb>_<resource>, the resource in snake_case.
VERBS = ("create", "list", "get", "update", "delete", "generate", "assign", "unlink", "enroll", "revoke", "verify")
OPERATION_ID = re.compile(r"^(%s)_[a-z]+(_[a-z]+)*$" % "|".join(VERBS))

# The paths of docs/HTTP-API.md, with the methods each one has.
CONTRACT = {
    "/api/v1/authenticator/apps": {"get", "post"},
    "/api/v1/authenticator/apps/{app_id}": {"get", "patch", "delete"},
    "/api/v1/authenticator/apps/{app_id}/accounts": {"get", "post"},
    "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}": {"get", "patch", "delete"},
    "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp": {"post"},
    "/api/v1/authenticator/apps/{app_id}/instances": {"get", "post"},
    "/api/v1/authenticator/apps/{app_id}/instances/{instance_id}": {"get", "delete"},
    "/api/v1/identities": {"get", "post"},
    "/api/v1/identities/": {"get", "post"},
    "/api/v1/identities/{agent_handle}": {"get", "patch", "delete"},
    "/api/v1/identities/{agent_handle}/authenticator_app": {"post", "delete"},
    "/api/v1/device/accounts": {"get"},
    "/api/v1/device/accounts/{account_id}/generate-otp": {"post"},
    "/oauth/api/v1/users/{user_id}/authentication/apps": {"get"},
    "/oauth/api/v1/users/{user_id}/authentication/apps/{instance_id}": {"delete"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    "/openapi.json": {"get"},
    "/docs": {"get"},
    # authd extensions read by the operator console, and the console itself
    "/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/lockout": {"get"},
    "/console": {"get"},
    "/console/{asset}": {"get"},
}

def totp_now(secret_b32: str, digits: int = 6, period: int = 30) -> str:
    """RFC 6238 (SHA-1) at the current time, independently of authd."""
    mac = hmac.new(base64.b32decode(secret_b32), (int(time.time()) // period).to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(int.from_bytes(mac[offset:offset + 4], 'big') & 0x7FFFFFFF) % 10**digits:0{digits}d}"


# Loopback traffic never goes through a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, raw body) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(AUTHD_URL + path, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(scope="module")
def doc() -> dict:
    if not AUTHD_URL:
        pytest.skip("AUTHD_URL must be set (e2e/run.sh sets it)")
    status, headers, body = call("GET", "/openapi.json")
    assert status == 200, body
    assert headers.get("Content-Type", "").startswith("application/json")
    return json.loads(body)


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}:
                yield path, method, op


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_operation_ids_are_verb_resource_and_unique(doc):
    ids = [op.get("operationId", "") for _, _, op in operations(doc)]
    bad = [i for i in ids if not OPERATION_ID.match(i)]
    assert not bad, f"operation ids not <verb>_<resource>: {bad}"
    assert len(ids) == len(set(ids)), "operation ids are not unique"


def test_document_has_every_path_of_the_contract(doc):
    documented = {path: {m for p, m, _ in operations(doc) if p == path} for path in doc["paths"]}
    for path, methods in CONTRACT.items():
        assert documented.get(path) == methods, f"{path}: {documented.get(path)} documented, {methods} in the contract"


# ---------------------------------------------------------------------------------------
# real responses against the document
# ---------------------------------------------------------------------------------------


class Checker:
    """Checks answers against the operation the document declares for (method, template)."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.checked: set[tuple[str, str, str]] = set()

    def response_of(self, method: str, template: str, status: int) -> dict:
        op = self.doc["paths"][template][method.lower()]
        responses = op["responses"]
        assert str(status) in responses, f"{method} {template} answered {status}, not in {sorted(responses)}"
        response = responses[str(status)]
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            response = self.doc["components"]["responses"][name]
        return response

    def check(self, method: str, template: str, path: str, *, body=None, headers=None, expect: int):
        status, resp_headers, raw = call(method, path, body, headers)
        assert status == expect, f"{method} {path}: {status} {raw[:300]!r}"
        declared = self.response_of(method, template, status)
        content = declared.get("content", {})
        if not raw:
            assert not content, f"{method} {template} {status}: empty body, but content is declared"
            parsed = None
        else:
            assert "application/json" in content, f"{method} {template} {status}: no JSON content declared"
            parsed = json.loads(raw)
            schema = dict(content["application/json"]["schema"])
            schema["components"] = self.doc["components"]  # so that #/components/... resolves
            jsonschema.Draft202012Validator(schema).validate(parsed)
        for name in declared.get("headers", {}):
            assert resp_headers.get(name), f"{method} {template} {status}: header {name} declared, not sent"
        self.checked.add((method.lower(), template, str(status)))
        return parsed


def test_real_responses_are_declared_by_the_document(doc):
    if not AUTHD_TOKEN:
        pytest.skip("AUTHD_TOKEN must be set (e2e/run.sh sets it)")
    c = Checker(doc)
    svc = {"X-Service-Token": AUTHD_TOKEN}
    bearer = {"Authorization": f"Bearer {AUTHD_TOKEN}"}
    handle = f"oa-{RUN}"
    nil = "00000000-0000-7000-8000-000000000000"

    A = "/api/v1/authenticator/apps"
    I = "/api/v1/identities"
    U = "/oauth/api/v1/users/{user_id}/authentication/apps"

    c.check("GET", "/healthz", "/healthz", expect=200)
    c.check("GET", "/readyz", "/readyz", expect=200)
    c.check("GET", A, A, expect=401)
    c.check("GET", A, A, headers={"X-Service-Token": "nope"}, expect=401)
    c.check("GET", A + "/{app_id}", A + "/not-a-uuid", headers=svc, expect=422)
    c.check("GET", A + "/{app_id}", f"{A}/{nil}", headers=svc, expect=404)

    c.check("POST", I, I, body={"agent_handle": f"@{handle}"}, headers=svc, expect=201)
    c.check("POST", I + "/", I + "/", body={"agent_handle": handle}, headers=bearer, expect=409)
    c.check("POST", I, I, body={"agent_handle": "-bad"}, headers=svc, expect=422)
    c.check("GET", I + "/", I + "/", headers=svc, expect=200)
    c.check("GET", I + "/{agent_handle}", f"{I}/{handle}", headers=svc, expect=200)
    c.check("PATCH", I + "/{agent_handle}", f"{I}/{handle}", body={"status": "sleepy"}, headers=svc, expect=400)

    app = c.check("POST", A, A, body={"agent_handle": handle}, headers=svc, expect=201)
    app_id = app["id"]
    c.check("POST", A, A, body={"agent_handle": handle}, headers=svc, expect=409)
    c.check("GET", A, A, headers=svc, expect=200)
    detail = c.check("GET", I + "/{agent_handle}", f"{I}/{handle}", headers=svc, expect=200)
    assert detail["authenticator_app"]["id"] == app_id

    # metadata (authd extension): on the app (PATCH keeps the link) and on an account
    one_app = A + "/{app_id}"
    tagged = c.check("PATCH", one_app, f"{A}/{app_id}", body={"metadata": {"env": "e2e"}}, headers=svc, expect=200)
    assert tagged["metadata"] == {"env": "e2e"} and tagged["identity_id"] == app["identity_id"], tagged
    c.check("PATCH", one_app, f"{A}/{app_id}", body={"metadata": ["env"]}, headers=svc, expect=422)
    c.check("PATCH", one_app, f"{A}/{nil}", body={"metadata": None}, headers=svc, expect=404)
    spare = c.check("POST", A, A, body={"metadata": {"k": "v" * 500}}, headers=svc, expect=201)
    assert spare["metadata"] == {"k": "v" * 500}, spare
    c.check("DELETE", one_app, f"{A}/{spare['id']}", headers=svc, expect=204)

    acc = f"{A}/{app_id}/accounts"
    uri = "otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"
    account = c.check("POST", A + "/{app_id}/accounts", acc, body={"otpauth_uri": uri}, headers=svc, expect=201)
    hotp = c.check(
        "POST",
        A + "/{app_id}/accounts",
        acc,
        body={"otpauth_uri": "otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&counter=3&digits=8"},
        headers=svc,
        expect=201,
    )
    c.check("POST", A + "/{app_id}/accounts", acc, body={"otpauth_uri": "otpauth://totp/x?secret=1"}, headers=svc, expect=400)
    c.check("POST", A + "/{app_id}/accounts", acc, body={}, headers=svc, expect=422)
    one = A + "/{app_id}/accounts/{account_id}"
    c.check("PATCH", one, f"{acc}/{account['id']}", body={"display_name": "Work"}, headers=svc, expect=200)
    labelled = c.check(
        "PATCH", one, f"{acc}/{account['id']}", body={"metadata": {"customer_id": "cus_42"}}, headers=svc, expect=200
    )
    assert labelled["metadata"] == {"customer_id": "cus_42"} and labelled["display_name"] == "Work", labelled
    c.check("GET", A + "/{app_id}/accounts", acc, headers=svc, expect=200)
    gen = A + "/{app_id}/accounts/{account_id}/generate-otp"
    c.check("POST", gen, f"{acc}/{account['id']}/generate-otp", headers=svc, expect=200)
    c.check("POST", gen, f"{acc}/{hotp['id']}/generate-otp", headers=svc, expect=200)

    ins = f"{A}/{app_id}/instances"
    enrolled = c.check(
        "POST", A + "/{app_id}/instances", ins, body={"device_name": "Pixel", "platform": "android"}, headers=svc, expect=201
    )
    device = {"Authorization": f"Bearer {enrolled['device_token']}"}
    c.check("GET", A + "/{app_id}/instances/{instance_id}", f"{ins}/{enrolled['id']}", headers=svc, expect=200)
    c.check("GET", "/api/v1/device/accounts", "/api/v1/device/accounts", headers=device, expect=200)
    c.check("GET", "/api/v1/device/accounts", "/api/v1/device/accounts", headers=svc, expect=401)
    dgen = "/api/v1/device/accounts/{account_id}/generate-otp"
    c.check("POST", dgen, f"/api/v1/device/accounts/{account['id']}/generate-otp", headers=device, expect=200)

    # verification (authd extension): valid on the device, then a replay, then locked (429 with
    # Retry-After); shape and existence errors
    ver = A + "/{app_id}/accounts/{account_id}/verify"
    dver = "/api/v1/device/accounts/{account_id}/verify"
    code = {"otp_code": totp_now("JBSWY3DPEHPK3PXP")}
    ok = c.check("POST", dver, f"/api/v1/device/accounts/{account['id']}/verify", body=code, headers=device, expect=200)
    assert ok["valid"] is True, ok
    again = c.check("POST", ver, f"{acc}/{account['id']}/verify", body=code, headers=svc, expect=200)
    assert again == {"valid": False, "reason": "replayed", "remaining_attempts": 99}, again
    c.check("POST", ver, f"{acc}/{account['id']}/verify", body=code, headers=svc, expect=429)
    c.check("POST", dver, f"/api/v1/device/accounts/{account['id']}/verify", body=code, headers=device, expect=429)
    c.check("POST", ver, f"{acc}/{account['id']}/verify", body={"otp_code": "12ab"}, headers=svc, expect=422)
    c.check("POST", ver, f"{acc}/{nil}/verify", body=code, headers=svc, expect=404)
    c.check("POST", ver, f"{acc}/{account['id']}/verify", body=code, expect=401)
    c.check("POST", dver, f"/api/v1/device/accounts/{account['id']}/verify", body=code, headers=svc, expect=401)

    users = U.replace("{user_id}", handle)
    c.check("GET", U, users, headers=svc, expect=200)
    c.check("GET", U, users, expect=401)
    c.check("GET", U, U.replace("{user_id}", f"nobody-{RUN}"), headers=svc, expect=404)
    c.check("DELETE", U + "/{instance_id}", f"{users}/{enrolled['id']}", headers=svc, expect=204)
    c.check("DELETE", U + "/{instance_id}", f"{users}/not-a-uuid", headers=svc, expect=404)

    c.check("PATCH", I + "/{agent_handle}", f"{I}/{handle}", body={"status": "paused"}, headers=svc, expect=200)
    c.check("POST", gen, f"{acc}/{account['id']}/generate-otp", headers=svc, expect=403)
    c.check("POST", ver, f"{acc}/{hotp['id']}/verify", body={"otp_code": "12345678"}, headers=svc, expect=403)
    c.check("DELETE", I + "/{agent_handle}/authenticator_app", f"{I}/{handle}/authenticator_app", headers=svc, expect=204)
    c.check("DELETE", A + "/{app_id}", f"{A}/{app_id}", headers=svc, expect=204)
    c.check("DELETE", I + "/{agent_handle}", f"{I}/{handle}", headers=svc, expect=204)
    c.check("GET", I + "/{agent_handle}", f"{I}/{handle}", headers=svc, expect=404)

    assert len(c.checked) >= 44, sorted(c.checked)  # distinct (method, path, status) seen


# ---------------------------------------------------------------------------------------
# the viewer
# ---------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and a.get("href"):
            self.styles.append(a["href"])


def test_docs_page_loads_only_assets_served_by_authd(doc):
    status, headers, body = call("GET", "/docs")
    assert status == 200
    assert headers.get("Content-Type", "").startswith("text/html")
    assert "default-src 'none'" in headers.get("Content-Security-Policy", "")
    links = _Links()
    links.feed(body.decode())
    assert links.scripts and links.styles
    for url in links.scripts + links.styles:
        assert not re.match(r"^([a-z]+:)?//", url, re.I), f"{url} is not served by authd"
        status, _, asset = call("GET", "/" + url.lstrip("/"))
        assert status == 200 and asset, url
