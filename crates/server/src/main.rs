//! `authd`: the binary and composition root. The only crate that knows the domain, the storage
//! adapter and the HTTP adapter together.

mod audit_cmd;
mod cli;
mod config;
mod key_cmd;
mod lease;
mod logging;
mod org_cmd;
mod serve;
mod table;
mod token_cmd;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use domain::Authd;
use domain::service::Deps;
use domain::system::{OsRandom, SystemClock, UuidV7};
use storage_diesel::{DieselStore, XChaChaCipher};
use tracing_subscriber::filter::LevelFilter;
use zeroize::Zeroizing;

use crate::cli::{Cli, Command};
use crate::config::{ConfigError, DbConfig, KeySource, MasterKeys};
use crate::lease::LeasedCipher;

#[expect(
    clippy::print_stderr,
    reason = "a CLI error that ends the process goes to stderr, by design"
)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    // A one-shot command's stderr is read by a person next to its results: warnings only,
    // unless RUST_LOG asks for more. `serve` logs every request.
    let verbosity = if matches!(cli.command, Command::Serve(_)) {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    let _log_guard = logging::init(cli.global.log_format, verbosity);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<StdoutError>().is_some_and(StdoutError::reader_left) {
                // `authd audit tail --follow | head`: the reader has all it wanted.
                ExitCode::SUCCESS
            } else if let Some(c) = e.downcast_ref::<ConfigError>() {
                eprintln!("authd: {c}");
                ExitCode::from(2)
            } else {
                eprintln!("authd: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// The service, its database configuration, its keyring, and its cipher (leased when it serves:
/// see `lease.rs`).
type Built = (Arc<Authd<DieselStore>>, DbConfig, MasterKeys, Arc<LeasedCipher>);

/// Connects to the database and builds the service.
fn build(cli: &Cli) -> anyhow::Result<Built> {
    let db = config::db_config(&cli.global)?;
    let env_key = std::env::var("AUTHD_MASTER_KEY")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Zeroizing::new);
    let key = config::master_keys(&cli.global, &db, env_key)?;
    if let KeySource::DefaultFile { path, created: true } = &key.source {
        tracing::warn!(
            path = %path.display(),
            "created a new master key file for the embedded database; back it up with the database, \
             without it the stored OTP secrets cannot be read"
        );
    }
    let store = DieselStore::connect(&db.url, db.pool)?;
    let ring = XChaChaCipher::keyring(key.keys.iter().cloned()).map_err(|e| ConfigError(e.to_string()))?;
    let cipher = Arc::new(if matches!(cli.command, Command::Serve(_)) {
        LeasedCipher::expired(ring)
    } else {
        LeasedCipher::unleased(ring)
    });
    let deps = Deps {
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7),
        rng: Arc::new(OsRandom),
        cipher: cipher.clone(),
    };
    Ok((Arc::new(Authd::new(store, deps)), db, key, cipher))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(opts) => {
            let (authd, db, _key, cipher) = build(&cli)?;
            if !opts.no_migrate {
                migrate(&authd, Migrating::Serve)?;
            }
            serve::serve(authd, &cipher, &db, opts)
        }
        Command::Migrate => {
            let (authd, _, _, _) = build(&cli)?;
            migrate(&authd, Migrating::OneShot)
        }
        Command::Token(cmd) => {
            let (authd, _, _, _) = build(&cli)?;
            // A token may be made before the first `serve` (provisioning): bring the schema up
            // first, as `serve` does (PostgreSQL: under the advisory lock; SQLite: in one
            // immediate transaction, so a `serve` starting meanwhile waits for it).
            migrate(&authd, Migrating::OneShot)?;
            token_cmd::run(&authd, cmd)
        }
        Command::Audit(cmd) => {
            let (authd, _, _, _) = build(&cli)?;
            migrate(&authd, Migrating::OneShot)?;
            audit_cmd::run(&authd, cmd)
        }
        Command::Org(cmd) => {
            let (authd, _, _, _) = build(&cli)?;
            migrate(&authd, Migrating::OneShot)?;
            org_cmd::run(&authd, cmd)
        }
        Command::Key(cmd) => {
            let (authd, _, key, _) = build(&cli)?;
            migrate(&authd, Migrating::OneShot)?;
            let ring: Vec<domain::keys::KeyId> = key.keys.iter().map(|(id, _)| id.clone()).collect();
            key_cmd::run(&authd, &ring, cmd)
        }
        Command::CheckConfig => {
            let (authd, db, key, _) = build(&cli)?;
            authd
                .ping()
                .map_err(|e| anyhow::anyhow!("database not reachable: {e}"))?;
            // Read-only: reports what `migrate` would apply, applies nothing.
            let pending = authd.store().pending_migrations()?;
            let source = match &key.source {
                KeySource::Env => "AUTHD_MASTER_KEY".to_owned(),
                KeySource::File(p) => format!("file {}", p.display()),
                KeySource::DefaultFile { path, .. } => format!("default file {}", path.display()),
            };
            let (migrations, status) = migration_status(&pending);
            let out = format!(
                "database_url: {}\nbackend: {:?}\npool_size: {}\nmaster_key: {source}\nkey_ids: {}\nlog_format: {}\n\
                 migrations: {migrations}\nstatus: {status}",
                storage_diesel::redact_url(&db.url),
                db.backend,
                db.pool.max_size,
                key.ids(),
                logging::effective_format(cli.global.log_format),
            );
            print_line(&out)?;
            // Exit 0 either way: the configuration is valid; pending migrations are applied by
            // `migrate`, `serve` or any token command.
            Ok(())
        }
    }
}

/// The `migrations:` and `status:` values of `check-config` for the pending versions.
fn migration_status(pending: &[String]) -> (String, &'static str) {
    if pending.is_empty() {
        ("up to date".to_owned(), "ok")
    } else {
        (
            format!(
                "{} pending ({}); run `authd migrate` or start `authd serve`",
                pending.len(),
                pending.join(", ")
            ),
            "migrations pending",
        )
    }
}

/// Who applies the pending migrations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Migrating {
    /// `serve`, at start: its log says so at info.
    Serve,
    /// A one-shot command (`migrate`, `token ...`, `audit ...`): a schema change is logged as a
    /// warning, so that it shows by default (see `main`), also when a command that reads (`token
    /// list`, `audit tail`) made it.
    OneShot,
}

fn migrate(authd: &Authd<DieselStore>, who: Migrating) -> anyhow::Result<()> {
    let applied = authd.store().migrate()?;
    if applied.is_empty() {
        tracing::info!("database schema is up to date");
    } else if who == Migrating::Serve {
        tracing::info!(applied = ?applied, "applied migrations");
    } else {
        tracing::warn!(applied = ?applied, "applied migrations");
    }
    Ok(())
}

/// Stdout could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout")]
pub(crate) struct StdoutError(#[source] std::io::Error);

impl StdoutError {
    /// Its reader closed the pipe (`| head`): nothing went wrong, the command just stops.
    fn reader_left(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes one line to stdout (the CLI's only output channel for results; line by line, so that
/// `audit tail --follow` streams through a pipe).
///
/// # Errors
/// [`StdoutError`] when stdout is closed or failing.
pub(crate) fn print_line(s: &str) -> Result<(), StdoutError> {
    writeln!(std::io::stdout().lock(), "{s}").map_err(StdoutError)
}

#[cfg(test)]
mod tests {
    use super::migration_status;

    #[test]
    fn check_config_reports_pending_migrations() {
        assert_eq!(migration_status(&[]), ("up to date".to_owned(), "ok"));
        let pending = ["20261125000001".to_owned(), "20261125000002".to_owned()];
        assert_eq!(
            migration_status(&pending),
            (
                "2 pending (20261125000001, 20261125000002); run `authd migrate` or start `authd serve`".to_owned(),
                "migrations pending"
            )
        );
    }
}
