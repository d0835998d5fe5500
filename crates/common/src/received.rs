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
