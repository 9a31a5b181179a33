//! Structured logs to stderr (stdout carries command results, e.g. a new token).
//!
//! Lines are handed to a writer thread (`tracing-appender`'s non-blocking writer, never lossy:
//! when it falls behind, callers wait rather than drop lines), so a request does not pay for the
//! `write` system call; the thread writes the lines it finds queued together, in one call, and
//! flushes before it waits again. JSON lines are formatted by [`json::JsonLines`].

mod json;

use std::io::IsTerminal as _;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::cli::LogFormat;

/// The format in effect: the flag, else pretty on a terminal, json otherwise.
pub fn effective_format(f: Option<LogFormat>) -> &'static str {
    match f.unwrap_or_else(default_format) {
        LogFormat::Pretty => "pretty",
        LogFormat::Json => "json",
    }
}

fn default_format() -> LogFormat {
    if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    }
}

/// Installs the global subscriber. `RUST_LOG` sets verbosity, else `default` (`info` for
/// `serve`; `warn` for a one-shot command, whose stderr a person reads next to its results).
/// Keep the guard until the process ends: dropping it flushes the lines still queued.
pub fn init(format: Option<LogFormat>, default: LevelFilter) -> WorkerGuard {
    // The writer thread flushes after every batch it drains from its queue.
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = NonBlockingBuilder::default().lossy(false).finish(stderr);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::default().add_directive(default.into()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format.unwrap_or_else(default_format) {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .fmt_fields(json::JsonMembers)
            .event_format(json::JsonLines)
            .try_init(),
    };
    guard
}
