//! `POST .../accounts/{account_id}/generate-otp`.

use actix_web::test::TestRequest;
use domain::entities::{Account, AccountParts};
use domain::ids::{AccountId, AppId, OrgId};
use domain::otp::{Algorithm, Digits, OtpKind, Secret};
use domain::ports::{SecretCipher, Store};
use domain::testkit::{Kit, START, TestCipher};
use domain::time::Timestamp;
use serde_json::json;

use crate::support::*;

pub async fn generate_totp_matches_domain<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &totp_uri()).await);
    let t = u64::try_from(START).expect("start");

    // exactly as the SDK sends it: Content-Length: 0, no Content-Type
    let r = api.generate(&app, &acc).await;
    r.expect(200).expect_json_content_type();
    let otp = r.json();
    assert_otp(&otp);
    assert_eq!(
        otp,
        json!({ "otp_code": totp_code(Algorithm::Sha1, t, 30, 6), "valid_for_seconds": 30,
                "otp_type": "totp", "algorithm": "sha1", "digits": 6, "period": 30 })
    );
    // 17 s later: same step, 13 s left
    api.clock.advance(17);
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["valid_for_seconds"], 13);
    assert_eq!(r.json()["otp_code"], totp_code(Algorithm::Sha1, t + 17, 30, 6));
    // next step
    api.clock.advance(13);
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["valid_for_seconds"], 30);
    assert_eq!(r.json()["otp_code"], totp_code(Algorithm::Sha1, t + 30, 30, 6));

    // no Content-Length at all, and a body that is ignored (even one that is not JSON)
    let path = format!("{APPS}/{app}/accounts/{acc}/generate-otp");
    api.call(api.authed(TestRequest::post().uri(&path))).await.expect(200);
    api.post_raw(&path, "not json").await.expect(200);
    api.post(&path, json!({ "anything": 1 })).await.expect(200);

    // 8 digits, sha512, 60 s
    let acc = api
        .account(
            &app,
            &format!("otpauth://totp/y?secret={SECRET}&algorithm=SHA512&digits=8&period=60"),
        )
        .await;
    let r = api.generate(&app, &id_of(&acc)).await;
    let otp = r.json();
    assert_otp(&otp);
    assert_eq!(otp["otp_code"], totp_code(Algorithm::Sha512, t + 30, 60, 8));
    assert_eq!(otp["period"], 60);
    assert_eq!(otp["valid_for_seconds"], 30);
}

pub async fn generate_hotp_consecutive<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = id_of(&api.account(&app, &hotp_uri()).await);
    for counter in 0..3 {
        let r = api.generate(&app, &acc).await;
        r.expect(200);
        assert_eq!(
            r.json(),
            json!({ "otp_code": hotp_code(Algorithm::Sha256, counter, 8), "valid_for_seconds": null,
                    "otp_type": "hotp", "algorithm": "sha256", "digits": 8, "period": null })
        );
    }
    // the account shows the next counter to be used
    let r = api.get(&format!("{APPS}/{app}/accounts/{acc}")).await;
    assert_eq!(r.json()["counter"], 3);
    // an explicit start counter
    let acc = id_of(
        &api.account(&app, &format!("otpauth://hotp/z?secret={SECRET}&counter=1000"))
            .await,
    );
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["otp_code"], hotp_code(Algorithm::Sha1, 1000, 6));
}

pub async fn generate_hotp_counter_maximum<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let max = 9_223_372_036_854_775_807_u64;
    let acc = id_of(
        &api.account(&app, &format!("otpauth://hotp/z?secret={SECRET}&counter={}", max - 1))
            .await,
    );
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["otp_code"], hotp_code(Algorithm::Sha1, max - 1, 6));
    let path = format!("{APPS}/{app}/accounts/{acc}");
    assert_eq!(api.get(&path).await.json()["counter"], max);
    let r = api.generate(&app, &acc).await;
    r.expect(409);
    assert!(r.json()["detail"].is_string());
    // unchanged by the failure
    assert_eq!(api.get(&path).await.json()["counter"], max);
}

pub async fn generate_paused_identity_403<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let acc = id_of(&api.account(&app, &hotp_uri()).await);
    api.patch("/api/v1/identities/bot", json!({ "status": "paused" }))
        .await
        .expect(200);
    api.generate(&app, &acc).await.expect_detail(403, "Identity is paused");
    // reads still work, and the failure did not advance the counter
    let path = format!("{APPS}/{app}/accounts/{acc}");
    assert_eq!(api.get(&path).await.json()["counter"], 0);
    // 404 beats 403
    api.generate(&app, "0190c0de-1234-7abc-8def-0123456789ab")
        .await
        .expect(404);
    api.patch("/api/v1/identities/bot", json!({ "status": "active" }))
        .await
        .expect(200);
    let r = api.generate(&app, &acc).await;
    assert_eq!(r.json()["otp_code"], hotp_code(Algorithm::Sha256, 0, 8));
}

pub async fn generate_secret_unreadable_500<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    // an account whose secret was sealed under another master key, put in through the store port
    let id = AccountId::parse("0190ffff-0000-7000-8000-000000000001").expect("id");
    let now = Timestamp::from_unix_seconds(START).expect("start");
    let account = Account::from_parts(AccountParts {
        id,
        org: OrgId::new(ORG).expect("org"),
        app_id: AppId::parse(&app).expect("app id"),
        kind: OtpKind::Hotp { counter: 0 },
        issuer: None,
        account_name: "sealed elsewhere".into(),
        display_name: None,
        description: None,
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        verify_window: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    });
    let sealed = TestCipher::new([9; 32])
        .seal(id, &Secret::from_base32(SECRET).expect("secret"))
        .expect("seal");
    api.authd
        .store()
        .transaction(|r| r.insert_account(&account, &sealed))
        .expect("insert");

    let r = api.generate(&app, &id.to_string()).await;
    r.expect(500);
    assert_eq!(r.body.as_ref(), br#"{"detail":"Internal server error"}"#);
    r.expect_json_content_type();
    // the device API answers the same, and nothing moved
    let token = api.enroll(&app, "Pixel").await["device_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = api
        .post_bearer(&format!("/api/v1/device/accounts/{id}/generate-otp"), &token)
        .await;
    r.expect(500);
    assert_eq!(r.body.as_ref(), br#"{"detail":"Internal server error"}"#);
    let r = api.get(&format!("{APPS}/{app}/accounts/{id}")).await;
    r.expect(200);
    assert_eq!(r.json()["counter"], 0);
}
