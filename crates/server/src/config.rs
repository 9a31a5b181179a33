//! The effective configuration: the database, the pool and the master keys (the keyring).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use storage_diesel::{Backend, KeyId, PoolOptions};
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

/// One master key of the keyring: its id and its 32 bytes (wiped on drop).
pub type RingKey = (KeyId, Zeroizing<[u8; 32]>);

/// The master keys (the keyring), in the order given: the first is the primary for now (see
/// [`storage_diesel::XChaChaCipher`]).
pub struct MasterKeys {
    /// The keys, never empty, ids distinct.
    pub keys: Vec<RingKey>,
    /// Where they came from.
    pub source: KeySource,
}

impl MasterKeys {
    /// The ids, in ring order, comma-separated (for `check-config`; never a key).
    pub fn ids(&self) -> String {
        self.keys
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
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

/// Parses a keyring: entries `ID:BASE64`, or a bare `BASE64` (the key with id `0`). `entries`
/// yields each entry with its place for messages (`line 3`, `entry 2`). Messages never show
/// what a malformed entry holds (it may be key material), only a valid id.
fn parse_ring<'a>(entries: impl Iterator<Item = (String, &'a str)>, what: &str) -> Result<Vec<RingKey>, ConfigError> {
    let mut ring: Vec<(RingKey, String)> = Vec::new();
    for (place, entry) in entries {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(ConfigError(format!(
                "{what}, {place}: empty; give ID:BASE64 or a bare base64 key"
            )));
        }
        let (id, key) = match entry.split_once(':') {
            Some((id, key)) => {
                let id: KeyId = id.trim().parse().map_err(|e: storage_diesel::InvalidKeyId| {
                    ConfigError(format!("{what}, {place}: {e} (the form is ID:BASE64)"))
                })?;
                (id, key)
            }
            None => (KeyId::legacy(), entry),
        };
        let key = decode_key(key, &format!("{what}, {place}"))?;
        if let Some((_, first)) = ring.iter().find(|((have, _), _)| *have == id) {
            return Err(ConfigError(format!(
                "{what}: the key id `{id}` is given twice ({first} and {place}); ids must be unique \
                 (a bare key is the key with id `0`)"
            )));
        }
        ring.push(((id, key), place));
    }
    if ring.is_empty() {
        return Err(ConfigError(format!("{what} holds no key")));
    }
    Ok(ring.into_iter().map(|(k, _)| k).collect())
}

/// The keyring of a key file: one key per line, `ID:BASE64` or a bare base64 key (id `0`);
/// blank lines and lines starting with `#` are skipped.
fn parse_key_file(text: &str, what: &str) -> Result<Vec<RingKey>, ConfigError> {
    let lines = text.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim();
        (!t.is_empty() && !t.starts_with('#')).then(|| (format!("line {}", i + 1), t))
    });
    parse_ring(lines, what)
}

/// The keyring of `AUTHD_MASTER_KEY`: the entries of a key file separated by commas.
fn parse_key_env(text: &str) -> Result<Vec<RingKey>, ConfigError> {
    let entries = text
        .split(',')
        .enumerate()
        .map(|(i, e)| (format!("entry {}", i + 1), e));
    parse_ring(entries, "AUTHD_MASTER_KEY")
}

fn read_key_file(path: &Path) -> Result<Vec<RingKey>, ConfigError> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read master key file {}: {e}", path.display())))?,
    );
    parse_key_file(&text, &format!("master key file {}", path.display()))
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

/// Loads the keyring: `AUTHD_MASTER_KEY`, else the key file, else (SQLite only) the default key
/// file beside the database, created with mode 0600 when missing (holding one bare key: id `0`).
///
/// # Errors
/// [`ConfigError`] for a malformed key, an unreadable file, or PostgreSQL without a key.
pub fn master_keys(
    g: &GlobalOpts,
    db: &DbConfig,
    env_key: Option<Zeroizing<String>>,
) -> Result<MasterKeys, ConfigError> {
    if let Some(text) = env_key {
        if g.master_key_file.is_some() {
            return Err(ConfigError(
                "both AUTHD_MASTER_KEY and a master key file are set; give only one".into(),
            ));
        }
        return Ok(MasterKeys {
            keys: parse_key_env(&text)?,
            source: KeySource::Env,
        });
    }
    if let Some(path) = &g.master_key_file {
        return Ok(MasterKeys {
            keys: read_key_file(path)?,
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
                return Ok(MasterKeys {
                    keys: read_key_file(&path)?,
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
            Ok(MasterKeys {
                keys: vec![(KeyId::legacy(), bytes)],
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;

    fn b64(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn ids(ring: &[RingKey]) -> Vec<&str> {
        ring.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn err(r: Result<Vec<RingKey>, ConfigError>) -> String {
        match r {
            Ok(ring) => panic!("accepted: {:?}", ids(&ring)),
            Err(e) => e.0,
        }
    }

    #[test]
    fn a_key_file_holds_one_key_per_line() {
        let text = format!(
            "# rotation of 2026-12\n0:{}\n\n  k2 : {}  \nlast-1:{}",
            b64(1),
            b64(2),
            b64(3)
        );
        let ring = parse_key_file(&text, "f").unwrap();
        assert_eq!(ids(&ring), ["0", "k2", "last-1"]);
        assert_eq!(*ring[0].1, [1; 32]);
        assert_eq!(*ring[1].1, [2; 32]);
        assert_eq!(*ring[2].1, [3; 32]);
    }

    #[test]
    fn a_bare_key_is_the_key_with_id_0() {
        for text in [b64(7), format!("{}\n", b64(7)), format!("  {}\r\n", b64(7))] {
            let ring = parse_key_file(&text, "f").unwrap();
            assert_eq!(ids(&ring), ["0"]);
            assert_eq!(*ring[0].1, [7; 32]);
            let ring = parse_key_env(text.trim()).unwrap();
            assert_eq!(ids(&ring), ["0"]);
        }
        // Appending a key to today's file makes a ring.
        let ring = parse_key_file(&format!("{}\nk2:{}\n", b64(7), b64(8)), "f").unwrap();
        assert_eq!(ids(&ring), ["0", "k2"]);
    }

    #[test]
    fn the_environment_holds_the_same_list_with_commas() {
        let ring = parse_key_env(&format!("k2:{}, 0:{}", b64(2), b64(1))).unwrap();
        assert_eq!(ids(&ring), ["k2", "0"]);
        assert_eq!(*ring[0].1, [2; 32]);
        assert_eq!(*ring[1].1, [1; 32]);
        let e = err(parse_key_env(&format!("k2:{},", b64(2))));
        assert_eq!(
            e,
            "AUTHD_MASTER_KEY, entry 2: empty; give ID:BASE64 or a bare base64 key"
        );
    }

    #[test]
    fn malformed_entries_are_named_without_their_content() {
        let key = b64(9);
        let cases = [
            (
                format!("K2:{key}"),
                "AUTHD_MASTER_KEY, entry 1: a key id must be 1 to 32 characters of a-z, 0-9 and - (the form is ID:BASE64)",
            ),
            (
                format!("{}:{key}", "k".repeat(33)),
                "AUTHD_MASTER_KEY, entry 1: a key id must be 1 to 32 characters of a-z, 0-9 and - (the form is ID:BASE64)",
            ),
            (
                format!(":{key}"),
                "AUTHD_MASTER_KEY, entry 1: a key id must be 1 to 32 characters of a-z, 0-9 and - (the form is ID:BASE64)",
            ),
            (
                format!("0:{key},k2;{key}"),
                "AUTHD_MASTER_KEY, entry 2: the master key must be base64 of 32 bytes",
            ),
            (
                format!("k2:{}", STANDARD.encode([9u8; 31])),
                "AUTHD_MASTER_KEY, entry 1: the master key must be base64 of exactly 32 bytes",
            ),
            (
                format!("k2:{key}:{key}"),
                "AUTHD_MASTER_KEY, entry 1: the master key must be base64 of 32 bytes",
            ),
            (
                format!("0:{key},k2:{},0:{}", b64(2), b64(3)),
                "AUTHD_MASTER_KEY: the key id `0` is given twice (entry 1 and entry 3); ids must be unique \
                 (a bare key is the key with id `0`)",
            ),
            (
                format!("{key},0:{}", b64(2)),
                "AUTHD_MASTER_KEY: the key id `0` is given twice (entry 1 and entry 2); ids must be unique \
                 (a bare key is the key with id `0`)",
            ),
        ];
        for (text, want) in cases {
            let e = err(parse_key_env(&text));
            assert_eq!(e, want, "{text}");
            assert!(!e.contains(&key[..8]), "key material in {e:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
        let e = err(parse_key_file(
            &format!("0:{key}\n\nk2:not base64!\n"),
            "master key file f",
        ));
        assert_eq!(
            e,
            "master key file f, line 3: the master key must be base64 of 32 bytes"
        );
        let e = err(parse_key_file(&format!("a:{key}\nb:{}\na:{}", b64(1), b64(2)), "f"));
        assert!(e.contains("`a` is given twice (line 1 and line 3)"), "{e}");
    }

    #[test]
    fn an_empty_ring_is_refused() {
        for text in ["", "\n\n", "# only a comment\n"] {
            assert_eq!(
                err(parse_key_file(text, "master key file f")),
                "master key file f holds no key"
            );
        }
        assert_eq!(
            err(parse_key_env(" ")),
            "AUTHD_MASTER_KEY, entry 1: empty; give ID:BASE64 or a bare base64 key"
        );
    }

    #[test]
    fn the_sqlite_default_key_file_is_one_bare_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db/authd.sqlite").display());
        let cli = Cli::try_parse_from(["authd", "migrate", "--database-url", &url]).unwrap();
        let db = db_config(&cli.global).unwrap();
        let first = master_keys(&cli.global, &db, None).unwrap();
        assert!(matches!(first.source, KeySource::DefaultFile { created: true, .. }));
        assert_eq!(first.ids(), "0");
        let text = fs::read_to_string(dir.path().join("db/master.key")).unwrap();
        assert!(!text.contains(':'), "a bare key: {text}");
        assert_eq!(STANDARD.decode(text.trim()).unwrap(), *first.keys[0].1);
        let again = master_keys(&cli.global, &db, None).unwrap();
        assert!(matches!(again.source, KeySource::DefaultFile { created: false, .. }));
        assert_eq!(*again.keys[0].1, *first.keys[0].1);
        // The environment wins, as a ring.
        let env = Zeroizing::new(format!("k2:{},0:{}", b64(2), b64(1)));
        let ring = master_keys(&cli.global, &db, Some(env)).unwrap();
        assert_eq!(ring.ids(), "k2, 0");
    }
}
