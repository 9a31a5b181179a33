//! Test harness: the application composed exactly as the server does it (`http_actix::app`),
//! in-process through `actix_web::test`, plus request builders, fixtures and shape assertions.

#![expect(dead_code, reason = "each scenario module uses a different part of this file")]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::test::{self, TestRequest};
use actix_web::web::Bytes;
use domain::Authd;
use domain::ids::OrgId;
use domain::ports::Store;
use domain::service::NewToken;
use domain::testkit::{FixedClock, Kit};
use serde_json::{Value, json};

/// The organization of [`Api::token`].
pub const ORG: &str = "org_acme";
/// Another organization, for cross-org checks.
pub const OTHER_ORG: &str = "org_other";

/// A base32 secret used throughout.
pub const SECRET: &str = "JBSWY3DPEHPK3PXP";

/// A TOTP URI with issuer and account.
pub fn totp_uri() -> String {
    format!("otpauth://totp/ACME:alice@example.com?secret={SECRET}&issuer=ACME")
}

/// A HOTP URI.
pub fn hotp_uri() -> String {
    format!("otpauth://hotp/ACME:bob@example.com?secret={SECRET}&algorithm=SHA256&digits=8")
}

/// What a backend factory of `api_tests!` may return: a kit, or a kit with a guard that must
/// live as long as the test (a temporary directory, a database to drop).
pub trait Fixture<S: Store> {
    /// The kit, and whatever must outlive the scenario; `None` when the backend is not
    /// available here (the factory has already said so loudly).
    fn try_parts(self) -> Option<(Kit<S>, Box<dyn std::any::Any>)>;

    /// The kit and its guard, for backends that are always available.
    fn into_parts(self) -> (Kit<S>, Box<dyn std::any::Any>)
    where
        Self: Sized,
    {
        self.try_parts().expect("backend available")
    }
}

impl<S: Store> Fixture<S> for Kit<S> {
    fn try_parts(self) -> Option<(Kit<S>, Box<dyn std::any::Any>)> {
        Some((self, Box::new(())))
    }
}

impl<S: Store, G: 'static> Fixture<S> for (Kit<S>, G) {
    fn try_parts(self) -> Option<(Kit<S>, Box<dyn std::any::Any>)> {
        Some((self.0, Box::new(self.1)))
    }
}

impl<S: Store, G: 'static> Fixture<S> for Option<(Kit<S>, G)> {
    fn try_parts(self) -> Option<(Kit<S>, Box<dyn std::any::Any>)> {
        self.map(|(k, g)| (k, Box::new(g) as Box<dyn std::any::Any>))
    }
}

/// A response, read in full.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts an Inkbox-family error: this status and exactly `{"detail": "<message>"}`.
    #[track_caller]
    pub fn expect_detail(&self, status: u16, message: &str) {
        self.expect(status);
        assert_eq!(self.json(), json!({ "detail": message }));
        self.expect_json_content_type();
    }

    /// Asserts a `422` whose list contains an item at `loc` (and that every item has exactly
    /// `loc`, `msg` and `type`).
    #[track_caller]
    pub fn expect_422(&self, loc: &[&str]) -> Value {
        self.expect(422);
        let body = self.json();
        assert_keys(&body, &["detail"]);
        let items = body["detail"].as_array().expect("detail is a list");
        assert!(!items.is_empty(), "empty 422 list");
        for item in items {
            assert_keys(item, &["loc", "msg", "type"]);
            assert!(item["msg"].is_string() && item["type"].is_string(), "{item}");
            assert!(item["loc"].as_array().is_some_and(|l| l.iter().all(Value::is_string)));
        }
        let want: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
        let found = items.iter().find(|i| i["loc"].as_array() == Some(&want));
        found
            .unwrap_or_else(|| panic!("no 422 item at {loc:?}: {body}"))
            .clone()
    }

    /// Asserts a OneWelcome error: this status, exactly `{"error": "<message>"}`, and the
    /// OneWelcome headers.
    #[track_caller]
    pub fn expect_ow_error(&self, status: u16, message: &str) {
        self.expect(status);
        assert_eq!(self.json(), json!({ "error": message }));
        self.expect_ow_headers();
    }

    /// Asserts the headers every OneWelcome response carries.
    #[track_caller]
    pub fn expect_ow_headers(&self) {
        assert_eq!(self.header("content-type"), Some("application/json;charset=UTF-8"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
    }

    #[track_caller]
    pub fn expect_json_content_type(&self) {
        assert_eq!(self.header("content-type"), Some("application/json"));
    }

    /// Asserts `204` with an empty body.
    #[track_caller]
    pub fn expect_204(&self) {
        self.expect(204);
        assert!(self.body.is_empty(), "204 with a body: {:?}", self.body);
    }
}

/// Asserts that `v` is an object with exactly these keys.
#[track_caller]
pub fn assert_keys(v: &Value, keys: &[&str]) {
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "keys of {v}");
}

/// Asserts a lower-case hyphenated UUID string.
#[track_caller]
pub fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    assert!(ok, "not a lower-case hyphenated uuid: {s}");
}

/// Asserts an RFC 3339 UTC timestamp string.
#[track_caller]
pub fn assert_ts(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok() && s.ends_with('Z'),
        "not RFC 3339 UTC: {s}"
    );
}

/// The kit's start time as the API writes it.
pub const START_TS: &str = "2026-03-18T12:00:00Z";

/// Asserts the App object shape.
#[track_caller]
pub fn assert_app(v: &Value) {
    assert_keys(
        v,
        &[
            "id",
            "organization_id",
            "identity_id",
            "metadata",
            "status",
            "created_at",
            "updated_at",
        ],
    );
    assert_uuid(&v["id"]);
    assert!(v["organization_id"].is_string());
    assert!(
        v["metadata"]
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        "metadata is an object of strings: {v}"
    );
    if !v["identity_id"].is_null() {
        assert_uuid(&v["identity_id"]);
    }
    assert_eq!(v["status"], "active");
    assert_ts(&v["created_at"]);
    assert_ts(&v["updated_at"]);
}

/// Asserts the Account object shape.
#[track_caller]
pub fn assert_account(v: &Value) {
    assert_keys(
        v,
        &[
            "id",
            "authenticator_app_id",
            "otp_type",
            "issuer",
            "account_name",
            "display_name",
            "description",
            "algorithm",
            "digits",
            "period",
            "counter",
            "verify_window",
            "metadata",
            "status",
            "created_at",
            "updated_at",
        ],
    );
    assert_uuid(&v["id"]);
    assert_uuid(&v["authenticator_app_id"]);
    assert!(v["verify_window"].as_u64().is_some_and(|w| w <= 10), "{v}");
    assert!(
        v["metadata"]
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        "metadata is an object of strings: {v}"
    );
    assert!(v["account_name"].is_string());
    assert!(v["digits"].is_u64());
    assert_eq!(v["status"], "active");
    match v["otp_type"].as_str() {
        Some("totp") => assert!(v["period"].is_u64() && v["counter"].is_null(), "{v}"),
        Some("hotp") => assert!(v["period"].is_null() && v["counter"].is_u64(), "{v}"),
        other => panic!("otp_type {other:?}"),
    }
    let alg = v["algorithm"].as_str().expect("algorithm");
    assert!(["sha1", "sha256", "sha512"].contains(&alg), "{alg}");
    assert_ts(&v["created_at"]);
    assert_ts(&v["updated_at"]);
    assert!(!v.to_string().contains(SECRET), "the secret leaked: {v}");
}

/// Asserts the OTP object shape.
#[track_caller]
pub fn assert_otp(v: &Value) {
    assert_keys(
        v,
        &[
            "otp_code",
            "valid_for_seconds",
            "otp_type",
            "algorithm",
            "digits",
            "period",
        ],
    );
    let code = v["otp_code"].as_str().expect("otp_code is a string");
    assert_eq!(code.len() as u64, v["digits"].as_u64().expect("digits"));
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
}

/// The keys of an identity summary (the detail has these and more).
pub const SUMMARY_KEYS: [&str; 6] = [
    "id",
    "organization_id",
    "agent_handle",
    "status",
    "created_at",
    "updated_at",
];

/// Asserts the identity summary shape.
#[track_caller]
pub fn assert_summary(v: &Value) {
    assert_keys(v, &SUMMARY_KEYS);
    assert_summary_fields(v);
}

/// Asserts the fields an identity summary and detail share.
#[track_caller]
fn assert_summary_fields(v: &Value) {
    assert_uuid(&v["id"]);
    assert!(v["agent_handle"].is_string());
    assert_ts(&v["created_at"]);
    assert_ts(&v["updated_at"]);
}

/// Asserts the identity detail shape.
#[track_caller]
pub fn assert_detail(v: &Value) {
    assert_keys(
        v,
        &[&SUMMARY_KEYS[..], &["mailbox", "phone_number", "authenticator_app"]].concat(),
    );
    assert_summary_fields(v);
    assert!(v["mailbox"].is_null() && v["phone_number"].is_null());
    if !v["authenticator_app"].is_null() {
        assert_app(&v["authenticator_app"]);
    }
}

/// Asserts the instance shape (without the device token).
#[track_caller]
pub fn assert_instance(v: &Value) {
    assert_keys(
        v,
        &[
            "id",
            "authenticator_app_id",
            "identity_id",
            "device_id",
            "device_name",
            "platform",
            "status",
            "created_at",
            "updated_at",
            "last_used_at",
        ],
    );
    for k in ["id", "authenticator_app_id", "identity_id", "device_id"] {
        assert_uuid(&v[k]);
    }
    assert_eq!(v["status"], "active");
    assert_ts(&v["created_at"]);
    if !v["last_used_at"].is_null() {
        assert_ts(&v["last_used_at"]);
    }
}

type Caller = Box<dyn Fn(TestRequest, bool) -> Pin<Box<dyn Future<Output = Resp>>>>;

/// The in-process API over one kit.
pub struct Api<S: Store> {
    call: Caller,
    /// The service (shared with the app).
    pub authd: Arc<Authd<S>>,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// A service token of [`ORG`].
    pub token: String,
}

/// Starts the app over a kit (composed by `http_actix::app`, as the server does), with a
/// service token of [`ORG`].
pub async fn start<S: Store>(kit: Kit<S>) -> Api<S> {
    let authd = Arc::new(kit.authd);
    let svc = Rc::new(test::init_service(http_actix::app(authd.clone())).await);
    let call: Caller = Box::new(move |req, strip_content_length| {
        let svc = svc.clone();
        Box::pin(async move {
            let mut req = req.to_request();
            if strip_content_length {
                req.headers_mut().remove(header::CONTENT_LENGTH);
            }
            let res = test::call_service(&*svc, req).await;
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = test::read_body(res).await;
            Resp { status, headers, body }
        })
    });
    let token = token_of(&authd, ORG);
    Api {
        call,
        authd,
        clock: kit.clock,
        token,
    }
}

/// A new service token of `org`.
pub fn token_of<S: Store>(authd: &Authd<S>, org: &str) -> String {
    let org = OrgId::new(org).expect("org id");
    let cli = domain::audit::Caller::new(org, domain::audit::Actor::Cli);
    let (_, plain) = authd
        .create_service_token(&cli, NewToken::admin(None, None))
        .expect("token");
    plain.expose().to_owned()
}

/// Apps base path.
pub const APPS: &str = "/api/v1/authenticator/apps";

impl<S: Store> Api<S> {
    /// Sends a request as built (no credentials added).
    pub async fn call(&self, req: TestRequest) -> Resp {
        (self.call)(req, false).await
    }

    /// Sends a request without its `Content-Length` header (a body of unannounced size).
    pub async fn call_unsized(&self, req: TestRequest) -> Resp {
        (self.call)(req, true).await
    }

    /// `req` with the default service token as `X-Service-Token`.
    pub fn authed(&self, req: TestRequest) -> TestRequest {
        req.insert_header(("X-Service-Token", self.token.as_str()))
    }

    /// Sends `req` to `path` with the default service token.
    async fn send(&self, req: TestRequest, path: &str) -> Resp {
        self.call(self.authed(req.uri(path))).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(TestRequest::get(), path).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(TestRequest::delete(), path).await
    }

    /// POST with a JSON body (and `Content-Type: application/json`).
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(TestRequest::post().set_json(body), path).await
    }

    /// POST with raw bytes and no `Content-Type`.
    pub async fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send(TestRequest::post().set_payload(body), path).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(TestRequest::patch().set_json(body), path).await
    }

    /// PATCH with raw bytes and no `Content-Type`.
    pub async fn patch_raw(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send(TestRequest::patch().set_payload(body), path).await
    }

    /// A request with another credential (`(header, value)`).
    pub async fn with_header(&self, req: TestRequest, header: (&str, &str)) -> Resp {
        self.call(req.insert_header((header.0.to_owned(), header.1.to_owned())))
            .await
    }

    /// GET with a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        self.call(
            TestRequest::get()
                .uri(path)
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}"))),
        )
        .await
    }

    /// POST (`Content-Length: 0`, no `Content-Type`) with a bearer token.
    pub async fn post_bearer(&self, path: &str, token: &str) -> Resp {
        self.call(
            TestRequest::post()
                .uri(path)
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                .set_payload(""),
        )
        .await
    }

    // ------------------------------------------------------------------ fixtures

    /// Creates an identity; returns its summary.
    pub async fn identity(&self, handle: &str) -> Value {
        let r = self.post("/api/v1/identities", json!({ "agent_handle": handle })).await;
        r.expect(201);
        r.json()
    }

    /// Creates an unlinked app; returns its id.
    pub async fn app(&self) -> String {
        let r = self.post(APPS, json!({})).await;
        r.expect(201);
        id_of(&r.json())
    }

    /// Creates an identity and an app linked to it; returns `(identity id, app id)`.
    pub async fn linked_app(&self, handle: &str) -> (String, String) {
        let identity = self.identity(handle).await;
        let r = self.post(APPS, json!({ "agent_handle": handle })).await;
        r.expect(201);
        (id_of(&identity), id_of(&r.json()))
    }

    /// Creates an account from a URI; returns it.
    pub async fn account(&self, app: &str, uri: &str) -> Value {
        let r = self
            .post(&format!("{APPS}/{app}/accounts"), json!({ "otpauth_uri": uri }))
            .await;
        r.expect(201);
        r.json()
    }

    /// Enrolls an instance; returns the response (instance + device token).
    pub async fn enroll(&self, app: &str, device_name: &str) -> Value {
        let r = self
            .post(
                &format!("{APPS}/{app}/instances"),
                json!({ "device_name": device_name, "platform": "android" }),
            )
            .await;
        r.expect(201);
        r.json()
    }

    /// `GET path`: a 200 with a bare array, each item checked with `check`; the items' ids.
    pub async fn list_ids(&self, path: &str, check: fn(&Value)) -> Vec<String> {
        let r = self.get(path).await;
        r.expect(200);
        let list = r.json();
        let items = list.as_array().expect("bare array");
        items.iter().for_each(check);
        items.iter().map(id_of).collect()
    }

    /// The audit events of `action` about the record `id`, oldest first.
    pub async fn events_of(&self, action: &str, id: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/api/v1/audit/events?action={action}&resource_id={id}"))
            .await;
        r.expect(200);
        r.json()["events"].as_array().expect("events").clone()
    }

    /// Generates a code through the service API, exactly as the SDK sends it.
    pub async fn generate(&self, app: &str, account: &str) -> Resp {
        self.post_raw(&format!("{APPS}/{app}/accounts/{account}/generate-otp"), "")
            .await
    }
}

/// The `id` of an object.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// The TOTP code of [`SECRET`] at a Unix time.
pub fn totp_code(alg: domain::otp::Algorithm, t: u64, period: u32, digits: u32) -> String {
    let secret = domain::otp::Secret::from_base32(SECRET).expect("secret");
    domain::otp::totp(
        alg,
        secret.expose(),
        t,
        domain::otp::Period::new(u64::from(period)).expect("period"),
        domain::otp::Digits::new(digits).expect("digits"),
    )
    .code
}

/// The HOTP code of [`SECRET`] at a counter.
pub fn hotp_code(alg: domain::otp::Algorithm, counter: u64, digits: u32) -> String {
    let secret = domain::otp::Secret::from_base32(SECRET).expect("secret");
    domain::otp::hotp(
        alg,
        secret.expose(),
        counter,
        domain::otp::Digits::new(digits).expect("digits"),
    )
}
