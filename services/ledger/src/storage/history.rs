//! The append-only, hash-chained history of each ledger.

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::domain::history::{Event, genesis};
use crate::error::Result;

/// An event as stored, with its links.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event: Event,
    pub prev_digest: Vec<u8>,
    pub digest: Vec<u8>,
}

/// Appends `event` (its `seq` is set here) after the ledger's head, moves the
/// head and bumps the ledger's version. The caller holds the ledger's lock.
pub async fn append_event(
    tx: &mut PgConnection,
    ledger: &mut super::LedgerRow,
    mut event: Event,
) -> Result<StoredEvent> {
    let prev: [u8; 32] = match ledger.head_digest.as_deref() {
        Some(bytes) => bytes
            .try_into()
            .map_err(|_| super::corrupt("a head digest is not 32 bytes"))?,
        None => genesis(ledger.id),
    };
    event.ledger_id = ledger.id;
    event.seq = ledger.head_seq + 1;
    let digest = event.digest(&prev);
    let at = chrono::DateTime::from_timestamp_micros(event.at_micros)
        .ok_or_else(|| super::corrupt("an event time is out of range"))?;
    sqlx::query(
        "INSERT INTO ledger_events (ledger_id, seq, at, kind, finding_id, actor, actor_unit, actor_role, reason,
                                    from_state, to_state, details, prev_digest, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(event.ledger_id)
    .bind(event.seq)
    .bind(at)
    .bind(&event.kind)
    .bind(event.finding_id)
    .bind(&event.actor)
    .bind(&event.actor_unit)
    .bind(&event.actor_role)
    .bind(&event.reason)
    .bind(&event.from_state)
    .bind(&event.to_state)
    .bind(&event.details)
    .bind(&prev[..])
    .bind(&digest[..])
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE ledgers SET head_seq = $2, head_digest = $3, version = version + 1 WHERE id = $1",
    )
    .bind(ledger.id)
    .bind(event.seq)
    .bind(&digest[..])
    .execute(&mut *tx)
    .await?;
    ledger.head_seq = event.seq;
    ledger.head_digest = Some(digest.to_vec());
    ledger.version += 1;
    Ok(StoredEvent {
        event,
        prev_digest: prev.to_vec(),
        digest: digest.to_vec(),
    })
}

fn event_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredEvent> {
    let at: chrono::DateTime<chrono::Utc> = row.try_get("at")?;
    Ok(StoredEvent {
        event: Event {
            ledger_id: row.try_get("ledger_id")?,
            seq: row.try_get("seq")?,
            at_micros: at.timestamp_micros(),
            kind: row.try_get("kind")?,
            finding_id: row.try_get("finding_id")?,
            actor: row.try_get("actor")?,
            actor_unit: row.try_get("actor_unit")?,
            actor_role: row.try_get("actor_role")?,
            reason: row.try_get("reason")?,
            from_state: row.try_get("from_state")?,
            to_state: row.try_get("to_state")?,
            details: row.try_get("details")?,
        },
        prev_digest: row.try_get("prev_digest")?,
        digest: row.try_get("digest")?,
    })
}

const EVENT_COLUMNS: &str = "ledger_id, seq, at, kind, finding_id, actor, actor_unit, actor_role, reason, from_state, to_state, details, prev_digest, digest";

pub async fn ledger_events(pool: &PgPool, ledger_id: Uuid) -> Result<Vec<StoredEvent>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE ledger_id = $1 ORDER BY seq"
    )))
    .bind(ledger_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(event_from_row)
    .collect()
}

pub async fn finding_events(pool: &PgPool, finding_id: Uuid) -> Result<Vec<StoredEvent>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM ledger_events WHERE finding_id = $1 ORDER BY seq"
    )))
    .bind(finding_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(event_from_row)
    .collect()
}
