//! # authd domain
//!
//! The pure core of authd: validated values, entities, the OTP engine, the soft-delete cascade
//! plans, the ports (traits) every adapter implements, and the use cases ([`Authd`]) that tie
//! them together. Nothing here performs I/O by itself: storage, time, ids, randomness and
//! encryption all come in through [`ports`].
//!
//! ## Embedding authd in another Rust service
//!
//! A service that wants authd's accounts and codes in-process, without its HTTP API, depends on
//! two crates of this workspace and composes them as the `authd` binary does:
//!
//! - `domain` (this crate), without features: the use cases ([`Authd`]), the entities and
//!   values they take and return, and [`system`]'s production [`ports::Clock`],
//!   [`ports::IdGenerator`] and [`ports::RandomSource`] ([`system::SystemClock`],
//!   [`system::UuidV7`], [`system::OsRandom`]).
//! - `storage-diesel`, also without features (SQLite, bundled, and PostgreSQL are both built
//!   in): the [`ports::Store`] (`DieselStore`, on a SQLite file the service owns or a
//!   PostgreSQL URL, migrated by `DieselStore::migrate` at every start) and the
//!   [`ports::SecretCipher`] (`XChaChaCipher`, under a 32-byte master key the service keeps
//!   outside the database: losing the key loses every stored OTP seed). Its crate docs say more.
//!
//! ```ignore
//! let store = DieselStore::connect(url, PoolOptions::default_for(backend_of(url)?))?;
//! store.migrate()?;
//! let authd = Authd::new(store, Deps {
//!     clock: Arc::new(SystemClock),
//!     ids: Arc::new(UuidV7),
//!     rng: Arc::new(OsRandom),
//!     cipher: Arc::new(XChaChaCipher::new(*master_key)),
//! });
//! let me = Caller::new(OrgId::new("org_billing")?, Actor::Cli);
//! let app = authd.create_app(&me, None)?;
//! ```
//!
//! Every use case takes a [`audit::Caller`] (the organization whose records it touches, and the
//! actor the audit trail names) and is synchronous: an async service calls it from a blocking
//! task. [`Authd`] is `Send + Sync`; share one per process (it caches service tokens), e.g. in
//! an `Arc`. A whole service that starts twice over its own SQLite file is
//! `crates/storage-diesel/examples/embedded_service.rs`, run by that crate's tests.
//!
//! The `testkit` feature is for tests only: its module `domain::testkit` is an in-memory
//! implementation of every port, so that every business rule can be exercised without a
//! database, with a fixed clock, predictable ids and randomness, and a cipher that is not
//! encryption-grade; it keeps nothing across a restart. Enable it in `[dev-dependencies]`, never
//! in a service's build. `examples/embedded.rs` shows the use cases on it.

pub mod access;
pub mod audit;
pub mod auth;
pub mod cascade;
pub mod entities;
pub mod error;
pub mod ids;
pub mod keys;
pub mod otp;
pub mod ports;
pub mod service;
pub mod system;
pub mod throttle;
pub mod time;
pub mod token;
pub mod values;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::Error;
pub use service::Authd;
