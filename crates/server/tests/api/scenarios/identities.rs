//! `/api/v1/identities`.

use actix_web::test::TestRequest;
use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::{Value, json};

use crate::support::*;

const IDS: &str = "/api/v1/identities";

/// `POST /api/v1/identities/{handle}/authenticator_app` with `{"authenticator_app_id": app}`.
async fn link<S: Store>(api: &Api<S>, handle: &str, app: impl Into<Value>) -> Resp {
    let body = json!({ "authenticator_app_id": app.into() });
    api.post(&format!("{IDS}/{handle}/authenticator_app"), body).await
}

pub async fn identities_create_both_paths<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    // with the slash (the SDK) and without (other clients): both served, never redirected
    let r = api.post("/api/v1/identities/", json!({ "agent_handle": "@bot" })).await;
    r.expect(201).expect_json_content_type();
    let v = r.json();
    assert_summary(&v);
    assert_eq!(v["agent_handle"], "bot");
    assert_eq!(v["organization_id"], ORG);
    assert_eq!(v["status"], "active");
    assert_eq!(v["created_at"], START_TS);
    let r = api.post(IDS, json!({ "agent_handle": "other.bot_1-x" })).await;
    r.expect(201);
    assert_summary(&r.json());
    // no Content-Type needed
    api.post_raw(IDS, r#"{"agent_handle":"third"}"#).await.expect(201);
    for path in [IDS, "/api/v1/identities/"] {
        let r = api.get(path).await;
        r.expect(200);
        assert_eq!(r.json().as_array().map(Vec::len), Some(3), "{path}");
        assert!(r.header("location").is_none());
    }
    // the SDK's create_identity("@bot") reads it back with the `@`, unencoded or encoded
    for path in [
        "/api/v1/identities/@bot",
        "/api/v1/identities/bot",
        "/api/v1/identities/%40bot",
    ] {
        let r = api.get(path).await;
        r.expect(200);
        assert_eq!(r.json()["id"], v["id"], "{path}");
    }
}

pub async fn identities_create_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    api.identity("bot").await;
    api.post(IDS, json!({ "agent_handle": "bot" }))
        .await
        .expect_detail(409, "Agent handle already taken");
    api.post("/api/v1/identities/", json!({ "agent_handle": "@bot" }))
        .await
        .expect(409);
    for bad in ["-leading-dash", "has space", "@@bot", "@", "", "bót", "a!"] {
        let item = api
            .post(IDS, json!({ "agent_handle": bad }))
            .await
            .expect_422(&["body", "agent_handle"]);
        assert_eq!(item["type"], "value_error", "{bad}");
    }
    api.post(IDS, json!({ "agent_handle": "x".repeat(256) }))
        .await
        .expect_422(&["body", "agent_handle"]);
    // 255 characters (after the @) is the limit
    api.post(IDS, json!({ "agent_handle": format!("@{}", "x".repeat(255)) }))
        .await
        .expect(201);
    let item = api.post(IDS, json!({})).await.expect_422(&["body", "agent_handle"]);
    assert_eq!(item["type"], "missing");
    api.post(IDS, json!({ "agent_handle": null }))
        .await
        .expect_422(&["body", "agent_handle"]);
    api.post(IDS, json!({ "agent_handle": 12 }))
        .await
        .expect_422(&["body", "agent_handle"]);
    api.post_raw(IDS, "").await.expect_422(&["body"]);
}

pub async fn identities_list_newest_first<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let a = api.identity("a").await;
    api.clock.advance(1);
    let b = api.identity("b").await;
    api.clock.advance(1);
    let c = api.identity("c").await;
    for path in [IDS, "/api/v1/identities/"] {
        let ids = api.list_ids(path, assert_summary).await;
        assert_eq!(ids, vec![id_of(&c), id_of(&b), id_of(&a)], "{path}");
    }
    // deleted ones are not listed
    api.delete("/api/v1/identities/b").await.expect_204();
    assert_eq!(api.list_ids(IDS, assert_summary).await, vec![id_of(&c), id_of(&a)]);
}

pub async fn identities_get_detail<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let ident = api.identity("bot").await;
    let r = api.get("/api/v1/identities/bot").await;
    r.expect(200).expect_json_content_type();
    let v = r.json();
    assert_detail(&v);
    assert_eq!(v["authenticator_app"], json!(null));
    for k in SUMMARY_KEYS {
        assert_eq!(v[k], ident[k], "{k}");
    }
    // linked: the whole app object
    let app = api.post(APPS, json!({ "agent_handle": "bot" })).await.json();
    let v = api.get("/api/v1/identities/@bot").await.json();
    assert_detail(&v);
    assert_eq!(v["authenticator_app"], app);
    // missing, and invalid handles: 404
    for path in [
        "/api/v1/identities/ghost",
        "/api/v1/identities/@@bot",
        "/api/v1/identities/-bot",
        "/api/v1/identities/b%20ot",
    ] {
        api.get(path).await.expect_detail(404, "Identity not found");
    }
}

pub async fn identities_patch<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    api.identity("bot").await;
    api.identity("taken").await;
    api.clock.advance(3);
    // rename: the answer carries the new, stripped handle
    let r = api
        .patch("/api/v1/identities/@bot", json!({ "agent_handle": "@renamed" }))
        .await;
    r.expect(200);
    let v = r.json();
    assert_summary(&v);
    assert_eq!(v["agent_handle"], "renamed");
    assert_eq!(v["updated_at"], "2026-03-18T12:00:03Z");
    api.get("/api/v1/identities/bot").await.expect(404);
    api.get("/api/v1/identities/renamed").await.expect(200);
    // pause / unpause
    let r = api
        .patch("/api/v1/identities/renamed", json!({ "status": "paused" }))
        .await;
    assert_eq!(r.json()["status"], "paused");
    let r = api
        .patch("/api/v1/identities/renamed", json!({ "status": "active" }))
        .await;
    assert_eq!(r.json()["status"], "active");
    // both at once; the same handle is not a conflict
    let r = api
        .patch(
            "/api/v1/identities/renamed",
            json!({ "agent_handle": "renamed", "status": "paused" }),
        )
        .await;
    r.expect(200);
    assert_eq!(
        (r.json()["agent_handle"].clone(), r.json()["status"].clone()),
        (json!("renamed"), json!("paused"))
    );
    // {} and an empty body: unchanged (null counts as absent here)
    for r in [
        api.patch("/api/v1/identities/renamed", json!({})).await,
        api.patch_raw("/api/v1/identities/renamed", "").await,
        api.patch(
            "/api/v1/identities/renamed",
            json!({ "agent_handle": null, "status": null }),
        )
        .await,
    ] {
        r.expect(200);
        assert_eq!(r.json()["agent_handle"], "renamed");
        assert_eq!(r.json()["status"], "paused");
    }
    // errors
    let r = api
        .patch("/api/v1/identities/renamed", json!({ "status": "bogus" }))
        .await;
    r.expect(400);
    assert!(r.json()["detail"].is_string());
    api.patch("/api/v1/identities/renamed", json!({ "status": "PAUSED" }))
        .await
        .expect(400);
    api.patch("/api/v1/identities/renamed", json!({ "agent_handle": "taken" }))
        .await
        .expect_detail(409, "Agent handle already taken");
    api.patch("/api/v1/identities/ghost", json!({ "status": "paused" }))
        .await
        .expect_detail(404, "Identity not found");
    api.patch("/api/v1/identities/renamed", json!({ "agent_handle": "bad handle" }))
        .await
        .expect_422(&["body", "agent_handle"]);
    api.patch("/api/v1/identities/renamed", json!({ "status": 1 }))
        .await
        .expect_422(&["body", "status"]);
    // nothing changed by the failures
    let v = api.get("/api/v1/identities/renamed").await.json();
    assert_eq!(
        (v["agent_handle"].clone(), v["status"].clone()),
        (json!("renamed"), json!("paused"))
    );
}

pub async fn identities_patch_precedence<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    api.identity("bot").await;
    api.identity("taken").await;
    // 422 (body) before 404 (missing identity, or an invalid handle in the path)
    api.patch("/api/v1/identities/ghost", json!({ "status": 5 }))
        .await
        .expect(422);
    api.patch("/api/v1/identities/-bad", json!({ "agent_handle": "!" }))
        .await
        .expect(422);
    api.patch("/api/v1/identities/-bad", json!({}))
        .await
        .expect_detail(404, "Identity not found");
    // 404 before 400
    api.patch("/api/v1/identities/ghost", json!({ "status": "bogus" }))
        .await
        .expect(404);
    // 409 before 400
    api.patch(
        "/api/v1/identities/bot",
        json!({ "agent_handle": "taken", "status": "bogus" }),
    )
    .await
    .expect(409);
}

pub async fn identities_delete<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let old = api.identity("bot").await;
    let app = api.post(APPS, json!({ "agent_handle": "bot" })).await.json();
    api.delete("/api/v1/identities/@bot").await.expect_204();
    api.get("/api/v1/identities/bot").await.expect(404);
    api.delete("/api/v1/identities/bot")
        .await
        .expect_detail(404, "Identity not found");
    api.delete("/api/v1/identities/-bad").await.expect(404);
    // the app survives, unlinked
    let r = api.get(&format!("{APPS}/{}", id_of(&app))).await;
    r.expect(200);
    assert_eq!(r.json()["identity_id"], json!(null));
    // the handle is free again, for a new identity
    let new = api.identity("bot").await;
    assert_ne!(new["id"], old["id"]);
}

pub async fn identities_assign_and_unlink<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let ident = api.identity("bot").await;
    let app = api.app().await;
    let path = "/api/v1/identities/bot/authenticator_app";
    let r = link(&api, "bot", app.as_str()).await;
    r.expect(200).expect_json_content_type();
    let v = r.json();
    assert_detail(&v);
    assert_eq!(v["id"], ident["id"]);
    assert_eq!(v["authenticator_app"]["id"], app.as_str());
    assert_eq!(v["authenticator_app"]["identity_id"], ident["id"]);
    // same app again (any uuid form, `@` handle): 200 no-op
    let r = link(&api, "@bot", app.to_uppercase()).await;
    r.expect(200);
    assert_eq!(r.json()["authenticator_app"]["id"], app.as_str());
    let r = api.get(&format!("{APPS}/{app}")).await;
    assert_eq!(r.json()["identity_id"], ident["id"]);

    // unlink: 204, the app stays, unlinked; again: still 204
    api.delete(path).await.expect_204();
    assert_eq!(
        api.get(&format!("{APPS}/{app}")).await.json()["identity_id"],
        json!(null)
    );
    assert_eq!(
        api.get("/api/v1/identities/bot").await.json()["authenticator_app"],
        json!(null)
    );
    api.delete(path).await.expect_204();
    api.delete("/api/v1/identities/ghost/authenticator_app")
        .await
        .expect_detail(404, "Identity not found");

    // reassign the freed app to another identity
    api.identity("other").await;
    link(&api, "other", app.as_str()).await.expect(200);
    // DELETE without body, generate-otp style request is fine too
    api.call(api.authed(TestRequest::delete().uri("/api/v1/identities/other/authenticator_app")))
        .await
        .expect_204();
}

pub async fn identities_assign_errors<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("bot").await;
    api.identity("c").await;
    let other_app = api.app().await;
    // the app is linked to another identity
    link(&api, "c", app.as_str())
        .await
        .expect_detail(409, "Authenticator app is linked to another identity");
    // the identity already has a different app
    link(&api, "bot", other_app.as_str())
        .await
        .expect_detail(409, "Identity already has an authenticator app");
    assert_eq!(
        api.get(&format!("{APPS}/{other_app}")).await.json()["identity_id"],
        json!(null)
    );
    // unknown app / unknown identity
    link(&api, "c", "0190c0de-1234-7abc-8def-0123456789ab")
        .await
        .expect_detail(404, "Authenticator app not found");
    link(&api, "ghost", app.as_str())
        .await
        .expect_detail(404, "Identity not found");
    // shape: 422, before 404
    let item = link(&api, "c", "nope")
        .await
        .expect_422(&["body", "authenticator_app_id"]);
    assert_eq!(item["type"], "uuid_parsing");
    api.post("/api/v1/identities/c/authenticator_app", json!({}))
        .await
        .expect_422(&["body", "authenticator_app_id"]);
    link(&api, "ghost", 3)
        .await
        .expect_422(&["body", "authenticator_app_id"]);
    api.post_raw("/api/v1/identities/c/authenticator_app", "")
        .await
        .expect_422(&["body"]);
    assert_eq!(
        api.get("/api/v1/identities/c").await.json()["authenticator_app"],
        json!(null)
    );
}
