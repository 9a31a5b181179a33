//! `/metrics` of the real server: every documented series is there, including the database
//! pool's (added by the server), the OTP counters by type and the verifications by result, and
//! none carries an id, a token or a code.

use serde_json::json;

use crate::support::{APPS, Cli, RFC_SECRET_B32, ServeOpts, Server, hotp_rfc, new_master_key, str_field};

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("series {series} missing from /metrics:\n{text}"))
}

#[test]
fn metrics_expose_every_documented_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("authd.sqlite").display());
    let key = new_master_key();
    let server = Server::start(&ServeOpts::new(&url, &key, dir.path(), "metrics"));
    let cli = Cli {
        db_url: url,
        master_key: key,
        cwd: dir.path().to_owned(),
    };
    let token = cli.token_create("org_m", None);
    let api = server.api(&token);
    let app = api.create_app(None);
    let accounts = format!("{APPS}/{app}/accounts");
    let totp = api.post(
        &accounts,
        &json!({"otpauth_uri": format!("otpauth://totp/M:t?secret={RFC_SECRET_B32}")}),
    );
    let hotp = api.post(
        &accounts,
        &json!({"otpauth_uri": format!("otpauth://hotp/M:h?secret={RFC_SECRET_B32}")}),
    );
    let (totp, hotp) = (str_field(&totp.json(), "id"), str_field(&hotp.json(), "id"));
    assert_eq!(api.post_empty(&format!("{accounts}/{totp}/generate-otp")).status, 200);
    for _ in 0..2 {
        assert_eq!(api.post_empty(&format!("{accounts}/{hotp}/generate-otp")).status, 200);
    }
    assert_eq!(server.api("authd_st_unknown").get(APPS).status, 401);
    // Verifications of the HOTP account (counter 2 now): valid, replayed, locked (429), then,
    // once the 1 s lock is over, invalid.
    let verify = format!("{accounts}/{hotp}/verify");
    let code = hotp_rfc(2, 6);
    let near: Vec<String> = (0..=13).map(|c| hotp_rfc(c, 6)).collect();
    let wrong = (0..1000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .expect("a wrong code");
    let verified = |c: &str| api.post(&verify, &json!({ "otp_code": c }));
    assert_eq!(verified(&code).json()["valid"], true);
    assert_eq!(verified(&code).json()["reason"], "replayed");
    assert_eq!(verified(&code).status, 429);
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert_eq!(verified(&wrong).json()["reason"], "invalid");

    let r = server.api("").get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert_eq!(value(&text, "authd_otp_codes_generated_total{otp_type=\"totp\"}"), 1.0);
    assert_eq!(value(&text, "authd_otp_codes_generated_total{otp_type=\"hotp\"}"), 2.0);
    assert_eq!(
        value(&text, "authd_auth_failures_total{realm=\"service\",reason=\"unknown\"}"),
        1.0
    );
    for result in ["valid", "invalid", "replayed", "locked"] {
        assert_eq!(
            value(&text, &format!("authd_otp_verifications_total{{result=\"{result}\"}}")),
            1.0,
            "{result}"
        );
    }
    assert_eq!(value(&text, "authd_db_pool_max_connections"), 4.0);
    assert!(value(&text, "authd_db_pool_connections") >= 1.0);
    for series in [
        "authd_db_pool_idle_connections",
        "authd_db_pool_waits_total",
        "authd_db_pool_wait_seconds_total",
        "authd_db_pool_timeouts_total",
        "authd_db_pool_replacements_total",
        "authd_instances_enrolled_total",
        "authd_instances_revoked_total",
    ] {
        value(&text, series);
    }
    let generated = "route=\"/api/v1/authenticator/apps/{app_id}/accounts/{account_id}/generate-otp\",method=\"POST\",status=\"200\"";
    assert_eq!(value(&text, &format!("authd_http_requests_total{{{generated}}}")), 3.0);
    assert_eq!(
        value(
            &text,
            &format!("authd_http_request_duration_seconds_count{{{generated}}}")
        ),
        3.0
    );
    for secret in [
        app.as_str(),
        totp.as_str(),
        token.as_str(),
        RFC_SECRET_B32,
        &code,
        &wrong,
    ] {
        assert!(!text.contains(secret), "an id, token, secret or code reached /metrics");
    }
}
