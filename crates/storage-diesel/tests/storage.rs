//! Integration tests of the diesel storage adapter, on SQLite (a temp file per test) and on
//! PostgreSQL (a database per test, through `AUTHD_TEST_POSTGRES_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; tests that start from a migrated database
//! clone the migrated template of `test-db`). Without the variable the PostgreSQL tests print
//! `SKIPPED (PostgreSQL): ...` and pass, unless `CI` is set: then they fail.

#![expect(
    clippy::tests_outside_test_module,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a failing check panics with its message"
)]

/// For each `fn name(which: Which)` of the invoking module: a `sqlite::name` and a
/// `postgres::name` test.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::support::Which::Sqlite);
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::support::Which::Postgres);
                }
            )*
        }
    };
}

#[path = "storage/support.rs"]
mod support;

#[path = "storage/contract.rs"]
mod contract;

#[path = "storage/adapter.rs"]
mod adapter;

#[path = "storage/concurrency.rs"]
mod concurrency;

#[path = "storage/migrations.rs"]
mod migrations;

#[path = "storage/secrets.rs"]
mod secrets;

#[path = "storage/connect.rs"]
mod connect;

#[path = "storage/statements.rs"]
mod statements;

#[path = "storage/embedding.rs"]
mod embedding;

#[path = "storage/hang.rs"]
mod hang;
