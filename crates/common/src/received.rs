//! Receiving the ledger's relayed events, idempotently.
//!
//! A consumer (scheduler, notifier) keeps every event it accepted in a table
//! of its own database, created by its migrations as:
//!
//! ```sql
//! CREATE TABLE ledger_events_received (
//!     id          uuid PRIMARY KEY,
//!     topic       text NOT NULL,
//!     payload     jsonb NOT NULL,
//!     occurred_at timestamptz NOT NULL,
//!     received_at timestamptz NOT NULL DEFAULT now(),
//!     handled_at  timestamptz
//! );
//! ```
//!
//! The relay delivers at least once; the primary key makes a repeat a no-op.
//! A consumer then applies the events in order ([`take_unhandled`], one
//! instance at a time) and marks them handled in the same transaction.

use zhenggai_proto::ledger::v1 as pb;

use crate::error::ErrorCode;

/// Stores the events not seen before, in one statement; answers the counts.
pub async fn record(
    pool: &sqlx::PgPool,
    events: Vec<pb::OutboxEvent>,
) -> Result<pb::IngestLedgerEventsResponse, tonic::Status> {
    let invalid =
        |what: &str| ErrorCode::InvalidArgument.status(format!("an event's {what} is not valid"));
    let mut ids = Vec::with_capacity(events.len());
    let mut topics = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    for event in events {
        ids.push(uuid::Uuid::parse_str(&event.id).map_err(|_| invalid("id"))?);
        topics.push(event.topic);
        payloads.push(
            serde_json::from_str::<serde_json::Value>(&event.payload_json)
                .map_err(|_| invalid("payload"))?,
        );
        times.push(
            chrono::DateTime::parse_from_rfc3339(&event.occurred_at)
                .map_err(|_| invalid("time"))?
                .with_timezone(&chrono::Utc),
        );
    }
    let total = ids.len() as u32;
    let accepted = sqlx::query(
        "INSERT INTO ledger_events_received (id, topic, payload, occurred_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&topics)
    .bind(&payloads)
    .bind(&times)
    .execute(pool)
    .await
    .map_err(|error| {
        let code = crate::error::database_error(&error);
        code.status(code.title())
    })?
    .rows_affected() as u32;
    Ok(pb::IngestLedgerEventsResponse {
        accepted,
        duplicates: total - accepted,
    })
}

/// An event a consumer applies.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// The event's id in the ledger's outbox.
    pub id: uuid::Uuid,
    /// What kind of event it is.
    pub topic: String,
    /// What the event says.
    pub payload: serde_json::Value,
    /// When the ledger wrote it to its outbox (the database's time).
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

impl ReceivedEvent {
    /// When it happened on the ledger's clock (a drill's, in a drill): the
    /// payload's `at`, else when it was written.
    pub fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.payload
            .get("at")
            .and_then(|at| serde_json::from_value(at.clone()).ok())
            .unwrap_or(self.occurred_at)
    }
}

/// The oldest events not yet handled, in the order they happened, if this
/// instance holds the consumer's lock for the transaction (one instance of
/// a service applies events at a time); `None` when another one does.
pub async fn take_unhandled(
    tx: &mut sqlx::PgConnection,
    consumer: &str,
    limit: i64,
) -> Result<Option<Vec<ReceivedEvent>>, sqlx::Error> {
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .bind(consumer)
        .fetch_one(&mut *tx)
        .await?;
    if !ours {
        return Ok(None);
    }
    let rows = sqlx::query_as::<
        _,
        (
            uuid::Uuid,
            String,
            serde_json::Value,
            chrono::DateTime<chrono::Utc>,
        ),
    >(
        "SELECT id, topic, payload, occurred_at FROM ledger_events_received
          WHERE handled_at IS NULL ORDER BY occurred_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    Ok(Some(
        rows.into_iter()
            .map(|(id, topic, payload, occurred_at)| ReceivedEvent {
                id,
                topic,
                payload,
                occurred_at,
            })
            .collect(),
    ))
}

/// Marks events applied, in the transaction that applied them.
pub async fn mark_handled(
    tx: &mut sqlx::PgConnection,
    events: &[ReceivedEvent],
) -> Result<(), sqlx::Error> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
    sqlx::query("UPDATE ledger_events_received SET handled_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(tx)
        .await?;
    Ok(())
}
