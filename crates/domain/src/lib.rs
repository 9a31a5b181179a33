//! # authd domain
//!
//! The pure core of authd: validated values, entities, the OTP engine, the soft-delete cascade
//! plans, the ports (traits) every adapter implements, and the use cases ([`Authd`]) that tie
//! them together. Nothing here performs I/O by itself: storage, time, ids, randomness and
//! encryption all come in through [`ports`].
//!
//! With the `testkit` feature, [`testkit`] provides an in-memory implementation of every port,
//! so every business rule can be exercised without a database (and another Rust service can
//! embed authd in-process; see `examples/embedded.rs`).

pub mod audit;
pub mod auth;
pub mod cascade;
pub mod entities;
pub mod error;
pub mod ids;
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
