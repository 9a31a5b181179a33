//! Conventions shared by every path: auth, org isolation, 404/405/413/422 envelopes, health,
//! request logging.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::test::TestRequest;
use domain::ids::OrgId;
use domain::ports::Store;
use domain::service::NewToken;
use domain::testkit::Kit;
use serde_json::json;

use crate::support::*;

pub async fn auth_401s<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let invalid = |r: Resp| r.expect_detail(401, "Invalid service token");

    invalid(api.call(TestRequest::get().uri(APPS)).await);
    invalid(
        api.call(TestRequest::get().uri(APPS).insert_header(("X-Service-Token", "")))
            .await,
    );
    invalid(
        api.call(TestRequest::get().uri(APPS).insert_header(("X-Service-Token", "wrong")))
            .await,
    );
    let unknown = format!("authd_st_{}", "A".repeat(43));
    invalid(
        api.call(
            TestRequest::get()
                .uri(APPS)
                .insert_header(("X-Service-Token", unknown.clone())),
        )
        .await,
    );
    invalid(api.get_bearer(APPS, &unknown).await);
    invalid(
        api.call(
            TestRequest::get()
                .uri(APPS)
                .insert_header(("Authorization", format!("Basic {}", api.token))),
        )
        .await,
    );
    invalid(
        api.call(
            TestRequest::get()
                .uri(APPS)
                .insert_header(("Authorization", api.token.clone())),
        )
        .await,
    );
    // both headers work
    api.get(APPS).await.expect(200);
    api.get_bearer(APPS, &api.token).await.expect(200);

    // 401 wins over 422 and 404, on every family
    invalid(api.call(TestRequest::get().uri(&format!("{APPS}/nope"))).await);
    invalid(
        api.call(
            TestRequest::post()
                .uri(&format!("{APPS}/{app}/accounts"))
                .set_json(json!({})),
        )
        .await,
    );
    invalid(api.call(TestRequest::get().uri("/api/v1/identities/ghost")).await);
    invalid(
        api.call(TestRequest::post().uri("/api/v1/identities/").set_payload("not json"))
            .await,
    );

    // a revoked token stops working at once
    let org = OrgId::new(ORG).expect("org");
    let cli = domain::audit::Caller::new(org, domain::audit::Actor::Cli);
    let (meta, plain) = api
        .authd
        .create_service_token(&cli, NewToken::admin(None, None))
        .expect("token");
    let token = plain.expose().to_owned();
    api.get_bearer(APPS, &token).await.expect(200);
    api.authd
        .revoke_service_token(*meta.id(), &domain::audit::Actor::Cli)
        .expect("revoke");
    invalid(api.get_bearer(APPS, &token).await);
    invalid(
        api.call(TestRequest::get().uri(APPS).insert_header(("X-Service-Token", token)))
            .await,
    );
    // the default token is unaffected
    api.get(APPS).await.expect(200);
}

/// A token with a lifetime works until it expires (also from the cache), then answers
/// `401 {"detail": "token expired"}` on the Inkbox family, the usual `{"error": "Unauthorized"}`
/// on OneWelcome paths, and is counted as `reason="expired"`; a token without one keeps working.
pub async fn expired_token_401<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let org = OrgId::new(ORG).expect("org");
    let cli = domain::audit::Caller::new(org, domain::audit::Actor::Cli);
    let lifetime = domain::values::TokenLifetime::parse("2m").expect("lifetime");
    let (_, plain) = api
        .authd
        .create_service_token(&cli, NewToken::admin(None, Some(lifetime)))
        .expect("token");
    let token = plain.expose().to_owned();
    let expired_count = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("authd_auth_failures_total{realm=\"service\",reason=\"expired\"} "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the expired series")
    };
    let metrics = |r: Resp| String::from_utf8(r.expect(200).body.to_vec()).expect("utf-8");

    api.get_bearer(APPS, &token).await.expect(200);
    api.clock.advance(119);
    api.get_bearer(APPS, &token).await.expect(200);
    let before = metrics(api.call(TestRequest::get().uri("/metrics")).await);
    api.clock.advance(1);
    api.get_bearer(APPS, &token).await.expect_detail(401, "token expired");
    api.call(
        TestRequest::get()
            .uri(APPS)
            .insert_header(("X-Service-Token", token.clone())),
    )
    .await
    .expect_detail(401, "token expired");
    api.call(
        TestRequest::get()
            .uri("/oauth/api/v1/users/bot/authentication/apps")
            .insert_header(("X-Service-Token", token.clone())),
    )
    .await
    .expect_ow_error(401, "Unauthorized");
    let after = metrics(api.call(TestRequest::get().uri("/metrics")).await);
    assert!(
        expired_count(&after) >= expired_count(&before) + 3,
        "expired refusals not counted"
    );
    assert!(!after.contains(&token), "a token reached the metrics");
    // the default token (no lifetime) is unaffected
    api.get(APPS).await.expect(200);
}

pub async fn cross_org_is_404<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let inst = id_of(&api.enroll(&app, "Pixel").await);
    let other = token_of(&api.authd, OTHER_ORG);
    let as_other = |req: TestRequest| req.insert_header(("X-Service-Token", other.clone()));

    for (req, message) in [
        (
            TestRequest::get().uri(&format!("{APPS}/{app}")),
            "Authenticator app not found",
        ),
        (
            TestRequest::delete().uri(&format!("{APPS}/{app}")),
            "Authenticator app not found",
        ),
        (
            TestRequest::get().uri(&format!("{APPS}/{app}/accounts")),
            "Authenticator app not found",
        ),
        (
            TestRequest::get().uri(&format!("{APPS}/{app}/accounts/{acc}")),
            "Authenticator account not found",
        ),
        (
            TestRequest::patch()
                .uri(&format!("{APPS}/{app}/accounts/{acc}"))
                .set_json(json!({ "display_name": "x" })),
            "Authenticator account not found",
        ),
        (
            TestRequest::delete().uri(&format!("{APPS}/{app}/accounts/{acc}")),
            "Authenticator account not found",
        ),
        (
            TestRequest::post().uri(&format!("{APPS}/{app}/accounts/{acc}/generate-otp")),
            "Authenticator account not found",
        ),
        (
            TestRequest::post()
                .uri(&format!("{APPS}/{app}/accounts"))
                .set_json(json!({ "otpauth_uri": totp_uri() })),
            "Authenticator app not found",
        ),
        (
            TestRequest::get().uri(&format!("{APPS}/{app}/instances")),
            "Authenticator app not found",
        ),
        (
            TestRequest::get().uri(&format!("{APPS}/{app}/instances/{inst}")),
            "App instance not found",
        ),
        (
            TestRequest::delete().uri(&format!("{APPS}/{app}/instances/{inst}")),
            "App instance not found",
        ),
        (
            TestRequest::post()
                .uri(&format!("{APPS}/{app}/instances"))
                .set_json(json!({ "device_name": "d", "platform": "WEB" })),
            "Authenticator app not found",
        ),
        (TestRequest::get().uri("/api/v1/identities/bot"), "Identity not found"),
        (
            TestRequest::patch()
                .uri("/api/v1/identities/bot")
                .set_json(json!({ "status": "paused" })),
            "Identity not found",
        ),
        (
            TestRequest::delete().uri("/api/v1/identities/bot"),
            "Identity not found",
        ),
        (
            TestRequest::delete().uri("/api/v1/identities/bot/authenticator_app"),
            "Identity not found",
        ),
    ] {
        api.call(as_other(req)).await.expect_detail(404, message);
    }
    // the other org's identity cannot take this org's app
    let r = api
        .call(as_other(
            TestRequest::post()
                .uri("/api/v1/identities/")
                .set_json(json!({ "agent_handle": "bot" })),
        ))
        .await;
    r.expect(201);
    assert_eq!(r.json()["organization_id"], OTHER_ORG);
    api.call(as_other(
        TestRequest::post()
            .uri("/api/v1/identities/bot/authenticator_app")
            .set_json(json!({ "authenticator_app_id": app })),
    ))
    .await
    .expect_detail(404, "Authenticator app not found");
    api.call(as_other(
        TestRequest::post().uri(APPS).set_json(json!({ "agent_handle": "bot" })),
    ))
    .await
    .expect(201);
    // lists are per org
    let r = api.call(as_other(TestRequest::get().uri(APPS))).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    assert_ne!(id_of(&r.json()[0]), app);
    let r = api.call(as_other(TestRequest::get().uri("/api/v1/identities"))).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    // OneWelcome: this org's user is not the other org's user
    let r = api
        .call(as_other(
            TestRequest::get().uri("/oauth/api/v1/users/bot/authentication/apps"),
        ))
        .await;
    r.expect_ow_error(404, "No authentication apps found");
    api.call(as_other(
        TestRequest::delete().uri(&format!("/oauth/api/v1/users/bot/authentication/apps/{inst}")),
    ))
    .await
    .expect_ow_error(404, "Authentication app not found");
    // everything is intact for the owner
    api.get(&format!("{APPS}/{app}/accounts/{acc}")).await.expect(200);
    api.get(&format!("{APPS}/{app}/instances/{inst}")).await.expect(200);
    api.get("/oauth/api/v1/users/bot/authentication/apps").await.expect(200);
}

pub async fn method_not_allowed_405<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    for (req, allow) in [
        (TestRequest::put().uri(APPS), "GET, POST"),
        (TestRequest::delete().uri(APPS), "GET, POST"),
        (TestRequest::put().uri(&format!("{APPS}/{app}")), "GET, PATCH, DELETE"),
        (TestRequest::put().uri(&format!("{APPS}/{app}/accounts")), "GET, POST"),
        (
            TestRequest::post().uri(&format!("{APPS}/{app}/accounts/{acc}")),
            "GET, PATCH, DELETE",
        ),
        (
            TestRequest::get().uri(&format!("{APPS}/{app}/accounts/{acc}/generate-otp")),
            "POST",
        ),
        (
            TestRequest::patch().uri(&format!("{APPS}/{app}/instances")),
            "GET, POST",
        ),
        (
            TestRequest::post().uri(&format!("{APPS}/{app}/instances/x")),
            "GET, DELETE",
        ),
        (TestRequest::delete().uri("/api/v1/identities"), "GET, POST"),
        (TestRequest::put().uri("/api/v1/identities/"), "GET, POST"),
        (TestRequest::post().uri("/api/v1/identities/bot"), "GET, PATCH, DELETE"),
        (
            TestRequest::get().uri("/api/v1/identities/bot/authenticator_app"),
            "POST, DELETE",
        ),
        (TestRequest::delete().uri("/api/v1/device/accounts"), "GET"),
        (TestRequest::post().uri("/healthz"), "GET"),
        (TestRequest::post().uri("/readyz"), "GET"),
    ] {
        // with or without credentials: the route decides first
        let r = api.call(req).await;
        r.expect_detail(405, "Method Not Allowed");
        assert_eq!(r.header("allow"), Some(allow));
    }
}

pub async fn unknown_path_404<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    for path in [
        "/",
        "/nope",
        "/api/v1/authenticator",
        "/api/v1/authenticator/apps/",
        "/api/v1/identities/bot/mailbox",
        "/api/v1/identities/bot/phone_number",
        "/api/v1/vault",
        "/api/v1/device/accounts/",
    ] {
        api.get(path).await.expect_detail(404, "Not Found");
        api.call(TestRequest::post().uri(path))
            .await
            .expect_detail(404, "Not Found");
    }
}

pub async fn body_too_large_413<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    api.identity("bot").await;
    let big = format!(r#"{{"agent_handle":null,"pad":"{}"}}"#, "a".repeat(70_000));
    let too_large = |r: Resp| r.expect_detail(413, "Request body too large");

    for (method, path) in [
        ("POST", APPS.to_owned()),
        ("POST", format!("{APPS}/{app}/accounts")),
        ("PATCH", format!("{APPS}/{app}/accounts/{acc}")),
        ("POST", format!("{APPS}/{app}/accounts/{acc}/generate-otp")),
        ("POST", format!("{APPS}/{app}/accounts/{acc}/verify")),
        ("POST", "/api/v1/identities/".to_owned()),
        ("PATCH", "/api/v1/identities/bot".to_owned()),
        ("POST", "/api/v1/identities/bot/authenticator_app".to_owned()),
        ("POST", format!("{APPS}/{app}/instances")),
        ("GET", APPS.to_owned()),
        ("POST", "/api/v1/device/accounts/x/generate-otp".to_owned()),
        ("POST", "/api/v1/device/accounts/x/verify".to_owned()),
        ("POST", "/nope".to_owned()),
    ] {
        let req = || {
            api.authed(
                TestRequest::default()
                    .method(method.parse().expect("method"))
                    .uri(&path),
            )
            .set_payload(big.clone())
        };
        // announced by Content-Length
        too_large(api.call(req()).await);
        // not announced: the read stops at the limit
        // (the device paths check their own token first, which these requests do not carry)
        if method != "GET" && !path.contains("generate-otp") && !path.starts_with("/api/v1/device/") && path != "/nope"
        {
            too_large(api.call_unsized(req()).await);
        }
    }
    // the OneWelcome family
    let r = api
        .call(
            api.authed(TestRequest::get().uri("/oauth/api/v1/users/bot/authentication/apps"))
                .set_payload(big.clone()),
        )
        .await;
    r.expect_ow_error(413, "Request body too large");
    // nothing was created
    assert_eq!(api.get(APPS).await.json().as_array().map(Vec::len), Some(1));

    // exactly 65,536 bytes is accepted
    let prefix = r#"{"agent_handle":null,"pad":""#;
    let exact = format!("{prefix}{}\"}}", "a".repeat(65_536 - prefix.len() - 2));
    assert_eq!(exact.len(), 65_536);
    api.post_raw(APPS, exact.clone()).await.expect(201);
    let r = api
        .call_unsized(api.authed(TestRequest::post().uri(APPS).set_payload(exact)))
        .await;
    r.expect(201);
}

pub async fn body_json_shape_422<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let paths = [
        ("POST", APPS.to_owned()),
        ("POST", format!("{APPS}/{app}/accounts")),
        ("PATCH", format!("{APPS}/{app}/accounts/{acc}")),
        ("POST", "/api/v1/identities".to_owned()),
        ("PATCH", "/api/v1/identities/bot".to_owned()),
        ("POST", "/api/v1/identities/bot/authenticator_app".to_owned()),
        ("POST", format!("{APPS}/{app}/instances")),
    ];
    for (method, path) in &paths {
        for (body, kind) in [
            ("{", "json_invalid"),
            ("not json", "json_invalid"),
            ("{\"a\":1,}", "json_invalid"),
            ("   ", "json_invalid"),
            ("null", "model_attributes_type"),
            ("[]", "model_attributes_type"),
            ("\"text\"", "model_attributes_type"),
            ("42", "model_attributes_type"),
        ] {
            let req = api.authed(
                TestRequest::default()
                    .method(method.parse().expect("method"))
                    .uri(path)
                    .set_payload(body),
            );
            let item = api.call(req).await.expect_422(&["body"]);
            assert_eq!(item["type"], kind, "{method} {path} {body:?}");
        }
    }
    // the Content-Type is not looked at: JSON under any (or no) type is parsed
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
    ] {
        let r = api
            .call(
                api.authed(TestRequest::post().uri("/api/v1/identities/"))
                    .insert_header(("Content-Type", ct))
                    .set_payload(format!(r#"{{"agent_handle":"h{}"}}"#, ct.len())),
            )
            .await;
        r.expect(201);
    }
    // raw UTF-8 in the body (the SDK does not escape)
    let r = api
        .post_raw(
            &format!("{APPS}/{app}/accounts"),
            format!(r#"{{"otpauth_uri":"{}","display_name":"Wörk"}}"#, totp_uri()),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json()["display_name"], "Wörk");
}

pub async fn nul_in_strings_422<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    for (method, path, body, field) in [
        (
            "POST",
            format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": totp_uri(), "display_name": "a\u{0}b" }),
            "display_name",
        ),
        (
            "POST",
            format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": totp_uri(), "description": "\u{0}" }),
            "description",
        ),
        (
            "POST",
            format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": format!("{}\u{0}", totp_uri()) }),
            "otpauth_uri",
        ),
        (
            "PATCH",
            format!("{APPS}/{app}/accounts/{acc}"),
            json!({ "display_name": "\u{0}" }),
            "display_name",
        ),
        (
            "POST",
            "/api/v1/identities/".to_owned(),
            json!({ "agent_handle": "bo\u{0}t" }),
            "agent_handle",
        ),
        (
            "PATCH",
            "/api/v1/identities/bot".to_owned(),
            json!({ "status": "paused\u{0}" }),
            "status",
        ),
        (
            "PATCH",
            "/api/v1/identities/bot".to_owned(),
            json!({ "agent_handle": "x\u{0}" }),
            "agent_handle",
        ),
        (
            "POST",
            APPS.to_owned(),
            json!({ "agent_handle": "\u{0}" }),
            "agent_handle",
        ),
        (
            "POST",
            format!("{APPS}/{app}/instances"),
            json!({ "device_name": "P\u{0}", "platform": "WEB" }),
            "device_name",
        ),
        (
            "POST",
            format!("{APPS}/{app}/instances"),
            json!({ "device_name": "P", "platform": "WEB\u{0}" }),
            "platform",
        ),
        (
            "POST",
            "/api/v1/identities/bot/authenticator_app".to_owned(),
            json!({ "authenticator_app_id": format!("{app}\u{0}") }),
            "authenticator_app_id",
        ),
    ] {
        let req = api.authed(
            TestRequest::default()
                .method(method.parse().expect("method"))
                .uri(&path)
                .set_json(body),
        );
        api.call(req).await.expect_422(&["body", field]);
    }
    // nothing changed
    let r = api.get("/api/v1/identities/bot").await;
    assert_eq!(r.json()["status"], "active");
}

pub async fn health_and_readiness<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let r = api.call(TestRequest::get().uri("/healthz")).await;
    r.expect(200).expect_json_content_type();
    assert_eq!(r.json(), json!({ "status": "ok" }));
    let r = api.call(TestRequest::get().uri("/readyz")).await;
    r.expect(200).expect_json_content_type();
    assert_eq!(r.json(), json!({ "status": "ready" }));
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn request_log_uses_route_patterns<S: Store>(kit: Kit<S>) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    let api = start(kit).await;
    // Tests run in parallel, and a callsite first reached on another thread while this
    // dispatcher was being registered may have cached "never". Once every callsite of the
    // request log has been reached (the warm-up), recompute the interest with this dispatcher.
    api.call(TestRequest::get().uri("/healthz")).await.expect(200);
    tracing::callsite::rebuild_interest_cache();
    capture.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    let (_, app) = api.linked_app("secret-handle").await;
    api.get(&format!("{APPS}/{app}")).await.expect(200);
    api.get("/api/v1/identities/secret-handle").await.expect(200);
    api.call(TestRequest::get().uri("/some/unknown/secret-path"))
        .await
        .expect(404);
    api.call(TestRequest::put().uri(APPS)).await.expect(405);
    drop(guard);

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    for needle in [
        "/api/v1/authenticator/apps/{app_id}",
        "/api/v1/identities/{agent_handle}",
        "/api/v1/identities",
        "status=200",
        "status=201",
        "status=404",
        "status=405",
        "latency_ms=",
        "PUT",
    ] {
        assert!(log.contains(needle), "{needle:?} not in the log:\n{log}");
    }
    for secret in [
        app.as_str(),
        "secret-handle",
        "secret-path",
        api.token.as_str(),
        "authd_st_",
    ] {
        assert!(!log.contains(secret), "{secret:?} leaked into the log:\n{log}");
    }
}

/// Refused credentials are counted in `/metrics` by realm and reason (the counters are
/// process-wide, so the check is that each one moved by at least what this scenario caused),
/// and the exposition carries the request series with route patterns, never ids.
pub async fn auth_failures_are_counted<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let counter = |text: &str, labels: &str| -> u64 {
        let prefix = format!("authd_auth_failures_total{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no series {prefix} in /metrics"))
    };
    let metrics = |r: Resp| String::from_utf8(r.expect(200).body.to_vec()).expect("utf-8");
    let before = metrics(api.call(TestRequest::get().uri("/metrics")).await);
    api.call(TestRequest::get().uri(APPS)).await.expect(401);
    api.call(TestRequest::get().uri(APPS).insert_header(("X-Service-Token", "nope")))
        .await
        .expect(401);
    let unknown = format!("authd_st_{}", "B".repeat(43));
    api.get_bearer(APPS, &unknown).await.expect(401);
    api.call(TestRequest::get().uri("/api/v1/device/accounts"))
        .await
        .expect(401);
    let after = metrics(api.call(TestRequest::get().uri("/metrics")).await);
    for labels in [
        "realm=\"service\",reason=\"missing\"",
        "realm=\"service\",reason=\"malformed\"",
        "realm=\"service\",reason=\"unknown\"",
        "realm=\"device\",reason=\"missing\"",
    ] {
        assert!(
            counter(&after, labels) > counter(&before, labels),
            "{labels} did not move"
        );
    }
    assert!(
        after.contains("route=\"/api/v1/authenticator/apps/{app_id}\"") || {
            api.get(&format!("{APPS}/{app}")).await.expect(200);
            let again = metrics(api.call(TestRequest::get().uri("/metrics")).await);
            again.contains("route=\"/api/v1/authenticator/apps/{app_id}\"")
        }
    );
    assert!(!after.contains(&app), "an id reached the metrics");
    assert!(!after.contains(&unknown), "a token reached the metrics");
}
