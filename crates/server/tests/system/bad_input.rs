//! Hostile input against every route of docs/HTTP-API.md: never a 5xx, always a JSON body of the
//! route's family, a status the route documents, and the server keeps working.
//!
//! Three parts: deterministic passes whose status the contract fixes exactly (request-shape
//! errors are `422`, bodies over 65,536 bytes are `413`, length limits in Unicode scalar values,
//! the HOTP counter at its maximum), then a seeded random battery (xorshift, constant seed: a
//! failure prints the request and reproduces), then liveness.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Map, Value, json};

use Auth::{Device as Dev, None as Open, Service as Svc};

use crate::support::{Api, RFC_SECRET_B32, Req, Resp, SqliteServer, XorShift, hotp_rfc, send_raw, str_field};

const SEED: u64 = 0x5EED_A07D_2026_0001;
const RANDOM_REQUESTS: usize = 700;
const MAX_BODY: usize = 65_536;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    /// `{"detail": ...}` (Inkbox, authd extensions, device API, operations).
    Inkbox,
    /// `{"error": ...}`, `Cache-Control: no-store`, `Pragma: no-cache`.
    OneWelcome,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Service,
    Device,
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Body {
    App,
    Account,
    AccountPatch,
    Identity,
    IdentityPatch,
    Link,
    Instance,
    /// `{"otp_code"}` of the verify routes (authd extension).
    Verify,
}

struct Route {
    method: &'static str,
    path: &'static str,
    /// Every status docs/HTTP-API.md documents for this route (success and errors; `401` is added
    /// for authenticated routes, `413` for oversize bodies, `405` for other methods).
    ok: &'static [u16],
    family: Family,
    auth: Auth,
    body: Option<Body>,
    /// Could delete or re-link what it targets: never aimed at the fixtures.
    destructive: bool,
    /// `200` is not JSON (`/metrics`, `/docs`).
    non_json_ok: bool,
}

const fn r(
    method: &'static str,
    path: &'static str,
    ok: &'static [u16],
    auth: Auth,
    body: Option<Body>,
    destructive: bool,
) -> Route {
    let family = if starts_with(path, "/oauth/") {
        Family::OneWelcome
    } else {
        Family::Inkbox
    };
    Route {
        method,
        path,
        ok,
        family,
        auth,
        body,
        destructive,
        non_json_ok: false,
    }
}

/// A `GET` without authentication whose `200` is not JSON (`/metrics`, `/docs`).
const fn page(path: &'static str) -> Route {
    Route {
        non_json_ok: true,
        ..r("GET", path, &[200], Auth::None, None, false)
    }
}

const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, p) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if s[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

const A: &str = "/api/v1/authenticator/apps";

/// One row a route: `r(method, path, documented statuses, auth, body, destructive)`; `page` is a
/// `GET` whose `200` is not JSON.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    r("POST", "/api/v1/authenticator/apps", &[201, 404, 409, 422], Svc, Some(Body::App), false),
    r("GET", "/api/v1/authenticator/apps", &[200], Svc, None, false),
    r("GET", "/api/v1/authenticator/apps/{app}", &[200, 404, 422], Svc, None, false),
    r("DELETE", "/api/v1/authenticator/apps/{app}", &[204, 404, 422], Svc, None, true),
    r("POST", "/api/v1/authenticator/apps/{app}/accounts", &[201, 400, 404, 422], Svc, Some(Body::Account), false),
    r("GET", "/api/v1/authenticator/apps/{app}/accounts", &[200, 404, 422], Svc, None, false),
    r("GET", "/api/v1/authenticator/apps/{app}/accounts/{acc}", &[200, 404, 422], Svc, None, false),
    r("PATCH", "/api/v1/authenticator/apps/{app}/accounts/{acc}", &[200, 404, 422], Svc, Some(Body::AccountPatch), false),
    r("DELETE", "/api/v1/authenticator/apps/{app}/accounts/{acc}", &[204, 404, 422], Svc, None, true),
    r("POST", "/api/v1/authenticator/apps/{app}/accounts/{acc}/generate-otp", &[200, 403, 404, 409, 422], Svc, None, false),
    r("POST", "/api/v1/authenticator/apps/{app}/accounts/{acc}/verify", &[200, 403, 404, 422, 429], Svc, Some(Body::Verify), false),
    r("GET", "/api/v1/authenticator/apps/{app}/accounts/{acc}/lockout", &[200, 404, 422], Svc, None, false),
    r("POST", "/api/v1/authenticator/apps/{app}/instances", &[201, 403, 404, 409, 422], Svc, Some(Body::Instance), false),
    r("GET", "/api/v1/authenticator/apps/{app}/instances", &[200, 404, 422], Svc, None, false),
    r("GET", "/api/v1/authenticator/apps/{app}/instances/{inst}", &[200, 404, 422], Svc, None, false),
    r("DELETE", "/api/v1/authenticator/apps/{app}/instances/{inst}", &[204, 404, 422], Svc, None, true),
    r("POST", "/api/v1/identities/", &[201, 409, 422], Svc, Some(Body::Identity), false),
    r("POST", "/api/v1/identities", &[201, 409, 422], Svc, Some(Body::Identity), false),
    r("GET", "/api/v1/identities/", &[200], Svc, None, false),
    r("GET", "/api/v1/identities", &[200], Svc, None, false),
    r("GET", "/api/v1/identities/{handle}", &[200, 404], Svc, None, false),
    r("PATCH", "/api/v1/identities/{handle}", &[200, 400, 404, 409, 422], Svc, Some(Body::IdentityPatch), true),
    r("DELETE", "/api/v1/identities/{handle}", &[204, 404], Svc, None, true),
    r("POST", "/api/v1/identities/{handle}/authenticator_app", &[200, 404, 409, 422], Svc, Some(Body::Link), true),
    r("DELETE", "/api/v1/identities/{handle}/authenticator_app", &[204, 404], Svc, None, true),
    r("GET", "/api/v1/device/accounts", &[200], Dev, None, false),
    r("POST", "/api/v1/device/accounts/{acc}/generate-otp", &[200, 403, 404, 409, 422], Dev, None, false),
    r("POST", "/api/v1/device/accounts/{acc}/verify", &[200, 403, 404, 422, 429], Dev, Some(Body::Verify), false),
    r("GET", "/oauth/api/v1/users/{handle}/authentication/apps", &[200, 404], Svc, None, false),
    r("DELETE", "/oauth/api/v1/users/{handle}/authentication/apps/{inst}", &[204, 404], Svc, None, true),
    r("GET", "/healthz", &[200], Open, None, false),
    r("GET", "/readyz", &[200], Open, None, false),
    page("/metrics"),
    r("GET", "/openapi.json", &[200], Open, None, false),
    page("/docs"),
    page("/console"),
];

/// Every status the contract documents anywhere (what a mangled path may get).
const ANY_DOCUMENTED: &[u16] = &[200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 422];

/// The methods a path pattern has.
fn methods_of(path: &str) -> BTreeSet<&'static str> {
    ROUTES.iter().filter(|r| r.path == path).map(|r| r.method).collect()
}

struct FieldSpec {
    name: &'static str,
    required: bool,
    nullable: bool,
    /// Length limit in Unicode scalar values.
    max: Option<usize>,
}

const fn f(name: &'static str, required: bool, nullable: bool, max: Option<usize>) -> FieldSpec {
    FieldSpec {
        name,
        required,
        nullable,
        max,
    }
}

const APP_FIELDS: &[FieldSpec] = &[f("agent_handle", false, true, Some(255))];
const ACCOUNT_FIELDS: &[FieldSpec] = &[
    f("otpauth_uri", true, false, Some(2048)),
    f("display_name", false, true, Some(255)),
    f("description", false, true, Some(4096)),
];
const ACCOUNTPATCH_FIELDS: &[FieldSpec] = &[
    f("display_name", false, true, Some(255)),
    f("description", false, true, Some(4096)),
];
const IDENTITY_FIELDS: &[FieldSpec] = &[f("agent_handle", true, false, Some(255))];
const IDENTITYPATCH_FIELDS: &[FieldSpec] = &[
    f("agent_handle", false, true, Some(255)),
    f("status", false, true, None),
];
const LINK_FIELDS: &[FieldSpec] = &[f("authenticator_app_id", true, false, None)];
const VERIFY_FIELDS: &[FieldSpec] = &[f("otp_code", true, false, Some(10))];
const INSTANCE_FIELDS: &[FieldSpec] = &[
    f("device_name", true, false, Some(255)),
    f("platform", true, false, None),
    f("device_id", false, true, None),
];

fn fields(b: Body) -> &'static [FieldSpec] {
    match b {
        Body::App => APP_FIELDS,
        Body::Account => ACCOUNT_FIELDS,
        Body::AccountPatch => ACCOUNTPATCH_FIELDS,
        Body::Identity => IDENTITY_FIELDS,
        Body::IdentityPatch => IDENTITYPATCH_FIELDS,
        Body::Link => LINK_FIELDS,
        Body::Instance => INSTANCE_FIELDS,
        Body::Verify => VERIFY_FIELDS,
    }
}

/// The fixtures: a linked app with a TOTP and an HOTP account and a device (never deleted),
/// and a "victim" set for the destructive routes.
struct Fx {
    addr: SocketAddr,
    token: String,
    device: String,
    app: String,
    totp: String,
    hotp: String,
    inst: String,
    v_app: String,
    v_acc: String,
    v_inst: String,
}

impl Fx {
    fn value(&self, placeholder: &str, destructive: bool) -> String {
        match (placeholder, destructive) {
            ("app", false) => self.app.clone(),
            ("app", true) => self.v_app.clone(),
            ("acc", false) => self.totp.clone(),
            ("acc", true) => self.v_acc.clone(),
            ("inst", false) => self.inst.clone(),
            ("inst", true) => self.v_inst.clone(),
            ("handle", false) => "fixture".to_owned(),
            ("handle", true) => "victim".to_owned(),
            _ => panic!("unknown placeholder {placeholder}"),
        }
    }

    /// A valid body of that kind (the base that one field at a time is spoilt in).
    fn base(&self, b: Body, n: usize) -> Map<String, Value> {
        let v = match b {
            Body::App => json!({}),
            Body::Account => json!({"otpauth_uri": "otpauth://totp/Base:x?secret=JBSWY3DPEHPK3PXP"}),
            Body::AccountPatch => json!({"display_name": "ok"}),
            Body::Identity => json!({"agent_handle": format!("newbie{n}")}),
            Body::IdentityPatch => json!({"status": "active"}),
            Body::Link => json!({"authenticator_app_id": self.v_app}),
            Body::Instance => json!({"device_name": "d", "platform": "WEB"}),
            Body::Verify => json!({"otp_code": "123456"}),
        };
        match v {
            Value::Object(m) => m,
            _ => unreachable!("objects"),
        }
    }

    fn path(&self, route: &Route) -> String {
        let mut p = route.path.to_owned();
        for ph in ["app", "acc", "inst", "handle"] {
            p = p.replace(&format!("{{{ph}}}"), &self.value(ph, route.destructive));
        }
        p
    }

    fn authed(&self, route: &Route, req: Req) -> Req {
        match route.auth {
            Auth::Service => req.token(&self.token),
            Auth::Device => req.bearer(&self.device),
            Auth::None => req,
        }
    }
}

/// What went wrong with one response, if anything.
/// A response body for a message: one line, at most 300 characters.
fn short(r: &Resp) -> String {
    let t: String = r.text().escape_debug().collect();
    if t.chars().count() > 300 {
        format!(
            "{}... ({} bytes)",
            t.chars().take(300).collect::<String>(),
            r.body.len()
        )
    } else {
        t
    }
}

fn check(route: &Route, mangled: bool, allowed: &[u16], r: &Resp) -> Option<String> {
    if r.status >= 500 {
        return Some(format!("5xx: {} {}", r.status, short(r)));
    }
    if !allowed.contains(&r.status) {
        return Some(format!("status {} not in {allowed:?}: {}", r.status, short(r)));
    }
    if r.status == 204 {
        return (!r.body.is_empty()).then(|| format!("204 with a body: {}", short(r)));
    }
    if route.non_json_ok && r.status == 200 && !mangled {
        return None;
    }
    if !r.is_json() {
        return Some(format!(
            "not a JSON body (Content-Type {:?}): {} {}",
            r.header("content-type"),
            r.status,
            short(r)
        ));
    }
    let v = r.json();
    if r.status >= 400 {
        let key_ok = match (mangled, route.family) {
            (true, _) => v.get("detail").is_some() || v.get("error").is_some(),
            (false, Family::Inkbox) => v.get("detail").is_some(),
            (false, Family::OneWelcome) => v.get("error").is_some(),
        };
        if !key_ok || !v.is_object() {
            return Some(format!("error body of the wrong family ({:?}): {v}", route.family));
        }
        if r.status == 422
            && let Some(d) = v.get("detail")
        {
            let items_ok = d.as_array().is_some_and(|items| {
                !items.is_empty()
                    && items
                        .iter()
                        .all(|i| i["loc"].is_array() && i["msg"].is_string() && i["type"].is_string())
            });
            if !items_ok {
                return Some(format!("422 detail must be a list of {{loc, msg, type}}: {v}"));
            }
        }
    }
    if route.family == Family::OneWelcome && !mangled {
        let cc = r.header("cache-control").unwrap_or_default();
        let pragma = r.header("pragma").unwrap_or_default();
        if !cc.contains("no-store") || !pragma.contains("no-cache") {
            return Some(format!(
                "OneWelcome response without no-store/no-cache: {:?}",
                r.headers
            ));
        }
    }
    None
}

/// Sends and checks; records a failure with the request.
fn run(fx: &Fx, route: &Route, req: &Req, mangled: bool, allowed: &[u16], tag: &str, failures: &mut Vec<String>) {
    match req.send(fx.addr) {
        Ok(r) => {
            if let Some(why) = check(route, mangled, allowed, &r) {
                failures.push(format!("[{tag}] {why}\n  request: {}", req.describe()));
            }
        }
        Err(e) => failures.push(format!("[{tag}] no response: {e:?}\n  request: {}", req.describe())),
    }
}

fn deep(n: usize, open: &str, close: &str, inner: &str) -> Vec<u8> {
    let mut s = open.repeat(n);
    s.push_str(inner);
    s.push_str(&close.repeat(n));
    s.into_bytes()
}

/// Bodies that are not a JSON object at all, or not JSON: `422` on every body route.
fn shape_bodies() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = [
        "{",
        "}",
        "{\"a\":",
        "{\"a\" 1}",
        "{'a':1}",
        "{\"a\":1,}",
        "[1,]",
        "nul",
        "{} x",
        "\"",
        "{\"a\":\"\\x\"}",
        "{\"a\":01}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "null",
        "[]",
        "\"x\"",
        "1",
        "true",
        "[{}]",
        "{\"a\":1e999999}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00x\"}",
    ]
    .iter()
    .map(|s| (format!("body {s:?}"), s.as_bytes().to_vec()))
    .collect();
    v.push(("10000 nested arrays".into(), deep(10_000, "[", "]", "")));
    v.push(("10000 nested objects".into(), deep(10_000, "{\"a\":", "}", "1")));
    v.push(("30000 nested arrays".into(), deep(30_000, "[", "]", "")));
    v.push(("invalid UTF-8 in a key".into(), b"{\"\xff\xfe\": 1}".to_vec()));
    v.push(("raw NUL byte".into(), b"{\"a\":\"x\x00y\"}".to_vec()));
    v.push(("bare NUL".into(), b"\x00".to_vec()));
    v.push(("UTF-16 BOM and garbage".into(), b"\xff\xfe{\x00}\x00".to_vec()));
    v.retain(|(_, b)| b.len() <= MAX_BODY);
    v
}

/// Field values of the wrong JSON type.
fn wrong_types(nullable: bool) -> Vec<Value> {
    let mut v = vec![
        json!(1),
        json!(-1),
        json!(1.5),
        json!(true),
        json!(false),
        json!([]),
        json!({}),
        json!(["x"]),
        json!({"a": "b"}),
        json!(1.0e300),
    ];
    if !nullable {
        v.push(Value::Null);
    }
    v
}

/// The deterministic part whose statuses the contract fixes exactly.
fn exact_passes(fx: &Fx, failures: &mut Vec<String>) -> usize {
    let mut count = 0;
    for route in ROUTES.iter() {
        let Some(kind) = route.body else { continue };
        let path = fx.path(route);
        let send = |body: Vec<u8>, what: &str, allowed: &[u16], failures: &mut Vec<String>| {
            let req = fx.authed(
                route,
                Req::new(route.method, &path)
                    .header("Content-Type", "application/json")
                    .body(body),
            );
            run(fx, route, &req, false, allowed, &format!("exact: {what}"), failures);
        };
        // Whole-body shape errors.
        for (what, body) in shape_bodies() {
            send(body, &what, &[422], failures);
            count += 1;
        }
        // Field by field.
        let base = fx.base(kind, 0);
        for spec in fields(kind) {
            let with = |v: Value| {
                let mut m = base.clone();
                m.insert(spec.name.to_owned(), v);
                serde_json::to_vec(&Value::Object(m)).expect("serialize")
            };
            for v in wrong_types(spec.nullable) {
                send(with(v.clone()), &format!("{} = {v}", spec.name), &[422], failures);
                count += 1;
            }
            send(
                with(json!("a\u{0}b")),
                &format!("{} with U+0000", spec.name),
                &[422],
                failures,
            );
            let mut invalid_utf8 = with(json!("AAAA"));
            let at = invalid_utf8.windows(4).position(|w| w == b"AAAA").expect("marker");
            invalid_utf8.splice(at..at + 4, [0xC3, 0x28, 0xFF, 0x80]);
            send(
                invalid_utf8,
                &format!("{} with invalid UTF-8", spec.name),
                &[422],
                failures,
            );
            count += 2;
            if let Some(max) = spec.max {
                // App.agent_handle names an identity: an impossible handle may also be "not found".
                let allowed: &[u16] = if kind == Body::App { &[404, 422] } else { &[422] };
                let over = "é".repeat(max + 1);
                send(
                    with(json!(over)),
                    &format!("{} of {} chars", spec.name, max + 1),
                    allowed,
                    failures,
                );
                send(
                    with(json!("x".repeat(60_000))),
                    &format!("{} of 60000 chars", spec.name),
                    allowed,
                    failures,
                );
                count += 2;
            }
            if spec.required {
                let mut m = base.clone();
                m.remove(spec.name);
                let body = serde_json::to_vec(&Value::Object(m)).expect("serialize");
                send(body, &format!("{} missing", spec.name), &[422], failures);
                count += 1;
            }
        }
        // An empty body is {} where every field is optional, else a missing field.
        let empty_ok: &[u16] = match kind {
            Body::App => &[201],
            Body::AccountPatch | Body::IdentityPatch => &[200],
            _ => &[422],
        };
        send(Vec::new(), "empty body", empty_ok, failures);
        count += 1;
    }
    // Non-UUID path ids: 422 on the Inkbox families (404 on OneWelcome).
    for bad in [
        "x",
        "1",
        "..",
        "%00",
        "%ff",
        "g0000000-0000-0000-0000-000000000000",
        "12345678-1234-1234-1234-1234567890123",
    ] {
        for route in ROUTES
            .iter()
            .filter(|r| r.path.contains("{app}") || r.path.contains("{acc}"))
        {
            let path = fx.path(route).replace(&fx.value("app", route.destructive), bad);
            let path = path.replace(&fx.value("acc", route.destructive), bad);
            let req = fx.authed(route, Req::new(route.method, &path));
            let want: &[u16] = if bad == ".." { ANY_DOCUMENTED } else { &[422] };
            run(fx, route, &req, bad == "..", want, "exact: non-UUID id", failures);
            count += 1;
        }
    }
    count
}

/// Bodies over 65,536 bytes are 413 on every path; exactly 65,536 is not.
fn size_passes(fx: &Fx, failures: &mut Vec<String>) -> usize {
    let mut count = 0;
    let mut big = b"{\"x\":\"".to_vec();
    big.resize(1024 * 1024 - 2, b'a');
    big.extend_from_slice(b"\"}");
    for route in ROUTES.iter() {
        let req = fx.authed(route, Req::new(route.method, fx.path(route)).body(big.clone()));
        run(fx, route, &req, false, &[413], "1 MiB body", failures);
        count += 1;
    }
    let apps_route = &ROUTES[0];
    for (len, want) in [(MAX_BODY, 201), (MAX_BODY + 1, 413)] {
        let mut body = b"{}".to_vec();
        body.resize(len, b' ');
        let req = Req::post(A)
            .token(&fx.token)
            .header("Content-Type", "application/json")
            .body(body);
        run(
            fx,
            apps_route,
            &req,
            false,
            &[want],
            &format!("body of exactly {len} bytes"),
            failures,
        );
        count += 1;
    }
    // Chunked bodies (no Content-Length): small is fine, large is 413.
    for (n, want) in [(2usize, 201u16), (200 * 1024, 413)] {
        let mut payload = b"{}".to_vec();
        payload.resize(n, b' ');
        let mut raw = format!(
            "POST {A} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Service-Token: {}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            fx.addr, fx.token
        )
        .into_bytes();
        for chunk in payload.chunks(8192) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        match send_raw(fx.addr, &raw, false, Duration::from_secs(30)) {
            Ok(r) => {
                if let Some(why) = check(apps_route, false, &[want], &r) {
                    failures.push(format!("[chunked body of {n} bytes] {why}"));
                }
            }
            Err(e) => failures.push(format!("[chunked body of {n} bytes] no response: {e:?}")),
        }
        count += 1;
    }
    count
}

/// Precise checks: lengths in scalar values, the HOTP counter bounds, uuid forms in paths.
fn precise_checks(fx: &Fx, api: &Api) {
    let acc_path = format!("{A}/{}/accounts/{}", fx.app, fx.totp);
    for (field, max, ch) in [
        ("display_name", 255, "é"),
        ("display_name", 255, "😀"),
        ("description", 4096, "😀"),
    ] {
        let ok = api.patch(&acc_path, &json!({ field: ch.repeat(max) }));
        assert_eq!(
            ok.status,
            200,
            "{field} of {max} {ch:?} (counted in scalar values): {}",
            ok.text()
        );
        let over = api.patch(&acc_path, &json!({ field: ch.repeat(max + 1) }));
        assert_eq!(over.status, 422, "{field} of {} {ch:?}: {}", max + 1, over.text());
    }
    // Keys present with null clear; absent keys stay.
    let v = api
        .patch(&acc_path, &json!({"display_name": "kept", "description": "d"}))
        .expect(200, "patch");
    assert_eq!(
        (v["display_name"].clone(), v["description"].clone()),
        (json!("kept"), json!("d"))
    );
    let v = api
        .patch(&acc_path, &json!({"description": null}))
        .expect(200, "patch null");
    assert_eq!(
        (v["display_name"].clone(), v["description"].clone()),
        (json!("kept"), Value::Null)
    );

    // The HOTP counter at the top of its range: 0..=i64::MAX is importable, generating at the
    // maximum is 409 and changes nothing.
    let max = i64::MAX as u64;
    let uri = |c: u64| format!("otpauth://hotp/Max:m?secret={RFC_SECRET_B32}&counter={c}");
    let near = api.create_account(&fx.app, &uri(max - 1));
    assert_eq!(near["counter"], json!(max - 1), "{near}");
    let near_id = str_field(&near, "id");
    let gen_path = |id: &str| format!("{A}/{}/accounts/{id}/generate-otp", fx.app);
    let otp = api
        .post_empty(&gen_path(&near_id))
        .expect(200, "generate at i64::MAX - 1");
    assert_eq!(otp["otp_code"], hotp_rfc(max - 1, 6).as_str(), "HOTP(i64::MAX - 1)");
    let at_max = api.post_empty(&gen_path(&near_id));
    assert_eq!(
        at_max.status,
        409,
        "generating with the counter at i64::MAX: {}",
        at_max.text()
    );
    let top = api.create_account(&fx.app, &uri(max));
    assert_eq!(top["counter"], json!(max), "{top}");
    let top_id = str_field(&top, "id");
    let r = api.post_empty(&gen_path(&top_id));
    assert_eq!(r.status, 409, "generating with the counter at i64::MAX: {}", r.text());
    let still = api.get(&format!("{A}/{}/accounts/{top_id}", fx.app)).expect(200, "get");
    assert_eq!(
        still["counter"],
        json!(max),
        "a refused generation changes nothing: {still}"
    );
    for c in ["9223372036854775808", "18446744073709551616", "-1", "1e3", "", "0x10"] {
        let r = api.post(
            &format!("{A}/{}/accounts", fx.app),
            &json!({"otpauth_uri": format!("otpauth://hotp/Max:m?secret={RFC_SECRET_B32}&counter={c}")}),
        );
        assert_eq!(r.status, 400, "counter={c:?}: {}", r.text());
    }
    for (param, bad) in [
        ("digits", "7"),
        ("digits", "99999999999999999999"),
        ("digits", "-6"),
        ("period", "0"),
        ("period", "86401"),
        ("period", "99999999999999999999999"),
        ("algorithm", "md5"),
        ("secret", "!!!!"),
        ("secret", ""),
    ] {
        let uri = format!("otpauth://totp/P:p?secret=JBSWY3DPEHPK3PXP&{param}={bad}");
        let uri = uri.replacen("secret=JBSWY3DPEHPK3PXP&secret=", "secret=", 1);
        let r = api.post(&format!("{A}/{}/accounts", fx.app), &json!({"otpauth_uri": uri}));
        assert_eq!(r.status, 400, "{uri}: {}", r.text());
    }

    // Any form the uuid crate parses is accepted in a path; responses are lower-case hyphenated.
    let simple = fx.app.replace('-', "");
    for form in [
        fx.app.to_uppercase(),
        simple.clone(),
        format!("urn:uuid:{}", fx.app),
        format!("%7B{}%7D", fx.app),
    ] {
        let v = api
            .get(&format!("{A}/{form}"))
            .expect(200, &format!("app by the id form {form}"));
        assert_eq!(v["id"], fx.app.as_str(), "ids are returned lower-case hyphenated");
    }
}

/// Path ids for the random battery: (text for the path, whether it mangles the path). `{F}` is
/// the fixture's id, `{F_UPPER}` it in upper case, `{F_SIMPLE}` it without hyphens, `{7x5000}`
/// 5000 sevens.
const HOSTILE_IDS: &[(&str, bool)] = &[
    ("", true),
    ("x", false),
    ("..", true),
    (".", true),
    ("%2e%2e", false),
    ("1", false),
    ("-1", false),
    ("00000000-0000-0000-0000-000000000000", false),
    ("0190c0de-0000-7000-8000-000000000001", false),
    ("{F_UPPER}", false),
    ("{F_SIMPLE}", false),
    ("urn:uuid:{F}", false),
    ("%7B{F}%7D", false),
    ("{F}x", false),
    ("%00", false),
    ("%ff", false),
    ("%c3%a9", false),
    ("a%2Fb", true),
    ("..%2F..%2Fetc%2Fpasswd", true),
    ("%2F", true),
    ("{7x5000}", false),
    ("12345678-1234-1234-1234-1234567890123", false),
    ("g0000000-0000-0000-0000-000000000000", false),
    ("%20", false),
    ("'%20OR%201=1--", false),
    ("%E2%80%AE", false),
    ("null", false),
    ("%25", false),
    ("0x1", false),
];

fn hostile_id(rng: &mut XorShift, fixture: &str) -> (String, bool) {
    let (template, mangles) = *rng.pick(HOSTILE_IDS);
    let subs = [
        ("{F}", fixture.to_owned()),
        ("{F_UPPER}", fixture.to_uppercase()),
        ("{F_SIMPLE}", fixture.replace('-', "")),
        ("{7x5000}", "7".repeat(5000)),
    ];
    (expand(template, &subs), mangles)
}

/// Handles for the random battery, as [`HOSTILE_IDS`]; `{a300}` is 300 a's.
const HOSTILE_HANDLES: &[(&str, bool)] = &[
    ("victim", false),
    ("@victim", false),
    ("%40victim", false),
    ("@@x", false),
    ("-x", false),
    ("x!", false),
    ("{a300}", false),
    ("{a255}", false),
    ("%ff", false),
    ("%00", false),
    ("..", true),
    ("%2e", false),
    ("x%2Fy", true),
    ("", true),
    ("%C3%BC", false),
    ("nobody", false),
];

fn hostile_handle(rng: &mut XorShift) -> (String, bool) {
    let (template, mangles) = *rng.pick(HOSTILE_HANDLES);
    let subs = [("{a300}", "a".repeat(300)), ("{a255}", "a".repeat(255))];
    (expand(template, &subs), mangles)
}

/// `template` with each `{KEY}` of `subs` replaced by its value.
fn expand(template: &str, subs: &[(&str, String)]) -> String {
    subs.iter()
        .fold(template.to_owned(), |text, (key, value)| text.replace(key, value))
}

/// otpauth URIs for the random battery; `{S}` is a good secret, `{L2100}` and the like a run of
/// that letter that long.
const HOSTILE_URIS: &[&str] = &[
    "",
    "otpauth://",
    "otpauth://totp",
    "otpauth://totp/",
    "otpauth://totp/?secret={S}",
    "otpauth://totp/x",
    "otpauth://totp/x?secret=",
    "otpauth://totp/x?secret=!!!!",
    "otpauth://totp/x?secret=A",
    "otpauth://totp/x?secret={S}&secret={S}",
    "otpauth://totp/x?secret={S}&digits=7",
    "otpauth://totp/x?secret={S}&digits=99999999999999999999999",
    "otpauth://totp/x?secret={S}&digits=6.0",
    "otpauth://totp/x?secret={S}&digits=%206",
    "otpauth://totp/x?secret={S}&digits=",
    "otpauth://totp/x?secret={S}&period=0",
    "otpauth://totp/x?secret={S}&period=86401",
    "otpauth://totp/x?secret={S}&period=86400",
    "otpauth://totp/x?secret={S}&period=-30",
    "otpauth://totp/x?secret={S}&period=30.5",
    "otpauth://hotp/x?secret={S}&counter=-1",
    "otpauth://hotp/x?secret={S}&counter=9223372036854775807",
    "otpauth://hotp/x?secret={S}&counter=9223372036854775808",
    "otpauth://hotp/x?secret={S}&counter=18446744073709551616",
    "otpauth://totp/x?secret={S}&algorithm=md5",
    "otpauth://totp/x?secret={S}&algorithm=SHA512",
    "otpauth://totp/x?secret={S}&algorithm=sha1%00",
    "OTPAUTH://TOTP/x?secret={S}",
    "otpauth://steam/x?secret={S}",
    "http://totp/x?secret={S}",
    "otpauth:/totp/x?secret={S}",
    "otpauth://totp/x?secret={S}#frag",
    "otpauth://totp/%ff%fe?secret={S}",
    "otpauth://totp/a%00b?secret={S}",
    "otpauth://totp/%?secret={S}",
    "otpauth://totp/%zz?secret={S}",
    "otpauth://totp/a:b:c?secret={S}",
    "otpauth://totp/{L2100}?secret={S}",
    "otpauth://totp/{L2016}?secret={S}",
    "otpauth://totp/x?secret={S}&issuer=%00",
    "otpauth://totp/x?secret={S}&issuer={I10000}",
    "otpauth://totp/ü:ñ?secret={S}",
    "otpauth://totp/x?secret",
    "otpauth://totp/x?&&&secret={S}&&",
    "otpauth://totp/x?secret={A2000}",
    "otpauth://totp/x?SECRET={S}&Digits=8",
    "otpauth://totp/x?secret={S}&image=http%3A%2F%2Fevil",
    "otpauth://totp/x?secret={S}\u{0}",
    "otpauth://hotp/x?secret={S}&counter=",
];

fn hostile_uri(rng: &mut XorShift) -> String {
    let runs = [
        ("{S}", "JBSWY3DPEHPK3PXP".to_owned()),
        ("{L2100}", "L".repeat(2100)),
        ("{L2016}", "L".repeat(2048 - 32)),
        ("{I10000}", "i".repeat(10_000)),
        ("{A2000}", "A".repeat(2000)),
    ];
    let template = *rng.pick(HOSTILE_URIS);
    expand(template, &runs)
}

/// A hostile value for a field.
fn hostile_value(rng: &mut XorShift, fx: &Fx) -> Value {
    match rng.below(9) {
        0 => rng.pick(&wrong_types(false)).clone(),
        1 => json!("a\u{0}b"),
        2 => {
            let n = *rng.pick(&[0usize, 1, 254, 255, 256, 257, 1000, 2049, 4096, 4097, 20_000]);
            let ch = *rng.pick(&["a", "é", "😀", " ", "\u{202e}", "\u{feff}"]);
            json!(ch.repeat(n))
        }
        3 => json!(hostile_uri(rng)),
        4 => json!(rng.pick(&[
            "PAUSED",
            "paused ",
            "deleted",
            "",
            "active",
            "Active",
            "ANDROID",
            " android",
            "android\n",
            "toaster",
            "ios",
            "WINDOWS",
            "other",
        ])),
        5 => json!(rng.pick(&[
            "bot", "@bot", "@@bot", "-bot", "bot!", "b ot", "bøt", "victim", "fixture", "."
        ])),
        6 => json!(rng.pick(&[
            "not-a-uuid".to_owned(),
            "00000000-0000-0000-0000-000000000000".to_owned(),
            fx.v_app.to_uppercase(),
            fx.app.clone(),
            format!("{{{}}}", fx.v_app),
            "0190c0de-0000-7000-8000-00000000000".to_owned(),
        ])),
        7 => deep_value(rng.below(200) + 1),
        _ => json!({"nested": {"deeper": [1, 2, {"x": null}]}}),
    }
}

fn deep_value(n: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..n {
        v = json!([v]);
    }
    v
}

/// A hostile body for a body kind.
fn hostile_body(rng: &mut XorShift, fx: &Fx, kind: Body, n: usize) -> Vec<u8> {
    let base = fx.base(kind, n);
    match rng.below(10) {
        0 => rng.pick(&shape_bodies()).1.clone(),
        1 => b"\xef\xbb\xbf{}".to_vec(), // UTF-8 BOM
        2 => {
            let mut m = base;
            m.insert("unknown_field".into(), hostile_value(rng, fx));
            serde_json::to_vec(&m).expect("serialize")
        }
        3 => {
            // Duplicate keys.
            let field = rng.pick(fields(kind)).name;
            format!("{{\"{field}\": \"one\", \"{field}\": \"two\"}}").into_bytes()
        }
        4 => {
            // Invalid UTF-8 inside a value.
            let field = rng.pick(fields(kind)).name;
            let mut b = format!("{{\"{field}\": \"").into_bytes();
            let bad: [&[u8]; 5] = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf4\x90\x80\x80"];
            let chosen = bad[rng.below(bad.len())];
            b.extend_from_slice(chosen);
            b.extend_from_slice(b"\"}");
            b
        }
        _ => {
            let mut m = base;
            for _ in 0..=rng.below(2) {
                let spec = rng.pick(fields(kind));
                if rng.chance(1, 6) {
                    m.remove(spec.name);
                } else {
                    m.insert(spec.name.to_owned(), hostile_value(rng, fx));
                }
            }
            serde_json::to_vec(&m).expect("serialize")
        }
    }
}

fn hostile_auth(rng: &mut XorShift, token: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let h = |n: &str, v: &[u8]| vec![(n.as_bytes().to_vec(), v.to_vec())];
    match rng.below(15) {
        0 => Vec::new(),
        1 => h("Authorization", b"Bearer"),
        2 => h("Authorization", b"Bearer "),
        3 => h("Authorization", b"Basic dXNlcjpwYXNz"),
        4 => h("Authorization", b"Bearer \xc3\xa9\xff\xfe"),
        5 => h("X-Service-Token", b""),
        6 => h("X-Service-Token", b"\x80\x81\xfe\xff authd_st_\xe2\x82\xac"),
        7 => h("X-Service-Token", b"authd_st_"),
        8 => h("X-Service-Token", format!("{token}x").as_bytes()),
        9 => h("X-Service-Token", "A".repeat(8000).as_bytes()),
        10 => h("Authorization", format!("Bearer {}", "B".repeat(8000)).as_bytes()),
        11 => h("X-Service-Token", &token.as_bytes()[..token.len() - 1]),
        12 => h("Authorization", format!("Token {token}").as_bytes()),
        13 => h("X-Service-Token", token.to_uppercase().as_bytes()),
        _ => h(
            "Authorization",
            b"Bearer authd_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    }
}

fn random_battery(fx: &Fx, failures: &mut Vec<String>) {
    let mut rng = XorShift::new(SEED);
    let content_types: [&[u8]; 10] = [
        b"application/json",
        b"text/plain",
        b"application/xml",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=zz",
        b"application/json; charset=iso-8859-1",
        b"Application/JSON",
        b"\xff\xfe",
        b"",
        b"application/json; charset=utf-16",
    ];
    for i in 0..RANDOM_REQUESTS {
        let route = rng.pick(ROUTES);
        let path_methods = methods_of(route.path);
        let wrong_method = rng.chance(1, 8);
        let method = if wrong_method {
            let others: Vec<&str> = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                .into_iter()
                .filter(|m| !path_methods.contains(m))
                .collect();
            *rng.pick(&others)
        } else {
            route.method
        };
        // The path.
        let mut mangled = false;
        let mut path = route.path.to_owned();
        for ph in ["app", "acc", "inst", "handle"] {
            let key = format!("{{{ph}}}");
            if !path.contains(&key) {
                continue;
            }
            let value = if rng.chance(2, 3) {
                fx.value(ph, route.destructive)
            } else {
                let (v, m) = if ph == "handle" {
                    hostile_handle(&mut rng)
                } else {
                    // Other spellings of the id a destructive route would hit: the victim's.
                    hostile_id(&mut rng, &fx.value(ph, route.destructive))
                };
                mangled |= m;
                v
            };
            path = path.replace(&key, &value);
        }
        if rng.chance(1, 12) {
            let before = path.clone();
            path = match rng.below(5) {
                0 => format!("{path}/"),
                1 => path.replacen("/api/", "/api/../api/", 1),
                2 => path.replacen("/v1/", "/v1/./", 1),
                3 => path.replacen("/v1/", "//v1//", 1),
                _ => path.replacen("/v1/", "%2Fv1/", 1),
            };
            mangled |= path != before;
        }
        if rng.chance(1, 8) {
            let queries: [&str; 5] = ["?", "?a=%ff&b=%00&&=&x=", "?x=1&x=2", "?%zz", "?q=%2e%2e%2F"];
            let query = queries[rng.below(queries.len())];
            path.push_str(query);
        }
        let mut req = Req::new(method, path.as_bytes());
        // Auth.
        let hostile = route.auth != Auth::None && rng.chance(1, 5);
        if hostile {
            for (n, v) in hostile_auth(&mut rng, &fx.token) {
                req = req.header(n, v);
            }
        } else {
            req = fx.authed(route, req);
        }
        // Body.
        let oversize = rng.chance(1, 40);
        let body: Option<Vec<u8>> = if oversize {
            Some(vec![b' '; MAX_BODY + 1 + rng.below(1024 * 1024)])
        } else if let Some(kind) = route.body {
            match rng.below(10) {
                0..=6 => Some(hostile_body(&mut rng, fx, kind, i)),
                7 | 8 => Some(serde_json::to_vec(&fx.base(kind, i)).expect("serialize")),
                _ => None,
            }
        } else if rng.chance(1, 6) {
            Some(hostile_body(&mut rng, fx, Body::Account, i))
        } else {
            None
        };
        if let Some(b) = body {
            if rng.chance(4, 5) {
                req = req.header("Content-Type", rng.pick(&content_types));
            }
            req = req.body(b);
        }
        // What the contract allows.
        let mut allowed: BTreeSet<u16> = if mangled {
            ANY_DOCUMENTED.iter().copied().collect()
        } else if oversize || wrong_method || hostile {
            BTreeSet::new()
        } else {
            route.ok.iter().copied().collect()
        };
        if oversize {
            allowed.insert(413);
        }
        if wrong_method {
            allowed.insert(405);
        }
        if hostile {
            allowed.insert(401);
        }
        let allowed: Vec<u16> = allowed.into_iter().collect();
        run(
            fx,
            route,
            &req,
            mangled,
            &allowed,
            &format!("random #{i}, seed {SEED:#x}"),
            failures,
        );
    }
}

#[test]
fn hostile_requests_never_break_the_contract() {
    let sq = SqliteServer::start("bad-input");
    let (token, api) = sq.org_api("org_fuzz");

    api.create_identity("fixture");
    let app = api.create_app(Some("fixture"));
    let totp = api.account_id(&app, "otpauth://totp/F:t?secret=JBSWY3DPEHPK3PXP");
    let hotp = api.account_id(&app, &format!("otpauth://hotp/F:h?secret={RFC_SECRET_B32}"));
    let inst = api.enroll(&app, "fixture device");
    api.create_identity("victim");
    let v_app = api.create_app(Some("victim"));
    let v_acc = api.account_id(&v_app, "otpauth://totp/V:v?secret=JBSWY3DPEHPK3PXP");
    let v_inst = str_field(&api.enroll(&v_app, "victim device"), "id");
    let fx = Fx {
        addr: sq.server.addr,
        token: token.clone(),
        device: str_field(&inst, "device_token"),
        app,
        totp,
        hotp,
        inst: str_field(&inst, "id"),
        v_app,
        v_acc,
        v_inst,
    };

    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let exact = exact_passes(&fx, &mut failures);
    let sized = size_passes(&fx, &mut failures);
    precise_checks(&fx, &api);
    random_battery(&fx, &mut failures);
    eprintln!(
        "bad input: {exact} exact-shape requests, {sized} size requests, {RANDOM_REQUESTS} random requests in {:?}; \
         {} failures",
        started.elapsed(),
        failures.len()
    );

    // Still alive and working.
    api.get("/healthz").expect(200, "healthz after the battery");
    api.get(&format!("{A}/{}", fx.app))
        .expect(200, "fixture app after the battery");
    api.generate(&fx.app, &fx.totp);
    let hotp_now = api
        .get(&format!("{A}/{}/accounts/{}", fx.app, fx.hotp))
        .expect(200, "HOTP fixture");
    assert!(hotp_now["counter"].is_u64(), "{hotp_now}");
    api.raw(&Req::get("/api/v1/device/accounts").bearer(&fx.device))
        .expect(200, "device list after the battery");
    let log = sq.server.log();
    let panics = log.lines().filter(|l| l.contains("panicked")).count();
    assert_eq!(panics, 0, "the server log shows panics:\n{log}");

    if !failures.is_empty() {
        let all = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("system-bad-input-failures.txt");
        let _ = std::fs::write(&all, failures.join("\n\n"));
        eprintln!("all {} failures: {}", failures.len(), all.display());
        let shown: Vec<&String> = failures.iter().take(40).collect();
        panic!(
            "{} hostile requests broke the contract (first {} shown):\n\n{}",
            failures.len(),
            shown.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
        );
    }
}
