//! Prometheus metrics, kept in process-wide atomics and rendered as text on `GET /metrics`.
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `authd_http_requests_total` | counter | `route`, `method`, `status` | requests answered; `route` is the route pattern (`-` when none matched) |
//! | `authd_http_request_duration_seconds` | histogram | `route`, `method`, `status` | time from the request reaching the app to the response being ready |
//! | `authd_otp_codes_generated_total` | counter | `otp_type` | codes handed out (service and device API) |
//! | `authd_otp_verifications_total` | counter | `result` (`valid`, `invalid`, `replayed`, `locked`) | codes verified (service and device API); `locked`: refused with `429` while throttled |
//! | `authd_instances_enrolled_total` | counter | | successful enrollments |
//! | `authd_instances_revoked_total` | counter | | successful revocation requests (extension and OneWelcome DELETE) |
//! | `authd_auth_failures_total` | counter | `realm` (`service`, `device`), `reason` (`missing`, `malformed`, `unknown`, `expired`, `scope`) | refused credentials |
//!
//! The server adds the database pool's series through [`set_extra`]. Recording costs a read
//! lock and a few relaxed atomic adds per request.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use actix_web::http::StatusCode;
use domain::error::Realm;
use domain::otp::OtpType;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        let secs = std::time::Duration::from_micros(micros).as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets.get(i).map(|b| b.fetch_add(1, Relaxed));
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
    }
}

type Series = Vec<(&'static str, u16, Arc<Histogram>)>;

/// Why a credential was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No credential.
    Missing,
    /// Not of the right form (wrong prefix, not UTF-8).
    Malformed,
    /// Of the right form, but unknown or revoked.
    Unknown,
    /// A service token past its `expires_at`.
    Expired,
    /// A valid service token without the route's scope (`403`).
    Scope,
}

impl AuthFailure {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Scope => "scope",
        }
    }
}

/// The outcome of a verification, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerifyResult {
    /// `200 {"valid": true}`.
    Valid,
    /// `200 {"valid": false, "reason": "invalid"}`.
    Invalid,
    /// `200 {"valid": false, "reason": "replayed"}`.
    Replayed,
    /// `429`: the account was locked.
    Locked,
}

impl VerifyResult {
    const ALL: [Self; 4] = [Self::Valid, Self::Invalid, Self::Replayed, Self::Locked];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Replayed => "replayed",
            Self::Locked => "locked",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Valid => 0,
            Self::Invalid => 1,
            Self::Replayed => 2,
            Self::Locked => 3,
        }
    }
}

#[derive(Default)]
struct Metrics {
    requests: RwLock<HashMap<String, RwLock<Series>>>,
    totp: AtomicU64,
    hotp: AtomicU64,
    enrolled: AtomicU64,
    revoked: AtomicU64,
    /// `[realm][reason]`.
    auth_failures: [[AtomicU64; 5]; 2],
    /// By [`VerifyResult::index`].
    verifications: [AtomicU64; 4],
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

type Extra = Box<dyn Fn(&mut String) + Send + Sync>;
static EXTRA: OnceLock<Extra> = OnceLock::new();

/// Installs a function that appends more series (Prometheus text) to every `/metrics` answer;
/// the server uses it for the database pool. Only the first call has an effect.
pub fn set_extra(f: impl Fn(&mut String) + Send + Sync + 'static) {
    let _ = EXTRA.set(Box::new(f));
}

fn method_label(m: &actix_web::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// Records one answered request.
pub(crate) fn record_request(route: &str, method: &actix_web::http::Method, status: StatusCode, micros: u64) {
    let m = &*METRICS;
    let method = method_label(method);
    let status = status.as_u16();
    if let Some(series) = m
        .requests
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(route)
    {
        let found = series
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|(me, st, _)| *me == method && *st == status)
            .map(|(_, _, h)| h.clone());
        let h = found.unwrap_or_else(|| {
            let mut w = series.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, _, h)) = w.iter().find(|(me, st, _)| *me == method && *st == status) {
                return h.clone();
            }
            let h = Arc::new(Histogram::default());
            w.push((method, status, h.clone()));
            h
        });
        h.observe(micros);
    } else {
        let h = Arc::new(Histogram::default());
        h.observe(micros);
        let mut map = m.requests.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = map.entry(route.to_owned()).or_default();
        let mut w = series.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match w.iter().find(|(me, st, _)| *me == method && *st == status) {
            Some((_, _, existing)) => existing.observe(micros),
            None => w.push((method, status, h)),
        }
    }
    match (route, method, status) {
        (crate::paths::INSTANCES, "POST", 201) => {
            m.enrolled.fetch_add(1, Relaxed);
        }
        (crate::paths::INSTANCE | crate::paths::USER_APP, "DELETE", 204) => {
            m.revoked.fetch_add(1, Relaxed);
        }
        _ => {}
    }
}

/// Records a code handed out.
pub(crate) fn record_otp(t: OtpType) {
    match t {
        OtpType::Totp => METRICS.totp.fetch_add(1, Relaxed),
        OtpType::Hotp => METRICS.hotp.fetch_add(1, Relaxed),
    };
}

/// Records a verification's outcome.
pub(crate) fn record_verification(r: VerifyResult) {
    if let Some(c) = METRICS.verifications.get(r.index()) {
        c.fetch_add(1, Relaxed);
    }
}

/// Records a refused credential.
pub(crate) fn record_auth_failure(realm: Realm, reason: AuthFailure) {
    let r = match realm {
        Realm::Service => 0,
        Realm::Device => 1,
    };
    let i = match reason {
        AuthFailure::Missing => 0,
        AuthFailure::Malformed => 1,
        AuthFailure::Unknown => 2,
        AuthFailure::Expired => 3,
        AuthFailure::Scope => 4,
    };
    if let Some(c) = METRICS.auth_failures.get(r).and_then(|x| x.get(i)) {
        c.fetch_add(1, Relaxed);
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The whole exposition, Prometheus text format 0.0.4.
#[must_use]
pub fn render() -> String {
    let m = &*METRICS;
    let mut out = String::with_capacity(16 * 1024);
    let mut rows: Vec<(String, &'static str, u16, Arc<Histogram>)> = Vec::new();
    for (route, series) in m
        .requests
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        for (method, status, h) in series.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
            rows.push((escape(route), method, *status, h.clone()));
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    out.push_str("# HELP authd_http_requests_total HTTP requests answered, by route pattern, method and status.\n");
    out.push_str("# TYPE authd_http_requests_total counter\n");
    for (route, method, status, h) in &rows {
        let _ = writeln!(
            out,
            "authd_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
            h.count.load(Relaxed)
        );
    }
    out.push_str("# HELP authd_http_request_duration_seconds Time to answer an HTTP request.\n");
    out.push_str("# TYPE authd_http_request_duration_seconds histogram\n");
    for (route, method, status, h) in &rows {
        let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&h.buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                out,
                "authd_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
            );
        }
        let count = h.count.load(Relaxed);
        let _ = writeln!(
            out,
            "authd_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = std::time::Duration::from_micros(h.sum_micros.load(Relaxed)).as_secs_f64();
        let _ = writeln!(out, "authd_http_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "authd_http_request_duration_seconds_count{{{labels}}} {count}");
    }
    out.push_str("# HELP authd_otp_codes_generated_total OTP codes handed out, by type.\n");
    out.push_str("# TYPE authd_otp_codes_generated_total counter\n");
    let _ = writeln!(
        out,
        "authd_otp_codes_generated_total{{otp_type=\"totp\"}} {}",
        m.totp.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "authd_otp_codes_generated_total{{otp_type=\"hotp\"}} {}",
        m.hotp.load(Relaxed)
    );
    out.push_str("# HELP authd_otp_verifications_total OTP codes verified, by result.\n");
    out.push_str("# TYPE authd_otp_verifications_total counter\n");
    for r in VerifyResult::ALL {
        let v = m.verifications.get(r.index()).map_or(0, |c| c.load(Relaxed));
        let _ = writeln!(out, "authd_otp_verifications_total{{result=\"{}\"}} {v}", r.as_str());
    }
    out.push_str("# HELP authd_instances_enrolled_total App instances enrolled.\n");
    out.push_str("# TYPE authd_instances_enrolled_total counter\n");
    let _ = writeln!(out, "authd_instances_enrolled_total {}", m.enrolled.load(Relaxed));
    out.push_str("# HELP authd_instances_revoked_total Successful instance revocation requests.\n");
    out.push_str("# TYPE authd_instances_revoked_total counter\n");
    let _ = writeln!(out, "authd_instances_revoked_total {}", m.revoked.load(Relaxed));
    out.push_str("# HELP authd_auth_failures_total Refused credentials, by realm and reason.\n");
    out.push_str("# TYPE authd_auth_failures_total counter\n");
    for (r, realm) in [(0, "service"), (1, "device")] {
        for (i, reason) in [
            AuthFailure::Missing,
            AuthFailure::Malformed,
            AuthFailure::Unknown,
            AuthFailure::Expired,
            AuthFailure::Scope,
        ]
        .iter()
        .enumerate()
        {
            let v = m
                .auth_failures
                .get(r)
                .and_then(|x| x.get(i))
                .map_or(0, |c| c.load(Relaxed));
            let _ = writeln!(
                out,
                "authd_auth_failures_total{{realm=\"{realm}\",reason=\"{}\"}} {v}",
                reason.as_str()
            );
        }
    }
    if let Some(extra) = EXTRA.get() {
        extra(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_exposition() {
        let m = actix_web::http::Method::GET;
        record_request("/test/histogram", &m, StatusCode::OK, 300);
        record_request("/test/histogram", &m, StatusCode::OK, 3_000);
        record_request("/test/histogram", &m, StatusCode::NOT_FOUND, 20_000_000);
        let text = render();
        let l = "route=\"/test/histogram\",method=\"GET\",status=\"200\"";
        assert!(text.contains(&format!("authd_http_requests_total{{{l}}} 2")), "{text}");
        assert!(text.contains(&format!(
            "authd_http_request_duration_seconds_bucket{{{l},le=\"0.0005\"}} 1"
        )));
        assert!(text.contains(&format!(
            "authd_http_request_duration_seconds_bucket{{{l},le=\"0.005\"}} 2"
        )));
        assert!(text.contains(&format!("authd_http_request_duration_seconds_sum{{{l}}} 0.0033")));
        let nf = "route=\"/test/histogram\",method=\"GET\",status=\"404\"";
        assert!(text.contains(&format!(
            "authd_http_request_duration_seconds_bucket{{{nf},le=\"10\"}} 0"
        )));
        assert!(text.contains(&format!(
            "authd_http_request_duration_seconds_bucket{{{nf},le=\"+Inf\"}} 1"
        )));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
