//! Verification (authd extension): `POST .../accounts/{account_id}/verify` and
//! `POST /api/v1/device/accounts/{account_id}/verify`: exact bodies, `429` with `Retry-After`,
//! the window on create and PATCH, the `422` shapes (never counted), the precedence, the device
//! path.

use actix_web::test::TestRequest;
use domain::otp::Algorithm;
use domain::ports::Store;
use domain::testkit::{Kit, START};
use serde_json::{Value, json};

use crate::support::*;

fn verify_path(app: &str, acc: &str) -> String {
    format!("{APPS}/{app}/accounts/{acc}/verify")
}

fn device_verify_path(acc: &str) -> String {
    format!("/api/v1/device/accounts/{acc}/verify")
}

/// The SHA-1, 6-digit, period-30 TOTP code of [`SECRET`] at `START + secs`.
fn totp_at(secs: i64) -> String {
    totp_code(Algorithm::Sha1, u64::try_from(START + secs).expect("t"), 30, 6)
}

/// A 6-digit code that is none of the three steps around `START + secs`.
fn wrong_at(secs: i64) -> String {
    let near = [totp_at(secs - 30), totp_at(secs), totp_at(secs + 30)];
    (0..1000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .expect("a wrong code")
}

fn valid(offset: i64) -> Value {
    json!({ "valid": true, "matched_offset": offset })
}

fn refused(reason: &str, remaining: u32) -> Value {
    json!({ "valid": false, "reason": reason, "remaining_attempts": remaining })
}

impl<S: Store> Api<S> {
    async fn verify(&self, app: &str, acc: &str, code: &str) -> Resp {
        self.post(&verify_path(app, acc), json!({ "otp_code": code })).await
    }

    async fn device_verify(&self, acc: &str, token: &str, body: Value) -> Resp {
        self.call(
            TestRequest::post()
                .uri(&device_verify_path(acc))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .set_payload(body.to_string()),
        )
        .await
    }
}

/// Asserts `200` with exactly this body.
#[track_caller]
fn assert_answer(r: &Resp, want: &Value) {
    r.expect(200).expect_json_content_type();
    assert_eq!(&r.json(), want);
}

/// Asserts the `429` of a locked account: `Retry-After` and the body agree.
#[track_caller]
fn assert_locked(r: &Resp, secs: u64) {
    r.expect(429).expect_json_content_type();
    assert_eq!(r.header("retry-after"), Some(secs.to_string().as_str()));
    assert_eq!(
        r.json(),
        json!({ "detail": "Too many failed attempts", "retry_after_seconds": secs })
    );
}

pub async fn verify_totp_bodies_replay_and_429<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);

    assert_answer(&api.verify(&app, &acc, &totp_at(0)).await, &valid(0));
    // the same code again: replayed, counted, and the account is locked for 1 s
    assert_answer(&api.verify(&app, &acc, &totp_at(0)).await, &refused("replayed", 99));
    assert_locked(&api.verify(&app, &acc, &totp_at(30)).await, 1);
    api.clock.advance(1);
    // a wrong code: invalid; the second failure in a row locks for 2 s
    assert_answer(&api.verify(&app, &acc, &wrong_at(1)).await, &refused("invalid", 98));
    assert_locked(&api.verify(&app, &acc, &wrong_at(1)).await, 2);
    api.clock.advance(1);
    assert_locked(&api.verify(&app, &acc, &wrong_at(2)).await, 1);
    api.clock.advance(1);
    // the previous step is behind the accepted one: a replay; the next step is valid (+1)
    assert_answer(&api.verify(&app, &acc, &totp_at(-30)).await, &refused("replayed", 97));
    api.clock.advance(4);
    assert_answer(&api.verify(&app, &acc, &totp_at(30)).await, &valid(1));
    // the success reset the count
    assert_answer(&api.verify(&app, &acc, &wrong_at(7)).await, &refused("invalid", 99));
    // digits of another length are simply invalid
    api.clock.advance(1);
    assert_answer(&api.verify(&app, &acc, "1234").await, &refused("invalid", 98));
    // generation does not use up a TOTP step: its code verifies (in a step not yet accepted)
    api.clock.advance(52);
    let generated = api.generate(&app, &acc).await.json();
    let r = api
        .verify(&app, &acc, generated["otp_code"].as_str().expect("code"))
        .await;
    assert_answer(&r, &valid(0));
    // the account shows its (default) window
    let got = api.get(&format!("{APPS}/{app}/accounts/{acc}")).await.json();
    assert_eq!(got["verify_window"], 1);
}

pub async fn verify_hotp_moves_the_counter<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = api.account(&app, &hotp_uri()).await;
    assert_eq!(acc["verify_window"], 10);
    let acc = id_of(&acc);
    let code = |c| hotp_code(Algorithm::Sha256, c, 8);

    assert_answer(&api.verify(&app, &acc, &code(3)).await, &valid(3));
    let got = api.get(&format!("{APPS}/{app}/accounts/{acc}")).await.json();
    assert_eq!(got["counter"], 4);
    assert_answer(&api.verify(&app, &acc, &code(3)).await, &refused("replayed", 99));
    api.clock.advance(1);
    assert_answer(&api.verify(&app, &acc, &code(15)).await, &refused("invalid", 98));
    // generation goes on from the counter the verification moved
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["otp_code"], code(4));
    api.clock.advance(2);
    assert_answer(&api.verify(&app, &acc, &code(4)).await, &refused("replayed", 97));
    api.clock.advance(4);
    assert_answer(&api.verify(&app, &acc, &code(15)).await, &valid(10));
    let got = api.get(&format!("{APPS}/{app}/accounts/{acc}")).await.json();
    assert_eq!(got["counter"], 16);
}

pub async fn verify_window_on_create_and_patch<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let accounts = format!("{APPS}/{app}/accounts");

    let r = api
        .post(&accounts, json!({ "otpauth_uri": totp_uri(), "verify_window": 0 }))
        .await;
    r.expect(201);
    let acc = r.json();
    assert_account(&acc);
    assert_eq!(acc["verify_window"], 0);
    let id = id_of(&acc);
    // a window of 0: the next step's code is refused
    assert_answer(&api.verify(&app, &id, &totp_at(30)).await, &refused("invalid", 99));
    api.clock.advance(1);
    assert_answer(&api.verify(&app, &id, &totp_at(1)).await, &valid(0));

    let r = api
        .post(&accounts, json!({ "otpauth_uri": totp_uri(), "verify_window": null }))
        .await;
    r.expect(201);
    assert_eq!(r.json()["verify_window"], 1);
    let r = api
        .post(&accounts, json!({ "otpauth_uri": hotp_uri(), "verify_window": 10 }))
        .await;
    r.expect(201);
    assert_eq!(r.json()["verify_window"], 10);

    for (bad, kind) in [
        (json!(11), "less_than_equal"),
        (json!(-1), "greater_than_equal"),
        (json!(1.5), "int_type"),
        (json!(1.0), "int_type"),
        (json!("1"), "int_type"),
        (json!(true), "int_type"),
        (json!([1]), "int_type"),
    ] {
        let r = api
            .post(&accounts, json!({ "otpauth_uri": totp_uri(), "verify_window": bad }))
            .await;
        let item = r.expect_422(&["body", "verify_window"]);
        assert_eq!(item["type"], kind, "{bad}");
        let r = api
            .patch(&format!("{accounts}/{id}"), json!({ "verify_window": bad }))
            .await;
        let item = r.expect_422(&["body", "verify_window"]);
        assert_eq!(item["type"], kind, "PATCH {bad}");
    }
    // nothing was created by the refused bodies
    assert_eq!(api.get(&accounts).await.json().as_array().map(Vec::len), Some(3));

    // PATCH sets, absent keeps, null resets to the default
    api.clock.advance(1);
    let r = api
        .patch(&format!("{accounts}/{id}"), json!({ "verify_window": 5 }))
        .await;
    r.expect(200);
    let patched = r.json();
    assert_account(&patched);
    assert_eq!(patched["verify_window"], 5);
    assert_eq!(patched["updated_at"], "2026-03-18T12:00:02Z");
    let r = api
        .patch(&format!("{accounts}/{id}"), json!({ "display_name": "x" }))
        .await;
    assert_eq!(r.json()["verify_window"], 5);
    let r = api
        .patch(&format!("{accounts}/{id}"), json!({ "verify_window": null }))
        .await;
    assert_eq!(r.json()["verify_window"], 1);
    assert_eq!(r.json()["display_name"], "x");
}

pub async fn verify_shape_422_is_not_counted<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let path = verify_path(&app, &acc);

    // an empty body: the body is missing
    let r = api.post_raw(&path, "").await;
    let item = r.expect_422(&["body"]);
    assert_eq!(item["type"], "missing");
    let r = api.post_raw(&path, "not json").await;
    assert_eq!(r.expect_422(&["body"])["type"], "json_invalid");
    let r = api.post_raw(&path, "null").await;
    r.expect_422(&["body"]);
    for (body, kind) in [
        (json!({}), "missing"),
        (json!({ "otp_code": null }), "string_type"),
        (json!({ "otp_code": 123_456 }), "string_type"),
        (json!({ "otp_code": "" }), "string_too_short"),
        (json!({ "otp_code": "12345678901" }), "string_too_long"),
        (json!({ "otp_code": "12345a" }), "string_pattern_mismatch"),
        (json!({ "otp_code": " 123456" }), "string_pattern_mismatch"),
        (json!({ "otp_code": "１２３４５６" }), "string_pattern_mismatch"),
        (json!({ "otp_code": "12\u{0}34" }), "string_pattern_mismatch"),
    ] {
        let r = api.post(&path, body.clone()).await;
        let item = r.expect_422(&["body", "otp_code"]);
        assert_eq!(item["type"], kind, "{body}");
        // the input is never echoed
        if let Some(s) = body["otp_code"].as_str().filter(|s| s.len() > 2) {
            assert!(!String::from_utf8_lossy(&r.body).contains(s), "{body}");
        }
    }
    // a bad path id and a bad body are reported together
    let r = api.post(&verify_path("nope", &acc), json!({ "otp_code": "x" })).await;
    r.expect_422(&["path", "app_id"]);
    r.expect_422(&["body", "otp_code"]);
    // unknown keys are ignored; no Content-Type needed
    let r = api
        .post_raw(&path, json!({ "otp_code": totp_at(0), "extra": 1 }).to_string())
        .await;
    assert_answer(&r, &valid(0));
    // none of the above was counted
    assert_answer(&api.verify(&app, &acc, &wrong_at(0)).await, &refused("invalid", 99));
}

pub async fn verify_precedence<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let other_app = api.app().await;
    let missing = "0190c0de-0000-7000-8000-00000000abcd";

    // 401 first, whatever else is wrong
    let r = api
        .call(TestRequest::post().uri(&verify_path("nope", &acc)).set_payload("{"))
        .await;
    r.expect_detail(401, "Invalid service token");
    // 422 before 404
    api.verify("nope", missing, "123456")
        .await
        .expect_422(&["path", "app_id"]);
    api.post(&verify_path(&app, missing), json!({}))
        .await
        .expect_422(&["body", "otp_code"]);
    // 404: unknown account, another app's account, another org's account
    api.verify(&app, missing, "123456")
        .await
        .expect_detail(404, "Authenticator account not found");
    api.verify(&other_app, &acc, "123456")
        .await
        .expect_detail(404, "Authenticator account not found");
    let other_token = token_of(&api.authd, OTHER_ORG);
    let r = api
        .call(
            TestRequest::post()
                .uri(&verify_path(&app, &acc))
                .insert_header(("X-Service-Token", other_token))
                .set_payload(json!({ "otp_code": totp_at(0) }).to_string()),
        )
        .await;
    r.expect_detail(404, "Authenticator account not found");

    // locked, then paused: 403 wins over 429, and nothing is counted while paused
    assert_answer(&api.verify(&app, &acc, &wrong_at(0)).await, &refused("invalid", 99));
    api.patch("/api/v1/identities/bot", json!({ "status": "paused" }))
        .await
        .expect(200);
    api.verify(&app, &acc, &totp_at(0))
        .await
        .expect_detail(403, "Identity is paused");
    // 404 before 403
    api.verify(&app, missing, "123456").await.expect(404);
    api.patch("/api/v1/identities/bot", json!({ "status": "active" }))
        .await
        .expect(200);
    assert_locked(&api.verify(&app, &acc, &totp_at(0)).await, 1);
    api.clock.advance(1);
    assert_answer(&api.verify(&app, &acc, &totp_at(1)).await, &valid(0));

    // a deleted account: 404
    api.delete(&format!("{APPS}/{app}/accounts/{acc}")).await.expect_204();
    api.verify(&app, &acc, &totp_at(1))
        .await
        .expect_detail(404, "Authenticator account not found");
    // a method the path does not have
    let r = api.get(&verify_path(&app, &acc)).await;
    r.expect(405);
    assert_eq!(r.header("allow"), Some("POST"));
}

pub async fn verify_on_the_device<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let hotp = id_of(&api.account(&app, &hotp_uri()).await);
    let enrollment = api.enroll(&app, "Pixel").await;
    let token = enrollment["device_token"].as_str().expect("device_token").to_owned();
    let instance = format!("{APPS}/{app}/instances/{}", id_of(&enrollment));

    api.clock.advance(3);
    let r = api.device_verify(&acc, &token, json!({ "otp_code": totp_at(3) })).await;
    assert_answer(&r, &valid(0));
    assert_eq!(api.get(&instance).await.json()["last_used_at"], "2026-03-18T12:00:03Z");
    // shared with the service API: the step is used there too
    assert_answer(&api.verify(&app, &acc, &totp_at(3)).await, &refused("replayed", 99));
    let r = api.device_verify(&acc, &token, json!({ "otp_code": totp_at(3) })).await;
    assert_locked(&r, 1);
    api.clock.advance(1);
    let r = api
        .device_verify(&hotp, &token, json!({ "otp_code": hotp_code(Algorithm::Sha256, 0, 8) }))
        .await;
    assert_answer(&r, &valid(0));
    // a refused code is a use of the device too
    api.clock.advance(1);
    let r = api.device_verify(&hotp, &token, json!({ "otp_code": "1" })).await;
    assert_answer(&r, &refused("invalid", 99));
    assert_eq!(api.get(&instance).await.json()["last_used_at"], "2026-03-18T12:00:05Z");

    // 401 before 422: an unknown token with a bad body, a service token, a missing token
    let r = api
        .device_verify("nope", "authd_dev_unknown", json!({ "otp_code": "x" }))
        .await;
    r.expect_detail(401, "Invalid device token");
    let r = api
        .device_verify(&acc, &api.token, json!({ "otp_code": totp_at(5) }))
        .await;
    r.expect_detail(401, "Invalid device token");
    let r = api
        .call(
            TestRequest::post()
                .uri(&device_verify_path(&acc))
                .set_payload(json!({ "otp_code": totp_at(5) }).to_string()),
        )
        .await;
    r.expect_detail(401, "Invalid device token");
    // a device token on the service path
    let r = api
        .call(
            TestRequest::post()
                .uri(&verify_path(&app, &acc))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .set_payload(json!({ "otp_code": totp_at(5) }).to_string()),
        )
        .await;
    r.expect_detail(401, "Invalid service token");
    // with a good token: 422 for the shape, path id and body together
    let r = api.device_verify("nope", &token, json!({ "otp_code": 1 })).await;
    r.expect_422(&["path", "account_id"]);
    r.expect_422(&["body", "otp_code"]);
    // another app's account: 404; paused: 403
    let other_app = api.app().await;
    let other = id_of(&api.account(&other_app, &totp_uri()).await);
    let r = api
        .device_verify(&other, &token, json!({ "otp_code": totp_at(5) }))
        .await;
    r.expect_detail(404, "Authenticator account not found");
    api.patch("/api/v1/identities/bot", json!({ "status": "paused" }))
        .await
        .expect(200);
    let r = api.device_verify(&acc, &token, json!({ "otp_code": totp_at(5) })).await;
    r.expect_detail(403, "Identity is paused");
    // a revoked device: 401
    api.delete(&instance).await.expect_204();
    let r = api.device_verify(&acc, &token, json!({ "otp_code": totp_at(5) })).await;
    r.expect_detail(401, "Invalid device token");
}

/// `GET .../lockout` (authd extension): the failures and the lock as verify left them, exactly
/// these fields; a read that counts nothing; `404` for an account under another app, `422` for
/// a path id that is not a UUID.
pub async fn verify_lockout_read<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let lockout = format!("{APPS}/{app}/accounts/{acc}/lockout");
    let r = api.get(&lockout).await;
    r.expect(200).expect_json_content_type();
    assert_eq!(
        r.json(),
        json!({"failed_attempts": 0, "remaining_attempts": 100, "locked_until": null, "retry_after_seconds": null})
    );
    assert_answer(&api.verify(&app, &acc, &wrong_at(0)).await, &refused("invalid", 99));
    api.clock.advance(1);
    assert_answer(&api.verify(&app, &acc, &wrong_at(1)).await, &refused("invalid", 98));
    assert_locked(&api.verify(&app, &acc, &wrong_at(1)).await, 2);
    let until = START_TS.replace(":00Z", ":03Z");
    for _ in 0..3 {
        // Reading it again and again changes nothing.
        assert_eq!(
            api.get(&lockout).await.json(),
            json!({"failed_attempts": 2, "remaining_attempts": 98, "locked_until": until, "retry_after_seconds": 2})
        );
    }
    api.clock.advance(2);
    assert_eq!(
        api.get(&lockout).await.json(),
        json!({"failed_attempts": 2, "remaining_attempts": 98, "locked_until": null, "retry_after_seconds": null})
    );
    assert_answer(&api.verify(&app, &acc, &totp_at(3)).await, &valid(0));
    assert_eq!(api.get(&lockout).await.json()["failed_attempts"], 0);

    let other = api.app().await;
    api.get(&format!("{APPS}/{other}/accounts/{acc}/lockout"))
        .await
        .expect_detail(404, "Authenticator account not found");
    api.get(&format!("{APPS}/{app}/accounts/nope/lockout"))
        .await
        .expect(422);
    api.call(TestRequest::get().uri(&lockout)).await.expect(401);
}
