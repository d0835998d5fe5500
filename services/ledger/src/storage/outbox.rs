//! The transactional outbox: written with each change, relayed afterwards.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::Result;

/// Writes an event for the other services in the change's own transaction.
pub async fn enqueue(
    tx: &mut PgConnection,
    topic: &str,
    payload: &serde_json::Value,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (id, topic, payload) VALUES ($1, $2, $3)")
        .bind(Uuid::now_v7())
        .bind(topic)
        .bind(payload)
        .execute(tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: Uuid,
    pub topic: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Claims the oldest events `destination` has not acknowledged, locked
/// until the transaction ends; rows another relay holds are skipped.
pub async fn claim(tx: &mut PgConnection, destination: &str, limit: i64) -> Result<Vec<OutboxRow>> {
    sqlx::query(
        "SELECT id, topic, payload, created_at FROM outbox
          WHERE cardinality(pending) > 0 AND $1 = ANY(pending)
          ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(destination)
    .bind(limit)
    .fetch_all(tx)
    .await?
    .iter()
    .map(|row| {
        Ok(OutboxRow {
            id: row.try_get("id")?,
            topic: row.try_get("topic")?,
            payload: row.try_get("payload")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .collect()
}

/// Records that `destination` acknowledged these events.
pub async fn acknowledge(tx: &mut PgConnection, destination: &str, ids: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET pending = array_remove(pending, $1),
                delivered_at = CASE WHEN pending = ARRAY[$1] THEN now() ELSE delivered_at END
          WHERE id = ANY($2)",
    )
    .bind(destination)
    .bind(ids)
    .execute(tx)
    .await?;
    Ok(())
}
