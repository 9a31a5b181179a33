//! Isolation: another org's service token sees nothing and changes nothing; a device token works
//! only on the device API and only for its own app's accounts.

use serde_json::{Value, json};

use crate::support::{
    APPS, Api, Cli, RFC_SECRET_B32, Req, Resp, ServeOpts, Server, hotp_rfc, new_master_key, str_field,
};

/// Everything org A can read, by path.
fn snapshot(a: &Api, paths: &[String]) -> Vec<(String, u16, Value)> {
    paths
        .iter()
        .map(|p| {
            let r = a.get(p);
            (p.clone(), r.status, r.try_json().unwrap_or(Value::Null))
        })
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn other_orgs_and_device_tokens_see_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("authd.sqlite").display());
    let key = new_master_key();
    let server = Server::start(&ServeOpts::new(&url, &key, dir.path(), "isolation"));
    let cli = Cli {
        db_url: url,
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    let (ta, tb) = (cli.token_create("org_a", None), cli.token_create("org_b", None));
    let (a, b) = (server.api(&ta), server.api(&tb));

    // Org A: alice with a linked app (TOTP + HOTP accounts, one device), and a second app.
    a.create_identity("alice");
    let app_a = a.create_app(Some("alice"));
    let totp_a = str_field(
        &a.create_account(&app_a, "otpauth://totp/A:a?secret=JBSWY3DPEHPK3PXP"),
        "id",
    );
    let hotp_uri = format!("otpauth://hotp/A:h?secret={RFC_SECRET_B32}&counter=0");
    let hotp_a = str_field(&a.create_account(&app_a, &hotp_uri), "id");
    let inst_a = a.enroll(&app_a, "Alice's Pixel");
    let (inst_a, dev_a) = (str_field(&inst_a, "id"), str_field(&inst_a, "device_token"));
    let app_a2 = a.create_app(None);
    let acc_a2 = str_field(
        &a.create_account(&app_a2, "otpauth://totp/A2:x?secret=JBSWY3DPEHPK3PXP"),
        "id",
    );
    // Org B: bob with his own app, account and device.
    b.create_identity("bob");
    let app_b = b.create_app(Some("bob"));
    let acc_b = str_field(
        &b.create_account(&app_b, "otpauth://totp/B:b?secret=JBSWY3DPEHPK3PXP"),
        "id",
    );
    let dev_b = str_field(&b.enroll(&app_b, "Bob's phone"), "device_token");

    let ow = |user: &str| format!("/oauth/api/v1/users/{user}/authentication/apps");
    let seen_by_a: Vec<String> = vec![
        APPS.to_owned(),
        format!("{APPS}/{app_a}"),
        format!("{APPS}/{app_a2}"),
        format!("{APPS}/{app_a}/accounts"),
        format!("{APPS}/{app_a2}/accounts"),
        format!("{APPS}/{app_a}/accounts/{totp_a}"),
        format!("{APPS}/{app_a}/accounts/{hotp_a}"),
        format!("{APPS}/{app_a2}/accounts/{acc_a2}"),
        format!("{APPS}/{app_a}/instances"),
        format!("{APPS}/{app_a}/instances/{inst_a}"),
        "/api/v1/identities/".to_owned(),
        "/api/v1/identities/alice".to_owned(),
        ow("alice"),
    ];
    let before = snapshot(&a, &seen_by_a);
    for (p, status, body) in &before {
        assert_eq!(*status, 200, "org A reads its own {p}: {body}");
    }

    // Org B against every route, aimed at org A's records: 404 (as if missing).
    let totp_uri = json!({"otpauth_uri": "otpauth://totp/X:y?secret=JBSWY3DPEHPK3PXP"});
    let device_body = json!({"device_name": "evil", "platform": "LINUX"});
    let attacks: Vec<(Req, Option<Value>)> = vec![
        (Req::get(format!("{APPS}/{app_a}")), None),
        (Req::delete(format!("{APPS}/{app_a}")), None),
        (Req::get(format!("{APPS}/{app_a}/accounts")), None),
        (Req::post(format!("{APPS}/{app_a}/accounts")).json(&totp_uri), None),
        (Req::get(format!("{APPS}/{app_a}/accounts/{totp_a}")), None),
        (
            Req::patch(format!("{APPS}/{app_a}/accounts/{totp_a}")).json(&json!({"display_name": "pwned"})),
            None,
        ),
        (
            Req::patch(format!("{APPS}/{app_a}/accounts/{totp_a}")).json(&json!({"description": null})),
            None,
        ),
        (Req::delete(format!("{APPS}/{app_a}/accounts/{totp_a}")), None),
        (
            Req::post(format!("{APPS}/{app_a}/accounts/{hotp_a}/generate-otp")),
            None,
        ),
        (
            Req::post(format!("{APPS}/{app_a}/accounts/{totp_a}/generate-otp")),
            None,
        ),
        // A's records under B's own app.
        (Req::get(format!("{APPS}/{app_b}/accounts/{totp_a}")), None),
        (
            Req::patch(format!("{APPS}/{app_b}/accounts/{totp_a}")).json(&json!({"display_name": "pwned"})),
            None,
        ),
        (Req::delete(format!("{APPS}/{app_b}/accounts/{totp_a}")), None),
        (
            Req::post(format!("{APPS}/{app_b}/accounts/{hotp_a}/generate-otp")),
            None,
        ),
        (Req::get(format!("{APPS}/{app_b}/instances/{inst_a}")), None),
        (Req::delete(format!("{APPS}/{app_b}/instances/{inst_a}")), None),
        // Instances.
        (Req::get(format!("{APPS}/{app_a}/instances")), None),
        (Req::post(format!("{APPS}/{app_a}/instances")).json(&device_body), None),
        (Req::get(format!("{APPS}/{app_a}/instances/{inst_a}")), None),
        (Req::delete(format!("{APPS}/{app_a}/instances/{inst_a}")), None),
        // Identities.
        (Req::get("/api/v1/identities/alice"), None),
        (Req::get("/api/v1/identities/@alice"), None),
        (
            Req::patch("/api/v1/identities/alice").json(&json!({"status": "paused"})),
            None,
        ),
        (
            Req::patch("/api/v1/identities/alice").json(&json!({"agent_handle": "mallory"})),
            None,
        ),
        (Req::delete("/api/v1/identities/alice"), None),
        (
            Req::post("/api/v1/identities/alice/authenticator_app").json(&json!({"authenticator_app_id": app_a})),
            None,
        ),
        (Req::delete("/api/v1/identities/alice/authenticator_app"), None),
        // A's app linked to B's identity, or created for A's identity.
        (
            Req::post("/api/v1/identities/bob/authenticator_app").json(&json!({"authenticator_app_id": app_a})),
            None,
        ),
        (Req::post(APPS).json(&json!({"agent_handle": "alice"})), None),
        // OneWelcome.
        (
            Req::get(ow("alice")),
            Some(json!({"error": "No authentication apps found"})),
        ),
        (
            Req::delete(format!("{}/{inst_a}", ow("alice"))),
            Some(json!({"error": "Authentication app not found"})),
        ),
        (
            Req::delete(format!("{}/{inst_a}", ow("bob"))),
            Some(json!({"error": "Authentication app not found"})),
        ),
    ];
    let mut failures = Vec::new();
    for (req, want_body) in &attacks {
        for bearer in [false, true] {
            let req = if bearer {
                req.clone().bearer(&tb)
            } else {
                req.clone().token(&tb)
            };
            let r = b.raw(&req);
            let body_ok = match want_body {
                Some(w) => r.try_json().as_ref() == Some(w),
                None => r.is_json() && r.json().get("detail").is_some(),
            };
            if r.status != 404 || !body_ok {
                failures.push(format!("{} -> {} {}", req.describe(), r.status, r.text()));
            }
        }
    }
    // The lists show B only its own.
    let apps_b = b.get(APPS).expect(200, "B lists apps");
    assert_eq!(ids(&apps_b), vec![app_b.clone()], "B's app list: {apps_b}");
    for path in ["/api/v1/identities/", "/api/v1/identities"] {
        let list = b.get(path).expect(200, "B lists identities");
        let handles: Vec<_> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["agent_handle"].clone())
            .collect();
        assert_eq!(handles, vec![json!("bob")], "B's identity list at {path}: {list}");
    }
    // B's device sees B's accounts only, and cannot use A's.
    let dev_b_list = b
        .raw(&Req::get("/api/v1/device/accounts").bearer(&dev_b))
        .expect(200, "B's device lists");
    assert_eq!(ids(&dev_b_list), vec![acc_b.clone()], "B's device list: {dev_b_list}");
    for acc in [&totp_a, &hotp_a, &acc_a2] {
        let r = b.raw(&Req::post(format!("/api/v1/device/accounts/{acc}/generate-otp")).bearer(&dev_b));
        if r.status != 404 {
            failures.push(format!(
                "B's device token generating for A's account {acc}: {} {}",
                r.status,
                r.text()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "another org must get 404:\n{}",
        failures.join("\n")
    );

    // Nothing of A's changed.
    let after = snapshot(&a, &seen_by_a);
    for ((p, s0, v0), (_, s1, v1)) in before.iter().zip(&after) {
        assert_eq!((s0, v0), (s1, v1), "org A's {p} changed after org B's requests");
    }
    // Handles are per org: B may create its own "alice", A's stays as it was.
    b.create_identity("alice");
    let b_alice = b.get("/api/v1/identities/alice").expect(200, "B's alice");
    assert!(
        b_alice["authenticator_app"].is_null(),
        "B's alice has no app: {b_alice}"
    );
    let a_alice = a.get("/api/v1/identities/alice").expect(200, "A's alice");
    assert_eq!(
        a_alice["authenticator_app"]["id"],
        app_a.as_str(),
        "A's alice keeps her app: {a_alice}"
    );
    b.raw(&Req::get(ow("alice")).token(&tb))
        .expect(404, "B's alice has no instances (A's instance is not hers)");

    // A device token works only on /api/v1/device/*.
    let dev = Api {
        addr: server.addr,
        token: dev_a.clone(),
    };
    let service_routes: Vec<Req> = vec![
        Req::get(APPS),
        Req::post(APPS).json(&json!({})),
        Req::get(format!("{APPS}/{app_a}")),
        Req::delete(format!("{APPS}/{app_a}")),
        Req::get(format!("{APPS}/{app_a}/accounts")),
        Req::post(format!("{APPS}/{app_a}/accounts")).json(&totp_uri),
        Req::get(format!("{APPS}/{app_a}/accounts/{totp_a}")),
        Req::patch(format!("{APPS}/{app_a}/accounts/{totp_a}")).json(&json!({"display_name": "x"})),
        Req::delete(format!("{APPS}/{app_a}/accounts/{totp_a}")),
        Req::post(format!("{APPS}/{app_a}/accounts/{hotp_a}/generate-otp")),
        Req::get(format!("{APPS}/{app_a}/instances")),
        Req::post(format!("{APPS}/{app_a}/instances")).json(&device_body),
        Req::get(format!("{APPS}/{app_a}/instances/{inst_a}")),
        Req::delete(format!("{APPS}/{app_a}/instances/{inst_a}")),
        Req::get("/api/v1/identities/"),
        Req::post("/api/v1/identities/").json(&json!({"agent_handle": "eve"})),
        Req::get("/api/v1/identities/alice"),
        Req::patch("/api/v1/identities/alice").json(&json!({"status": "paused"})),
        Req::delete("/api/v1/identities/alice"),
        Req::post("/api/v1/identities/alice/authenticator_app").json(&json!({"authenticator_app_id": app_a})),
        Req::delete("/api/v1/identities/alice/authenticator_app"),
        Req::get(ow("alice")),
        Req::delete(format!("{}/{inst_a}", ow("alice"))),
    ];
    let mut failures = Vec::new();
    for req in &service_routes {
        for bearer in [true, false] {
            let sent = if bearer {
                req.clone().bearer(&dev_a)
            } else {
                req.clone().token(&dev_a)
            };
            let r = dev.raw(&sent);
            let want = if String::from_utf8_lossy(&sent.to_bytes(server.addr)).contains(" /oauth/") {
                json!({"error": "Unauthorized"})
            } else {
                json!({"detail": "Invalid service token"})
            };
            if r.status != 401 || r.try_json() != Some(want) {
                failures.push(format!("{} -> {} {}", sent.describe(), r.status, r.text()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "a device token must be 401 off the device API:\n{}",
        failures.join("\n")
    );
    let after_device = snapshot(&a, &seen_by_a);
    for ((p, s0, v0), (_, s1, v1)) in before.iter().zip(&after_device) {
        assert_eq!(
            (s0, v0),
            (s1, v1),
            "org A's {p} changed after the device token's refused requests"
        );
    }

    // On the device API: its own app's accounts only.
    let list = dev
        .raw(&Req::get("/api/v1/device/accounts").bearer(&dev_a))
        .expect(200, "device list");
    let mut got = ids(&list);
    got.sort();
    let mut want = vec![totp_a.clone(), hotp_a.clone()];
    want.sort();
    assert_eq!(got, want, "the device lists its app's accounts only: {list}");
    let gen_path = |acc: &str| format!("/api/v1/device/accounts/{acc}/generate-otp");
    let otp = dev
        .raw(&Req::post(gen_path(&hotp_a)).bearer(&dev_a))
        .expect(200, "device code");
    assert_eq!(
        otp["otp_code"],
        hotp_rfc(0, 6).as_str(),
        "first HOTP code through the device"
    );
    for (what, acc) in [("A's other app", &acc_a2), ("org B", &acc_b)] {
        let r = dev.raw(&Req::post(gen_path(acc)).bearer(&dev_a));
        assert_eq!(
            r.status,
            404,
            "device generating for an account of {what}: {}",
            r.text()
        );
    }
    let invalid_device = json!({"detail": "Invalid device token"});
    let refused: Vec<(&str, Resp)> = vec![
        (
            "device token as X-Service-Token",
            dev.raw(&Req::get("/api/v1/device/accounts").token(&dev_a)),
        ),
        (
            "service token as Bearer",
            dev.raw(&Req::get("/api/v1/device/accounts").bearer(&ta)),
        ),
        (
            "service token as X-Service-Token",
            dev.raw(&Req::get("/api/v1/device/accounts").token(&ta)),
        ),
        (
            "service token generating",
            dev.raw(&Req::post(gen_path(&totp_a)).bearer(&ta)),
        ),
    ];
    for (what, r) in refused {
        assert_eq!(
            (r.status, r.try_json()),
            (401, Some(invalid_device.clone())),
            "{what}: {}",
            r.text()
        );
    }
    // The device's code advanced the counter by one, nothing else changed for A.
    let acc_now = a
        .get(&format!("{APPS}/{app_a}/accounts/{hotp_a}"))
        .expect(200, "HOTP account");
    assert_eq!(acc_now["counter"], 1, "{acc_now}");
    // Revoking the instance stops the device at once.
    a.delete(&format!("{APPS}/{app_a}/instances/{inst_a}"))
        .expect(204, "revoke instance");
    let r = dev.raw(&Req::get("/api/v1/device/accounts").bearer(&dev_a));
    assert_eq!(
        (r.status, r.try_json()),
        (401, Some(invalid_device)),
        "revoked device: {}",
        r.text()
    );
}
