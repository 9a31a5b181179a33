//! `/api/v1/authenticator/apps/{app_id}/accounts`.

use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::json;

use crate::support::*;

pub async fn accounts_create_totp_shape<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let r = api
        .post(
            &format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": totp_uri(), "display_name": "GitHub Work", "description": "notes" }),
        )
        .await;
    r.expect(201).expect_json_content_type();
    let acc = r.json();
    assert_account(&acc);
    assert_eq!(acc["authenticator_app_id"], app.as_str());
    assert_eq!(acc["otp_type"], "totp");
    assert_eq!(acc["issuer"], "ACME");
    assert_eq!(acc["account_name"], "alice@example.com");
    assert_eq!(acc["display_name"], "GitHub Work");
    assert_eq!(acc["description"], "notes");
    assert_eq!(acc["algorithm"], "sha1");
    assert_eq!(acc["digits"], 6);
    assert_eq!(acc["period"], 30);
    assert_eq!(acc["counter"], json!(null));
    assert_eq!(acc["created_at"], START_TS);

    // optional fields absent or null: null; no issuer when the label has no colon
    let r = api
        .post(
            &format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": format!("otpauth://totp/plain?secret={SECRET}&period=60&algorithm=sha512&digits=8"),
                    "display_name": null, "unknown": true }),
        )
        .await;
    r.expect(201);
    let acc = r.json();
    assert_account(&acc);
    assert_eq!(acc["issuer"], json!(null));
    assert_eq!(acc["account_name"], "plain");
    assert_eq!(acc["display_name"], json!(null));
    assert_eq!(acc["description"], json!(null));
    assert_eq!(
        (
            acc["algorithm"].as_str(),
            acc["digits"].as_u64(),
            acc["period"].as_u64()
        ),
        (Some("sha512"), Some(8), Some(60))
    );

    // lengths are counted in characters: 255 "é" is fine; the body needs no Content-Type
    let body = json!({ "otpauth_uri": totp_uri(), "display_name": "é".repeat(255), "description": "x".repeat(4096) });
    let r = api.post_raw(&format!("{APPS}/{app}/accounts"), body.to_string()).await;
    r.expect(201);
    assert_eq!(r.json()["display_name"], "é".repeat(255));
}

pub async fn accounts_create_hotp_shape<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = api.account(&app, &hotp_uri()).await;
    assert_account(&acc);
    assert_eq!(acc["otp_type"], "hotp");
    assert_eq!(acc["algorithm"], "sha256");
    assert_eq!(acc["digits"], 8);
    assert_eq!(acc["period"], json!(null));
    assert_eq!(acc["counter"], 0);
    // scheme and type are case-insensitive; an explicit counter is kept
    let acc = api
        .account(&app, &format!("OTPAUTH://HOTP/x?secret={SECRET}&counter=42"))
        .await;
    assert_eq!(acc["counter"], 42);
    assert_eq!(acc["algorithm"], "sha1");
}

pub async fn accounts_list_get_and_parent_app<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let other_app = api.app().await;
    let first = api.account(&app, &totp_uri()).await;
    api.clock.advance(1);
    let second = api.account(&app, &hotp_uri()).await;
    api.account(&other_app, &totp_uri()).await;

    let r = api.get(&format!("{APPS}/{app}/accounts")).await;
    r.expect(200);
    let list = r.json();
    let list = list.as_array().expect("bare array");
    assert_eq!(
        list.iter().map(id_of).collect::<Vec<_>>(),
        vec![id_of(&first), id_of(&second)]
    );
    list.iter().for_each(assert_account);

    let r = api.get(&format!("{APPS}/{app}/accounts/{}", id_of(&first))).await;
    r.expect(200);
    assert_eq!(r.json(), first);
    // upper-case ids are accepted
    let r = api
        .get(&format!(
            "{APPS}/{}/accounts/{}",
            app.to_uppercase(),
            id_of(&first).to_uppercase()
        ))
        .await;
    r.expect(200);

    // an account of another app, under this app's path: 404 for every verb
    let path = format!("{APPS}/{other_app}/accounts/{}", id_of(&first));
    api.get(&path)
        .await
        .expect_detail(404, "Authenticator account not found");
    api.patch(&path, json!({})).await.expect(404);
    api.delete(&path).await.expect(404);
    api.generate(&other_app, &id_of(&first)).await.expect(404);
    // a missing app
    let ghost = "0190c0de-1234-7abc-8def-0123456789ab";
    api.get(&format!("{APPS}/{ghost}/accounts"))
        .await
        .expect_detail(404, "Authenticator app not found");
    api.post(
        &format!("{APPS}/{ghost}/accounts"),
        json!({ "otpauth_uri": totp_uri() }),
    )
    .await
    .expect_detail(404, "Authenticator app not found");
    // ids that are not UUIDs: 422, each located
    api.get(&format!("{APPS}/x/accounts"))
        .await
        .expect_422(&["path", "app_id"]);
    let r = api.get(&format!("{APPS}/x/accounts/y")).await;
    r.expect_422(&["path", "app_id"]);
    r.expect_422(&["path", "account_id"]);
    api.get(&format!("{APPS}/{app}/accounts/y"))
        .await
        .expect_422(&["path", "account_id"]);
}

pub async fn accounts_patch_null_clears_absent_keeps<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let r = api
        .post(
            &format!("{APPS}/{app}/accounts"),
            json!({ "otpauth_uri": totp_uri(), "display_name": "Work", "description": "notes" }),
        )
        .await;
    let acc = r.json();
    let path = format!("{APPS}/{app}/accounts/{}", id_of(&acc));
    let labels = |v: &serde_json::Value| (v["display_name"].clone(), v["description"].clone());

    api.clock.advance(5);
    let r = api.patch(&path, json!({ "display_name": "Renamed" })).await;
    r.expect(200);
    let v = r.json();
    assert_account(&v);
    assert_eq!(labels(&v), (json!("Renamed"), json!("notes")));
    assert_eq!(v["created_at"], START_TS);
    assert_eq!(v["updated_at"], "2026-03-18T12:00:05Z");

    let r = api.patch(&path, json!({ "description": null })).await;
    assert_eq!(labels(&r.json()), (json!("Renamed"), json!(null)));
    let r = api.patch(&path, json!({ "description": "again" })).await;
    assert_eq!(labels(&r.json()), (json!("Renamed"), json!("again")));
    // the SDK identity helper sends both keys, null for the one not given
    let r = api
        .patch(&path, json!({ "display_name": "B", "description": null }))
        .await;
    assert_eq!(labels(&r.json()), (json!("B"), json!(null)));
    let r = api.patch(&path, json!({ "display_name": null })).await;
    assert_eq!(labels(&r.json()), (json!(null), json!(null)));
    api.patch(&path, json!({ "description": "kept" })).await.expect(200);
    // {} and an empty body change nothing
    let r = api.patch(&path, json!({})).await;
    r.expect(200);
    assert_eq!(labels(&r.json()), (json!(null), json!("kept")));
    let r = api.patch_raw(&path, "").await;
    r.expect(200);
    assert_eq!(labels(&r.json()), (json!(null), json!("kept")));
    // unknown keys are ignored
    let r = api.patch(&path, json!({ "issuer": "x", "display_name": "D" })).await;
    r.expect(200);
    assert_eq!(r.json()["issuer"], "ACME");
    // read back
    let r = api.get(&path).await;
    assert_eq!(labels(&r.json()), (json!("D"), json!("kept")));
}

pub async fn accounts_patch_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = api.account(&app, &totp_uri()).await;
    let path = format!("{APPS}/{app}/accounts/{}", id_of(&acc));

    let item = api
        .patch(&path, json!({ "display_name": "x".repeat(256) }))
        .await
        .expect_422(&["body", "display_name"]);
    assert_eq!(item["type"], "string_too_long");
    api.patch(&path, json!({ "description": "x".repeat(4097) }))
        .await
        .expect_422(&["body", "description"]);
    let item = api
        .patch(&path, json!({ "display_name": 7 }))
        .await
        .expect_422(&["body", "display_name"]);
    assert_eq!(item["type"], "string_type");
    // both errors at once
    let r = api.patch(&path, json!({ "display_name": [], "description": {} })).await;
    r.expect_422(&["body", "display_name"]);
    r.expect_422(&["body", "description"]);
    assert_eq!(r.json()["detail"].as_array().map(Vec::len), Some(2));
    // nothing changed
    assert_eq!(api.get(&path).await.json(), acc);
    // 422 (path id) before 404
    api.patch(&format!("{APPS}/{app}/accounts/nope"), json!({}))
        .await
        .expect_422(&["path", "account_id"]);
    // 422 (body) before 404
    api.patch(
        &format!("{APPS}/{app}/accounts/0190c0de-1234-7abc-8def-0123456789ab"),
        json!({ "display_name": 1 }),
    )
    .await
    .expect(422);
    api.patch(
        &format!("{APPS}/{app}/accounts/0190c0de-1234-7abc-8def-0123456789ab"),
        json!({ "display_name": "ok" }),
    )
    .await
    .expect_detail(404, "Authenticator account not found");
}

pub async fn accounts_delete<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let acc = api.account(&app, &totp_uri()).await;
    let keep = api.account(&app, &hotp_uri()).await;
    let path = format!("{APPS}/{app}/accounts/{}", id_of(&acc));
    api.delete(&path).await.expect_204();
    api.get(&path)
        .await
        .expect_detail(404, "Authenticator account not found");
    api.delete(&path).await.expect(404);
    api.patch(&path, json!({ "display_name": "x" })).await.expect(404);
    api.generate(&app, &id_of(&acc)).await.expect(404);
    let list = api.get(&format!("{APPS}/{app}/accounts")).await.json();
    assert_eq!(
        list.as_array().expect("array").iter().map(id_of).collect::<Vec<_>>(),
        vec![id_of(&keep)]
    );
}

pub async fn accounts_otpauth_400_vs_422<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let path = format!("{APPS}/{app}/accounts");
    // OTP parameters: 400 with a plain detail
    for uri in [
        format!("otpauth://totp/x?secret={SECRET}&digits=7"),
        format!("otpauth://totp/x?secret={SECRET}&algorithm=md5"),
        format!("otpauth://totp/x?secret={SECRET}&period=0"),
        format!("otpauth://totp/x?secret={SECRET}&period=86401"),
        format!("otpauth://hotp/x?secret={SECRET}&counter=-1"),
        format!("otpauth://hotp/x?secret={SECRET}&counter=9223372036854775808"),
        "otpauth://totp/x?secret=not*base32!".to_owned(),
        "otpauth://totp/x?issuer=NoSecret".to_owned(),
        "otpauth://totp/x?secret=".to_owned(),
        format!("otpauth://totp/x?secret={SECRET}&digits="),
        format!("otpauth://totp/x?secret={SECRET}&digits=6&digits=8"),
    ] {
        let r = api.post(&path, json!({ "otpauth_uri": uri })).await;
        r.expect(400);
        let detail = r.json()["detail"].as_str().map(str::to_owned);
        assert!(
            detail.is_some_and(|d| !d.is_empty() && !d.contains(SECRET)),
            "{uri}: {:?}",
            r.json()
        );
    }
    // URI shape: 422 at ["body", "otpauth_uri"]
    for uri in [
        "http://x".to_owned(),
        "https://example.com/totp?secret=JBSWY3DPEHPK3PXP".to_owned(),
        "otpauth://motp/x?secret=JBSWY3DPEHPK3PXP".to_owned(),
        "not a uri".to_owned(),
        String::new(),
        format!("otpauth://totp/x?secret={SECRET}&pad={}", "a".repeat(2048)),
    ] {
        api.post(&path, json!({ "otpauth_uri": uri }))
            .await
            .expect_422(&["body", "otpauth_uri"]);
    }
    // a URI of exactly 2048 characters is fine
    let base = format!("otpauth://totp/x?secret={SECRET}&pad=");
    let uri = format!("{base}{}", "a".repeat(2048 - base.len()));
    assert_eq!(uri.chars().count(), 2048);
    api.post(&path, json!({ "otpauth_uri": uri })).await.expect(201);
    // field limits: 422
    api.post(
        &path,
        json!({ "otpauth_uri": totp_uri(), "display_name": "x".repeat(256) }),
    )
    .await
    .expect_422(&["body", "display_name"]);
    api.post(
        &path,
        json!({ "otpauth_uri": totp_uri(), "description": "x".repeat(4097) }),
    )
    .await
    .expect_422(&["body", "description"]);
    // 422 shape before 404 app, 404 app before 400 parameters
    let ghost = format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab/accounts");
    api.post(&ghost, json!({ "otpauth_uri": "http://x" }))
        .await
        .expect_422(&["body", "otpauth_uri"]);
    api.post(
        &ghost,
        json!({ "otpauth_uri": totp_uri(), "display_name": "x".repeat(256) }),
    )
    .await
    .expect(422);
    api.post(
        &ghost,
        json!({ "otpauth_uri": format!("otpauth://totp/x?secret={SECRET}&digits=7") }),
    )
    .await
    .expect(404);
    // nothing was created by the failures
    let list = api.get(&path).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

pub async fn accounts_body_shape_422<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let path = format!("{APPS}/{app}/accounts");
    let item = api.post(&path, json!({})).await.expect_422(&["body", "otpauth_uri"]);
    assert_eq!(item["type"], "missing");
    let item = api
        .post(&path, json!({ "otpauth_uri": null }))
        .await
        .expect_422(&["body", "otpauth_uri"]);
    assert_eq!(item["type"], "string_type");
    api.post(&path, json!({ "otpauth_uri": 1 }))
        .await
        .expect_422(&["body", "otpauth_uri"]);
    // an empty body where a field is required
    let item = api.post_raw(&path, "").await.expect_422(&["body"]);
    assert_eq!(item["type"], "missing");
    // path and body errors are reported together
    let r = api.post("/api/v1/authenticator/apps/x/accounts", json!({})).await;
    r.expect_422(&["path", "app_id"]);
    r.expect_422(&["body", "otpauth_uri"]);
}

pub async fn accounts_metadata_create_read_patch<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let path = format!("{APPS}/{app}/accounts");
    // Without metadata: `{}`, always present.
    let plain = api.account(&app, &totp_uri()).await;
    assert_eq!(plain["metadata"], json!({}));
    let r = api
        .post(&path, json!({ "otpauth_uri": totp_uri(), "metadata": null }))
        .await;
    r.expect(201);
    assert_eq!(r.json()["metadata"], json!({}));

    // Set on create, returned by every read; keys in order.
    let metadata = json!({ "plan": "pro", "customer_id": "cus_42", "note": "", "wörk": "é".repeat(500) });
    let r = api
        .post(
            &path,
            json!({ "otpauth_uri": totp_uri(), "display_name": "Work", "metadata": metadata }),
        )
        .await;
    r.expect(201);
    let acc = r.json();
    assert_account(&acc);
    assert_eq!(acc["metadata"], metadata);
    let keys: Vec<&str> = acc["metadata"]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["customer_id", "note", "plan", "wörk"]);
    let one = format!("{path}/{}", id_of(&acc));
    assert_eq!(api.get(&one).await.json(), acc);
    let list = api.get(&path).await.json();
    let listed = list
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["id"] == acc["id"])
        .cloned();
    assert_eq!(listed, Some(acc.clone()));

    // PATCH: a value replaces the whole metadata; absent keeps it; null clears it to `{}`.
    api.clock.advance(5);
    let r = api.patch(&one, json!({ "metadata": { "plan": "enterprise" } })).await;
    r.expect(200);
    let v = r.json();
    assert_account(&v);
    assert_eq!(v["metadata"], json!({ "plan": "enterprise" }));
    assert_eq!(v["display_name"], "Work");
    assert_eq!(v["updated_at"], "2026-03-18T12:00:05Z");
    let r = api.patch(&one, json!({ "display_name": "Renamed" })).await;
    assert_eq!(r.json()["metadata"], json!({ "plan": "enterprise" }), "absent keeps");
    let r = api.patch_raw(&one, "").await;
    assert_eq!(
        r.json()["metadata"],
        json!({ "plan": "enterprise" }),
        "an empty body keeps"
    );
    let r = api.patch(&one, json!({ "metadata": null })).await;
    r.expect(200);
    assert_eq!(r.json()["metadata"], json!({}), "null clears");
    assert_eq!(r.json()["display_name"], "Renamed");
    api.patch(&one, json!({ "metadata": { "a": "1" } })).await.expect(200);
    let r = api.patch(&one, json!({ "metadata": {} })).await;
    assert_eq!(r.json()["metadata"], json!({}), "{{}} sets none");
    // The SDK's PATCH (display_name and description only) leaves metadata alone.
    api.patch(&one, json!({ "metadata": { "kept": "yes" } }))
        .await
        .expect(200);
    let r = api
        .patch(&one, json!({ "display_name": "B", "description": null }))
        .await;
    assert_eq!(r.json()["metadata"], json!({ "kept": "yes" }));
    assert_eq!(api.get(&one).await.json()["metadata"], json!({ "kept": "yes" }));

    // The audit trail names the keys (sorted), never a value.
    let created = api.events_of("account.create", &id_of(&acc)).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["details"]["metadata_keys"],
        json!(["customer_id", "note", "plan", "wörk"])
    );
    let updated = api.events_of("account.update", &id_of(&acc)).await;
    let keys: Vec<serde_json::Value> = updated.iter().map(|e| e["details"]["metadata_keys"].clone()).collect();
    assert_eq!(
        keys,
        [
            json!(["plan"]),
            json!(["plan"]),
            json!(["plan"]),
            json!([]),
            json!(["a"]),
            json!([]),
            json!(["kept"]),
            json!(["kept"]),
        ]
    );
    let plain_created = api.events_of("account.create", &id_of(&plain)).await;
    assert_eq!(plain_created[0]["details"]["metadata_keys"], json!([]));
    let trail = api.get("/api/v1/audit/events?limit=1000").await.json().to_string();
    for value in ["cus_42", "\"pro\"", "enterprise", "\"yes\"", &"é".repeat(500)] {
        assert!(!trail.contains(value), "a metadata value in the audit trail: {value}");
    }
}

pub async fn accounts_metadata_422<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let app = api.app().await;
    let path = format!("{APPS}/{app}/accounts");
    let acc = api
        .post(
            &path,
            json!({ "otpauth_uri": totp_uri(), "metadata": { "plan": "pro" } }),
        )
        .await
        .json();
    let one = format!("{path}/{}", id_of(&acc));
    let many: serde_json::Map<String, serde_json::Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let fifty: serde_json::Map<String, serde_json::Value> =
        many.iter().take(50).map(|(k, v)| (k.clone(), v.clone())).collect();
    let long_key = "k".repeat(41);
    // (metadata, loc below "metadata", type)
    let cases: Vec<(serde_json::Value, Vec<&str>, &str)> = vec![
        (json!([]), vec![], "dict_type"),
        (json!("plan=pro"), vec![], "dict_type"),
        (json!(7), vec![], "dict_type"),
        (json!({ "n": 1 }), vec!["n"], "string_type"),
        (json!({ "n": null }), vec!["n"], "string_type"),
        (json!({ "n": { "nested": "x" } }), vec!["n"], "string_type"),
        (serde_json::Value::Object(many.clone()), vec![], "too_long"),
        (
            json!({ long_key.clone(): "v" }),
            vec![long_key.as_str(), "[key]"],
            "string_too_long",
        ),
        (json!({ "": "v" }), vec!["", "[key]"], "string_too_short"),
        (json!({ "k": "x".repeat(501) }), vec!["k"], "string_too_long"),
        (json!({ "k": "a\u{0}b" }), vec!["k"], "string_pattern_mismatch"),
    ];
    for (metadata, below, kind) in &cases {
        let mut loc = vec!["body", "metadata"];
        loc.extend(below);
        let item = api
            .post(&path, json!({ "otpauth_uri": totp_uri(), "metadata": metadata }))
            .await
            .expect_422(&loc);
        assert_eq!(item["type"], *kind, "POST {metadata}");
        let item = api.patch(&one, json!({ "metadata": metadata })).await.expect_422(&loc);
        assert_eq!(item["type"], *kind, "PATCH {metadata}");
        assert!(
            !item["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("x".repeat(501).as_str()),
            "never echoes a value"
        );
    }
    let item = api
        .patch(&one, json!({ "metadata": serde_json::Value::Object(many) }))
        .await
        .expect_422(&["body", "metadata"]);
    assert_eq!(
        item["msg"],
        "Dictionary should have at most 50 items after validation, not 51"
    );
    let item = api
        .patch(&one, json!({ "metadata": { "k": "x".repeat(501) } }))
        .await
        .expect_422(&["body", "metadata", "k"]);
    assert_eq!(item["msg"], "String should have at most 500 characters");
    // Nothing changed, nothing was created.
    assert_eq!(api.get(&one).await.json(), acc);
    assert_eq!(api.get(&path).await.json().as_array().map(Vec::len), Some(1));
    // At the limits: accepted.
    let at_limits = json!({ "otpauth_uri": totp_uri(), "metadata": fifty });
    api.post(&path, at_limits).await.expect(201);
    let at_limits = json!({ "metadata": { "k".repeat(40): "é".repeat(500) } });
    api.patch(&one, at_limits).await.expect(200);
    // 422 (body) before 404, with the other fields' errors.
    let ghost = format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab/accounts");
    let r = api.post(&ghost, json!({ "otpauth_uri": 1, "metadata": [] })).await;
    r.expect_422(&["body", "otpauth_uri"]);
    r.expect_422(&["body", "metadata"]);
    api.patch(
        &format!("{ghost}/0190c0de-1234-7abc-8def-0123456789ac"),
        json!({ "metadata": 1 }),
    )
    .await
    .expect_422(&["body", "metadata"]);
}
