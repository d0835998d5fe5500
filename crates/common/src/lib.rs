//! What every zhenggai service repeats, written once: typed configuration,
//! telemetry, database start-up, the caller's identity, the shared error
//! vocabulary, the gRPC server frame, graceful shutdown and a bounded
//! in-memory memo, and the egress policy for URLs units give.

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod db;
pub mod egress;
pub mod error;
pub mod grpc;
pub mod identity;
pub mod memo;
pub mod personal;
pub mod received;
pub mod shutdown;
pub mod telemetry;

pub use error::ErrorCode;
pub use identity::{Caller, Role, UnitCode};
