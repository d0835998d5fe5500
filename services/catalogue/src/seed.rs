//! What the first start writes, once: the directory of 许昌市, the departments
//! of 禹州市 that the founding notice names, and the founding notice itself
//! (禹巩固脱贫组〔2023〕5号). Each seed is claimed in the `seeds` table inside
//! the transaction that writes it, so replicas starting together write it once
//! and a restart writes nothing.

use sqlx::PgPool;

use crate::domain::{DocumentDraft, NewDocument, UnitTable};
use crate::error::{CatalogueError, Result};
use crate::storage;

/// Every unit of 许昌市 (statistical division codes, 2023).
const XUCHANG: &[u8] = include_bytes!("../data/xuchang-4110.csv");
/// The departments of 禹州市 named as responsible units, with stable codes.
const YUZHOU_DEPARTMENTS: &[u8] = include_bytes!("../data/departments-411081.csv");
/// The founding notice, as the body of the notice words it; its
/// `editorial_notes` list every OCR slip fixed and every place where the body
/// was preferred over 附件1.
const FOUNDING_NOTICE: &str = include_str!("../seed/founding_notice.json");

pub(crate) async fn apply(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    for (name, csv) in [
        ("directory:xuchang-4110", XUCHANG),
        ("directory:departments-411081", YUZHOU_DEPARTMENTS),
    ] {
        if storage::claim_seed(&mut tx, name).await? {
            let table = UnitTable::parse_csv(csv).map_err(CatalogueError::Invalid)?;
            let counts = storage::upsert_units(&mut tx, &table, None).await?;
            tracing::info!(seed = name, ?counts, "seeded");
        }
    }
    let draft: DocumentDraft = serde_json::from_str(FOUNDING_NOTICE)
        .map_err(|error| CatalogueError::invalid(format!("founding notice seed: {error}")))?;
    let notice = NewDocument::try_from(draft).map_err(CatalogueError::Invalid)?;
    if storage::claim_seed(&mut tx, &format!("document:{}", notice.doc_number)).await? {
        let id = storage::insert_document(&mut tx, &notice, "seed").await?;
        tracing::info!(%id, doc_number = %notice.doc_number, "seeded the founding notice");
    }
    tx.commit().await?;
    Ok(())
}
