//! Another Rust service embedding authd for real: the `domain` crate's use cases on
//! `storage-diesel`'s SQLite adapter, over a database file in a directory the service owns,
//! with the OTP seeds sealed by [`XChaChaCipher`] under a master key the service keeps next to
//! the database (`master.key`, 32 random bytes, mode 0600, created on the first start).
//!
//! Each start opens the database, applies any pending migrations, makes sure its identity, its
//! app and two accounts (one TOTP, one HOTP, imported from `otpauth://` URIs) exist, and
//! generates a code of each. Start it twice over the same directory: the second start finds
//! what the first wrote, and the HOTP counter goes on where it stopped.
//!
//! Run with `cargo run -p storage-diesel --example embedded_service -- DIR`.
//!
//! `tests/storage/embedding.rs` runs [`run`] as two starts of this service, and with a wrong
//! master key. For authd on the in-memory test adapter, without a database, see
//! `crates/domain/examples/embedded.rs`.

use std::error::Error;
use std::fs;
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::Authd;
use domain::audit::{Actor, Caller};
use domain::entities::{Account, App, Identity};
use domain::ids::{AccountId, AppId, IdentityId, OrgId};
use domain::ports::Clock;
use domain::service::{Deps, NewAccount};
use domain::system::{OsRandom, SystemClock, UuidV7};
use domain::values::Handle;
use storage_diesel::{Backend, DieselStore, PoolOptions, XChaChaCipher};
use zeroize::Zeroizing;

/// The database, in the service's directory.
pub const DATABASE_FILE: &str = "authd.sqlite";
/// The master key, a file beside the database, never in it (a copy of the database alone must
/// not open the seeds). Back it up: without it the stored seeds cannot be read.
pub const KEY_FILE: &str = "master.key";

/// The organization this service keeps its records under.
const ORG: &str = "org_billing";
/// The identity (a bot) whose app holds the accounts.
const BOT: &str = "billing-bot";
/// The accounts, by account name: RFC 6238's and RFC 4226's test secret (`12345678901234567890`).
const TOTP_NAME: &str = "billing";
const TOTP_URI: &str = "otpauth://totp/Example:billing?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example";
const HOTP_NAME: &str = "backup";
const HOTP_URI: &str = "otpauth://hotp/Example:backup?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example&counter=0";

/// What one start of the service did and saw (ids and codes; never a seed or the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Whether this start created its identity (the first start) or found it.
    pub created: bool,
    /// The identity.
    pub identity: IdentityId,
    /// Its app.
    pub app: AppId,
    /// The TOTP account.
    pub totp_account: AccountId,
    /// Its code now.
    pub totp_code: String,
    /// The HOTP account.
    pub hotp_account: AccountId,
    /// Its next code.
    pub hotp_code: String,
    /// The HOTP counter the next code will use.
    pub hotp_next_counter: u64,
}

/// One start of the service over `dir` (created when missing): loads or creates the master key,
/// opens and migrates the database, makes sure its records exist and generates a code of each
/// account. `clock` is the service's time ([`SystemClock`] in production).
///
/// # Errors
/// The key file is unreadable, malformed, or missing while the database exists; the database
/// cannot be opened or migrated; a use case fails, e.g. [`domain::Error::SecretUnreadable`]
/// when the master key is not the one the seeds were sealed with.
pub fn run(dir: &Path, clock: Arc<dyn Clock>) -> Result<Report, Box<dyn Error>> {
    let authd = open(dir, clock)?;
    let me = Caller::new(OrgId::new(ORG)?, Actor::Cli);
    let (identity, app, created) = identity_and_app(&authd, &me)?;
    let totp = account(&authd, &me, &app, TOTP_NAME, TOTP_URI)?;
    let hotp = account(&authd, &me, &app, HOTP_NAME, HOTP_URI)?;
    // HOTP first: with a wrong key it is the one that must fail without moving its counter.
    let hotp_code = authd.generate_otp(&me, *app.id(), *hotp.id())?.code;
    let totp_code = authd.generate_otp(&me, *app.id(), *totp.id())?.code;
    let hotp_next_counter = authd
        .get_account(&me, *app.id(), *hotp.id())?
        .kind()
        .counter()
        .ok_or("the HOTP account has no counter")?;
    Ok(Report {
        created,
        identity: *identity.id(),
        app: *app.id(),
        totp_account: *totp.id(),
        totp_code,
        hotp_account: *hotp.id(),
        hotp_code,
        hotp_next_counter,
    })
}

/// The composition: `Authd::new(store, Deps { clock, ids, rng, cipher })` on a migrated SQLite
/// store, as `authd`'s own binary composes it.
fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Authd<DieselStore>, Box<dyn Error>> {
    let key = master_key(dir)?;
    let file = dir.join(DATABASE_FILE);
    let file = file.to_str().ok_or("the service's directory must be a UTF-8 path")?;
    let url = format!("sqlite://{file}");
    let store = DieselStore::connect(&url, PoolOptions::default_for(Backend::Sqlite))?;
    // Safe on every start: applies only what this build has and the file has not.
    store.migrate()?;
    let deps = Deps {
        clock,
        ids: Arc::new(UuidV7),
        rng: Arc::new(OsRandom),
        cipher: Arc::new(XChaChaCipher::new(*key)),
    };
    Ok(Authd::new(store, deps))
}

/// The service's master key: read from `dir/master.key`, or made on the very first start. A
/// missing key beside an existing database is an error, not a new key: a new key could not read
/// the seeds already stored.
fn master_key(dir: &Path) -> Result<Zeroizing<[u8; 32]>, Box<dyn Error>> {
    let path = dir.join(KEY_FILE);
    match fs::File::open(&path) {
        Ok(mut file) => {
            let mut text = Zeroizing::new(Vec::new());
            file.read_to_end(&mut text)?;
            let mut key = Zeroizing::new([0u8; 32]);
            if text.len() != key.len() {
                return Err(format!("the master key file {} must hold exactly 32 bytes", path.display()).into());
            }
            key.copy_from_slice(&text);
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if dir.join(DATABASE_FILE).exists() {
                return Err(format!(
                    "the master key file {} is missing but the database exists: restore the key \
                     (a new one could not read the stored seeds)",
                    path.display()
                )
                .into());
            }
            fs::create_dir_all(dir)?;
            let mut key = Zeroizing::new([0u8; 32]);
            getrandom::fill(key.as_mut())?;
            write_private(&path, key.as_ref())?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read the master key file {}: {e}", path.display()).into()),
    }
}

/// Creates `path` readable by its owner only (0600 on Unix), failing if it exists.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// The service's identity and its app (created, linked to it, when it has none), and whether
/// this start created the identity.
fn identity_and_app(authd: &Authd<DieselStore>, me: &Caller) -> Result<(Identity, App, bool), Box<dyn Error>> {
    let bot = Handle::parse(BOT)?;
    let (identity, app, created) = match authd.get_identity(me, &bot) {
        Ok(detail) => (detail.identity, detail.app, false),
        Err(domain::Error::NotFound(_)) => (authd.create_identity(me, bot)?, None, true),
        Err(e) => return Err(e.into()),
    };
    let app = match app {
        Some(app) => app,
        None => authd.create_app(me, Some(identity.handle()))?,
    };
    Ok((identity, app, created))
}

/// The app's account called `name`, imported from `uri` when the app has none.
fn account(
    authd: &Authd<DieselStore>,
    me: &Caller,
    app: &App,
    name: &str,
    uri: &str,
) -> Result<Account, Box<dyn Error>> {
    let found = authd
        .list_accounts(me, *app.id())?
        .into_iter()
        .find(|a| a.account_name() == name);
    match found {
        Some(account) => Ok(account),
        None => Ok(authd.create_account(
            me,
            *app.id(),
            NewAccount {
                otpauth_uri: uri.into(),
                display_name: None,
                description: None,
                verify_window: None,
                metadata: Default::default(),
            },
        )?),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: embedded_service DIR (the service's data directory)")?;
    let r = run(&dir, Arc::new(SystemClock))?;
    let out = format!(
        "{} identity {} with app {}: TOTP account {} code {}, HOTP account {} code {} (next counter {})",
        if r.created { "created" } else { "found" },
        r.identity,
        r.app,
        r.totp_account,
        r.totp_code,
        r.hotp_account,
        r.hotp_code,
        r.hotp_next_counter,
    );
    #[expect(clippy::print_stdout, reason = "an example shows its output")]
    {
        println!("{out}");
    }
    Ok(())
}
