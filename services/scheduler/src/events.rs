//! Applies the ledger's events, in the order they happened: campaigns (with
//! their ledgers and default milestones), findings' deadlines and states,
//! ledgers' completeness and hand-ins, and the re-checks of closed
//! long-term findings. One instance applies at a time (an advisory lock);
//! each batch is one transaction with its `handled_at` marks.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;
use zhenggai_common::UnitCode;
use zhenggai_common::clock::shanghai;
use zhenggai_common::identity::ServiceIdentity;
use zhenggai_common::received::{self, ReceivedEvent};
use zhenggai_proto::ledger::v1 as ledger_pb;
use zhenggai_proto::ledger::v1::ledger_service_client::LedgerServiceClient;

use crate::domain::milestone;
use crate::error::{Result, SchedulerError};
use crate::storage::{self, FindingChange, LedgerEntry};

/// Events applied per transaction.
const BATCH: i64 = 200;

pub struct Consumer {
    pub pool: PgPool,
    pub ledger: Channel,
    pub identity: ServiceIdentity,
    /// Rung when events arrive; told of each batch applied.
    pub arrived: Arc<crate::reminders::Replan>,
}

impl Consumer {
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.apply_batch().await {
                Ok(0) => {
                    backoff = Duration::from_millis(200);
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), self.arrived.notified()).await;
                }
                Ok(_) => backoff = Duration::from_millis(200),
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "ledger events not applied");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Applies the oldest unhandled events; answers how many.
    pub async fn apply_batch(&self) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let Some(events) =
            received::take_unhandled(&mut tx, "zhenggai.scheduler.events", BATCH).await?
        else {
            return Ok(0);
        };
        for event in &events {
            match self.apply(&mut tx, event).await {
                Ok(()) => {}
                // An event that cannot be read never will be: it must not
                // hold up the ones behind it.
                Err(SchedulerError::Invalid(faults)) => {
                    tracing::error!(event = %event.id, topic = event.topic, ?faults, "ledger event skipped");
                }
                Err(error) => {
                    tracing::warn!(event = %event.id, topic = event.topic, "event not applied");
                    return Err(error);
                }
            }
        }
        received::mark_handled(&mut tx, &events).await?;
        tx.commit().await?;
        self.arrived.changed();
        Ok(events.len())
    }

    async fn apply(&self, tx: &mut sqlx::PgConnection, event: &ReceivedEvent) -> Result<()> {
        let (topic, payload, at) = (event.topic.as_str(), &event.payload, event.at());
        let uuid_of = |field: &str| {
            payload
                .get(field)
                .and_then(|v| v.as_str())
                .and_then(|v| Uuid::parse_str(v).ok())
                .ok_or_else(|| SchedulerError::invalid(format!("{topic}: {field} missing")))
        };
        match topic {
            "campaign.created" => {
                let id = uuid_of("campaign_id")?;
                let document_id = uuid_of("document_id")?;
                let text = |field: &str| {
                    payload
                        .get(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                };
                if storage::insert_campaign(tx, id, document_id, text("area"), text("title"), at)
                    .await?
                {
                    storage::insert_milestones(tx, id, &milestone::founding_notice()).await?;
                    self.load_ledgers(tx, id, at).await?;
                }
            }
            "finding.changed" => {
                let change: FindingChange = serde_json::from_value(payload.clone())
                    .map_err(|error| SchedulerError::invalid(format!("{topic}: {error}")))?;
                if storage::upsert_finding(tx, &change, at).await? {
                    match change.complete {
                        Some(complete) => {
                            storage::set_ledger_complete(tx, change.ledger_id, complete, at).await?
                        }
                        None => storage::refresh_rectified(tx, change.ledger_id, at).await?,
                    }
                    if change.event == "close" && change.kind == "long_term" {
                        let rules = storage::campaign_rules(tx, change.campaign_id).await?;
                        let closed_on = at.with_timezone(&shanghai()).date_naive();
                        let due: Vec<_> = rules
                            .recheck_after_days
                            .iter()
                            .map(|days| closed_on + chrono::Days::new(u64::from(*days)))
                            .collect();
                        storage::schedule_rechecks(tx, change.finding_id, change.version, &due)
                            .await?;
                    } else if change.event == "reopen" {
                        storage::cancel_rechecks(tx, change.finding_id).await?;
                    }
                }
            }
            "section.changed" => {
                let ledger = uuid_of("ledger_id")?;
                let complete = payload
                    .get("complete")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                storage::set_ledger_complete(tx, ledger, complete, at).await?;
            }
            "ledger.handed_in" => {
                storage::set_handed_in(tx, uuid_of("ledger_id")?, at).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Every ledger of a new campaign, streamed from the ledger service.
    async fn load_ledgers(
        &self,
        tx: &mut sqlx::PgConnection,
        campaign_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let token = self
            .identity
            .token()
            .map_err(|error| SchedulerError::Conflict(format!("service token: {error}")))?;
        let request = zhenggai_common::grpc::outgoing(
            ledger_pb::StreamCampaignLedgersRequest {
                campaign_id: campaign_id.to_string(),
            },
            &token,
        );
        let mut stream = LedgerServiceClient::new(self.ledger.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
            .stream_campaign_ledgers(request)
            .await?
            .into_inner();
        let mut count = 0;
        while let Some(batch) = stream.message().await? {
            let entries: Vec<LedgerEntry> = batch
                .ledgers
                .into_iter()
                .filter_map(|l| {
                    let unit = l.unit?;
                    Some(LedgerEntry {
                        id: Uuid::parse_str(&l.ledger_id).ok()?,
                        parent_code: UnitCode::try_from(unit.code.as_str())
                            .ok()
                            .and_then(|code| code.parent())
                            .map(|parent| parent.as_str().to_owned()),
                        unit_code: unit.code,
                        unit_name: unit.name,
                        unit_level: unit.level,
                        complete: l.complete,
                    })
                })
                .collect();
            count += entries.len();
            storage::insert_ledgers(tx, campaign_id, &entries, at).await?;
        }
        tracing::info!(campaign = %campaign_id, ledgers = count, "campaign scheduled");
        Ok(())
    }
}
