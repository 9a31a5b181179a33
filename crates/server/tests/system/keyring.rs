//! The keyring (issue #22, item 1): a database written under today's bare master key opens after
//! a restart with `0:<same key>,k2:<new key>`; new secrets are sealed under the primary recorded
//! in the database (whatever the ring's order) until `authd key promote` changes it, which a
//! serving replica adopts; a ring without the key of a value answers a clean 500 for it and
//! keeps serving; a malformed ring is refused at start with one line that shows no key. (Rotation
//! under load, the rewrap and its crash test: `e2e/rotation/test_rotation.py`.)

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::{APPS, Cli, RFC_SECRET_B32, ServeOpts, Server, hotp_rfc, new_master_key, sqlite3_or_skip};

/// The header of each stored secret, by account name: `01` (key `0`, format 0x01), or the
/// first 4 bytes of another (`02`, the id length, a 2-byte id). `None` without the sqlite3 CLI.
fn headers(db: &Path) -> Option<String> {
    sqlite3_or_skip(
        db,
        "SELECT account_name || ' ' || hex(substr(secret, 1, CASE WHEN substr(secret, 1, 1) = x'01' \
         THEN 1 ELSE 4 END)) FROM accounts ORDER BY account_name",
        "the format of the stored secrets",
    )
}

#[test]
fn a_bare_key_database_opens_under_a_ring_and_new_secrets_use_the_recorded_primary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("authd.sqlite");
    let url = format!("sqlite://{}", db.display());
    let k0 = new_master_key();
    let k2 = new_master_key();
    let cli = Cli {
        db_url: url.clone(),
        master_key: k0.clone(),
        cwd: dir.path().to_owned(),
    };
    let token = cli.token_create("org_keyring", None);
    let hotp = |name: &str| format!("otpauth://hotp/K:{name}?secret={RFC_SECRET_B32}");

    // Today's configuration: one bare key.
    let opts = ServeOpts::new(&url, &k0, dir.path(), "keyring-bare");
    let mut server = Server::start(&opts);
    let api = server.api(&token);
    let app = api.create_app(None);
    let a1 = api.account_id(&app, &hotp("a1"));
    assert_eq!(api.generate(&app, &a1)["otp_code"], hotp_rfc(0, 6).as_str());
    assert!(server.stop(Duration::from_secs(10)).expect("exit").success());

    // The same key as `0`, then a new one: the old value opens, new ones are sealed under `0`.
    let ring = format!("0:{k0},k2:{k2}");
    let mut opts2 = opts.clone();
    opts2.master_key.clone_from(&ring);
    opts2.name = "keyring-0-first".into();
    let mut server = Server::start(&opts2);
    let api = server.api(&token);
    assert_eq!(api.generate(&app, &a1)["otp_code"], hotp_rfc(1, 6).as_str());
    let a2 = api.account_id(&app, &hotp("a2"));
    assert_eq!(api.generate(&app, &a2)["otp_code"], hotp_rfc(0, 6).as_str());
    assert!(server.stop(Duration::from_secs(10)).expect("exit").success());
    if let Some(h) = headers(&db) {
        assert_eq!(h.trim(), "a1 01\na2 01", "both under key 0 in the 0x01 format: {h}");
    }

    // `k2` first in the ring: the primary recorded in the database still seals (`0`); once
    // `k2` is promoted, the running replica adopts it at its next heartbeat (within 5 s), and new
    // values are sealed under it in the 0x02 format; the old ones still open.
    let mut opts3 = opts.clone();
    opts3.master_key = format!("k2:{k2}, 0:{k0}");
    opts3.name = "keyring-k2-first".into();
    let mut server = Server::start(&opts3);
    let api = server.api(&token);
    let a3 = api.account_id(&app, &hotp("a3"));
    let ringed_cli = Cli {
        master_key: opts3.master_key.clone(),
        ..cli.clone()
    };
    let promoted = ringed_cli.ok(&["key", "promote", "k2"]);
    assert!(promoted.starts_with("k2 is the primary"), "{promoted}");
    let adopted = (0..100).any(|_| {
        let status: serde_json::Value =
            serde_json::from_str(&ringed_cli.ok(&["key", "status", "--json"])).expect("status JSON");
        let sealing = status["replicas"][0]["sealing"].clone();
        sealing == "k2" || {
            std::thread::sleep(Duration::from_millis(200));
            false
        }
    });
    assert!(adopted, "the replica adopts the promoted key");
    let a4 = api.account_id(&app, &hotp("a4"));
    for (account, counter) in [(&a1, 2), (&a2, 1), (&a3, 0), (&a4, 0)] {
        assert_eq!(api.generate(&app, account)["otp_code"], hotp_rfc(counter, 6).as_str());
    }
    assert!(server.stop(Duration::from_secs(10)).expect("exit").success());
    if let Some(h) = headers(&db) {
        // 0x02, id length 2, "k2".
        assert_eq!(h.trim(), "a1 01\na2 01\na3 01\na4 02026B32", "{h}");
    }

    // `k2` alone: its value opens; the others are a clean 500, the counter unmoved, and the
    // server keeps serving.
    let mut opts4 = opts.clone();
    opts4.master_key = format!("k2:{k2}");
    opts4.name = "keyring-k2-alone".into();
    let mut server = Server::start(&opts4);
    let api = server.api(&token);
    assert_eq!(api.generate(&app, &a4)["otp_code"], hotp_rfc(1, 6).as_str());
    let r = api.post_empty(&format!("{APPS}/{app}/accounts/{a1}/generate-otp"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Internal server error"}));
    let counter = api.get(&format!("{APPS}/{app}/accounts/{a1}")).expect(200, "a1")["counter"].clone();
    assert_eq!(counter, 3, "a failed generation does not advance the counter");
    api.get("/healthz").expect(200, "healthz");
    assert!(server.stop(Duration::from_secs(10)).expect("exit").success());
    let log = server.log();
    for key in [&k0, &k2] {
        assert!(!log.contains(key.as_str()), "a master key in the log");
    }

    // check-config names the ids; a malformed ring is refused with one line and no key.
    let ringed = Cli {
        master_key: ring,
        ..cli.clone()
    };
    let out = ringed.ok(&["check-config"]);
    assert!(out.lines().any(|l| l == "key_ids: 0, k2"), "{out}");
    for (bad, want) in [
        (
            format!("0:{k0},0:{k2}"),
            "authd: AUTHD_MASTER_KEY: the key id `0` is given twice",
        ),
        (
            format!("{k0},K2:{k2}"),
            "authd: AUTHD_MASTER_KEY, entry 2: a key id must be",
        ),
        (
            format!("0:{k0},k2:{}", &k2[..20]),
            "authd: AUTHD_MASTER_KEY, entry 2: the master key must be base64",
        ),
    ] {
        let bad_cli = Cli {
            master_key: bad.clone(),
            ..cli.clone()
        };
        let out = bad_cli.run(&["check-config"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with(want), "{stderr}");
        for key in [&k0, &k2] {
            assert!(!stderr.contains(&key[..12]), "key material in {stderr}");
        }
    }
}
