//! The device API (authd extension): `/api/v1/device`.

use actix_web::test::TestRequest;
use domain::otp::Algorithm;
use domain::ports::Store;
use domain::testkit::{Kit, START};
use serde_json::json;

use crate::support::*;

const DEVICE_ACCOUNTS: &str = "/api/v1/device/accounts";

fn generate_path(account: &str) -> String {
    format!("/api/v1/device/accounts/{account}/generate-otp")
}

fn token_of_enrollment(v: &serde_json::Value) -> String {
    v["device_token"].as_str().expect("device_token").to_owned()
}

pub async fn device_lists_and_generates<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let totp = api.account(&app, &totp_uri()).await;
    let hotp = api.account(&app, &hotp_uri()).await;
    let other_app = api.app().await;
    api.account(&other_app, &totp_uri()).await;
    let enrollment = api.enroll(&app, "Pixel").await;
    let token = token_of_enrollment(&enrollment);

    let r = api.get_bearer(DEVICE_ACCOUNTS, &token).await;
    r.expect(200).expect_json_content_type();
    assert_eq!(r.json(), json!([totp, hotp]));

    api.clock.advance(7);
    let r = api.post_bearer(&generate_path(&id_of(&totp)), &token).await;
    r.expect(200);
    let t = u64::try_from(START + 7).expect("t");
    assert_eq!(
        r.json(),
        json!({ "otp_code": totp_code(Algorithm::Sha1, t, 30, 6), "valid_for_seconds": 23,
                "otp_type": "totp", "algorithm": "sha1", "digits": 6, "period": 30 })
    );
    // HOTP through the device shares the counter with the service API
    let r = api.post_bearer(&generate_path(&id_of(&hotp)), &token).await;
    assert_eq!(r.json()["otp_code"], hotp_code(Algorithm::Sha256, 0, 8));
    let r = api.generate(&app, &id_of(&hotp)).await;
    assert_eq!(r.json()["otp_code"], hotp_code(Algorithm::Sha256, 1, 8));
    // last_used_at is recorded on the instance
    let r = api.get(&format!("{APPS}/{app}/instances/{}", id_of(&enrollment))).await;
    assert_eq!(r.json()["last_used_at"], "2026-03-18T12:00:07Z");
    // the scheme is case-insensitive
    let r = api
        .call(
            TestRequest::get()
                .uri(DEVICE_ACCOUNTS)
                .insert_header(("Authorization", format!("bearer {token}"))),
        )
        .await;
    r.expect(200);
}

pub async fn device_token_dies_with_its_instance<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);

    // revoking the instance
    let e = api.enroll(&app, "a").await;
    let token = token_of_enrollment(&e);
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(200);
    api.delete(&format!("{APPS}/{app}/instances/{}", id_of(&e)))
        .await
        .expect_204();
    api.get_bearer(DEVICE_ACCOUNTS, &token)
        .await
        .expect_detail(401, "Invalid device token");
    api.post_bearer(&generate_path(&acc), &token)
        .await
        .expect_detail(401, "Invalid device token");

    // unlinking the app from its identity
    let e = api.enroll(&app, "b").await;
    let token = token_of_enrollment(&e);
    api.post_bearer(&generate_path(&acc), &token).await.expect(200);
    api.delete("/api/v1/identities/bot/authenticator_app")
        .await
        .expect_204();
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(401);
    // (the instance is gone from the lists too)
    let list = api.get(&format!("{APPS}/{app}/instances")).await.json();
    assert_eq!(list, json!([]));

    // deleting the identity
    api.post(
        "/api/v1/identities/bot/authenticator_app",
        json!({ "authenticator_app_id": app }),
    )
    .await
    .expect(200);
    let token = token_of_enrollment(&api.enroll(&app, "c").await);
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(200);
    api.delete("/api/v1/identities/bot").await.expect_204();
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(401);

    // deleting the app
    api.identity("bot2").await;
    api.post(
        "/api/v1/identities/bot2/authenticator_app",
        json!({ "authenticator_app_id": app }),
    )
    .await
    .expect(200);
    let token = token_of_enrollment(&api.enroll(&app, "d").await);
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(200);
    api.delete(&format!("{APPS}/{app}")).await.expect_204();
    api.get_bearer(DEVICE_ACCOUNTS, &token)
        .await
        .expect_detail(401, "Invalid device token");
}

pub async fn device_token_realms<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let token = token_of_enrollment(&api.enroll(&app, "Pixel").await);

    // a device token on a service path: 401, as X-Service-Token or as Bearer
    for req in [
        TestRequest::get()
            .uri(APPS)
            .insert_header(("X-Service-Token", token.clone())),
        TestRequest::get()
            .uri(APPS)
            .insert_header(("Authorization", format!("Bearer {token}"))),
        TestRequest::get()
            .uri("/oauth/api/v1/users/bot/authentication/apps")
            .insert_header(("Authorization", format!("Bearer {token}"))),
    ] {
        let r = api.call(req).await;
        r.expect(401);
    }
    api.get_bearer(APPS, &token)
        .await
        .expect_detail(401, "Invalid service token");
    // a service token on the device API: 401, as Bearer or X-Service-Token
    api.get_bearer(DEVICE_ACCOUNTS, &api.token)
        .await
        .expect_detail(401, "Invalid device token");
    api.get(DEVICE_ACCOUNTS)
        .await
        .expect_detail(401, "Invalid device token");
    // a device token sent as X-Service-Token on the device API: 401
    api.call(
        TestRequest::get()
            .uri(DEVICE_ACCOUNTS)
            .insert_header(("X-Service-Token", token.clone())),
    )
    .await
    .expect_detail(401, "Invalid device token");
    // missing, unknown, malformed
    api.call(TestRequest::get().uri(DEVICE_ACCOUNTS))
        .await
        .expect_detail(401, "Invalid device token");
    api.get_bearer(DEVICE_ACCOUNTS, &format!("authd_dev_{}", "A".repeat(43)))
        .await
        .expect_detail(401, "Invalid device token");
    api.call(
        TestRequest::get()
            .uri(DEVICE_ACCOUNTS)
            .insert_header(("Authorization", format!("Basic {token}"))),
    )
    .await
    .expect(401);
    // still fine with the right header
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(200);
}

pub async fn device_paused_identity<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &hotp_uri()).await);
    let e = api.enroll(&app, "Pixel").await;
    let token = token_of_enrollment(&e);
    api.patch("/api/v1/identities/bot", json!({ "status": "paused" }))
        .await
        .expect(200);
    // listing is allowed while paused, generating is not
    api.get_bearer(DEVICE_ACCOUNTS, &token).await.expect(200);
    api.post_bearer(&generate_path(&acc), &token)
        .await
        .expect_detail(403, "Identity is paused");
    // no last_used_at, no counter advance
    let r = api.get(&format!("{APPS}/{app}/instances/{}", id_of(&e))).await;
    assert_eq!(r.json()["last_used_at"], json!(null));
    assert_eq!(
        api.get(&format!("{APPS}/{app}/accounts/{acc}")).await.json()["counter"],
        0
    );
}

pub async fn device_generate_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let other_app = api.app().await;
    let foreign = id_of(&api.account(&other_app, &totp_uri()).await);
    let token = token_of_enrollment(&api.enroll(&app, "Pixel").await);
    // an account of another app: 404
    api.post_bearer(&generate_path(&foreign), &token)
        .await
        .expect_detail(404, "Authenticator account not found");
    api.post_bearer(&generate_path("0190c0de-1234-7abc-8def-0123456789ab"), &token)
        .await
        .expect(404);
    // not a UUID: 422 with a valid token, 401 (first) with an invalid one
    api.post_bearer(&generate_path("nope"), &token)
        .await
        .expect_422(&["path", "account_id"]);
    api.post_bearer(&generate_path("nope"), &format!("authd_dev_{}", "A".repeat(43)))
        .await
        .expect_detail(401, "Invalid device token");
    api.call(TestRequest::post().uri(&generate_path("nope")))
        .await
        .expect(401);
    // wrong methods
    api.call(TestRequest::post().uri(DEVICE_ACCOUNTS)).await.expect(405);
    api.get_bearer(&generate_path(&foreign), &token).await.expect(405);
}
