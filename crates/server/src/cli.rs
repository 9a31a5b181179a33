//! The command line: every flag has an environment variable; flags win over the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::access::{HandlePattern, Scope, Scopes};
use domain::ids::AppId;
use domain::keys::KeyId;
use domain::values::TokenLifetime;

/// authd: a self-hostable authenticator-app server (Inkbox authenticator + identities API,
/// OneWelcome end-user API) on embedded SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "authd", version)]
pub struct Cli {
    /// Options every command takes, before or after its own arguments.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Database URL: `sqlite://PATH` (embedded; the folder is created) or `postgres://...`.
    #[arg(
        long,
        env = "AUTHD_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/authd.sqlite",
        global = true
    )]
    pub database_url: String,

    /// File holding the master keys (the keyring): one per line as `ID:BASE64` (ID: 1-32 of
    /// `a-z`, `0-9`, `-`; BASE64: 32 bytes), or a bare base64 key, which is the key with id `0`;
    /// blank lines and `#` comments are skipped. The first key seals new secrets; every key opens
    /// what it sealed. Alternatively set AUTHD_MASTER_KEY to the same list separated by commas
    /// (or one bare base64 key). SQLite default: `<db dir>/master.key`, created (mode 0600, one
    /// bare key) if missing. PostgreSQL: required (replicas must share it).
    #[arg(long, env = "AUTHD_MASTER_KEY_FILE", hide_env_values = true, global = true)]
    pub master_key_file: Option<PathBuf>,

    /// Database connection pool size, also the number of threads doing database work [default: SQLite 4, PostgreSQL 8].
    #[arg(long, env = "AUTHD_POOL_SIZE", hide_env_values = true, global = true, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pool_size: Option<u32>,

    /// PostgreSQL: the server-side `statement_timeout` of every connection, in milliseconds, and
    /// libpq's `tcp_user_timeout`; a unit of work running a second longer is taken for hung (the
    /// database stopped answering): its connection is cut and the pool replaced. Ignored on
    /// SQLite.
    #[arg(long, value_name = "MS", env = "AUTHD_DB_STATEMENT_TIMEOUT_MS", hide_env_values = true, global = true, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub db_statement_timeout_ms: u64,

    /// Log format [default: pretty on a terminal, json otherwise]. Verbosity: RUST_LOG (default
    /// info for `serve`, warn for the other commands).
    #[arg(long, env = "AUTHD_LOG_FORMAT", hide_env_values = true, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How `token list`, `org show` and `audit tail` print their results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns under a header, for a person.
    Table,
    /// JSON, for programs (see --json).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations (unless --no-migrate), then serve HTTP until SIGINT/SIGTERM, then
    /// drain in-flight requests and exit 0.
    Serve(ServeOpts),
    /// Run pending migrations and exit (for release pipelines; then `serve --no-migrate`).
    Migrate,
    /// Manage service tokens.
    ///
    /// Every token command first runs the pending migrations, as `serve` does, so a token can be
    /// created before the service first starts (e.g. by a provisioning script). Processes
    /// migrating together take turns.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Validate the configuration and database connectivity; print the effective configuration
    /// without secrets, and the pending migrations.
    ///
    /// Read-only: it applies no migration. The last lines are `migrations: up to date` and
    /// `status: ok`, or `migrations: N pending (VERSIONS); ...` and `status: migrations pending`.
    /// The exit code is 0 in both cases (the configuration is valid; `migrate`, `serve` or any
    /// token command applies the migrations); 2 for an invalid configuration, 1 for an
    /// unreachable database.
    CheckConfig,
    /// Read or prune the audit trail (every change, every code generated or verified).
    ///
    /// Like the token commands, these first run the pending migrations.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Read or change an organization's settings (its maximum token lifetime).
    ///
    /// Like the token commands, these first run the pending migrations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Rotate the master key while authd serves: see the keyring, re-seal every secret under
    /// the primary, promote and retire keys (docs/OPERATIONS.md, "Rotating the master key").
    ///
    /// Like the token commands, these first run the pending migrations. The keyring is this
    /// process's (the master key file or AUTHD_MASTER_KEY, as for `serve`).
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the primary key, how many secrets are sealed under each key id, the live replicas
    /// (the keys each holds, the one it seals under) and the retired keys.
    ///
    /// On a terminal: tables; piped or redirected: one JSON object (see --json).
    Status {
        /// Print one JSON object {"primary": ID, "sealed": {ID: count, ...}, "unknown": count,
        /// "replicas": [{"id", "host", "pid", "keys": [ID, ...], "sealing", "started_at",
        /// "seen_at"}], "retired": [ID, ...], "events": [...]}. Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `table` or `json` [default: table when stdout is a terminal, json otherwise].
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Make a key the primary: every replica seals new secrets under it from its next heartbeat
    /// (within 5 s). Refused, naming them, while any live replica lacks the key; refused when
    /// this keyring lacks it or it was retired. A system event (`key.promote`).
    Promote {
        /// The key id (as in the keyring).
        #[arg(value_parser = key_id_arg)]
        key_id: KeyId,
    },
    /// Re-seal every secret not under the primary, in batches, while any number of replicas
    /// serve. Resumable and idempotent: stop it at any point and run it again. Progress goes to
    /// stderr (a bar on a terminal, lines otherwise); the summary line to stdout. Each secret
    /// re-sealed is an `account.rewrap` event of its organization.
    Rewrap {
        /// Secrets per batch (one transaction each).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// How long to wait for live replicas to adopt a newly promoted primary before giving up.
        #[arg(long, default_value_t = 15)]
        wait_seconds: u64,
        /// Milliseconds to pause after each batch, leaving the database to the replicas (on
        /// SQLite a batch holds the one write lock while it commits; docs/PERFORMANCE.md has
        /// the serving cost with and without a pause; 0: no pause).
        #[arg(long, default_value_t = 20)]
        pause_ms: u64,
    },
    /// Retire a key: refused while any secret (of a deleted account too) is sealed under it,
    /// while it is the primary, or while a live replica seals under it. It can then leave
    /// every keyring. A system event (`key.retire`).
    Retire {
        /// The key id.
        #[arg(value_parser = key_id_arg)]
        key_id: KeyId,
    },
}

fn key_id_arg(s: &str) -> Result<KeyId, String> {
    s.parse().map_err(|e: domain::keys::InvalidKeyId| e.to_string())
}

/// `org` subcommands.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Change an organization's settings; prints nothing. Recorded in its audit trail
    /// (`org.update`).
    Set {
        /// Organization id, e.g. `org_acme`.
        #[arg(long)]
        org: String,
        /// The longest lifetime of the organization's new service tokens: a whole number and a
        /// unit, `s`, `m`, `h` or `d` (e.g. `30d`, `12h`), from 1 minute to 3650 days; or `none`
        /// to lift the limit. A token created without `--expires-in` then lives this long, and a
        /// longer `--expires-in` is refused. Tokens that exist keep their expiry.
        #[arg(long, value_name = "DURATION|none", value_parser = max_lifetime_arg)]
        max_token_lifetime: MaxLifetime,
    },
    /// Print an organization's settings.
    ///
    /// On a terminal: a table (ORG, MAX_TOKEN_LIFETIME); piped or redirected: a JSON object
    /// (see --json).
    Show {
        /// Organization id, e.g. `org_acme`.
        #[arg(long)]
        org: String,
        /// Print a JSON object {"org","max_token_lifetime_seconds"} (the seconds are null when
        /// there is no maximum). Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `table` or `json` [default: table when stdout is a terminal, json otherwise].
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
}

/// `org set --max-token-lifetime`: a lifetime, or `None` (`none`) for no maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLifetime(pub Option<TokenLifetime>);

fn max_lifetime_arg(s: &str) -> Result<MaxLifetime, String> {
    if s == "none" {
        return Ok(MaxLifetime(None));
    }
    TokenLifetime::parse(s)
        .map(|l| MaxLifetime(Some(l)))
        .map_err(|e| format!("{e}; or `none` for no maximum"))
}

/// The names of every scope, comma-separated.
fn scope_names() -> String {
    Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// `token create --scope`: one or more scope names, separated by commas.
fn scopes_arg(s: &str) -> Result<Scopes, String> {
    Scopes::parse(s).map_err(|bad| {
        if bad.is_empty() {
            format!("no scope given; the scopes are {}", scope_names())
        } else {
            format!("unknown scope {bad:?}; the scopes are {}", scope_names())
        }
    })
}

/// `--scope`'s long help: the scopes, listed from the code so that it cannot drift.
fn scope_help() -> String {
    format!(
        "A scope of the token: one of {}; or several, comma-separated (`--scope \
         apps:read,otp:generate`). Repeatable. `admin` grants every scope. Without --scope the token \
         gets `admin`",
        scope_names()
    )
}

/// `token create --identity`: a handle, or a handle prefix and `*`.
fn identity_arg(s: &str) -> Result<HandlePattern, String> {
    HandlePattern::parse(s)
}

/// `token create --app`: an app id.
fn app_arg(s: &str) -> Result<AppId, String> {
    AppId::parse(s).ok_or_else(|| "must be an app id (a UUID)".to_owned())
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print an organization's audit events, oldest first, from a cursor.
    ///
    /// On a terminal: a table (SEQ, AT, ACTOR, ACTION, RESOURCE, RESOURCE_ID, DETAILS, the
    /// details shortened); piped or redirected: one JSON object a line (see --json).
    Tail {
        /// Organization id, e.g. `org_acme`.
        #[arg(long)]
        org: String,
        /// Start after this cursor (an event's `seq`) [default: from the first event].
        #[arg(long)]
        after: Option<u64>,
        /// Keep polling for new events (every second) until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print one JSON object a line, each as in `GET /api/v1/audit/events`:
        /// {"id","org","seq","at","actor":{"kind","id"},"action","resource":{"type","id"},"request_id","details"}.
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `table` or `json` [default: table when stdout is a terminal, json otherwise].
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Delete events older than the retention period (each organization's newest event is
    /// kept, so its numbering goes on); prints how many were deleted.
    Purge {
        /// Keep the events of the last DAYS days (1 to 36500); they are never touched.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
        older_than_days: u32,
    },
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeOpts {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_BIND", hide_env_values = true, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// HTTP worker threads [default: number of cores].
    #[arg(long, env = "AUTHD_WORKERS", hide_env_values = true, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// Do not run pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
    /// Delete audit events older than this many days, at start and then hourly (1 to 36500;
    /// the events of the last DAYS days are never touched) [default: keep every event].
    #[arg(long, value_name = "DAYS", env = "AUTHD_AUDIT_RETENTION_DAYS", hide_env_values = true, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: Option<u32>,
    /// How long a request may wait for the database, in milliseconds (queueing for a thread and
    /// a connection, then its statements); past it the answer is `503` with `Retry-After`.
    /// Must exceed the statement timeout by at least a second.
    #[arg(long, value_name = "MS", env = "AUTHD_REQUEST_TIMEOUT_MS", hide_env_values = true, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..=600_000))]
    pub request_timeout_ms: u64,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a service token for an organization; prints only the token, on one line.
    Create {
        /// Organization id, e.g. `org_acme`.
        #[arg(long)]
        org: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime: a whole number and a unit, `s`, `m`, `h` or `d` (e.g. `30d`, `12h`, `90m`,
        /// `3600s`), from 1 minute to 3650 days. Without it the token lives until revoked, or as
        /// long as the organization's maximum token lifetime (`org set --max-token-lifetime`),
        /// which a longer lifetime may not exceed; after it every replica refuses the token
        /// (`401 {"detail": "token expired"}`).
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
        expires_in: Option<String>,
        /// A scope of the token (repeatable; comma-separated lists too) [default: admin].
        #[arg(long = "scope", value_name = "SCOPES", value_parser = scopes_arg, long_help = scope_help())]
        scopes: Vec<Scopes>,
        /// Confine the token to the identities of this handle pattern, and their apps
        /// (repeatable): a handle (`bot`), pinned to the identity that has it now (it must
        /// exist; a later identity taking that handle is not covered), or a handle prefix and
        /// `*` (`sales-*`), which covers later identities too. Other identities, apps, accounts
        /// and instances answer the token as if they did not exist.
        #[arg(long = "identity", value_name = "PATTERN", value_parser = identity_arg)]
        identities: Vec<HandlePattern>,
        /// Confine the token to this app (its id; repeatable), besides the apps of its
        /// identities.
        #[arg(long = "app", value_name = "APP_ID", value_parser = app_arg)]
        apps: Vec<AppId>,
    },
    /// List tokens (never the tokens themselves): id, org, name, created, expires, last used,
    /// revoked, scopes, restriction.
    ///
    /// On a terminal: a table (RESTRICTION: the identity patterns and `app:<id>` items the
    /// token is confined to, `-` for none); piped or redirected: a JSON array (see --json).
    List {
        /// Only this organization's tokens.
        #[arg(long)]
        org: Option<String>,
        /// Print a JSON array of
        /// {"id","org","name","created_at","expires_at","last_used_at","revoked_at","scopes","identities","apps"}
        /// (`scopes` an array of names; `identities` the patterns and `apps` the app ids the
        /// token is confined to, each null when there are none). Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `table` or `json` [default: table when stdout is a terminal, json otherwise].
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Revoke a token by id; every replica refuses it within 5 seconds.
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
}

/// Renders `docs/CONFIG.md` from the command definitions, so the document cannot drift from
/// `authd --help`.
#[cfg(test)]
fn config_markdown() -> String {
    use clap::CommandFactory as _;
    let mut root = Cli::command();
    root.build();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the code: `cargo test -p server` fails when this file differs from\n\
         `authd --help`; regenerate it with `AUTHD_BLESS=1 cargo test -p server config_doc`.\n\n\
         Every flag has an environment variable; flags win over the environment. The global options\n\
         (`--database-url`, `--master-key-file`, `--pool-size`, `--log-format`) go before or after a\n\
         command's own arguments. The master key can also be given as `AUTHD_MASTER_KEY` (base64 of\n\
         32 bytes), which has no flag so that it never shows in a process list. Verbosity: `RUST_LOG`\n\
         (default `info` for `serve`, `warn` for the other commands). `token list`, `org show` and\n\
         `audit tail` print a table on a terminal and JSON otherwise (`--format table|json`). Exit\n\
         codes: 0 success; 2 bad arguments or configuration (one line on stderr); 1 any other\n\
         failure (with its cause chain).\n",
    );
    let mut section = |title: &str, cmd: &mut clap::Command| {
        let help = cmd.render_long_help().to_string();
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        out.push_str(&format!(
            "\n## `{title}`\n\n```text\n{}\n```\n",
            help.join("\n").trim_end()
        ));
    };
    section("authd", &mut root.clone());
    let names: Vec<String> = root.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in names {
        let Some(sub) = root.find_subcommand_mut(&name) else {
            continue;
        };
        let mut sub = sub.clone();
        section(&format!("authd {name}"), &mut sub);
        let inner: Vec<String> = sub.get_subcommands().map(|c| c.get_name().to_owned()).collect();
        for i in inner {
            if let Some(s) = sub.find_subcommand_mut(&i) {
                let mut s = s.clone();
                section(&format!("authd {name} {i}"), &mut s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_doc_matches_the_cli() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIG.md");
        let want = config_markdown();
        if std::env::var_os("AUTHD_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/CONFIG.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/CONFIG.md is out of date; run AUTHD_BLESS=1 cargo test -p server config_doc"
        );
    }

    #[test]
    fn global_options_are_accepted_after_the_command() {
        let cli = Cli::try_parse_from(["authd", "token", "list", "--database-url", "sqlite://x.db", "--json"])
            .expect("parses");
        assert_eq!(cli.global.database_url, "sqlite://x.db");
        assert!(matches!(
            cli.command,
            Command::Token(TokenCommand::List { json: true, .. })
        ));
    }

    #[test]
    fn output_format_flags() {
        let cli = Cli::try_parse_from(["authd", "audit", "tail", "--org", "o", "--format", "table"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Audit(AuditCommand::Tail {
                json: false,
                format: Some(OutputFormat::Table),
                ..
            })
        ));
        let cli = Cli::try_parse_from(["authd", "audit", "tail", "--org", "o", "--json"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Audit(AuditCommand::Tail {
                json: true,
                format: None,
                ..
            })
        ));
        // `--json` and `--format` say the same thing twice: one of them only.
        for cmd in [&["token", "list"][..], &["audit", "tail", "--org", "o"]] {
            let mut args = vec!["authd"];
            args.extend_from_slice(cmd);
            args.extend(["--json", "--format", "table"]);
            assert!(Cli::try_parse_from(&args).is_err(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["authd", "token", "list", "--format", "csv"]).is_err());
    }

    #[test]
    fn token_create_takes_scopes_identities_and_apps() {
        let app = "0190a5b4-7c3e-7def-8abc-0123456789ab";
        let cli = Cli::try_parse_from([
            "authd",
            "token",
            "create",
            "--org",
            "acme",
            "--scope",
            "apps:read",
            "--scope",
            "otp:generate,otp:verify",
            "--identity",
            "@bot",
            "--identity",
            "sales-*",
            "--app",
            app,
        ])
        .expect("parses");
        let Command::Token(TokenCommand::Create {
            scopes,
            identities,
            apps,
            ..
        }) = cli.command
        else {
            panic!("not token create: {:?}", cli.command);
        };
        let names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["apps:read", "otp:generate otp:verify"]);
        let patterns: Vec<&str> = identities.iter().map(HandlePattern::as_str).collect();
        assert_eq!(patterns, ["bot", "sales-*"]);
        assert_eq!(apps, [AppId::parse(app).expect("uuid")]);

        let Command::Token(TokenCommand::Create { scopes, .. }) =
            Cli::try_parse_from(["authd", "token", "create", "--org", "acme"])
                .expect("parses")
                .command
        else {
            panic!("not token create");
        };
        assert!(scopes.is_empty(), "no --scope: admin, decided by the command");
    }

    #[test]
    fn bad_scopes_patterns_and_app_ids_are_value_errors() {
        let err = |args: &[&str]| {
            let mut all = vec!["authd", "token", "create", "--org", "acme"];
            all.extend_from_slice(args);
            let e = Cli::try_parse_from(&all).expect_err("refused");
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {e}");
            e.to_string()
        };
        let e = err(&["--scope", "apps:read,nope"]);
        assert!(e.contains("--scope") && e.contains(r#"unknown scope "nope""#), "{e}");
        for s in Scope::ALL {
            assert!(e.contains(s.as_str()), "{s} not listed: {e}");
        }
        assert!(err(&["--scope", ""]).contains("no scope given"));
        assert!(err(&["--identity", "a*b"]).contains("--identity"));
        assert!(err(&["--identity", "two words"]).contains("--identity"));
        assert!(err(&["--app", "not-a-uuid"]).contains("must be an app id"));
        // Every scope is in the long help, from the code.
        for s in Scope::ALL {
            assert!(scope_help().contains(s.as_str()), "{s}");
        }
    }

    #[test]
    fn org_set_takes_a_lifetime_or_none() {
        let max =
            |v: &str| match Cli::try_parse_from(["authd", "org", "set", "--org", "acme", "--max-token-lifetime", v])
                .map(|c| c.command)
            {
                Ok(Command::Org(OrgCommand::Set { max_token_lifetime, .. })) => Ok(max_token_lifetime.0),
                Ok(other) => panic!("not org set: {other:?}"),
                Err(e) => Err(e.kind()),
            };
        assert_eq!(max("30d"), Ok(TokenLifetime::parse("30d").ok()));
        assert_eq!(max("none"), Ok(None));
        for bad in ["", "0d", "1w", "None", "3651d"] {
            assert_eq!(max(bad), Err(clap::error::ErrorKind::ValueValidation), "{bad:?}");
        }
        assert!(Cli::try_parse_from(["authd", "org", "set", "--org", "acme"]).is_err());
        assert!(Cli::try_parse_from(["authd", "org", "show"]).is_err());
        assert!(Cli::try_parse_from(["authd", "org", "show", "--org", "acme", "--json", "--format", "table"]).is_err());
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(Cli::try_parse_from(["authd", "serve", "--workers", "0"]).is_err());
        assert!(Cli::try_parse_from(["authd", "token", "create"]).is_err());
        assert!(Cli::try_parse_from(["authd", "nope"]).is_err());
    }
}
