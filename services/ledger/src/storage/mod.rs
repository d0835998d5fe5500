//! SQL of the ledger service. Every change runs in one transaction that
//! also appends the history event and the outbox entry.

mod campaigns;
mod evidence;
mod findings;
mod forms;
mod history;
mod ledgers;
mod outbox;

pub use campaigns::*;
pub use evidence::*;
pub use findings::*;
pub use forms::*;
pub use history::*;
pub use ledgers::*;
pub use outbox::*;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The tables only hold what the domain validated; a row that does not
/// convert back is a bug, reported as an internal error.
fn corrupt(what: impl ToString) -> crate::error::LedgerError {
    crate::error::LedgerError::Database(sqlx::Error::Decode(what.to_string().into()))
}

fn unit_code(text: String) -> crate::error::Result<zhenggai_common::UnitCode> {
    zhenggai_common::UnitCode::try_from(text).map_err(corrupt)
}
