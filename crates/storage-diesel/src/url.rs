//! Database URLs: which backend a URL names, where a SQLite file lives, and how a URL is shown
//! (never with its password).

use std::time::Duration;

use crate::{Backend, StorageError};

/// The backend a URL names, by its scheme: `sqlite://PATH` or `sqlite:PATH` for SQLite,
/// `postgres://...` or `postgresql://...` for PostgreSQL (schemes are case-insensitive).
///
/// # Errors
/// [`StorageError::InvalidUrl`] (naming the redacted URL) for any other scheme.
pub fn backend_of(url: &str) -> Result<Backend, StorageError> {
    let invalid = |reason| StorageError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(invalid(UNSUPPORTED));
    };
    if scheme.eq_ignore_ascii_case("sqlite") {
        Ok(Backend::Sqlite)
    } else if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
        if rest.starts_with("//") {
            Ok(Backend::Postgres)
        } else {
            Err(invalid(
                "a PostgreSQL URL must look like postgres://USER@HOST:PORT/DATABASE",
            ))
        }
    } else {
        Err(invalid(UNSUPPORTED))
    }
}

const UNSUPPORTED: &str = "unsupported scheme: expected sqlite://PATH, sqlite:PATH, postgres://... or postgresql://...";

/// The URL with its password (in the user-info part or a `password=` query parameter)
/// replaced by `***`. Everything else is kept, so the message still tells which database.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let mut out = String::with_capacity(url.len());
    match authority_span(head) {
        Some((start, end)) => {
            let authority = &head[start..end];
            out.push_str(&head[..start]);
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..colon]);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&head[end..]);
        }
        None => out.push_str(head),
    }
    if let Some(params) = query.strip_prefix('?') {
        out.push('?');
        for (i, param) in params.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match param.split_once('=') {
                Some((key, _)) if is_password_key(key) => {
                    out.push_str(key);
                    out.push_str("=***");
                }
                _ => out.push_str(param),
            }
        }
    }
    out
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// Byte range of the authority (`user:pass@host:port`) of a `scheme://authority/...` URL.
fn authority_span(head: &str) -> Option<(usize, usize)> {
    let start = head.find("://")? + 3;
    let end = head[start..].find(['/', '#']).map_or(head.len(), |e| start + e);
    Some((start, end))
}

/// Every form of the password a URL carries (as written and percent-decoded), to scrub from
/// driver messages that might echo it.
pub(crate) fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q + 1..]),
        None => (url, ""),
    };
    if let Some((start, end)) = authority_span(head)
        && let Some(at) = head[start..end].rfind('@')
        && let Some((_, pw)) = head[start..start + at].split_once(':')
    {
        found.push(pw.to_owned());
    }
    for param in query.split('&') {
        if let Some((key, pw)) = param.split_once('=')
            && is_password_key(key)
        {
            found.push(pw.to_owned());
        }
    }
    let decoded: Vec<String> = found.iter().map(|p| percent_decode(p)).collect();
    found.extend(decoded);
    found.retain(|p| p.len() >= 3);
    found.sort();
    found.dedup();
    found
}

/// Replaces every form of the password in a driver message by `***`.
pub(crate) fn scrub(message: &str, passwords: &[String]) -> String {
    let mut out = message.trim().to_owned();
    for pw in passwords {
        if out.contains(pw.as_str()) {
            out = out.replace(pw.as_str(), "***");
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes.get(i),
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (Some(b'%'), Some(h), Some(l)) => {
                // Two hex digits make one byte: h, l < 16.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file path of a SQLite URL (`sqlite://PATH` or `sqlite:PATH`; relative to the working
/// directory unless absolute, e.g. `sqlite:///var/lib/authd/authd.sqlite`).
pub(crate) fn sqlite_path(url: &str) -> Result<String, StorageError> {
    let invalid = |reason| StorageError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let rest = url.split_once(':').map_or("", |(_, r)| r);
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(invalid("a SQLite URL needs a file path: sqlite://PATH or sqlite:PATH"));
    }
    if path == ":memory:" || path.starts_with(":memory:?") {
        return Err(invalid(
            "in-memory SQLite is not supported: every pooled connection would get its own empty database",
        ));
    }
    Ok(path.to_owned())
}

/// A PostgreSQL URL with the libpq parameters that bound how long a connection can hang, each
/// added unless the URL sets it already:
/// - `connect_timeout` (whole seconds, at least 2): an unreachable host (or one that accepts the
///   TCP connection and never answers) fails as fast as an exhausted pool, and libpq moves on to
///   the next host of a multi-host URL;
/// - `keepalives=1`, `keepalives_idle=5`, `keepalives_interval=2`, `keepalives_count=3`: an idle
///   pooled connection whose host vanished (a partition, a dead machine) is found dead within
///   about 11 s instead of the OS's two hours;
/// - `tcp_user_timeout` (milliseconds, `statement_timeout`): a statement sent to a host that no
///   longer acknowledges data fails within that bound instead of TCP's minutes of retries.
///
/// A host whose kernel still acknowledges but whose server no longer answers (a stopped
/// process) is bounded by the store's own deadline instead (see `crate::watchdog`).
pub(crate) fn with_pg_bounds(url: &str, connect_timeout: Duration, statement_timeout: Duration) -> String {
    let has = |key: &str| {
        url.split_once('?').is_some_and(|(_, q)| {
            q.split('&')
                .any(|p| p.split_once('=').is_some_and(|(k, _)| k.eq_ignore_ascii_case(key)))
        })
    };
    let millis = statement_timeout.as_millis().max(1).to_string();
    let secs = connect_timeout.as_secs().max(2).to_string();
    let defaults = [
        ("connect_timeout", secs.as_str()),
        ("keepalives", "1"),
        ("keepalives_idle", "5"),
        ("keepalives_interval", "2"),
        ("keepalives_count", "3"),
        ("tcp_user_timeout", millis.as_str()),
    ];
    let mut out = url.to_owned();
    for (key, value) in defaults {
        if !has(key) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_backend() {
        for (url, b) in [
            ("sqlite://data/authd.sqlite", Backend::Sqlite),
            ("sqlite:data/authd.sqlite", Backend::Sqlite),
            ("sqlite:///var/lib/authd.sqlite", Backend::Sqlite),
            ("SQLITE://x.db", Backend::Sqlite),
            ("postgres://u@h/db", Backend::Postgres),
            ("postgresql://u:p@h:5432/db?sslmode=disable", Backend::Postgres),
        ] {
            assert_eq!(backend_of(url).unwrap(), b, "{url}");
        }
        for url in ["mysql://u:pw@h/db", "data/authd.sqlite", "", "postgres:db", "http://x"] {
            assert!(backend_of(url).is_err(), "{url}");
        }
    }

    #[test]
    fn bad_scheme_error_names_the_redacted_url() {
        let e = backend_of("mysql://user:hunter22@db.example/authd")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mysql://user:***@db.example/authd"), "{e}");
        assert!(!e.contains("hunter22"), "{e}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u:a@b@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("postgresql://h/db?user=u&password=secret&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact_url("sqlite://data/authd.sqlite"), "sqlite://data/authd.sqlite");
        assert_eq!(redact_url("sqlite:data/authd.sqlite"), "sqlite:data/authd.sqlite");
    }

    #[test]
    fn passwords_are_found_and_scrubbed() {
        let pws = passwords("postgres://u:p%40ssword@h/db?password=other1");
        assert!(pws.contains(&"p%40ssword".to_owned()));
        assert!(pws.contains(&"p@ssword".to_owned()));
        assert!(pws.contains(&"other1".to_owned()));
        assert_eq!(scrub(" bad p@ssword and other1\n", &pws), "bad *** and ***");
        assert!(passwords("postgres://u@h/db").is_empty());
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://data/a.sqlite").unwrap(), "data/a.sqlite");
        assert_eq!(sqlite_path("sqlite:data/a.sqlite").unwrap(), "data/a.sqlite");
        assert_eq!(sqlite_path("sqlite:///abs/a.sqlite").unwrap(), "/abs/a.sqlite");
        assert!(sqlite_path("sqlite://").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("sqlite://:memory:").is_err());
    }

    #[test]
    fn pg_bounds_are_added_unless_the_url_sets_them() {
        let (c, st) = (Duration::from_secs(5), Duration::from_millis(4500));
        let tail = "keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=4500";
        assert_eq!(
            with_pg_bounds("postgres://h/db", c, st),
            format!("postgres://h/db?connect_timeout=5&{tail}")
        );
        assert_eq!(
            with_pg_bounds("postgres://h/db?sslmode=disable", Duration::from_millis(300), st),
            format!("postgres://h/db?sslmode=disable&connect_timeout=2&{tail}")
        );
        assert_eq!(
            with_pg_bounds(
                "postgres://h1:1,h2:2/db?target_session_attrs=read-write&connect_timeout=1&KEEPALIVES=0&tcp_user_timeout=9",
                c,
                st
            ),
            "postgres://h1:1,h2:2/db?target_session_attrs=read-write&connect_timeout=1&KEEPALIVES=0&tcp_user_timeout=9\
             &keepalives_idle=5&keepalives_interval=2&keepalives_count=3"
        );
    }
}
