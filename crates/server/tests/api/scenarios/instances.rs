//! `/api/v1/authenticator/apps/{app_id}/instances` (authd extension).

use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::json;

use crate::support::*;

pub async fn instances_enroll_shape<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (identity, app) = api.linked_app("bot").await;
    let path = format!("{APPS}/{app}/instances");
    let r = api
        .post(&path, json!({ "device_name": "Alice's Pixel", "platform": "android" }))
        .await;
    r.expect(201).expect_json_content_type();
    let mut v = r.json();
    let token = v
        .as_object_mut()
        .and_then(|o| o.remove("device_token"))
        .expect("device_token");
    let token = token.as_str().expect("string");
    let rest = token.strip_prefix("authd_dev_").expect("prefix");
    assert_eq!(rest.len(), 43);
    assert_instance(&v);
    assert_eq!(v["authenticator_app_id"], app.as_str());
    assert_eq!(v["identity_id"], identity.as_str());
    assert_eq!(v["device_name"], "Alice's Pixel");
    assert_eq!(v["platform"], "ANDROID");
    assert_eq!(v["last_used_at"], json!(null));
    assert_eq!(v["created_at"], START_TS);

    // a given device id is kept (answered lower-case); every platform, any case
    let device = "0190C0DE-1234-7ABC-8DEF-0123456789AB";
    for (given, wire) in [
        ("IOS", "IOS"),
        ("Web", "WEB"),
        ("windows", "WINDOWS"),
        ("macOS", "MACOS"),
        ("linux", "LINUX"),
        ("other", "OTHER"),
    ] {
        let r = api
            .post(
                &path,
                json!({ "device_name": "d", "platform": given, "device_id": device }),
            )
            .await;
        r.expect(201);
        assert_eq!(r.json()["platform"], wire);
        assert_eq!(r.json()["device_id"], device.to_lowercase());
    }
    // device_id null: generated
    let r = api
        .post(
            &path,
            json!({ "device_name": "x".repeat(255), "platform": "OTHER", "device_id": null }),
        )
        .await;
    r.expect(201);
    assert_uuid(&r.json()["device_id"]);
    // unknown keys ignored; no Content-Type needed
    api.post_raw(&path, r#"{"device_name":"d","platform":"WEB","extra":1}"#)
        .await
        .expect(201);
}

pub async fn instances_enroll_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let path = format!("{APPS}/{app}/instances");
    let ok = json!({ "device_name": "d", "platform": "WEB" });

    // shape: 422
    for (body, field, kind) in [
        (
            json!({ "device_name": "d", "platform": " android" }),
            "platform",
            "enum",
        ),
        (
            json!({ "device_name": "d", "platform": "BLACKBERRY" }),
            "platform",
            "enum",
        ),
        (json!({ "device_name": "d", "platform": 1 }), "platform", "string_type"),
        (json!({ "device_name": "d" }), "platform", "missing"),
        (
            json!({ "device_name": "", "platform": "WEB" }),
            "device_name",
            "string_too_short",
        ),
        (
            json!({ "device_name": "x".repeat(256), "platform": "WEB" }),
            "device_name",
            "string_too_long",
        ),
        (json!({ "platform": "WEB" }), "device_name", "missing"),
        (
            json!({ "device_name": null, "platform": "WEB" }),
            "device_name",
            "string_type",
        ),
        (
            json!({ "device_name": "d", "platform": "WEB", "device_id": "nope" }),
            "device_id",
            "uuid_parsing",
        ),
        (
            json!({ "device_name": "d", "platform": "WEB", "device_id": 5 }),
            "device_id",
            "string_type",
        ),
    ] {
        let item = api.post(&path, body.clone()).await.expect_422(&["body", field]);
        assert_eq!(item["type"], kind, "{body}");
    }
    api.post_raw(&path, "").await.expect_422(&["body"]);
    // path id
    api.post(&format!("{APPS}/nope/instances"), ok.clone())
        .await
        .expect_422(&["path", "app_id"]);
    // missing app: 404 (but 422 first)
    let ghost = format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab/instances");
    api.post(&ghost, ok.clone())
        .await
        .expect_detail(404, "Authenticator app not found");
    api.post(&ghost, json!({ "device_name": "d", "platform": "x" }))
        .await
        .expect(422);
    // an app not linked to an identity: 409
    let unlinked = api.app().await;
    api.post(&format!("{APPS}/{unlinked}/instances"), ok.clone())
        .await
        .expect_detail(409, "Authenticator app is not linked to an identity");
    // paused identity: 403
    api.patch("/api/v1/identities/bot", json!({ "status": "paused" }))
        .await
        .expect(200);
    api.post(&path, ok.clone())
        .await
        .expect_detail(403, "Identity is paused");
    // nothing was enrolled by the failures
    let list = api.get(&path).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(0));
}

pub async fn instances_list_get_revoke<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let (_, other_app) = api.linked_app("other").await;
    let mut first = api.enroll(&app, "one").await;
    api.clock.advance(1);
    let mut second = api.enroll(&app, "two").await;
    api.enroll(&other_app, "elsewhere").await;
    for v in [&mut first, &mut second] {
        v.as_object_mut().map(|o| o.remove("device_token"));
    }

    let r = api.get(&format!("{APPS}/{app}/instances")).await;
    r.expect(200);
    let list = r.json();
    let list = list.as_array().expect("bare array");
    list.iter().for_each(assert_instance);
    assert_eq!(
        list.iter().map(id_of).collect::<Vec<_>>(),
        vec![id_of(&first), id_of(&second)]
    );
    assert!(
        !serde_json::Value::Array(list.clone())
            .to_string()
            .contains("authd_dev_")
    );

    let path = format!("{APPS}/{app}/instances/{}", id_of(&first));
    let r = api.get(&path).await;
    r.expect(200);
    assert_eq!(r.json(), first);
    // under another app's path: 404
    api.get(&format!("{APPS}/{other_app}/instances/{}", id_of(&first)))
        .await
        .expect_detail(404, "App instance not found");
    api.delete(&format!("{APPS}/{other_app}/instances/{}", id_of(&first)))
        .await
        .expect(404);
    // bad ids
    let r = api.get(&format!("{APPS}/{app}/instances/nope")).await;
    r.expect_422(&["path", "instance_id"]);
    api.delete(&format!("{APPS}/x/instances/y")).await.expect(422);
    api.get(&format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab/instances"))
        .await
        .expect_detail(404, "Authenticator app not found");

    // revoke
    api.delete(&path).await.expect_204();
    api.get(&path).await.expect(404);
    api.delete(&path).await.expect(404);
    let list = api.get(&format!("{APPS}/{app}/instances")).await.json();
    assert_eq!(
        list.as_array().expect("array").iter().map(id_of).collect::<Vec<_>>(),
        vec![id_of(&second)]
    );
}
