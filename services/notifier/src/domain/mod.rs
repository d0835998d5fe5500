//! The notifier's rules: no gRPC, HTTP or SQL here.

pub mod channels;
pub mod template;
