//! Verification against the real binary, two replicas on one PostgreSQL: one valid code sent
//! 16 times at once across both is accepted exactly once (TOTP and HOTP), and wrong codes sent
//! 12 at a time across both are each either counted (`invalid`) or refused as locked (`429`),
//! with the database's failure count equal to the `invalid` answers (no update lost), never a
//! 5xx.

use std::sync::{Barrier, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::otp::{self, Algorithm, Digits, Period};
use serde_json::{Value, json};

use crate::replicas::{Pair, start_pair};
use crate::support::{APPS, PgDb, RFC_SECRET, RFC_SECRET_B32, Req, hotp_rfc, psql, str_field};

/// One answer: status, `Retry-After`, body.
type Answer = (u16, Option<String>, Value);

/// Sends `n` verifications of `code` at once (released by a barrier), alternating replicas.
fn race(p: &Pair, token: &str, path: &str, n: usize, code: &str) -> Vec<Answer> {
    let barrier = Barrier::new(n);
    let answers = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for i in 0..n {
            let (barrier, answers) = (&barrier, &answers);
            let addr = if i % 2 == 0 { p.a.addr } else { p.b.addr };
            s.spawn(move || {
                let req = Req::post(path).token(token).json(&json!({ "otp_code": code }));
                barrier.wait();
                let r = req
                    .send(addr)
                    .unwrap_or_else(|e| panic!("no answer from {addr}: {e:?}"));
                let body = r
                    .try_json()
                    .unwrap_or_else(|| panic!("{} with a body that is not JSON: {}", r.status, r.text()));
                let retry = r.header("retry-after").map(str::to_owned);
                answers.lock().expect("lock").push((r.status, retry, body));
            });
        }
    });
    answers.into_inner().expect("lock")
}

fn is_locked(a: &Answer) -> bool {
    let (status, retry, body) = a;
    *status == 429
        && body["detail"] == "Too many failed attempts"
        && body["retry_after_seconds"].as_u64().is_some_and(|s| s >= 1)
        && retry.as_deref() == body["retry_after_seconds"].as_u64().map(|s| s.to_string()).as_deref()
}

fn is_refused(a: &Answer, reason: &str) -> bool {
    a.0 == 200 && a.2["valid"] == false && a.2["reason"] == reason && a.2["remaining_attempts"].is_u64()
}

/// One column of the account row, read straight from the database.
fn column(p: &Pair, account: &str, col: &str) -> String {
    let sql = format!("SELECT {col} FROM accounts WHERE id = '{account}'");
    psql(&p.cli.db_url, &sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .to_owned()
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

#[test]
fn one_valid_code_sent_sixteen_times_across_two_replicas_is_accepted_once() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let token = p.cli.token_create("org_verify", None);
    let a = p.a.api(&token);
    let app = a.create_app(None);
    let totp = str_field(
        &a.create_account(&app, &format!("otpauth://totp/Sys:t?secret={RFC_SECRET_B32}")),
        "id",
    );
    let hotp = str_field(
        &a.create_account(&app, &format!("otpauth://hotp/Sys:h?secret={RFC_SECRET_B32}&counter=0")),
        "id",
    );
    let code = otp::totp(
        Algorithm::Sha1,
        RFC_SECRET,
        now_unix(),
        Period::new(30).expect("period"),
        Digits::SIX,
    )
    .code;

    for (what, acc, code) in [("totp", &totp, code), ("hotp", &hotp, hotp_rfc(2, 6))] {
        let path = format!("{APPS}/{app}/accounts/{acc}/verify");
        let answers = race(&p, &token, &path, 16, &code);
        let valid: Vec<&Answer> = answers.iter().filter(|a| a.0 == 200 && a.2["valid"] == true).collect();
        let replayed = answers.iter().filter(|a| is_refused(a, "replayed")).count();
        let locked = answers.iter().filter(|a| is_locked(a)).count();
        eprintln!("{what}: {} valid, {replayed} replayed, {locked} locked", valid.len());
        assert_eq!(
            valid.len(),
            1,
            "{what}: exactly one of 16 concurrent verifications of one code is valid: {answers:?}"
        );
        assert_eq!(
            valid.len() + replayed + locked,
            16,
            "{what}: every other answer is replayed or 429 (never a 5xx): {answers:?}"
        );
        assert!(valid[0].2["matched_offset"].is_i64(), "{what}: {:?}", valid[0]);
        assert_eq!(
            column(&p, acc, "failed_attempts"),
            replayed.to_string(),
            "{what}: every replayed answer is one failure in the database, no 429 is"
        );
    }
    assert_ne!(column(&p, &totp, "last_verified_step"), "", "the TOTP step is recorded");
    assert_eq!(
        column(&p, &hotp, "counter"),
        "3",
        "the HOTP counter moved past the verified one"
    );
    // Both replicas see it: the same code is a replay, or still locked, on either.
    for srv in [&p.a, &p.b] {
        let r = srv.api(&token).post(
            &format!("{APPS}/{app}/accounts/{hotp}/verify"),
            &json!({ "otp_code": hotp_rfc(2, 6) }),
        );
        assert!(
            r.status == 429 || (r.status == 200 && r.json()["reason"] == "replayed"),
            "{} {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn wrong_codes_sent_twelve_at_a_time_across_two_replicas_lose_no_count() {
    let Some(db) = PgDb::create() else { return };
    let p = start_pair(db);
    let token = p.cli.token_create("org_verify", None);
    let a = p.a.api(&token);
    let app = a.create_app(None);
    // HOTP, so that the wrong code stays wrong whatever the time: none of counters 0..=10.
    let acc = str_field(
        &a.create_account(&app, &format!("otpauth://hotp/Sys:h?secret={RFC_SECRET_B32}&counter=0")),
        "id",
    );
    let near: Vec<String> = (0..=10).map(|c| hotp_rfc(c, 6)).collect();
    let wrong = (0..1000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .expect("a wrong code");
    let path = format!("{APPS}/{app}/accounts/{acc}/verify");

    let mut invalid_so_far = 0u64;
    for round in 0..3 {
        let answers = race(&p, &token, &path, 12, &wrong);
        let invalid: Vec<u64> = answers
            .iter()
            .filter(|a| is_refused(a, "invalid"))
            .filter_map(|a| a.2["remaining_attempts"].as_u64())
            .collect();
        let locked = answers.iter().filter(|a| is_locked(a)).count();
        eprintln!("round {round}: {} invalid, {locked} locked", invalid.len());
        assert_eq!(
            invalid.len() + locked,
            12,
            "round {round}: every answer is invalid or 429 (never a 5xx): {answers:?}"
        );
        assert!(
            !invalid.is_empty(),
            "round {round}: at least one is counted: {answers:?}"
        );
        invalid_so_far += invalid.len() as u64;
        assert_eq!(
            column(&p, &acc, "failed_attempts"),
            invalid_so_far.to_string(),
            "round {round}: the database counted exactly the invalid answers"
        );
        // Each counted failure reported its own count.
        let mut got = invalid.clone();
        got.sort_unstable();
        let want: Vec<u64> = (100 - invalid_so_far..100 - (invalid_so_far - invalid.len() as u64)).collect();
        assert_eq!(got, want, "round {round}: remaining_attempts of the invalid answers");
        // Wait out the lock (2^(n-1) s after n failures: a few seconds here), as Retry-After says.
        let wait = answers
            .iter()
            .filter_map(|a| a.1.as_deref().and_then(|s| s.parse::<u64>().ok()))
            .max()
            .unwrap_or(1);
        assert!(wait <= 16, "round {round}: Retry-After {wait}");
        std::thread::sleep(Duration::from_millis(wait * 1000 + 200));
    }
    // The next answer carries on from the database's count.
    let r = p.b.api(&token).post(&path, &json!({ "otp_code": wrong }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["remaining_attempts"], 100 - invalid_so_far - 1, "{}", r.text());
}
