//! `/api/v1/audit/events` (authd extension): the trail of the caller's organization over HTTP.

use actix_web::test::TestRequest;
use domain::ports::Store;
use domain::testkit::Kit;
use serde_json::{Value, json};

use crate::support::*;

const EVENTS: &str = "/api/v1/audit/events";

/// The `loc` of each error of a 422 body.
fn error_locs(body: &Value) -> Vec<Value> {
    body["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .map(|d| d["loc"].clone())
        .collect()
}

fn events(v: &Value) -> &Vec<Value> {
    v["events"].as_array().expect("events array")
}

pub async fn audit_events_shape_cursor_and_filters<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    // Two changes with a request id of the client's, one read (writes nothing), one failure.
    let r = api
        .call(
            api.authed(
                TestRequest::post()
                    .uri("/api/v1/identities/")
                    .insert_header(("X-Request-Id", "client-req-1"))
                    .set_json(json!({"agent_handle": "bot"})),
            ),
        )
        .await;
    r.expect(201);
    let identity = r.json();
    let app = api.post(APPS, json!({"agent_handle": "bot"})).await.json();
    api.get(APPS).await.expect(200);
    api.post(APPS, json!({"agent_handle": "bot"})).await.expect(409);

    let r = api.get(EVENTS).await;
    r.expect(200).expect_json_content_type();
    let page = r.json();
    let all = events(&page);
    assert_eq!(all.len(), 3, "{page}");
    // The test's own token, made through the CLI's path: no request, no token as the actor.
    assert_eq!(all[0]["action"], "token.create");
    assert_eq!(all[0]["actor"], json!({"kind": "cli", "id": null}));
    assert_eq!(all[0]["request_id"], json!(null));
    let list = &all[1..];
    let first = &list[0];
    let keys: Vec<&str> = first.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "action",
            "actor",
            "at",
            "details",
            "id",
            "org",
            "request_id",
            "resource",
            "seq"
        ],
        "exactly these fields: {first}"
    );
    assert_eq!(first["seq"], 2);
    assert_eq!(first["org"], ORG);
    assert_eq!(first["action"], "identity.create");
    assert_eq!(first["resource"], json!({"type": "identity", "id": identity["id"]}));
    assert_eq!(first["request_id"], "client-req-1");
    assert_eq!(first["actor"]["kind"], "service_token");
    assert!(first["actor"]["id"].is_string(), "{first}");
    assert_eq!(first["details"], json!({"agent_handle": "bot"}));
    assert_eq!(first["at"], START_TS);
    let second = &list[1];
    assert_eq!(
        (second["seq"].clone(), second["action"].clone()),
        (json!(3), json!("app.create"))
    );
    assert_eq!(second["resource"]["id"], app["id"]);
    assert_eq!(
        second["details"],
        json!({"identity_id": identity["id"], "metadata_keys": []})
    );
    assert!(
        second["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s != "client-req-1"),
        "a generated request id: {second}"
    );
    assert_eq!(page["next"], "3");

    // Paging: after the cursor, nothing yet; a new change shows up after it.
    let r = api.get(&format!("{EVENTS}?after=3")).await.json();
    assert_eq!(events(&r).len(), 0);
    assert_eq!(r["next"], "3", "an empty page keeps the cursor");
    api.delete(&format!("{APPS}/{}", app["id"].as_str().expect("id")))
        .await
        .expect(204);
    let r = api.get(&format!("{EVENTS}?after=3")).await.json();
    assert_eq!(events(&r).len(), 1);
    assert_eq!(events(&r)[0]["action"], "app.delete");
    assert_eq!(r["next"], "4");
    let r = api.get(&format!("{EVENTS}?limit=1")).await.json();
    assert_eq!(events(&r).len(), 1);
    assert_eq!(r["next"], "1");

    // Filters.
    let r = api
        .get(&format!("{EVENTS}?action=app.create&resource_type=app"))
        .await
        .json();
    assert_eq!(events(&r).len(), 1);
    let r = api
        .get(&format!(
            "{EVENTS}?resource_id={}",
            identity["id"].as_str().expect("id")
        ))
        .await
        .json();
    assert_eq!(events(&r).len(), 1);
    assert_eq!(events(&r)[0]["action"], "identity.create");

    // Bad parameters: 422 with every error; unknown parameters are ignored.
    let r = api
        .get(&format!(
            "{EVENTS}?limit=0&after=x&action=nope&resource_type=x&resource_id=1&other=1"
        ))
        .await;
    r.expect(422);
    let locs = error_locs(&r.json());
    assert_eq!(
        locs,
        [
            json!(["query", "limit"]),
            json!(["query", "after"]),
            json!(["query", "action"]),
            json!(["query", "resource_type"]),
            json!(["query", "resource_id"]),
        ]
    );
    api.get(&format!("{EVENTS}?limit=1001")).await.expect(422);
    api.get(&format!("{EVENTS}?limit=1000")).await.expect(200);

    // Another organization's token sees none of it (only its own token's creation); no token
    // is 401.
    let other = token_of(&api.authd, "org_other");
    let r = api.get_bearer(EVENTS, &other).await;
    r.expect(200);
    let theirs = r.json();
    let actions: Vec<&Value> = events(&theirs).iter().map(|e| &e["action"]).collect();
    assert_eq!(actions, [&json!("token.create")], "{theirs}");
    assert_eq!(events(&theirs)[0]["org"], "org_other");
    api.call(TestRequest::get().uri(EVENTS)).await.expect(401);
}

pub async fn audit_events_record_devices_and_codes<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    api.post("/api/v1/identities/", json!({"agent_handle": "bot"}))
        .await
        .expect(201);
    let app = api.post(APPS, json!({"agent_handle": "bot"})).await.json();
    let app = app["id"].as_str().expect("id").to_owned();
    let secret = "JBSWY3DPEHPK3PXP";
    let acc = api
        .post(
            &format!("{APPS}/{app}/accounts"),
            json!({"otpauth_uri": format!("otpauth://totp/X:y?secret={secret}")}),
        )
        .await
        .json();
    let acc = acc["id"].as_str().expect("id").to_owned();
    api.post_raw(&format!("{APPS}/{app}/accounts/{acc}/generate-otp"), "")
        .await
        .expect(200);
    let enrolled = api
        .post(
            &format!("{APPS}/{app}/instances"),
            json!({"device_name": "d", "platform": "WEB"}),
        )
        .await
        .json();
    let device_token = enrolled["device_token"].as_str().expect("token").to_owned();
    let r = api
        .call(
            TestRequest::post()
                .uri(&format!("/api/v1/device/accounts/{acc}/generate-otp"))
                .insert_header(("Authorization", format!("Bearer {device_token}"))),
        )
        .await;
    r.expect(200);
    let code = r.json()["otp_code"].as_str().expect("code").to_owned();

    let page = api.get(EVENTS).await.json();
    let list = events(&page);
    let actions: Vec<&str> = list.iter().map(|e| e["action"].as_str().expect("action")).collect();
    assert_eq!(
        actions,
        [
            "token.create",
            "identity.create",
            "app.create",
            "account.create",
            "otp.generate",
            "instance.enroll",
            "otp.generate"
        ]
    );
    let by_device = &list[6];
    assert_eq!(
        by_device["actor"],
        json!({"kind": "device", "id": enrolled["id"]}),
        "a device's code is recorded as the device's: {by_device}"
    );
    assert_eq!(by_device["resource"], json!({"type": "account", "id": acc}));
    let text = page.to_string();
    for secret in [secret, device_token.as_str(), api.token.as_str(), code.as_str()] {
        assert!(!text.contains(secret), "the trail carries no secret, token or code");
    }
}

/// Newest first (`order=desc`), paged backwards with `before=<next>`, with the filters; `422`
/// for a bad `order` or `before`.
pub async fn audit_events_newest_first<S: Store>(kit: Kit<S>) {
    let api = start(kit).await;
    for h in ["a", "b", "c"] {
        api.post("/api/v1/identities", json!({"agent_handle": h}))
            .await
            .expect(201);
    }
    // 1: the test's token, 2..=4: the identities.
    let seqs = |v: &Value| {
        events(v)
            .iter()
            .map(|e| e["seq"].as_u64().expect("seq"))
            .collect::<Vec<_>>()
    };
    let r = api.get(&format!("{EVENTS}?order=desc&limit=2")).await;
    r.expect(200);
    let page = r.json();
    assert_eq!(seqs(&page), [4, 3]);
    assert_eq!(page["next"], "3");
    let page = api.get(&format!("{EVENTS}?order=desc&limit=2&before=3")).await.json();
    assert_eq!(seqs(&page), [2, 1]);
    let page = api.get(&format!("{EVENTS}?order=desc&limit=2&before=1")).await.json();
    assert_eq!(seqs(&page), Vec::<u64>::new());
    assert_eq!(page["next"], "1", "an empty page keeps the cursor");
    let page = api
        .get(&format!("{EVENTS}?order=desc&action=identity.create&after=2"))
        .await
        .json();
    assert_eq!(seqs(&page), [4, 3]);
    assert_eq!(events(&page)[0]["details"], json!({"agent_handle": "c"}));
    let page = api.get(&format!("{EVENTS}?order=asc&before=3")).await.json();
    assert_eq!(seqs(&page), [1, 2]);

    let r = api.get(&format!("{EVENTS}?order=newest&before=x")).await;
    r.expect(422);
    let locs = error_locs(&r.json());
    assert_eq!(locs, [json!(["query", "order"]), json!(["query", "before"])]);
}
