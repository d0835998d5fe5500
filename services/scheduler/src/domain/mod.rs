//! The scheduler's rules: no gRPC, HTTP or SQL here.

pub mod calendar;
pub mod milestone;
pub mod rules;
