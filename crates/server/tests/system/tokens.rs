//! Scoped, confined service tokens on two `authd serve` replicas sharing one PostgreSQL database:
//! a confined token sees only its identity's records on both replicas, cannot mint anything
//! broader than itself on either, and once revoked on one replica is refused by both within the
//! token cache's 2-second bound (plus slack).
//!
//! Expiry: a token minted with the shortest lifetime (60 s) is used on both replicas a second
//! before its time and refused as expired by both right after it (this test waits that minute).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::replicas::start_pair;
use crate::support::{APPS, PgDb, RFC_SECRET_B32, Resp, Server, str_field};

/// `/api/v1/tokens`.
const TOKENS: &str = "/api/v1/tokens";
/// The org of this test.
const ORG: &str = "org_sys_tokens";
/// How long a replica may keep serving a revoked token from its cache (2 s) plus slack.
const REVOCATION_BOUND: Duration = Duration::from_secs(3);
/// A replica caches a verified token for at most this long.
const CACHE_TTL: Duration = Duration::from_secs(2);
/// The prefix of every 403 for a token minting a broader one.
const TOO_BROAD: &str = "a token cannot mint a token broader than itself";

fn totp_uri(label: &str) -> String {
    format!("otpauth://totp/Sys:{label}?secret={RFC_SECRET_B32}&issuer=Sys")
}

/// The `id`s of a JSON array of objects, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a bare JSON array, got {list}"))
        .iter()
        .map(|x| str_field(x, "id"))
        .collect()
}

/// The `detail` string of an error body; panics otherwise.
fn detail(r: &Resp) -> String {
    let v = r.json();
    v.get("detail")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected {{\"detail\": string}}, got {} {v}", r.status))
        .to_owned()
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp (`2026-03-18T12:00:00Z`, optional
/// fraction); panics otherwise.
fn unix_seconds(ts: &str) -> i64 {
    let fields: Option<Vec<i64>> =
        ts.strip_suffix('Z')
            .and_then(|rest| rest.split_once('T'))
            .and_then(|(date, time)| {
                let time = time.split('.').next().unwrap_or_default();
                date.split('-')
                    .chain(time.split(':'))
                    .map(|s| s.parse::<i64>().ok())
                    .collect()
            });
    let Some(f) = fields.filter(|f| f.len() == 6) else {
        panic!("not an RFC 3339 UTC timestamp: {ts:?}")
    };
    let (d, t) = (&f[..3], &f[3..]);
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

/// Checks the shape of a token object (with `token` when `with_secret`).
fn check_token_object(v: &Value, with_secret: bool, ctx: &str) {
    let mut want = vec![
        "apps",
        "created_at",
        "expires_at",
        "id",
        "identities",
        "last_used_at",
        "name",
        "revoked_at",
        "scopes",
    ];
    if with_secret {
        want.push("token");
    }
    want.sort_unstable();
    let mut keys: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: a token is an object, got {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, want, "{ctx}: the fields of a token object: {v}");
    if with_secret {
        assert!(
            str_field(v, "token").starts_with("authd_st_"),
            "{ctx}: a minted token starts with authd_st_: {v}"
        );
    }
}

#[test]
fn confined_tokens_on_two_replicas_scopes_confinement_minting_and_revocation() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let replicas: [(&str, &Server); 2] = [("A", &p.a), ("B", &p.b)];
    let admin = p.cli.token_create(ORG, None);
    let (admin_a, admin_b) = (p.a.api(&admin), p.b.api(&admin));
    // A token that expires in a minute (the shortest lifetime), used on both replicas at the
    // end: both refuse it as expired once its time is up.
    let expiring = admin_a
        .post(TOKENS, &json!({ "scopes": ["apps:read"], "expires_in_seconds": 60 }))
        .expect(201, "a token expiring in 60 s");
    let expiring_token = str_field(&expiring, "token");
    let expiring_at = Instant::now() + Duration::from_secs(60);
    for srv in [&p.a, &p.b] {
        srv.api(&expiring_token)
            .get(APPS)
            .expect(200, "the expiring token before its time");
    }

    // The CLI's flagless token is an admin token over the whole org.
    let admin_self = admin_a
        .get(&format!("{TOKENS}/self"))
        .expect(200, "admin GET /tokens/self");
    check_token_object(&admin_self, false, "admin token");
    assert_eq!(admin_self["scopes"], json!(["admin"]), "{admin_self}");
    assert!(
        admin_self["identities"].is_null() && admin_self["apps"].is_null(),
        "{admin_self}"
    );
    assert!(admin_self["expires_at"].is_null(), "{admin_self}");
    let admin_id = str_field(&admin_self, "id");

    // 1. Setup: identities bot and other, an app linked to each with a TOTP account (spread
    //    over both replicas).
    admin_a.create_identity("bot");
    admin_b.create_identity("other");
    let bot_app = admin_a.create_app(Some("bot"));
    let other_app = admin_b.create_app(Some("other"));
    let bot_acc = admin_b.account_id(&bot_app, &totp_uri("bot"));
    let other_acc = admin_a.account_id(&other_app, &totp_uri("other"));
    let missing = "0190c0de-0000-7000-8000-000000000000";

    // 2. Via replica A, the admin mints the confined token C.
    let minted = admin_a.post(
        TOKENS,
        &json!({
            "name": "confined-c",
            "scopes": ["apps:read", "otp:generate", "tokens:write"],
            "identities": ["bot"],
            "apps": null,
            "expires_in_seconds": null,
        }),
    );
    let c_obj = minted.expect(201, "admin mints C on A");
    check_token_object(&c_obj, true, "C");
    assert_eq!(c_obj["name"], "confined-c", "{c_obj}");
    assert_eq!(
        c_obj["scopes"],
        json!(["apps:read", "otp:generate", "tokens:write"]),
        "{c_obj}"
    );
    assert_eq!(c_obj["identities"], json!(["bot"]), "{c_obj}");
    assert!(c_obj["apps"].is_null(), "not confined to apps: {c_obj}");
    for k in ["expires_at", "revoked_at", "last_used_at"] {
        assert!(c_obj[k].is_null(), "{k} of a fresh C: {c_obj}");
    }
    let c = str_field(&c_obj, "token");
    let c_id = str_field(&c_obj, "id");

    // When C was last used on each replica (the cache entry is set by the first use after the
    // previous one expired).
    let mut last_c_use = [Instant::now(); 2];
    for (i, (name, srv)) in replicas.iter().enumerate() {
        let (ca, adm) = (srv.api(&c), srv.api(&admin));
        let ctx = |what: &str| format!("replica {name}: {what}");

        let listed = ca.get(APPS).expect(200, &ctx("C lists apps"));
        assert_eq!(
            ids(&listed),
            vec![bot_app.clone()],
            "{}",
            ctx("C lists exactly bot's app")
        );
        let app = ca
            .get(&format!("{APPS}/{bot_app}"))
            .expect(200, &ctx("C reads bot's app"));
        assert_eq!(str_field(&app, "id"), bot_app);
        let otp = ca.generate(&bot_app, &bot_acc);
        assert_eq!(otp["otp_type"], "totp", "{}: {otp}", ctx("C generates for bot"));
        let code = str_field(&otp, "otp_code");
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{}: {otp}",
            ctx("a 6-digit code")
        );

        // Other's records answer exactly like missing ones.
        let pairs = [
            (
                format!("{APPS}/{other_app}"),
                format!("{APPS}/{missing}"),
                "GET other's app",
            ),
            (
                format!("{APPS}/{other_app}/accounts"),
                format!("{APPS}/{missing}/accounts"),
                "GET other's accounts",
            ),
            (
                format!("{APPS}/{other_app}/accounts/{other_acc}"),
                format!("{APPS}/{missing}/accounts/{missing}"),
                "GET other's account",
            ),
        ];
        for (outside, absent, what) in &pairs {
            let (o, m) = (ca.get(outside), ca.get(absent));
            assert_eq!(o.status, 404, "{}: {} {}", ctx(what), o.status, o.text());
            assert_eq!(
                (o.status, o.json()),
                (m.status, m.json()),
                "{}: outside C's identities must answer as a missing record",
                ctx(what)
            );
        }
        let o = ca.post_empty(&format!("{APPS}/{other_app}/accounts/{other_acc}/generate-otp"));
        let m = ca.post_empty(&format!("{APPS}/{missing}/accounts/{missing}/generate-otp"));
        assert_eq!(
            o.status,
            404,
            "{}: {} {}",
            ctx("generate for other"),
            o.status,
            o.text()
        );
        assert_eq!(
            (o.status, o.json()),
            (m.status, m.json()),
            "{}",
            ctx("generate for other answers as for a missing account")
        );

        // A scope C lacks: 403 with exactly this body, for an app inside or outside.
        for body in [json!({}), json!({ "agent_handle": "bot" })] {
            let r = ca.post(APPS, &body);
            assert_eq!(r.status, 403, "{}: {} {}", ctx("C creates an app"), r.status, r.text());
            assert_eq!(
                r.json(),
                json!({ "detail": "this token lacks the scope apps:write" }),
                "{}",
                ctx("403 body")
            );
        }

        // C reads itself on either replica.
        let me = ca
            .get(&format!("{TOKENS}/self"))
            .expect(200, &ctx("C GET /tokens/self"));
        check_token_object(&me, false, &ctx("C self"));
        assert_eq!(str_field(&me, "id"), c_id);
        assert_eq!(me["identities"], json!(["bot"]));
        last_c_use[i] = Instant::now();

        // The admin token, side by side, still sees both apps.
        let all = adm.get(APPS).expect(200, &ctx("admin lists apps"));
        assert_eq!(
            ids(&all),
            vec![bot_app.clone(), other_app.clone()],
            "{}",
            ctx("admin sees both apps, oldest first")
        );
        adm.get(&format!("{APPS}/{other_app}/accounts/{other_acc}"))
            .expect(200, &ctx("admin reads other's account"));
        adm.generate(&other_app, &other_acc);
    }

    // 3. Minting: nothing broader than C on either replica; a narrower, expiring child works.
    let mut children = Vec::new();
    for (i, (name, srv)) in replicas.iter().enumerate() {
        let ca = srv.api(&c);
        let ctx = |what: &str| format!("replica {name}: {what}");
        let broader = [
            (json!({ "scopes": ["admin"], "identities": ["bot"] }), "the scope admin"),
            (json!({ "scopes": ["admin"] }), "the scope admin"),
            (
                json!({ "scopes": ["otp:generate"], "identities": ["other"] }),
                "the identities other",
            ),
            (
                json!({ "scopes": ["otp:generate"] }),
                "every identity and app (no restriction)",
            ),
            (json!({ "scopes": ["otp:generate"], "apps": [other_app] }), "the app"),
            (
                json!({ "scopes": ["apps:write"], "identities": ["bot"] }),
                "the scope apps:write",
            ),
        ];
        for (body, what) in &broader {
            let r = ca.post(TOKENS, body);
            assert_eq!(
                r.status,
                403,
                "{}: {} {}",
                ctx(&format!("C mints {body}")),
                r.status,
                r.text()
            );
            let d = detail(&r);
            assert!(
                d.starts_with(TOO_BROAD) && d.contains(what),
                "{}: detail {d:?} must start with {TOO_BROAD:?} and name {what:?}",
                ctx(&format!("C mints {body}"))
            );
        }
        let minted = ca.post(
            TOKENS,
            &json!({
                "name": format!("child-d-{name}"),
                "scopes": ["otp:generate"],
                "identities": ["bot"],
                "expires_in_seconds": 60,
            }),
        );
        let d_obj = minted.expect(201, &ctx("C mints D (otp:generate, bot, 60 s)"));
        check_token_object(&d_obj, true, &ctx("D"));
        assert_eq!(d_obj["scopes"], json!(["otp:generate"]), "{d_obj}");
        assert_eq!(d_obj["identities"], json!(["bot"]), "{d_obj}");
        let lifetime = unix_seconds(&str_field(&d_obj, "expires_at")) - unix_seconds(&str_field(&d_obj, "created_at"));
        assert!(
            (59..=61).contains(&lifetime),
            "{}: D expires 60 s after its creation, got {lifetime} s: {d_obj}",
            ctx("D's expiry")
        );
        last_c_use[i] = Instant::now();
        children.push((str_field(&d_obj, "token"), str_field(&d_obj, "id")));
    }
    // Each child works on the other replica, within its scope and identity only.
    for (j, (d, _)) in children.iter().enumerate() {
        let (name, srv) = replicas[1 - j];
        let da = srv.api(d);
        let ctx = |what: &str| format!("replica {name}, D minted on {}: {what}", replicas[j].0);
        let otp = da.generate(&bot_app, &bot_acc);
        assert_eq!(otp["otp_type"], "totp", "{}: {otp}", ctx("D generates for bot"));
        let r = da.post_empty(&format!("{APPS}/{other_app}/accounts/{other_acc}/generate-otp"));
        assert_eq!(
            r.status,
            404,
            "{}: {} {}",
            ctx("D generates for other"),
            r.status,
            r.text()
        );
        let r = da.get(APPS);
        assert_eq!(
            (r.status, r.json()),
            (403, json!({ "detail": "this token lacks the scope apps:read" })),
            "{}",
            ctx("D lists apps")
        );
    }
    // The token lists: C sees itself and its children, never the broader admin token; the admin
    // sees all of them.
    let c_list = ids(&p.b.api(&c).get(TOKENS).expect(200, "C lists tokens on B"));
    last_c_use[1] = Instant::now();
    let admin_list = ids(&admin_a.get(TOKENS).expect(200, "admin lists tokens on A"));
    let mut all = vec![admin_id.clone(), c_id.clone()];
    all.extend(children.iter().map(|(_, id)| id.clone()));
    for id in &all {
        assert!(admin_list.contains(id), "admin's list has {id}: {admin_list:?}");
    }
    for id in &all[1..] {
        assert!(c_list.contains(id), "C's list has {id}: {c_list:?}");
    }
    assert!(
        !c_list.contains(&admin_id),
        "C must not list the broader admin token: {c_list:?}"
    );

    // Observation only (the contract has two rules that meet here): minting for a handle that
    // exists outside C's identities is 403, for one that does not exist at all 404.
    let nobody = p.a.api(&c).post(
        TOKENS,
        &json!({ "scopes": ["otp:generate"], "identities": ["nobody-here"] }),
    );
    let no_app =
        p.a.api(&c)
            .post(TOKENS, &json!({ "scopes": ["otp:generate"], "apps": [missing] }));
    last_c_use[0] = Instant::now();
    // Outside C's view, a missing handle or app is refused like an existing one: minting
    // tells C nothing about records it cannot see.
    for (r, what) in [(&nobody, "an unknown handle"), (&no_app, "an unknown app")] {
        assert_eq!(r.status, 403, "C minting for {what}: {}", r.text());
        assert!(detail(r).starts_with(TOO_BROAD), "C minting for {what}: {}", r.text());
    }

    // 4. Revocation through replica B while C is cached on both. Let A's cache entry of C
    //    lapse, then use C once on each replica, so A's entry is as fresh as it can be (the
    //    worst case: A may serve C from memory for the whole 2 s after the revocation).
    let since_a = last_c_use[0].elapsed();
    if since_a < CACHE_TTL + Duration::from_millis(100) {
        std::thread::sleep(CACHE_TTL + Duration::from_millis(100) - since_a);
    }
    let a_cached_at = Instant::now(); // A's entry of C is made by this request
    for (name, srv) in replicas {
        let r = srv.api(&c).get(APPS);
        assert_eq!(r.status, 200, "replica {name}: C just before revocation: {}", r.text());
    }
    let revoke_started = Instant::now();
    admin_b
        .delete(&format!("{TOKENS}/{c_id}"))
        .expect(204, "admin revokes C on B");
    eprintln!(
        "C used on A {:?} before the revocation; DELETE on B took {:?}",
        revoke_started - a_cached_at,
        revoke_started.elapsed()
    );
    let mut refused: [Option<Duration>; 2] = [None, None];
    let mut served_after: [u32; 2] = [0, 0];
    while refused.iter().any(Option::is_none) && revoke_started.elapsed() < REVOCATION_BOUND * 2 {
        for (i, (name, srv)) in replicas.iter().enumerate() {
            if refused[i].is_some() {
                continue;
            }
            let r = srv.api(&c).get(APPS);
            match r.status {
                401 => {
                    assert_eq!(
                        r.json(),
                        json!({ "detail": "Invalid service token" }),
                        "replica {name}: the 401 body of a revoked token"
                    );
                    refused[i] = Some(revoke_started.elapsed());
                }
                200 => served_after[i] += 1,
                s => panic!(
                    "replica {name}: a revoked token is 200 (cached) or 401, got {s} {}",
                    r.text()
                ),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "revocation of C (DELETE on B): refused by A after {:?} ({} cached 200s before; {:?} after A cached it), by B after {:?} ({} cached 200s before); bound {REVOCATION_BOUND:?}",
        refused[0],
        served_after[0],
        refused[0].map(|t| t + (revoke_started - a_cached_at)),
        refused[1],
        served_after[1]
    );
    for (i, (name, _)) in replicas.iter().enumerate() {
        assert!(
            refused[i].is_some_and(|t| t <= REVOCATION_BOUND),
            "replica {name} must refuse C within {REVOCATION_BOUND:?} of its revocation (the cache \
             holds a token at most {CACHE_TTL:?}); refused after {:?}",
            refused[i]
        );
    }
    // It stays refused everywhere, on every route; the admin token is unaffected.
    for (name, srv) in replicas {
        let ca = srv.api(&c);
        for r in [
            ca.get(APPS),
            ca.get(&format!("{TOKENS}/self")),
            ca.post_empty(&format!("{APPS}/{bot_app}/accounts/{bot_acc}/generate-otp")),
            ca.post(TOKENS, &json!({ "scopes": ["otp:generate"], "identities": ["bot"] })),
        ] {
            assert_eq!(
                (r.status, r.json()),
                (401, json!({ "detail": "Invalid service token" })),
                "replica {name}: revoked C stays refused"
            );
        }
        srv.api(&admin)
            .get(APPS)
            .expect(200, &format!("replica {name}: the admin token still works"));
    }
    let listed = admin_a
        .get(TOKENS)
        .expect(200, "admin lists tokens after the revocation");
    let entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|t| t["id"] == c_id.as_str()))
        .unwrap_or_else(|| panic!("a revoked token is still listed: {listed}"));
    assert!(entry["revoked_at"].is_string(), "C's revoked_at is set: {entry}");
    let again = admin_a.delete(&format!("{TOKENS}/{c_id}"));
    assert_eq!(again.status, 404, "revoking C again: {} {}", again.status, again.text());

    // C's children went with it (the revocation reaches every token C minted): refused by
    // both replicas within the same bound.
    for (j, (d, _)) in children.iter().enumerate() {
        for (name, srv) in replicas {
            let gone = crate::support::poll(REVOCATION_BOUND, Duration::from_millis(100), || {
                let r = srv.api(d).get(&format!("{TOKENS}/self"));
                (r.status == 401).then_some(())
            });
            assert!(
                gone.is_some(),
                "replica {name}: D{j}, minted by C, must be refused once C is revoked"
            );
        }
    }

    // 5. Expiry: the one-minute token, cached by both replicas a moment before its time, is
    //    refused by both from its `expires_at` on (the cache never serves an expired token).
    let last_use = expiring_at
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_secs(1));
    std::thread::sleep(last_use);
    for (name, srv) in replicas {
        let r = srv.api(&expiring_token).get(APPS);
        assert!(
            r.status == 200 || Instant::now() >= expiring_at,
            "replica {name}: the token a second before its expiry: {}",
            r.text()
        );
    }
    for (name, srv) in replicas {
        let refused = crate::support::poll(Duration::from_secs(3), Duration::from_millis(100), || {
            let r = srv.api(&expiring_token).get(APPS);
            (r.status == 401).then(|| r.json())
        });
        assert_eq!(
            refused,
            Some(json!({ "detail": "token expired" })),
            "replica {name}: an expired token is refused within a second of its expiry"
        );
    }
}

/// Mints by a parent token, from threads released together on both replicas, race the
/// parent's revocation: every child that was minted (201) is revoked with its parent, none
/// slips past it (a mint holds its parent's row locked, the revocation then finds the child;
/// PostgreSQL, read committed). Five rounds, the revocation at a different position each.
#[test]
fn a_revocation_racing_mints_leaves_no_child_alive() {
    const MINTS: usize = 8;
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let admin = p.cli.token_create(ORG, None);
    let admin_a = p.a.api(&admin);
    admin_a
        .post("/api/v1/identities", &json!({ "agent_handle": "bot" }))
        .expect(201, "identity bot");
    let servers = [&p.a, &p.b];
    let (mut minted_total, mut refused_total) = (0, 0);
    for round in 0..5 {
        let parent = admin_a
            .post(
                TOKENS,
                &json!({ "scopes": ["otp:generate", "tokens:write"], "identities": ["bot"] }),
            )
            .expect(201, "parent token");
        let (parent_token, parent_id) = (str_field(&parent, "token"), str_field(&parent, "id"));
        for srv in servers {
            srv.api(&parent_token)
                .get(&format!("{TOKENS}/self"))
                .expect(200, "the parent, cached on both replicas");
        }
        let barrier = Barrier::new(MINTS + 1);
        let (minted, revoke_status) = std::thread::scope(|s| {
            let mints: Vec<_> = (0..MINTS)
                .map(|i| {
                    let api = servers[(i + round) % 2].api(&parent_token);
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        let r = api.post(TOKENS, &json!({ "scopes": ["otp:generate"], "identities": ["bot"] }));
                        match r.status {
                            201 => Some(str_field(&r.json(), "id")),
                            401 => None,
                            other => panic!("a mint racing its parent's revocation: {other} {}", r.text()),
                        }
                    })
                })
                .collect();
            let revoker = {
                let api = servers[(round + 1) % 2].api(&admin);
                let barrier = &barrier;
                let path = format!("{TOKENS}/{parent_id}");
                s.spawn(move || {
                    barrier.wait();
                    api.delete(&path).status
                })
            };
            let minted: Vec<Option<String>> = mints.into_iter().map(|t| t.join().expect("mint thread")).collect();
            (minted, revoker.join().expect("revoke thread"))
        });
        assert_eq!(revoke_status, 204, "round {round}: the revocation");
        let listed = admin_a.get(TOKENS).expect(200, "the admin lists every token");
        let list = listed.as_array().expect("array");
        for id in minted.iter().flatten() {
            let t = list
                .iter()
                .find(|t| t["id"] == id.as_str())
                .unwrap_or_else(|| panic!("round {round}: minted child {id} is not listed"));
            assert!(
                t["revoked_at"].is_string(),
                "round {round}: child {id}, minted while its parent was being revoked, is still alive: {t}"
            );
        }
        minted_total += minted.iter().flatten().count();
        refused_total += minted.iter().filter(|m| m.is_none()).count();
    }
    eprintln!(
        "mint vs revoke: {minted_total} children minted (all revoked with their parent), {refused_total} mints refused"
    );
}
