//! Tells people of review steps the ledger announces: a submitted finding
//! awaits its reviewer (待审核), a rejected one goes back to its unit, a
//! closed one is written off (销号), a reopened one came back (反弹).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::storage::{self, Request};

/// The notification a `finding.changed` event makes, if any.
fn notification(id: Uuid, payload: &Value, occurred_at: DateTime<Utc>) -> Option<Request> {
    let text = |field: &str| {
        payload
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (event, unit) = match text("event") {
        "submit" => (
            "awaiting_review",
            payload.get("awaiting")?.get("unit")?.as_str()?,
        ),
        "reject" => ("rejected", text("unit")),
        "close" => ("closed", text("unit")),
        "reopen" => ("reopened", text("unit")),
        _ => return None,
    };
    let at = payload
        .get("at")
        .and_then(|at| serde_json::from_value(at.clone()).ok())
        .unwrap_or(occurred_at);
    Some(Request {
        dedupe_key: format!("ledger-event:{id}"),
        event: event.to_owned(),
        unit: unit.to_owned(),
        variables: json!({
            "finding_id": payload.get("finding_id"), "ledger_id": payload.get("ledger_id"),
            "campaign_id": payload.get("campaign_id"), "unit": text("unit"),
            "unit_name": text("unit_name"), "problem_seq": payload.get("problem_seq"),
            "seq": payload.get("seq"), "kind": text("kind"), "due_on": payload.get("due_on"),
        }),
        quiet_until: None,
        occurred_at: at,
    })
}

/// Applies the relayed events, oldest first, one instance at a time.
pub async fn run(pool: PgPool, arrived: Arc<Notify>, delivered: Arc<Notify>) {
    loop {
        match apply_batch(&pool).await {
            Ok(0) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), arrived.notified()).await;
            }
            Ok(_) => delivered.notify_waiters(),
            Err(error) => {
                tracing::warn!(%error, "ledger events not applied");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn apply_batch(pool: &PgPool) -> crate::error::Result<usize> {
    let mut tx = pool.begin().await?;
    let ours: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('zhenggai.notifier.events'))",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !ours {
        return Ok(0);
    }
    let events = sqlx::query_as::<_, (Uuid, String, Value, DateTime<Utc>)>(
        "SELECT id, topic, payload, occurred_at FROM ledger_events_received
          WHERE handled_at IS NULL ORDER BY occurred_at, id LIMIT 500",
    )
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = events.iter().map(|(id, ..)| *id).collect();
    let requests: Vec<Request> = events
        .iter()
        .filter(|(_, topic, ..)| topic == "finding.changed")
        .filter_map(|(id, _, payload, at)| notification(*id, payload, *at))
        .collect();
    if !requests.is_empty() {
        storage::accept(&mut tx, "ledger", requests).await?;
    }
    sqlx::query("UPDATE ledger_events_received SET handled_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids.len())
}
