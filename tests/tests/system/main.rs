//! The system tests: the real services over real HTTP and gRPC on a real
//! PostgreSQL, one binary with a module per area. The harness
//! (`zhenggai_system_tests`) starts a stack on port 0 with fresh databases
//! (`Stack::start`), or the service binaries as processes it can signal
//! (`Stack::start_processes`, for the fault tests).
//!
//! To add a test: put it in the module of its area (or a new module listed
//! here), start a stack, and drive it through the REST API as a client
//! would; read answers into the typed structs of `zhenggai_system_tests::api`.

mod catalogue;
mod contract;
mod faults;
mod forms;
mod gateway;
mod hostile;
mod ledger;
mod notify;
mod schedule;
mod security;
mod tracing;
