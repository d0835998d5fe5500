//! SQL for the catalogue. Runtime-checked queries, each exercised by tests.

mod documents;
mod units;

pub use documents::{get_document, get_problem, insert_document, list_documents, list_problems};
pub use units::{
    ImportCounts, UnitQuery, ancestors, get_unit, get_units, list_units, stream_subtree,
    upsert_units,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The tables only hold what the domain validated; a row that does not
/// convert back is a bug, reported as an internal error.
fn corrupt(what: impl ToString) -> crate::error::CatalogueError {
    crate::error::CatalogueError::Database(sqlx::Error::Decode(what.to_string().into()))
}

fn code(text: String) -> crate::error::Result<zhenggai_common::UnitCode> {
    zhenggai_common::UnitCode::try_from(text).map_err(corrupt)
}

/// Marks a seed as applied; false when it was applied before.
pub async fn claim_seed(tx: &mut sqlx::PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO seeds (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(inserted == 1)
}
