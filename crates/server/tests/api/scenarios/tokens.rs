//! Scoped and confined service tokens over HTTP: every route x (scope present, scope missing,
//! inside and outside the restriction) from one table, the table held to the document's
//! `x-required-scope`, and the token API.

use actix_web::test::TestRequest;
use domain::access::Scope;
use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::{Value, json};

use crate::support::*;

/// One row: an operation, the scope it needs, and what it answers inside the restriction and
/// outside it (`None`: a list or a creation without a record outside). Placeholders in the
/// path and body are filled from a fresh [`Records`] of each side.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    scope: &'static str,
    inside: u16,
    outside: Option<u16>,
}

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    scope: &'static str,
    inside: u16,
    outside: Option<u16>,
) -> Row {
    Row {
        method,
        path,
        body,
        scope,
        inside,
        outside,
    }
}

const APP: &str = "/api/v1/authenticator/apps/{app}";
const TOTP: &str = r#"{"otpauth_uri": "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"}"#;

/// The table: every operation that takes a service token.
const TABLE: &[Row] = &[
    row("GET", "/api/v1/authenticator/apps", None, "apps:read", 200, None),
    row(
        "POST",
        "/api/v1/authenticator/apps",
        Some(r#"{"agent_handle": "{spare}"}"#),
        "apps:write",
        201,
        Some(404),
    ),
    row("GET", APP, None, "apps:read", 200, Some(404)),
    row(
        "PATCH",
        APP,
        Some(r#"{"metadata": {"k": "v"}}"#),
        "apps:write",
        200,
        Some(404),
    ),
    row("DELETE", APP, None, "apps:write", 204, Some(404)),
    row(
        "GET",
        "/api/v1/authenticator/apps/{app}/accounts",
        None,
        "apps:read",
        200,
        Some(404),
    ),
    row(
        "POST",
        "/api/v1/authenticator/apps/{app}/accounts",
        Some(TOTP),
        "apps:write",
        201,
        Some(404),
    ),
    row(
        "GET",
        "/api/v1/authenticator/apps/{app}/accounts/{account}",
        None,
        "apps:read",
        200,
        Some(404),
    ),
    row(
        "PATCH",
        "/api/v1/authenticator/apps/{app}/accounts/{account}",
        Some(r#"{"display_name": "x"}"#),
        "apps:write",
        200,
        Some(404),
    ),
    row(
        "DELETE",
        "/api/v1/authenticator/apps/{app}/accounts/{account}",
        None,
        "apps:write",
        204,
        Some(404),
    ),
    row(
        "POST",
        "/api/v1/authenticator/apps/{app}/accounts/{account}/generate-otp",
        None,
        "otp:generate",
        200,
        Some(404),
    ),
    row(
        "POST",
        "/api/v1/authenticator/apps/{app}/accounts/{account}/verify",
        Some(r#"{"otp_code": "000000"}"#),
        "otp:verify",
        200,
        Some(404),
    ),
    row(
        "GET",
        "/api/v1/authenticator/apps/{app}/accounts/{account}/lockout",
        None,
        "apps:read",
        200,
        Some(404),
    ),
    row(
        "GET",
        "/api/v1/authenticator/apps/{app}/instances",
        None,
        "instances:read",
        200,
        Some(404),
    ),
    row(
        "POST",
        "/api/v1/authenticator/apps/{app}/instances",
        Some(r#"{"device_name": "Pixel", "platform": "android"}"#),
        "instances:write",
        201,
        Some(404),
    ),
    row(
        "GET",
        "/api/v1/authenticator/apps/{app}/instances/{instance}",
        None,
        "instances:read",
        200,
        Some(404),
    ),
    row(
        "DELETE",
        "/api/v1/authenticator/apps/{app}/instances/{instance}",
        None,
        "instances:write",
        204,
        Some(404),
    ),
    row("GET", "/api/v1/identities", None, "identities:read", 200, None),
    row(
        "POST",
        "/api/v1/identities",
        Some(r#"{"agent_handle": "{new}"}"#),
        "identities:write",
        201,
        Some(403),
    ),
    row("GET", "/api/v1/identities/", None, "identities:read", 200, None),
    row(
        "POST",
        "/api/v1/identities/",
        Some(r#"{"agent_handle": "{new}"}"#),
        "identities:write",
        201,
        Some(403),
    ),
    row(
        "GET",
        "/api/v1/identities/{handle}",
        None,
        "identities:read",
        200,
        Some(404),
    ),
    row(
        "PATCH",
        "/api/v1/identities/{handle}",
        Some(r#"{"status": "paused"}"#),
        "identities:write",
        200,
        Some(404),
    ),
    row(
        "DELETE",
        "/api/v1/identities/{handle}",
        None,
        "identities:write",
        204,
        Some(404),
    ),
    row(
        "POST",
        "/api/v1/identities/{handle}/authenticator_app",
        Some(r#"{"authenticator_app_id": "{app}"}"#),
        "identities:write",
        200,
        Some(404),
    ),
    row(
        "DELETE",
        "/api/v1/identities/{handle}/authenticator_app",
        None,
        "identities:write",
        204,
        Some(404),
    ),
    row(
        "GET",
        "/oauth/api/v1/users/{handle}/authentication/apps",
        None,
        "instances:read",
        200,
        Some(404),
    ),
    row(
        "DELETE",
        "/oauth/api/v1/users/{handle}/authentication/apps/{instance}",
        None,
        "instances:write",
        204,
        Some(404),
    ),
    row("GET", "/api/v1/audit/events", None, "audit:read", 200, None),
    row("GET", "/api/v1/tokens", None, "tokens:write", 200, None),
    row(
        "POST",
        "/api/v1/tokens",
        Some(r#"{"scopes": ["tokens:write"], "identities": ["{handle}"]}"#),
        "tokens:write",
        201,
        Some(403),
    ),
    row("DELETE", "/api/v1/tokens/{token}", None, "tokens:write", 204, Some(404)),
];

/// One side's records: an identity with a linked app, an account and an instance, a spare
/// identity without an app, a fresh handle, and a token to revoke.
struct Records {
    handle: String,
    spare: String,
    new: String,
    app: String,
    account: String,
    instance: String,
    token: String,
}

impl Records {
    async fn make<S: Store>(api: &Api<S>, prefix: &str, n: usize, token_for_revoke: String) -> Self {
        let handle = format!("{prefix}-{n}");
        let spare = format!("{prefix}-{n}-spare");
        let (_, app) = api.linked_app(&handle).await;
        api.identity(&spare).await;
        let account = id_of(&api.account(&app, &totp_uri()).await);
        let instance = id_of(&api.enroll(&app, "Pixel").await);
        Self {
            new: format!("{prefix}-{n}-new"),
            handle,
            spare,
            app,
            account,
            instance,
            token: token_for_revoke,
        }
    }

    fn fill(&self, s: &str) -> String {
        s.replace("{handle}", &self.handle)
            .replace("{spare}", &self.spare)
            .replace("{new}", &self.new)
            .replace("{app}", &self.app)
            .replace("{account}", &self.account)
            .replace("{instance}", &self.instance)
            .replace("{token}", &self.token)
    }
}

/// Mints a token through the API with the admin token; returns `(id, token)`.
async fn mint<S: Store>(api: &Api<S>, body: Value) -> (String, String) {
    let r = api.post("/api/v1/tokens", body).await;
    r.expect(201);
    let v = r.json();
    (id_of(&v), v["token"].as_str().expect("token shown once").to_owned())
}

async fn send<S: Store>(api: &Api<S>, token: &str, method: &str, path: &str, body: Option<&str>) -> Resp {
    let req = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PATCH" => TestRequest::patch(),
        "DELETE" => TestRequest::delete(),
        other => panic!("method {other}"),
    };
    let req = req.uri(path).insert_header(("X-Service-Token", token.to_owned()));
    let req = match body {
        Some(b) => req.set_payload(b.to_owned()),
        None => req.set_payload(""),
    };
    api.call(req).await
}

/// Every route x (scope present inside, scope present outside, scope missing): the table run on
/// each backend. Tokens are confined to `in-*`; every row gets fresh records on both sides.
pub async fn scopes_and_restrictions_table<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;

    // The table is the document's: every operation with a scope is a row, with that scope.
    let doc = api.get("/openapi.json").await.json();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let need = op["x-required-scope"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no x-required-scope"));
            if !need.starts_with("none") {
                documented.push((method.to_uppercase(), path.clone(), need.to_owned()));
            }
        }
    }
    let mut tabled: Vec<(String, String, String)> = TABLE
        .iter()
        .map(|r| {
            let path = r
                .path
                .replace("{app}", "{app_id}")
                .replace("{account}", "{account_id}")
                .replace("{instance}", "{instance_id}")
                .replace("{handle}", "{agent_handle}")
                .replace("{token}", "{token_id}");
            let path = if path.starts_with("/oauth/") {
                path.replace("{agent_handle}", "{user_id}")
            } else {
                path
            };
            (r.method.to_owned(), path, r.scope.to_owned())
        })
        .collect();
    documented.sort();
    tabled.sort();
    assert_eq!(tabled, documented, "the table vs the document's x-required-scope");

    for (n, r) in TABLE.iter().enumerate() {
        let only = json!({ "scopes": [r.scope], "identities": ["in-*"] });
        let (_, with_scope) = mint(&api, only).await;
        // Every scope but the row's (and `admin`, which grants them all).
        let others: Vec<&str> = Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .filter(|s| *s != r.scope && *s != "admin")
            .collect();
        let (_, without) = mint(&api, json!({ "scopes": others, "identities": ["in-*"] })).await;
        let what = format!("{} {}", r.method, r.path);

        // A token that can be revoked by the row's token (inside) and one it cannot (admin).
        let (child, _) = mint(&api, json!({ "scopes": [r.scope], "identities": ["in-*"] })).await;
        let inside = Records::make(&api, "in", n, child).await;
        let outside = Records::make(&api, "out", n, token_id_of(&api).await).await;

        // Scope missing: 403 naming it, before anything else is looked at.
        let resp = send(
            &api,
            &without,
            r.method,
            &inside.fill(r.path),
            r.body.map(|b| inside.fill(b)).as_deref(),
        )
        .await;
        let lacks = format!("this token lacks the scope {}", r.scope);
        if r.path.starts_with("/oauth/") {
            resp.expect_ow_error(403, &lacks);
        } else {
            resp.expect_detail(403, &lacks);
        }

        // Scope present, inside.
        let resp = send(
            &api,
            &with_scope,
            r.method,
            &inside.fill(r.path),
            r.body.map(|b| inside.fill(b)).as_deref(),
        )
        .await;
        assert_eq!(resp.status, r.inside, "{what} inside: {}", resp.json());

        // Scope present, outside: like a missing record (or refused creation).
        if let Some(want) = r.outside {
            let resp = send(
                &api,
                &with_scope,
                r.method,
                &outside.fill(r.path),
                r.body.map(|b| outside.fill(b)).as_deref(),
            )
            .await;
            assert_eq!(resp.status, want, "{what} outside: {}", resp.json());
            // The same record missing altogether answers the same status and body.
            if want == 404 {
                let missing = Records {
                    app: "00000000-0000-7000-8000-000000000001".to_owned(),
                    account: "00000000-0000-7000-8000-000000000002".to_owned(),
                    instance: "00000000-0000-7000-8000-000000000003".to_owned(),
                    token: "00000000-0000-7000-8000-000000000004".to_owned(),
                    handle: "in-nobody".to_owned(),
                    spare: "in-nobody".to_owned(),
                    new: "in-nobody".to_owned(),
                };
                let gone = send(
                    &api,
                    &with_scope,
                    r.method,
                    &missing.fill(r.path),
                    r.body.map(|b| missing.fill(b)).as_deref(),
                )
                .await;
                assert_eq!(
                    (gone.status, gone.body.clone()),
                    (resp.status, resp.body.clone()),
                    "{what}: outside vs missing"
                );
            }
        }
    }

    // Lists inside a restriction hold only what it covers.
    let (_, reader) = mint(
        &api,
        json!({ "scopes": ["apps:read", "identities:read", "audit:read"], "identities": ["in-*"] }),
    )
    .await;
    let apps = send(&api, &reader, "GET", APPS, None).await.json();
    let admin_apps = api.get(APPS).await.json();
    assert!(apps.as_array().expect("apps").len() < admin_apps.as_array().expect("apps").len());
    let identities = send(&api, &reader, "GET", "/api/v1/identities", None).await.json();
    for i in identities.as_array().expect("identities") {
        let handle = i["agent_handle"].as_str().expect("handle");
        assert!(handle.starts_with("in-"), "a confined list shows {handle}");
    }
    let events = send(&api, &reader, "GET", "/api/v1/audit/events?limit=500", None)
        .await
        .json();
    let all = api.get("/api/v1/audit/events?limit=500").await.json();
    assert!(
        events["events"].as_array().expect("events").len() < all["events"].as_array().expect("events").len(),
        "a confined token reads a part of the trail"
    );
}

/// The admin token's own id (through `GET /api/v1/tokens/self`).
async fn token_id_of<S: Store>(api: &Api<S>) -> String {
    let r = api.get("/api/v1/tokens/self").await;
    r.expect(200);
    id_of(&r.json())
}

/// The token API: mint (the token shown once), list (never the token), self, revoke (refused
/// at once in this process), broader mints refused naming what was broader, 422s for bad
/// bodies, and the audit events of mint and revocation.
pub async fn token_api_mint_list_self_revoke<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    api.identity("bot").await;
    let r = api
        .post(
            "/api/v1/tokens",
            json!({ "name": "agent bot", "scopes": ["otp:generate", "tokens:write", "apps:read"], "identities": ["bot"], "expires_in_seconds": 3600 }),
        )
        .await;
    r.expect(201);
    let minted = r.json();
    assert_keys(
        &minted,
        &[
            "id",
            "name",
            "scopes",
            "identities",
            "apps",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "token",
        ],
    );
    assert_eq!(minted["scopes"], json!(["apps:read", "otp:generate", "tokens:write"]));
    assert_eq!(minted["identities"], json!(["bot"]));
    assert_eq!(minted["apps"], Value::Null);
    let token = minted["token"].as_str().expect("token").to_owned();
    let id = id_of(&minted);

    // self
    let me = send(&api, &token, "GET", "/api/v1/tokens/self", None).await;
    me.expect(200);
    assert_eq!(id_of(&me.json()), id);
    assert!(me.json().get("token").is_none(), "the token is shown once");

    // broader mints: 403 naming what
    for (body, what) in [
        (json!({ "scopes": ["admin"] }), "the scope admin"),
        (
            json!({ "scopes": ["otp:generate"] }),
            "every identity and app (no restriction)",
        ),
        (
            json!({ "scopes": ["otp:generate"], "identities": ["*"] }),
            "the identities *",
        ),
        (
            json!({ "scopes": ["otp:generate"], "identities": ["bot"], "expires_in_seconds": 7200 }),
            "its lifetime",
        ),
    ] {
        let r = send(&api, &token, "POST", "/api/v1/tokens", Some(&body.to_string())).await;
        r.expect_detail(
            403,
            &format!("a token cannot mint a token broader than itself: {what} is too broad"),
        );
    }
    // a narrower one, listed by the parent (never with the token), revocable by it
    let child = send(
        &api,
        &token,
        "POST",
        "/api/v1/tokens",
        Some(&json!({ "scopes": ["otp:generate"], "identities": ["bot"] }).to_string()),
    )
    .await;
    child.expect(201);
    let child = child.json();
    assert_eq!(
        child["expires_at"], minted["expires_at"],
        "a child expires with its parent"
    );
    let listed = send(&api, &token, "GET", "/api/v1/tokens", None).await.json();
    let ids: Vec<String> = listed.as_array().expect("tokens").iter().map(id_of).collect();
    assert_eq!(
        ids,
        [id.clone(), id_of(&child)],
        "the parent lists itself and its child, not the admin"
    );
    assert!(
        listed
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| t.get("token").is_none())
    );
    let admin_id = token_id_of(&api).await;
    send(&api, &token, "DELETE", &format!("/api/v1/tokens/{admin_id}"), None)
        .await
        .expect_detail(404, "Service token not found");
    send(
        &api,
        &token,
        "DELETE",
        &format!("/api/v1/tokens/{}", id_of(&child)),
        None,
    )
    .await
    .expect_204();
    let child_token = child["token"].as_str().expect("token");
    send(&api, child_token, "GET", "/api/v1/tokens/self", None)
        .await
        .expect_detail(401, "Invalid service token");

    // bad bodies
    let r = send(&api, &token, "POST", "/api/v1/tokens", Some(r#"{"scopes": []}"#)).await;
    r.expect_422(&["body", "scopes"]);
    let r = send(&api, &token, "POST", "/api/v1/tokens", Some(r#"{"scopes": ["nope"]}"#)).await;
    r.expect_422(&["body", "scopes", "0"]);
    let r = send(
        &api,
        &token,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"scopes": ["otp:generate"], "identities": ["a*b"]}"#),
    )
    .await;
    r.expect_422(&["body", "identities", "0"]);
    let r = send(
        &api,
        &token,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"scopes": ["otp:generate"], "expires_in_seconds": 5}"#),
    )
    .await;
    r.expect_422(&["body", "expires_in_seconds"]);
    // a handle nobody has cannot be pinned
    api.post(
        "/api/v1/tokens",
        json!({ "scopes": ["otp:generate"], "identities": ["nobody"] }),
    )
    .await
    .expect_detail(404, "Identity not found");

    // audit: mint and revocation, with the scopes and restriction, never the token
    let events = api.events_of("token.create", &id).await;
    assert_eq!(events.len(), 1);
    let details = &events[0]["details"];
    assert_eq!(details["scopes"], json!("apps:read otp:generate tokens:write"));
    assert_eq!(details["identities"], json!(["bot"]));
    assert!(!events[0].to_string().contains(&token));
    let revoked = api.events_of("token.revoke", &id_of(&child)).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"]["id"], json!(id), "revoked by the parent token");
}
