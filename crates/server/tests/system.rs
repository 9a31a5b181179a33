//! Process-level system tests: they start the real `authd` binary (`authd serve`, the token
//! commands) and talk to it over TCP on 127.0.0.1, on SQLite and on PostgreSQL (an empty
//! database per test from `test-db`, on the server at `AUTHD_TEST_POSTGRES_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; skipped loudly when it is unset, unless `CI`
//! is set).
//!
//! Run: `cargo test -p server --test system` (add `-- --nocapture` to see the timings).
//!
//! | module | what |
//! |---|---|
//! | `replicas` | two replicas on one PostgreSQL: tokens, reads, revocation within 5 s, HOTP counters |
//! | `crash` | SIGKILL under write load: every acknowledged write survives, each with exactly one creation event, and no event lacks its record (SQLite, PostgreSQL) |
//! | `shutdown` | SIGTERM under load: in-flight requests complete, exit 0 within 10 s |
//! | `outage` | the database goes away and comes back: fast 503s, no exit, recovery by itself |
//! | `bad_input` | a seeded battery of hostile requests: never a 5xx, always JSON, documented statuses |
//! | `keyring` | a database of a bare master key opens under a keyring; new secrets sealed under its first key; a missing key is a clean 500; a malformed ring refused with one line |
//! | `secrets` | no secret in the database file, the WAL or the logs; a wrong master key is a clean 500 |
//! | `isolation` | another org's token and a device token see and change nothing they must not |
//! | `cli` | the command line on a fresh database: token commands migrate first, `check-config` reports pending migrations read-only |
//! | `metrics` | `/metrics` of the real server carries every documented series, and no id or token |
//! | `audit` | the audit trail: readers paging with the cursor during writes on two PostgreSQL replicas see every event once, numbered 1..n, with its request id; `audit tail` matches the API and `audit purge` keeps recent events (SQLite) |
//! | `races` | concurrent mutations (links, deletes, creations, renames) on two PostgreSQL replicas and on SQLite: race-free, invariants checked in the database |
//! | `tokens` | two replicas on one PostgreSQL: a confined token sees only its identity's records, mints nothing broader, and once revoked is refused by both within 3 s |
//! | `verify` | two replicas on one PostgreSQL: one valid code sent 16 times at once is accepted once; concurrent wrong codes lose no count |

#![expect(
    clippy::tests_outside_test_module,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions,
    clippy::print_stderr,
    reason = "test code: a failing check panics with its message, and skips are printed"
)]

#[path = "system/support.rs"]
mod support;

#[path = "system/audit.rs"]
mod audit;
#[path = "system/bad_input.rs"]
mod bad_input;
#[path = "system/cli.rs"]
mod cli;
#[path = "system/crash.rs"]
mod crash;
#[path = "system/isolation.rs"]
mod isolation;
#[path = "system/keyring.rs"]
mod keyring;
#[path = "system/metrics.rs"]
mod metrics;
#[path = "system/outage.rs"]
mod outage;
#[path = "system/races.rs"]
mod races;
#[path = "system/replicas.rs"]
mod replicas;
#[path = "system/secrets.rs"]
mod secrets;
#[path = "system/shutdown.rs"]
mod shutdown;
#[path = "system/tokens.rs"]
mod tokens;
#[path = "system/verify.rs"]
mod verify;
