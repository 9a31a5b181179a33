//! The domain's port contract on both backends: one test per backend runs every scenario of
//! [`contract::scenarios`] (the one list of them, checked against the scenario functions by the
//! domain's own tests), each on a fresh database, and fails at the end naming every scenario
//! that failed. Each scenario runs on a thread named `contract::<backend>::<scenario>`, so its
//! panic message names it.

use std::sync::{Mutex, PoisonError};
use std::thread;

use domain::testkit::{Kit, contract};
use storage_diesel::DieselStore;

use crate::support::{Which, kit, store, with_migrated_db};

#[test]
fn sqlite() {
    every_scenario(Which::Sqlite, "sqlite");
}

#[test]
fn postgres() {
    // Without a server: one SKIPPED line for the whole list (a failure in CI), as any test.
    if test_db::postgres_url().is_some() {
        every_scenario(Which::Postgres, "postgres");
    }
}

/// How many scenarios run at once. They wait mostly on their databases (the SQLite file's
/// syncs; PostgreSQL's clone of the migrated template), not on the CPU; each PostgreSQL kit opens
/// a pool of 8 connections, so 4 stay well within a default server's 100.
const AT_ONCE: usize = 4;

/// Runs every scenario, [`AT_ONCE`] at a time, each on a fresh database.
fn every_scenario(which: Which, backend: &str) {
    let scenarios = contract::scenarios::<DieselStore>();
    let total = scenarios.len();
    let queue = Mutex::new(scenarios.into_iter().enumerate());
    let failed = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..AT_ONCE.min(total) {
            s.spawn(|| {
                while let Some((i, (name, scenario))) = next(&queue) {
                    if !passes(which, backend, name, scenario) {
                        failed.lock().unwrap_or_else(PoisonError::into_inner).push((i, name));
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
    failed.sort_unstable();
    let names: Vec<&str> = failed.iter().map(|&(_, name)| name).collect();
    assert!(
        names.is_empty(),
        "{} of {total} contract scenarios failed on {backend} (their panics are above): {}",
        names.len(),
        names.join(", ")
    );
}

fn next<T: Iterator>(queue: &Mutex<T>) -> Option<T::Item> {
    queue.lock().unwrap_or_else(PoisonError::into_inner).next()
}

/// Runs one scenario on a fresh database, on its own named thread; whether it passed.
fn passes(which: Which, backend: &str, name: &str, scenario: fn(&Kit<DieselStore>)) -> bool {
    thread::Builder::new()
        .name(format!("contract::{backend}::{name}"))
        .spawn(move || with_migrated_db(which, |db| scenario(&kit(store(db)))))
        .expect("spawn a scenario's thread")
        .join()
        .is_ok()
}
