//! The outbox relay: delivers committed events to the scheduler and the
//! notifier, in order, at least once. A peer that is down only delays its
//! events: they stay pending until it acknowledges them.

use std::time::Duration;

use sqlx::PgPool;
use tonic::transport::Channel;
use zhenggai_common::identity::ServiceIdentity;
use zhenggai_proto::ledger::v1 as pb;
use zhenggai_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use zhenggai_proto::scheduler::v1::scheduler_service_client::SchedulerServiceClient;

use crate::storage;

/// Events per delivery.
const BATCH: i64 = 500;
/// How often an idle relay looks for new events.
const IDLE: Duration = Duration::from_millis(200);
/// The longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct Peers {
    pub scheduler: Channel,
    pub notifier: Channel,
}

/// Relays until the task is aborted. A destination that fails waits before
/// its next try, twice as long each time up to [`MAX_BACKOFF`]; the other
/// goes on meanwhile.
pub(crate) async fn run(pool: PgPool, identity: ServiceIdentity, peers: Peers) {
    use tokio::time::Instant;
    let destinations = ["scheduler", "notifier"];
    let mut waits = [Duration::ZERO; 2];
    let mut next = [Instant::now(); 2];
    loop {
        let mut busy = false;
        for (index, destination) in destinations.into_iter().enumerate() {
            if Instant::now() < next[index] {
                continue;
            }
            match deliver(&pool, &identity, &peers, destination).await {
                Ok(sent) => {
                    busy |= sent as i64 == BATCH;
                    waits[index] = Duration::ZERO;
                }
                Err(error) => {
                    waits[index] = (waits[index] * 2).clamp(IDLE, MAX_BACKOFF);
                    next[index] = Instant::now() + waits[index];
                    tracing::warn!(destination, %error, retry_in_ms = waits[index].as_millis() as u64, "outbox delivery failed");
                }
            }
        }
        if !busy {
            tokio::time::sleep(IDLE).await;
        }
    }
}

/// Sends one batch to one destination; answers how many were acknowledged.
async fn deliver(
    pool: &PgPool,
    identity: &ServiceIdentity,
    peers: &Peers,
    destination: &str,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = storage::claim(&mut tx, destination, BATCH).await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.id).collect();
    let events = rows
        .into_iter()
        .map(|row| pb::OutboxEvent {
            id: row.id.to_string(),
            topic: row.topic,
            payload_json: row.payload.to_string(),
            occurred_at: row.created_at.to_rfc3339(),
        })
        .collect();
    let mut request = tonic::Request::new(pb::IngestLedgerEventsRequest { events });
    request.set_timeout(Duration::from_secs(10));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", identity.token()?).parse()?,
    );
    match destination {
        "scheduler" => {
            SchedulerServiceClient::new(peers.scheduler.clone())
                .ingest_ledger_events(request)
                .await?;
        }
        _ => {
            NotifierServiceClient::new(peers.notifier.clone())
                .ingest_ledger_events(request)
                .await?;
        }
    }
    storage::acknowledge(&mut tx, destination, &ids).await?;
    tx.commit().await?;
    tracing::debug!(destination, events = ids.len(), "outbox delivered");
    Ok(ids.len())
}
