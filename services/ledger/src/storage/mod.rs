//! SQL of the ledger service. Every change runs in one transaction that
//! also appends the history event and the outbox entry.

mod campaigns;
mod evidence;
mod findings;
mod history;
mod ledgers;

pub use campaigns::*;
pub use evidence::*;
pub use findings::*;
pub use history::*;
pub use ledgers::*;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The tables only hold what the domain validated; a row that does not
/// convert back is a bug, reported as an internal error.
fn corrupt(what: impl ToString) -> crate::error::LedgerError {
    crate::error::LedgerError::Database(sqlx::Error::Decode(what.to_string().into()))
}

fn unit_code(text: String) -> crate::error::Result<zhenggai_common::UnitCode> {
    zhenggai_common::UnitCode::try_from(text).map_err(corrupt)
}

/// Writes an event for the other services (the transactional outbox).
pub async fn enqueue(
    tx: &mut sqlx::PgConnection,
    topic: &str,
    payload: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (id, topic, payload) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::now_v7())
        .bind(topic)
        .bind(payload)
        .execute(tx)
        .await?;
    Ok(())
}
