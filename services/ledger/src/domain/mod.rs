//! The ledger's domain: findings and their review, households, evidence and
//! the hash-chained history. No tonic, axum or sqlx here.

pub mod campaign;
pub mod evidence;
pub mod finding;
pub mod history;
pub mod household;
pub mod import;

pub use campaign::{LedgerPlan, SectionState};
pub use finding::{Action, FindingFields, FindingKind, FindingState, Standing};
pub use household::Household;
