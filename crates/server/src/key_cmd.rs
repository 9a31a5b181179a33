//! `authd key status|promote|rewrap|retire`: rotating the master key while authd serves.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use domain::Authd;
use domain::keys::{KeyError, KeyEvent, KeyId, KeyStatus, RewrapProgress};
use storage_diesel::DieselStore;

use crate::cli::{KeyCommand, OutputFormat};
use crate::print_line;
use crate::table::{self, Column, Table};

/// `key status`'s tables.
const KEYS: Table<4> = Table::new([
    Column::new("KEY"),
    Column::new("SEALED").right(),
    Column::new("STATE"),
    Column::new("IN_THIS_KEYRING"),
]);
const REPLICAS: Table<6> = Table::new([
    Column::new("REPLICA"),
    Column::new("HOST"),
    Column::new("PID").right(),
    Column::new("KEYS"),
    Column::new("SEALING"),
    Column::new("SEEN"),
]);

/// How many key events `key status` shows.
const EVENTS: u32 = 10;

/// Runs a key subcommand.
///
/// # Errors
/// A refusal ([`KeyError`], one line naming what to do) or a storage failure.
pub fn run(authd: &Authd<DieselStore>, ring: &[KeyId], cmd: &KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Status { json, format } => {
            let status = authd.key_status()?;
            let events = authd.key_events(EVENTS)?;
            match table::output_format(*format, *json) {
                OutputFormat::Json => print_line(&status_json(&status, &events).to_string())?,
                OutputFormat::Table => print_status(&status, ring)?,
            }
        }
        KeyCommand::Promote { key_id } => {
            authd.promote_key(key_id)?;
            print_line(&format!(
                "{key_id} is the primary: every replica seals under it within 5 s; then run `authd key rewrap`"
            ))?;
        }
        KeyCommand::Retire { key_id } => {
            authd.retire_key(key_id)?;
            print_line(&format!("{key_id} is retired: it may leave every keyring"))?;
        }
        KeyCommand::Rewrap {
            batch_size,
            wait_seconds,
            pause_ms,
        } => rewrap(
            authd,
            *batch_size,
            Duration::from_secs(*wait_seconds),
            Duration::from_millis(*pause_ms),
        )?,
    }
    Ok(())
}

fn status_json(s: &KeyStatus, events: &[KeyEvent]) -> serde_json::Value {
    let sealed: serde_json::Map<String, serde_json::Value> = s
        .sealed
        .by_key
        .iter()
        .map(|(k, n)| (k.to_string(), (*n).into()))
        .collect();
    serde_json::json!({
        "primary": s.primary.as_ref().map(ToString::to_string),
        "sealed": sealed,
        "unknown": s.sealed.unknown,
        "replicas": s.replicas.iter().map(|r| serde_json::json!({
            "id": r.id,
            "host": r.host,
            "pid": r.pid,
            "keys": r.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "sealing": r.sealing.to_string(),
            "started_at": r.started_at.to_rfc3339(),
            "seen_at": r.seen_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
        "retired": s.retired.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "events": events.iter().map(|e| serde_json::json!({
            "at": e.at.to_rfc3339(),
            "action": e.action.as_str(),
            "key": e.key.to_string(),
            "details": serde_json::from_str::<serde_json::Value>(e.details.as_json()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    })
}

fn print_status(s: &KeyStatus, ring: &[KeyId]) -> anyhow::Result<()> {
    print_line(&format!(
        "primary: {}",
        table::or_none(s.primary.as_ref().map(ToString::to_string))
    ))?;
    let mut ids: Vec<KeyId> = s.sealed.by_key.iter().map(|(k, _)| k.clone()).collect();
    ids.extend(s.primary.iter().cloned());
    ids.extend(s.retired.iter().cloned());
    ids.extend(ring.iter().cloned());
    ids.sort();
    ids.dedup();
    let mut rows: Vec<[String; 4]> = ids
        .iter()
        .map(|k| {
            let state = if s.primary.as_ref() == Some(k) {
                "primary"
            } else if s.retired.contains(k) {
                "retired"
            } else {
                "-"
            };
            let held = if ring.contains(k) { "yes" } else { "no" };
            [
                k.to_string(),
                s.sealed.under(k).to_string(),
                state.to_owned(),
                held.to_owned(),
            ]
        })
        .collect();
    if s.sealed.unknown > 0 {
        rows.push([
            "(none)".to_owned(),
            s.sealed.unknown.to_string(),
            "no known envelope".to_owned(),
            "-".to_owned(),
        ]);
    }
    let t = KEYS.fit(&rows);
    print_line("")?;
    print_line(&t.header())?;
    for row in &rows {
        print_line(&t.row(row))?;
    }
    let rows: Vec<[String; 6]> = s
        .replicas
        .iter()
        .map(|r| {
            let keys: Vec<&str> = r.keys.iter().map(KeyId::as_str).collect();
            [
                r.id.clone(),
                r.host.clone(),
                r.pid.to_string(),
                keys.join(","),
                r.sealing.to_string(),
                table::when(r.seen_at),
            ]
        })
        .collect();
    print_line("")?;
    if rows.is_empty() {
        print_line("no live replica")?;
    } else {
        let t = REPLICAS.fit(&rows);
        print_line(&t.header())?;
        for row in &rows {
            print_line(&t.row(row))?;
        }
    }
    Ok(())
}

/// Runs the rewrap, waiting up to `wait` for replicas still sealing under the old primary, and
/// pausing `pause` after each batch.
#[expect(
    clippy::print_stderr,
    reason = "progress is for the person at the terminal, on stderr"
)]
fn rewrap(authd: &Authd<DieselStore>, batch: u32, wait: Duration, pause: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut report = Progress::new();
    let done = loop {
        let after_batch = &mut |p| {
            report.show(p);
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        };
        match authd.rewrap(batch, after_batch) {
            Err(KeyError::ReplicasBehind { key, replicas }) if started.elapsed() < wait => {
                if !report.waited {
                    eprintln!("authd: waiting for replicas to adopt {key}: {replicas}");
                    report.waited = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            other => break other?,
        }
    };
    report.finish();
    let secs = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, clippy::as_conversions, reason = "a rate, for people")]
    let rate = if secs > 0.0 { done.rewrapped as f64 / secs } else { 0.0 };
    let status = authd.key_status()?;
    let (primary, left) = status
        .primary
        .as_ref()
        .map_or((String::new(), 0), |k| (k.to_string(), status.sealed.not_under(k)));
    print_line(&format!(
        "rewrapped {} values under {primary} in {secs:.1} s ({rate:.0} values/s, {} passes, {} skipped and retried); {} values not under {primary}",
        done.rewrapped, done.pass, done.skipped, left,
    ))?;
    Ok(())
}

/// The rewrap's progress on stderr: a bar redrawn in place on a terminal, otherwise a line at
/// most every second.
struct Progress {
    terminal: bool,
    last: Option<Instant>,
    drawn: bool,
    waited: bool,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
            waited: false,
        }
    }

    fn show(&mut self, p: RewrapProgress) {
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(if self.terminal { 100 } else { 1000 }));
        if !due {
            return;
        }
        self.last = Some(now);
        let mut err = std::io::stderr().lock();
        let line = format!(
            "pass {}: {}/{} re-sealed, {} skipped",
            p.pass, p.rewrapped, p.total, p.skipped
        );
        if self.terminal {
            let width = 30u64;
            let filled = (p.rewrapped.min(p.total) * width).checked_div(p.total).unwrap_or(width);
            let bar: String = (0..width).map(|i| if i < filled { '#' } else { '-' }).collect();
            let _ = write!(err, "\r[{bar}] {line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "rewrap: {line}");
        }
    }

    fn finish(&self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}
