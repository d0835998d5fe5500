//! Tells people of review steps the ledger announces: a submitted finding
//! awaits its reviewer (待审核), a rejected one goes back to its unit, a
//! closed one is written off (销号), a reopened one came back (反弹).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use zhenggai_common::received::{self, ReceivedEvent};

use crate::storage::{self, Request};

/// The notification a `finding.changed` event makes, if any.
fn notification(received: &ReceivedEvent) -> Option<Request> {
    let payload = &received.payload;
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
    Some(Request {
        dedupe_key: format!("ledger-event:{}", received.id),
        event: event.to_owned(),
        unit: unit.to_owned(),
        variables: json!({
            "finding_id": payload.get("finding_id"), "ledger_id": payload.get("ledger_id"),
            "campaign_id": payload.get("campaign_id"), "unit": text("unit"),
            "unit_name": text("unit_name"), "problem_seq": payload.get("problem_seq"),
            "seq": payload.get("seq"), "kind": text("kind"), "due_on": payload.get("due_on"),
        })
        .to_string(),
        quiet_until: None,
        occurred_at: received.at(),
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
    let Some(events) = received::take_unhandled(&mut tx, "zhenggai.notifier.events", 500).await?
    else {
        return Ok(0);
    };
    let requests: Vec<Request> = events
        .iter()
        .filter(|event| event.topic == "finding.changed")
        .filter_map(notification)
        .collect();
    if !requests.is_empty() {
        storage::accept(&mut tx, "ledger", requests).await?;
    }
    received::mark_handled(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(events.len())
}
