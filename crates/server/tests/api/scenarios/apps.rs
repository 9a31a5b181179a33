//! `/api/v1/authenticator/apps`.

use actix_web::test::TestRequest;
use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::json;

use crate::support::*;

pub async fn apps_create_get_list<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    // `{}` → 201, unlinked
    let r = api.post(APPS, json!({})).await;
    r.expect(201).expect_json_content_type();
    let first = r.json();
    assert_app(&first);
    assert_eq!(first["identity_id"], json!(null));
    assert_eq!(first["organization_id"], ORG);
    assert_eq!(first["created_at"], START_TS);
    assert_eq!(first["updated_at"], START_TS);

    // an empty body (no Content-Type) counts as {}; so does a body with unknown fields
    api.clock.advance(1);
    let r = api.post_raw(APPS, "").await;
    r.expect(201);
    let second = r.json();
    assert_app(&second);
    let r = api.post_raw(APPS, r#"{"unknown": [1, 2], "agent_handle": null}"#).await;
    r.expect(201);
    let third = r.json();
    assert_eq!(third["identity_id"], json!(null));

    // GET /apps: bare array, oldest first
    let r = api.get(APPS).await;
    r.expect(200).expect_json_content_type();
    let list = r.json();
    let ids: Vec<_> = list.as_array().expect("array").iter().map(id_of).collect();
    assert_eq!(ids, vec![id_of(&first), id_of(&second), id_of(&third)]);
    list.as_array().expect("array").iter().for_each(assert_app);

    // GET /apps/{id}, with every uuid form the uuid crate parses; ids answer lower-case
    let id = id_of(&first);
    for form in [
        id.clone(),
        id.to_uppercase(),
        id.replace('-', ""),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
    ] {
        let r = api.get(&format!("{APPS}/{form}")).await;
        r.expect(200);
        assert_eq!(r.json(), first, "{form}");
    }

    // Authorization: Bearer works as well as X-Service-Token
    let r = api
        .call(
            TestRequest::post()
                .uri(APPS)
                .insert_header(("Authorization", format!("Bearer {}", api.token))),
        )
        .await;
    r.expect(201);
}

pub async fn apps_create_linked_by_handle<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let identity = api.identity("bot").await;
    // `@` is stripped
    let r = api.post(APPS, json!({ "agent_handle": "@bot" })).await;
    r.expect(201);
    let app = r.json();
    assert_app(&app);
    assert_eq!(app["identity_id"], identity["id"]);

    // the identity already has an app: 409, by either spelling
    api.post(APPS, json!({ "agent_handle": "bot" }))
        .await
        .expect_detail(409, "Identity already has an authenticator app");
    api.post(APPS, json!({ "agent_handle": "@bot" })).await.expect(409);
    // no such identity: 404
    api.post(APPS, json!({ "agent_handle": "ghost" }))
        .await
        .expect_detail(404, "Identity not found");
    // an invalid handle in a body: 422
    api.post(APPS, json!({ "agent_handle": "-bad" }))
        .await
        .expect_422(&["body", "agent_handle"]);
    api.post(APPS, json!({ "agent_handle": "@@bot" }))
        .await
        .expect_422(&["body", "agent_handle"]);
    // a wrong type: 422 string_type
    let item = api
        .post(APPS, json!({ "agent_handle": 5 }))
        .await
        .expect_422(&["body", "agent_handle"]);
    assert_eq!(item["type"], "string_type");
    // null: unlinked
    let r = api.post(APPS, json!({ "agent_handle": null })).await;
    r.expect(201);
    assert_eq!(r.json()["identity_id"], json!(null));

    // the failed creates made nothing for the identity
    let r = api.get("/api/v1/identities/bot").await;
    r.expect(200);
    assert_eq!(r.json()["authenticator_app"], app);
    assert_eq!(api.get(APPS).await.json().as_array().map(Vec::len), Some(2));
}

pub async fn apps_delete_cascades<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    let account = api.account(&app, &totp_uri()).await;
    let instance = api.enroll(&app, "Pixel").await;
    let token = instance["device_token"].as_str().expect("token").to_owned();
    let other = api.app().await;

    api.delete(&format!("{APPS}/{app}")).await.expect_204();

    // gone for every request, deletes included
    api.get(&format!("{APPS}/{app}"))
        .await
        .expect_detail(404, "Authenticator app not found");
    api.delete(&format!("{APPS}/{app}")).await.expect(404);
    api.get(&format!("{APPS}/{app}/accounts")).await.expect(404);
    api.get(&format!("{APPS}/{app}/accounts/{}", id_of(&account)))
        .await
        .expect(404);
    api.generate(&app, &id_of(&account)).await.expect(404);
    api.get(&format!("{APPS}/{app}/instances")).await.expect(404);
    api.get(&format!("{APPS}/{app}/instances/{}", id_of(&instance)))
        .await
        .expect(404);
    // absent from the list; the other app is untouched
    let list = api.get(APPS).await.json();
    assert_eq!(
        list.as_array().expect("array").iter().map(id_of).collect::<Vec<_>>(),
        vec![other]
    );
    // the link is cleared, the identity stays
    let r = api.get("/api/v1/identities/bot").await;
    r.expect(200);
    assert_eq!(r.json()["authenticator_app"], json!(null));
    // the device token died with its instance
    api.get_bearer("/api/v1/device/accounts", &token)
        .await
        .expect_detail(401, "Invalid device token");
    // and the identity may have a new app
    api.post(APPS, json!({ "agent_handle": "bot" })).await.expect(201);
}

pub async fn apps_path_ids<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let item = api.get(&format!("{APPS}/nope")).await.expect_422(&["path", "app_id"]);
    assert_eq!(item["type"], "uuid_parsing");
    api.delete(&format!("{APPS}/nope"))
        .await
        .expect_422(&["path", "app_id"]);
    api.get(&format!("{APPS}/0190c0de-1234-7abc-8def-0123456789a"))
        .await
        .expect_422(&["path", "app_id"]);
    // a well-formed id of nothing: 404
    api.get(&format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab"))
        .await
        .expect_detail(404, "Authenticator app not found");
    api.delete(&format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab"))
        .await
        .expect(404);
}

pub async fn apps_metadata_create_read_patch<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    // Without metadata: `{}`, always present (on the app and in the identity detail).
    let plain = api.post(APPS, json!({})).await.json();
    assert_eq!(plain["metadata"], json!({}));
    let r = api.post(APPS, json!({ "metadata": null })).await;
    r.expect(201);
    assert_eq!(r.json()["metadata"], json!({}));

    // Set on create, unlinked or linked; returned by every read.
    let tags = json!({ "env": "prod", "owner": "billing" });
    let r = api.post(APPS, json!({ "metadata": tags })).await;
    r.expect(201);
    let unlinked = r.json();
    assert_app(&unlinked);
    assert_eq!(unlinked["metadata"], tags);
    api.identity("bot").await;
    let r = api
        .post(
            APPS,
            json!({ "agent_handle": "@bot", "metadata": { "team": "payments" } }),
        )
        .await;
    r.expect(201);
    let linked = r.json();
    assert_eq!(linked["metadata"], json!({ "team": "payments" }));
    assert!(linked["identity_id"].is_string());
    let path = format!("{APPS}/{}", id_of(&unlinked));
    assert_eq!(api.get(&path).await.json(), unlinked);
    let list = api.get(APPS).await.json();
    let listed = list
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["id"] == unlinked["id"])
        .cloned();
    assert_eq!(listed, Some(unlinked.clone()));
    let detail = api.get("/api/v1/identities/bot").await.json();
    assert_detail(&detail);
    assert_eq!(detail["authenticator_app"], linked);

    // PATCH (authd extension): an object replaces, absent keeps, null clears; 200 with the app.
    api.clock.advance(5);
    let r = api.patch(&path, json!({ "metadata": { "env": "staging" } })).await;
    r.expect(200).expect_json_content_type();
    let v = r.json();
    assert_app(&v);
    assert_eq!(v["metadata"], json!({ "env": "staging" }));
    assert_eq!(v["updated_at"], "2026-03-18T12:00:05Z");
    assert_eq!(v["created_at"], START_TS);
    let r = api.patch(&path, json!({ "unknown": 1 })).await;
    r.expect(200);
    assert_eq!(r.json()["metadata"], json!({ "env": "staging" }), "absent keeps");
    let r = api.patch_raw(&path, "").await;
    r.expect(200);
    assert_eq!(r.json()["metadata"], json!({ "env": "staging" }), "an empty body keeps");
    let r = api.patch(&path, json!({ "metadata": null })).await;
    r.expect(200);
    assert_eq!(r.json()["metadata"], json!({}), "null clears");
    api.patch(&path, json!({ "metadata": { "k": "v" } })).await.expect(200);
    let r = api.patch(&path, json!({ "metadata": {} })).await;
    assert_eq!(r.json()["metadata"], json!({}), "{{}} sets none");
    assert_eq!(api.get(&path).await.json()["metadata"], json!({}));

    // Linking, unlinking and deleting the identity change the link alone.
    let linked_path = format!("{APPS}/{}", id_of(&linked));
    api.patch(&linked_path, json!({ "metadata": { "team": "risk" } }))
        .await
        .expect(200);
    api.delete("/api/v1/identities/bot/authenticator_app")
        .await
        .expect_204();
    let after_unlink = api.get(&linked_path).await.json();
    assert_eq!(after_unlink["identity_id"], json!(null));
    assert_eq!(after_unlink["metadata"], json!({ "team": "risk" }));
    let r = api
        .post(
            "/api/v1/identities/bot/authenticator_app",
            json!({ "authenticator_app_id": id_of(&linked) }),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["authenticator_app"]["metadata"], json!({ "team": "risk" }));
    api.delete("/api/v1/identities/bot").await.expect_204();
    assert_eq!(
        api.get(&linked_path).await.json()["metadata"],
        json!({ "team": "risk" })
    );
    // A PATCH leaves the link alone.
    api.identity("bot2").await;
    api.post(
        "/api/v1/identities/bot2/authenticator_app",
        json!({ "authenticator_app_id": id_of(&linked) }),
    )
    .await
    .expect(200);
    let r = api.patch(&linked_path, json!({ "metadata": null })).await;
    assert!(r.json()["identity_id"].is_string(), "{}", r.json());

    // The audit trail: app.create and app.update name the keys (sorted), never a value.
    let created = api.events_of("app.create", &id_of(&unlinked)).await;
    assert_eq!(created[0]["details"]["metadata_keys"], json!(["env", "owner"]));
    let updates: Vec<_> = api
        .events_of("app.update", &id_of(&unlinked))
        .await
        .iter()
        .map(|e| e["details"].clone())
        .collect();
    assert_eq!(
        updates,
        [
            json!({ "metadata_keys": ["env"] }),
            json!({ "metadata_keys": ["env"] }),
            json!({ "metadata_keys": ["env"] }),
            json!({ "metadata_keys": [] }),
            json!({ "metadata_keys": ["k"] }),
            json!({ "metadata_keys": [] }),
        ]
    );
    let trail = api.get("/api/v1/audit/events?limit=1000").await.json().to_string();
    for value in ["\"prod\"", "billing", "payments", "staging", "\"risk\""] {
        assert!(!trail.contains(value), "a metadata value in the audit trail: {value}");
    }
}

pub async fn apps_patch_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let r = api.post(APPS, json!({ "metadata": { "env": "prod" } })).await;
    let app = r.json();
    let path = format!("{APPS}/{}", id_of(&app));
    let many: serde_json::Map<String, serde_json::Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let long_key = "k".repeat(41);
    let cases: Vec<(serde_json::Value, Vec<&str>, &str)> = vec![
        (json!([]), vec![], "dict_type"),
        (json!("env=prod"), vec![], "dict_type"),
        (json!({ "n": 1 }), vec!["n"], "string_type"),
        (serde_json::Value::Object(many), vec![], "too_long"),
        (
            json!({ long_key.clone(): "v" }),
            vec![long_key.as_str(), "[key]"],
            "string_too_long",
        ),
        (json!({ "k": "x".repeat(501) }), vec!["k"], "string_too_long"),
    ];
    for (metadata, below, kind) in &cases {
        let mut loc = vec!["body", "metadata"];
        loc.extend(below);
        let item = api.patch(&path, json!({ "metadata": metadata })).await.expect_422(&loc);
        assert_eq!(item["type"], *kind, "PATCH {metadata}");
        let item = api.post(APPS, json!({ "metadata": metadata })).await.expect_422(&loc);
        assert_eq!(item["type"], *kind, "POST {metadata}");
    }
    // Nothing changed, nothing was created.
    assert_eq!(api.get(&path).await.json(), app);
    assert_eq!(api.get(APPS).await.json().as_array().map(Vec::len), Some(1));
    // A body that is not an object.
    api.patch_raw(&path, "[]").await.expect_422(&["body"]);
    // Path ids: 422, before the body and before 404; reported with the body's errors.
    let r = api.patch(&format!("{APPS}/nope"), json!({ "metadata": 1 })).await;
    r.expect_422(&["path", "app_id"]);
    r.expect_422(&["body", "metadata"]);
    let ghost = format!("{APPS}/0190c0de-1234-7abc-8def-0123456789ab");
    api.patch(&ghost, json!({ "metadata": [] }))
        .await
        .expect_422(&["body", "metadata"]);
    api.patch(&ghost, json!({ "metadata": {} }))
        .await
        .expect_detail(404, "Authenticator app not found");
    // A deleted app, another org's app: 404.
    let gone = api.app().await;
    api.delete(&format!("{APPS}/{gone}")).await.expect_204();
    api.patch(&format!("{APPS}/{gone}"), json!({}))
        .await
        .expect_detail(404, "Authenticator app not found");
    let other = api
        .call(
            TestRequest::patch()
                .uri(&path)
                .insert_header(("X-Service-Token", token_of(&api.authd, OTHER_ORG)))
                .set_json(json!({ "metadata": null })),
        )
        .await;
    other.expect_detail(404, "Authenticator app not found");
    // No credential: 401 first.
    let r = api
        .call(TestRequest::patch().uri(&path).set_json(json!({ "metadata": 1 })))
        .await;
    r.expect(401);
    assert_eq!(api.get(&path).await.json(), app);
}
