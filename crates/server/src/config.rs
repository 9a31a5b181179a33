//! The effective configuration: the database, the pool and the master key.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use storage_diesel::{Backend, PoolOptions};
use zeroize::Zeroizing;

use crate::cli::GlobalOpts;

/// A configuration problem: exit code 2 with a one-line reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the master key came from (for `check-config`; never the key).
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `AUTHD_MASTER_KEY`.
    Env,
    /// A key file given by flag or environment.
    File(PathBuf),
    /// The SQLite default key file (created when it was missing).
    DefaultFile {
        /// Its path.
        path: PathBuf,
        /// Whether it was created now.
        created: bool,
    },
}

/// The master key: 32 bytes, wiped on drop.
pub struct MasterKey {
    /// The bytes.
    pub bytes: Zeroizing<[u8; 32]>,
    /// Where they came from.
    pub source: KeySource,
}

/// The database part of the configuration.
pub struct DbConfig {
    /// The URL as given.
    pub url: String,
    /// Its backend.
    pub backend: Backend,
    /// Pool settings.
    pub pool: PoolOptions,
}

/// Parses the database URL and pool settings.
///
/// # Errors
/// [`ConfigError`] for an unknown scheme.
pub fn db_config(g: &GlobalOpts) -> Result<DbConfig, ConfigError> {
    let backend = storage_diesel::backend_of(&g.database_url).map_err(|e| ConfigError(e.to_string()))?;
    let mut pool = PoolOptions::default_for(backend);
    if let Some(n) = g.pool_size {
        pool.max_size = n;
    }
    pool.statement_timeout = std::time::Duration::from_millis(g.db_statement_timeout_ms);
    Ok(DbConfig {
        url: g.database_url.clone(),
        backend,
        pool,
    })
}

fn decode_key(text: &str, what: &str) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    let raw = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| ConfigError(format!("{what}: the master key must be base64 of 32 bytes")))?,
    );
    let arr: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| ConfigError(format!("{what}: the master key must be base64 of exactly 32 bytes")))?;
    Ok(Zeroizing::new(arr))
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read master key file {}: {e}", path.display())))?,
    );
    decode_key(&text, &format!("master key file {}", path.display()))
}

/// The folder of a `sqlite://` database file.
fn sqlite_dir(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    Path::new(path).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Loads the master key: `AUTHD_MASTER_KEY`, else the key file, else (SQLite only) the default
/// key file beside the database, created with mode 0600 when missing.
///
/// # Errors
/// [`ConfigError`] for a malformed key, an unreadable file, or PostgreSQL without a key.
pub fn master_key(g: &GlobalOpts, db: &DbConfig, env_key: Option<Zeroizing<String>>) -> Result<MasterKey, ConfigError> {
    if let Some(text) = env_key {
        if g.master_key_file.is_some() {
            return Err(ConfigError(
                "both AUTHD_MASTER_KEY and a master key file are set; give only one".into(),
            ));
        }
        return Ok(MasterKey {
            bytes: decode_key(&text, "AUTHD_MASTER_KEY")?,
            source: KeySource::Env,
        });
    }
    if let Some(path) = &g.master_key_file {
        return Ok(MasterKey {
            bytes: read_key_file(path)?,
            source: KeySource::File(path.clone()),
        });
    }
    match db.backend {
        Backend::Postgres => Err(ConfigError(
            "PostgreSQL needs an explicit master key shared by all replicas: set AUTHD_MASTER_KEY \
             (base64 of 32 bytes, e.g. from `openssl rand -base64 32`) or --master-key-file"
                .into(),
        )),
        Backend::Sqlite => {
            let dir = sqlite_dir(&db.url);
            let path = dir.join("master.key");
            if path.exists() {
                return Ok(MasterKey {
                    bytes: read_key_file(&path)?,
                    source: KeySource::DefaultFile { path, created: false },
                });
            }
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(&dir).map_err(|e| ConfigError(format!("cannot create {}: {e}", dir.display())))?;
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut()).map_err(|e| ConfigError(format!("no randomness for a master key: {e}")))?;
            let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
            write_private(&path, text.as_bytes())
                .map_err(|e| ConfigError(format!("cannot create master key file {}: {e}", path.display())))?;
            Ok(MasterKey {
                bytes,
                source: KeySource::DefaultFile { path, created: true },
            })
        }
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.write_all(b"\n")?;
    f.sync_all()
}
