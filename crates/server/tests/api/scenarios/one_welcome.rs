//! The OneWelcome end-user API: `/oauth/api/v1/users/{userId}/authentication/apps`.

use actix_web::test::TestRequest;
use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::json;

use crate::support::*;

fn apps_of(user: &str) -> String {
    format!("/oauth/api/v1/users/{user}/authentication/apps")
}

pub async fn one_welcome_list<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("alice").await;
    let (_, bob_app) = api.linked_app("bob").await;
    let first = api
        .post(
            &format!("{APPS}/{app}/instances"),
            json!({ "device_name": "My device", "platform": "android",
                    "device_id": "fc4ef972-0000-7000-8000-000000000001" }),
        )
        .await
        .json();
    api.clock.advance(1);
    let second = api.enroll(&app, "Second").await;
    api.enroll(&bob_app, "Bob's").await;

    for user in ["alice", "@alice", "%40alice"] {
        let r = api.get(&apps_of(user)).await;
        r.expect(200);
        r.expect_ow_headers();
        assert_eq!(
            r.json(),
            json!({ "authentication_app_instances": [
                { "id": first["id"], "device_id": "fc4ef972-0000-7000-8000-000000000001",
                  "device_name": "My device", "platform": "ANDROID" },
                { "id": second["id"], "device_id": second["device_id"],
                  "device_name": "Second", "platform": "ANDROID" },
            ] }),
            "{user}"
        );
    }
    // revoked instances are not listed
    api.delete(&format!("{APPS}/{app}/instances/{}", id_of(&first)))
        .await
        .expect_204();
    let r = api.get(&apps_of("alice")).await;
    let list = r.json();
    assert_eq!(list["authentication_app_instances"].as_array().map(Vec::len), Some(1));
    // Bearer works too
    api.get_bearer(&apps_of("bob"), &api.token).await.expect(200);
}

pub async fn one_welcome_not_found_and_401<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("alice").await;
    api.identity("lonely").await;
    let instance = id_of(&api.enroll(&app, "d").await);

    // no such user, a user with no instances, an invalid handle: the same 404
    for user in ["ghost", "lonely", "-bad", "@@alice"] {
        api.get(&apps_of(user))
            .await
            .expect_ow_error(404, "No authentication apps found");
    }
    // DELETE: not that user's instance, not an instance at all, not a UUID
    for (user, id) in [
        ("lonely", instance.as_str()),
        ("ghost", instance.as_str()),
        ("alice", "0190c0de-1234-7abc-8def-0123456789ab"),
        ("alice", "not-a-uuid"),
    ] {
        api.delete(&format!("{}/{id}", apps_of(user)))
            .await
            .expect_ow_error(404, "Authentication app not found");
    }
    // 401, with the OneWelcome body and headers
    for req in [
        TestRequest::get().uri(&apps_of("alice")),
        TestRequest::get()
            .uri(&apps_of("alice"))
            .insert_header(("X-Service-Token", "authd_st_nope")),
        TestRequest::delete().uri(&format!("{}/{instance}", apps_of("alice"))),
    ] {
        api.call(req).await.expect_ow_error(401, "Unauthorized");
    }
    // 401 before 404
    api.call(TestRequest::delete().uri(&format!("{}/not-a-uuid", apps_of("ghost"))))
        .await
        .expect_ow_error(401, "Unauthorized");
    // unknown paths under /oauth/: the OneWelcome 404
    for path in [
        "/oauth/api/v1/users/alice",
        "/oauth/api/v1/users/alice/authentication/apps/x/y",
        "/oauth/whatever",
    ] {
        api.get(path).await.expect_ow_error(404, "Not Found");
    }
    // a wrong method: the OneWelcome 405
    let r = api.call(api.authed(TestRequest::post().uri(&apps_of("alice")))).await;
    r.expect_ow_error(405, "Method Not Allowed");
    assert_eq!(r.header("allow"), Some("GET"));
    api.get(&format!("{}/{instance}", apps_of("alice")))
        .await
        .expect_ow_error(405, "Method Not Allowed");
    // the instance is untouched by all of this
    api.get(&format!("{APPS}/{app}/instances/{instance}")).await.expect(200);
}

pub async fn one_welcome_delete_idempotent<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("alice").await;
    let e = api.enroll(&app, "d").await;
    let token = e["device_token"].as_str().expect("token").to_owned();
    let keep = id_of(&api.enroll(&app, "keep").await);
    let path = format!("{}/{}", apps_of("@alice"), id_of(&e));

    let r = api.delete(&path).await;
    r.expect_204();
    r.expect_ow_headers();
    // same effect as the extension's DELETE
    api.get(&format!("{APPS}/{app}/instances/{}", id_of(&e)))
        .await
        .expect(404);
    api.get_bearer("/api/v1/device/accounts", &token).await.expect(401);
    // idempotent, any uuid form
    api.delete(&path).await.expect_204();
    api.delete(&format!("{}/{}", apps_of("alice"), id_of(&e).to_uppercase()))
        .await
        .expect_204();
    let r = api.get(&apps_of("alice")).await;
    assert_eq!(r.json()["authentication_app_instances"][0]["id"], keep.as_str());
}

pub async fn one_welcome_recreated_user_is_new<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    let (_, app) = api.linked_app("alice").await;
    let old = id_of(&api.enroll(&app, "d").await);
    api.delete("/api/v1/identities/alice").await.expect_204();
    api.identity("alice").await;
    // a new user with no instances
    api.get(&apps_of("alice"))
        .await
        .expect_ow_error(404, "No authentication apps found");
    api.delete(&format!("{}/{old}", apps_of("alice")))
        .await
        .expect_ow_error(404, "Authentication app not found");
}
