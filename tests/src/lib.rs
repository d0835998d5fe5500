//! The system-test harness: starts the real services on port 0, each with
//! its own fresh databases on the PostgreSQL server named by `DATABASE_URL`,
//! and talks to them over real HTTP and gRPC.
//!
//! - [`stack`]: starting, stopping, killing and restarting the services;
//!   looking into their databases.
//! - [`client`]: REST requests and logins.
//! - [`fixtures`]: the founding notice, its campaign, ledgers, findings.
//! - [`fakes`]: what lies outside the product (an SMTP server, a webhook
//!   receiver); [`postgres`]: a private PostgreSQL cluster.

pub mod client;
pub mod fakes;
pub mod fixtures;
pub mod postgres;
pub mod stack;

pub use fixtures::{PNG, eventually, henan_csv, small_notice, tally};
pub use stack::{ADMIN_PASSWORD, Stack};
