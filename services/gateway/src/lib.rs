//! The gateway: REST/JSON for people and other systems over the gRPC
//! services — login and tokens, authorization, problem documents, the OpenAPI
//! document and its browsable page.
//!
//! # Layout
//!
//! A request enters through [`startup`] (the router and its middleware:
//! request id, tracing and metrics in [`middleware`], problem documents in
//! [`error`], timeout), reaches the handler of its resource in [`api`] (one
//! module per resource: `api::findings` serves `/findings/{id}`), which
//! authenticates the caller ([`auth::Authenticated`]) and calls a back-end
//! service over gRPC through the channels in [`state::AppState`]. What the
//! gateway keeps itself (accounts, tokens, idempotency keys) is in
//! [`storage`]. Files stream through [`upload`]; the official forms are
//! built by `zhenggai_forms`. [`openapi`] serves the document that the
//! router's own route list produced.
//!
//! `main` only wires; [`run`] is what tests start on port 0.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub use zhenggai_forms as forms;
mod idempotency;
mod middleware;
pub mod openapi;
pub mod startup;
pub mod state;
pub mod storage;
mod upload;

pub use config::{Config, LockoutConfig, Settings};
pub use startup::{generate_keys, run};
pub use state::AppState;
