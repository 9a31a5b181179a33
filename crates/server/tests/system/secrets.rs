//! Secrets stay secret: not in the SQLite file, its WAL, the logs, the CLI output or any
//! response; a wrong master key is a clean `500` and the server keeps serving.

use std::path::Path;
use std::time::Duration;

use domain::otp::{Algorithm, Digits, hotp};
use serde_json::{Value, json};

use crate::support::{
    APPS, Cli, Req, Resp, ServeOpts, Server, base32, base64, contains, hex, new_master_key, random_bytes, str_field,
};

/// Every form a secret could leak in.
fn forms(name: &str, bytes: &[u8], given: &str) -> Vec<(String, Vec<u8>)> {
    let b32 = base32(bytes);
    let mut v = vec![
        (format!("{name} as given"), given.as_bytes().to_vec()),
        (format!("{name} base32 upper"), b32.to_uppercase().into_bytes()),
        (format!("{name} base32 lower"), b32.to_lowercase().into_bytes()),
        (format!("{name} hex lower"), hex(bytes).into_bytes()),
        (format!("{name} hex upper"), hex(bytes).to_uppercase().into_bytes()),
        (
            format!("{name} base64"),
            base64(bytes).trim_end_matches('=').as_bytes().to_vec(),
        ),
        (format!("{name} raw bytes"), bytes.to_vec()),
    ];
    v.retain(|(_, b)| !b.is_empty());
    v
}

/// Panics when any form occurs in `hay`.
fn assert_absent(what: &str, hay: &[u8], secrets: &[(String, Vec<u8>)]) {
    for (name, needle) in secrets {
        assert!(!contains(hay, needle), "{name} found in {what}");
    }
}

/// Scans every file of `dir` (database, WAL, shared memory, server logs).
fn scan_dir(dir: &Path, secrets: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut scanned = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read file");
        assert_absent(&path.display().to_string(), &bytes, secrets);
        scanned.push(format!(
            "{} ({} bytes)",
            path.file_name().unwrap_or_default().to_string_lossy(),
            bytes.len()
        ));
    }
    scanned
}

#[test]
fn secrets_never_leak_and_a_wrong_master_key_is_a_clean_500() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_file = dir.path().join("authd.sqlite");
    let url = format!("sqlite://{}", db_file.display());
    let key = new_master_key();
    let mut opts = ServeOpts::new(&url, &key, dir.path(), "secrets");
    opts.rust_log = Some("debug".into());
    let mut server = Server::start(&opts);
    let cli = Cli {
        db_url: url.clone(),
        master_key: key.clone(),
        cwd: dir.path().to_owned(),
    };

    // The token, and what the CLI prints around it.
    let created = cli.run(&["token", "create", "--org", "org_secrets", "--name", "ops"]);
    assert!(
        created.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout).expect("utf-8").trim_end().to_owned();
    let token_secret = token.trim_start_matches("authd_st_").to_owned();
    let mut tokens = vec![
        ("service token".to_owned(), token.clone().into_bytes()),
        ("service token without prefix".to_owned(), token_secret.into_bytes()),
        ("master key".to_owned(), key.clone().into_bytes()),
    ];
    assert_absent("stderr of token create", &created.stderr, &tokens);
    let api = server.api(&token);

    // Account secrets: high-entropy, in several spellings.
    let s1 = random_bytes::<20>(); // TOTP, given upper-case without padding
    let s1_given = base32(&s1);
    let s2 = random_bytes::<32>(); // HOTP sha256/8, given lower-case with padding
    let s2_given = format!("{}====", base32(&s2).to_lowercase());
    let s3 = random_bytes::<16>(); // refused import (400)
    let s3_given = base32(&s3);
    let s4 = random_bytes::<10>(); // refused import (422)
    let s4_given = base32(&s4);
    let mut secrets = Vec::new();
    secrets.extend(forms("TOTP secret", &s1, &s1_given));
    secrets.extend(forms("HOTP secret", &s2, &s2_given));
    secrets.extend(forms("secret of a refused import (400)", &s3, &s3_given));
    secrets.extend(forms("secret of a refused import (422)", &s4, &s4_given));

    // The lifecycle; every response body is kept.
    let mut bodies: Vec<Resp> = Vec::new();
    let mut keep = |r: Resp, status: u16, ctx: &str| -> Value {
        let v = r.expect(status, ctx);
        bodies.push(r);
        v
    };
    keep(
        api.post("/api/v1/identities/", &json!({"agent_handle": "alice"})),
        201,
        "identity",
    );
    let app = str_field(
        &keep(api.post(APPS, &json!({"agent_handle": "@alice"})), 201, "linked app"),
        "id",
    );
    let accounts = format!("{APPS}/{app}/accounts");
    let totp_uri = format!("otpauth://totp/Vault:alice%40example.com?secret={s1_given}&issuer=Vault");
    let a1 = keep(
        api.post(&accounts, &json!({"otpauth_uri": totp_uri, "display_name": "t"})),
        201,
        "TOTP",
    );
    let a1 = str_field(&a1, "id");
    let hotp_uri = format!("otpauth://hotp/Vault:bob?secret={s2_given}&algorithm=SHA256&digits=8&counter=5");
    let a2 = str_field(
        &keep(api.post(&accounts, &json!({"otpauth_uri": hotp_uri})), 201, "HOTP"),
        "id",
    );
    let bad400 = format!("otpauth://totp/Vault:x?secret={s3_given}&digits=7");
    keep(api.post(&accounts, &json!({"otpauth_uri": bad400})), 400, "digits=7");
    let bad422 = format!("otpauth://steam/Vault:x?secret={s4_given}");
    keep(api.post(&accounts, &json!({"otpauth_uri": bad422})), 422, "steam URI");
    for _ in 0..2 {
        keep(
            api.post_empty(&format!("{accounts}/{a1}/generate-otp")),
            200,
            "TOTP code",
        );
    }
    let sha256_8 = |c| hotp(Algorithm::Sha256, &s2, c, Digits::EIGHT);
    for counter in 5..7 {
        let otp = keep(
            api.post_empty(&format!("{accounts}/{a2}/generate-otp")),
            200,
            "HOTP code",
        );
        assert_eq!(
            otp["otp_code"],
            sha256_8(counter).as_str(),
            "HOTP code at counter {counter}"
        );
    }
    keep(
        api.patch(
            &format!("{accounts}/{a1}"),
            &json!({"display_name": "Work", "description": "d"}),
        ),
        200,
        "patch",
    );
    keep(api.get(&accounts), 200, "list accounts");
    keep(api.get(&format!("{accounts}/{a2}")), 200, "get account");
    let inst = keep(
        api.post(
            &format!("{APPS}/{app}/instances"),
            &json!({"device_name": "Pixel", "platform": "ANDROID"}),
        ),
        201,
        "enroll",
    );
    let device = str_field(&inst, "device_token");
    assert!(device.starts_with("authd_dev_"), "device token prefix: {device}");
    let inst2 = keep(
        api.post(
            &format!("{APPS}/{app}/instances"),
            &json!({"device_name": "Old", "platform": "ios"}),
        ),
        201,
        "enroll 2",
    );
    let device2 = str_field(&inst2, "device_token");
    keep(
        api.delete(&format!("{APPS}/{app}/instances/{}", str_field(&inst2, "id"))),
        204,
        "revoke 2",
    );
    let dev = |req: Req, t: &str| api.raw(&req.bearer(t));
    keep(dev(Req::get("/api/v1/device/accounts"), &device), 200, "device list");
    let otp = keep(
        dev(Req::post(format!("/api/v1/device/accounts/{a2}/generate-otp")), &device),
        200,
        "device code",
    );
    assert_eq!(otp["otp_code"], sha256_8(7).as_str(), "device HOTP code at counter 7");
    // Tokens used where they are refused must not be logged either.
    keep(
        dev(Req::get("/api/v1/device/accounts"), &device2),
        401,
        "revoked device token",
    );
    keep(dev(Req::get(APPS), &device), 401, "device token on a service path");
    keep(
        api.raw(&Req::get("/api/v1/device/accounts").token(&device)),
        401,
        "device token as X-Service-Token",
    );
    keep(
        dev(Req::get("/oauth/api/v1/users/alice/authentication/apps"), &token),
        200,
        "OneWelcome list",
    );
    // Typed codes (verify): a wrong one (counted) and one of the wrong shape (422) are never
    // stored, logged or echoed.
    let typed = "9081726354";
    let typed_too_long = "90817263541234";
    let verified = keep(
        api.post(&format!("{accounts}/{a1}/verify"), &json!({"otp_code": typed})),
        200,
        "verify a wrong code",
    );
    assert_eq!(verified["reason"], "invalid", "{verified}");
    keep(
        api.post(&format!("{accounts}/{a1}/verify"), &json!({"otp_code": typed_too_long})),
        422,
        "verify a code of 14 digits",
    );
    secrets.push(("typed code".to_owned(), typed.as_bytes().to_vec()));
    secrets.push((
        "typed code of the wrong shape".to_owned(),
        typed_too_long.as_bytes().to_vec(),
    ));
    let counter_before = keep(api.get(&format!("{accounts}/{a2}")), 200, "HOTP account")["counter"].clone();
    assert_eq!(counter_before, 8);

    for (label, t) in [("device token", &device), ("revoked device token", &device2)] {
        tokens.push((label.to_owned(), t.clone().into_bytes()));
        tokens.push((
            format!("{label} without prefix"),
            t.trim_start_matches("authd_dev_").as_bytes().to_vec(),
        ));
    }
    let mut all: Vec<(String, Vec<u8>)> = secrets.clone();
    all.extend(tokens.iter().cloned());

    // No account secret in any response (tokens appear once, at creation: not checked here).
    for r in &bodies {
        assert_absent(&format!("a response ({} {})", r.status, r.text()), &r.body, &secrets);
    }
    // The CLI never prints a token (nor the master key).
    for args in [&["token", "list"][..], &["token", "list", "--json"], &["check-config"]] {
        let out = cli.run(args);
        assert!(
            out.status.success(),
            "authd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_absent(&format!("stdout of authd {args:?}"), &out.stdout, &all);
        assert_absent(&format!("stderr of authd {args:?}"), &out.stderr, &all);
    }

    // Stop, then scan the database, its WAL and the logs.
    let status = server.stop(Duration::from_secs(10)).expect("exit after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = server.log();
    assert!(log.contains("authd listening"), "the log was captured: {log}");
    let scanned = scan_dir(dir.path(), &all);
    eprintln!("scanned for secrets: {scanned:?}");
    assert!(
        scanned.iter().any(|s| s.starts_with("authd.sqlite ")),
        "the database file was scanned"
    );
    // Positive control: what is stored in clear (the issuer, the account id) is found by the
    // same scan, so an absent secret is really absent.
    let mut stored = std::fs::read(&db_file).expect("read db");
    stored.extend(std::fs::read(dir.path().join("authd.sqlite-wal")).unwrap_or_default());
    assert!(contains(&stored, b"Vault"), "the issuer is in the database or its WAL");
    assert!(log.contains("generate-otp"), "the requests were logged (by route)");

    // Restart on the same database with another master key.
    let other_key = new_master_key();
    let mut opts2 = opts.clone();
    opts2.master_key = other_key.clone();
    opts2.name = "secrets-other-key".into();
    let mut server = Server::start(&opts2);
    let api = server.api(&token);
    let internal = json!({"detail": "Internal server error"});
    for (what, r) in [
        ("TOTP", api.post_empty(&format!("{accounts}/{a1}/generate-otp"))),
        ("HOTP", api.post_empty(&format!("{accounts}/{a2}/generate-otp"))),
        (
            "device",
            api.raw(&Req::post(format!("/api/v1/device/accounts/{a1}/generate-otp")).bearer(&device)),
        ),
    ] {
        assert_eq!(
            r.status,
            500,
            "{what} generate-otp under another master key: {}",
            r.text()
        );
        assert!(
            r.is_json(),
            "{what}: JSON body with Content-Type application/json: {:?}",
            r.headers
        );
        assert_eq!(r.json(), internal, "{what}: exactly the generic 500 body");
    }
    // A failed generation does not advance the counter.
    let counter_after = api.get(&format!("{accounts}/{a2}")).expect(200, "HOTP account")["counter"].clone();
    assert_eq!(
        counter_after, counter_before,
        "a failed HOTP generation must not advance the counter"
    );
    // And the server keeps serving.
    api.get("/healthz").expect(200, "healthz");
    api.get(APPS).expect(200, "list apps");
    api.get(&accounts).expect(200, "list accounts");
    let fresh = str_field(
        &api.create_account(&app, "otpauth://totp/New:n?secret=JBSWY3DPEHPK3PXP"),
        "id",
    );
    api.generate(&app, &fresh);
    let status = server.stop(Duration::from_secs(10)).expect("exit after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log2 = server.log();
    assert!(
        log2.contains("ERROR") || log2.contains("\"error\""),
        "the cause of the 500 is logged: {log2}"
    );
    all.push(("the other master key".into(), other_key.into_bytes()));
    scan_dir(dir.path(), &all);
}
