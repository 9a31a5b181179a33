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
