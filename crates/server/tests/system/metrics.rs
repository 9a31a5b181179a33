//! `/metrics` of the real server: every documented series is there, including the database
//! pool's (added by the server) and the OTP counters by type, and none carries an id or a token.

use serde_json::json;

use crate::support::{APPS, Cli, RFC_SECRET_B32, ServeOpts, Server, new_master_key, str_field};

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

    let r = server.api("").get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert_eq!(value(&text, "authd_otp_codes_generated_total{otp_type=\"totp\"}"), 1.0);
    assert_eq!(value(&text, "authd_otp_codes_generated_total{otp_type=\"hotp\"}"), 2.0);
    assert_eq!(
        value(&text, "authd_auth_failures_total{realm=\"service\",reason=\"unknown\"}"),
        1.0
    );
    assert_eq!(value(&text, "authd_db_pool_max_connections"), 4.0);
    assert!(value(&text, "authd_db_pool_connections") >= 1.0);
    for series in [
        "authd_db_pool_idle_connections",
        "authd_db_pool_waits_total",
        "authd_db_pool_wait_seconds_total",
        "authd_db_pool_timeouts_total",
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
    for secret in [app.as_str(), totp.as_str(), token.as_str(), RFC_SECRET_B32] {
        assert!(!text.contains(secret), "an id, token or secret reached /metrics");
    }
}
