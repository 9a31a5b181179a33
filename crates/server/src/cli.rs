//! The command line: every flag has an environment variable; flags win over the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// authd: a self-hostable authenticator-app server (Inkbox authenticator + identities API,
/// OneWelcome end-user API) on embedded SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about, long_about = None)]
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
        default_value = "sqlite://data/authd.sqlite",
        global = true
    )]
    pub database_url: String,

    /// File holding the master key (base64 of 32 bytes). Alternatively set AUTHD_MASTER_KEY to
    /// the base64 key itself. SQLite default: `<db dir>/master.key`, created (mode 0600) if
    /// missing. PostgreSQL: required (replicas must share it).
    #[arg(long, env = "AUTHD_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,

    /// Database connection pool size [default: SQLite 4, PostgreSQL 8].
    #[arg(long, env = "AUTHD_POOL_SIZE", global = true, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pool_size: Option<u32>,

    /// Log format [default: pretty on a terminal, json otherwise]. Verbosity: RUST_LOG (default info).
    #[arg(long, env = "AUTHD_LOG_FORMAT", global = true, value_enum)]
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

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations (unless --no-migrate), then serve HTTP until SIGINT/SIGTERM, then
    /// drain in-flight requests and exit 0.
    Serve(ServeOpts),
    /// Run pending migrations and exit (for release pipelines; then `serve --no-migrate`).
    Migrate,
    /// Manage service tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Validate the configuration and database connectivity; print the effective configuration
    /// without secrets.
    CheckConfig,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeOpts {
    /// Address to listen on.
    #[arg(long, env = "AUTHD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// HTTP worker threads [default: number of cores].
    #[arg(long, env = "AUTHD_WORKERS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// Do not run pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
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
    },
    /// List tokens (never the tokens themselves): id, org, name, created, last used, revoked.
    List {
        /// Only this organization's tokens.
        #[arg(long)]
        org: Option<String>,
        /// Print a JSON array of {"id","org","name","created_at","last_used_at","revoked_at"}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id; every replica refuses it within 5 seconds.
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
}
