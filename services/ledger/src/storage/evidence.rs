//! Evidence files (佐证材料): a description row and the bytes in chunks.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct EvidenceRow {
    pub id: Uuid,
    pub finding_id: Uuid,
    pub file_name: String,
    pub declared_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

pub async fn insert_chunk(
    tx: &mut PgConnection,
    evidence_id: Uuid,
    n: i32,
    bytes: &[u8],
) -> Result<()> {
    sqlx::query("INSERT INTO file_chunks (file_id, n, bytes) VALUES ($1, $2, $3)")
        .bind(evidence_id)
        .bind(n)
        .bind(bytes)
        .execute(tx)
        .await?;
    Ok(())
}

/// Describes the chunks written before, and counts them on the finding.
pub async fn insert_evidence(tx: &mut PgConnection, evidence: &EvidenceRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO evidence (id, finding_id, file_name, declared_type, content_type, size, sha256, uploaded_by, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(evidence.id)
    .bind(evidence.finding_id)
    .bind(&evidence.file_name)
    .bind(&evidence.declared_type)
    .bind(&evidence.content_type)
    .bind(evidence.size)
    .bind(&evidence.sha256)
    .bind(&evidence.uploaded_by)
    .bind(evidence.uploaded_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE findings SET evidence_count = evidence_count + 1 WHERE id = $1")
        .bind(evidence.finding_id)
        .execute(tx)
        .await?;
    Ok(())
}

fn evidence_from_row(row: &sqlx::postgres::PgRow) -> Result<EvidenceRow> {
    Ok(EvidenceRow {
        id: row.try_get("id")?,
        finding_id: row.try_get("finding_id")?,
        file_name: row.try_get("file_name")?,
        declared_type: row.try_get("declared_type")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at: row.try_get("uploaded_at")?,
    })
}

pub async fn list_evidence(pool: &PgPool, finding_id: Uuid) -> Result<Vec<EvidenceRow>> {
    sqlx::query("SELECT * FROM evidence WHERE finding_id = $1 ORDER BY uploaded_at, id")
        .bind(finding_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(evidence_from_row)
        .collect()
}

pub async fn get_evidence(
    pool: &PgPool,
    finding_id: Uuid,
    id: Uuid,
) -> Result<Option<EvidenceRow>> {
    sqlx::query("SELECT * FROM evidence WHERE finding_id = $1 AND id = $2")
        .bind(finding_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(evidence_from_row)
        .transpose()
}

/// Sends the bytes chunk by chunk, reading one chunk at a time, so that a
/// download holds one chunk in memory whatever the file's size.
pub async fn stream_chunks(
    pool: &PgPool,
    evidence_id: Uuid,
    sink: tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) {
    let mut n = 0_i32;
    loop {
        let chunk: Result<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT bytes FROM file_chunks WHERE file_id = $1 AND n = $2")
                .bind(evidence_id)
                .bind(n)
                .fetch_optional(pool)
                .await
                .map_err(Into::into);
        match chunk {
            Ok(Some(bytes)) => {
                if sink.send(Ok(bytes)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(error) => {
                let _ = sink.send(Err(error)).await;
                return;
            }
        }
        n += 1;
    }
}
