//! The gRPC adapter: who may ask what, conversions at the boundary.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use zhenggai_common::clock::shanghai;
use zhenggai_common::grpc::{caller, page_limit, paged, peer};
use zhenggai_common::{Caller, Role, UnitCode};
use zhenggai_proto::ledger::v1 as ledger_pb;
use zhenggai_proto::notifier::v1 as pb;

use crate::domain::channels::{self, Channels};
use crate::domain::template::render;
use crate::error::{NotifierError, Result};
use crate::storage::{self, InboxRow};

pub const SERVICE_NAME: &str = "zhenggai.notifier.v1.NotifierService";

pub struct NotifierApi {
    pub pool: PgPool,
    /// Rung when notifications are accepted.
    pub accepted: Arc<Notify>,
    /// Rung when ledger events arrive.
    pub arrived: Arc<Notify>,
    /// Where a unit's URLs may point (see `zhenggai_common::egress`).
    pub egress: zhenggai_common::egress::EgressPolicy,
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.with_timezone(&shanghai()).to_rfc3339()
}

fn id_of(what: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| NotifierError::NotFound(format!("{what} {text}")))
}

fn inbox_item(row: InboxRow) -> pb::InboxItem {
    let message = render(&row.event, &row.variables);
    pb::InboxItem {
        id: row.id.to_string(),
        event: row.event,
        unit: row.unit,
        title: message.title,
        text: message.text,
        variables_json: row.variables.to_string(),
        occurred_at: rfc3339(row.occurred_at),
        read: row.read_at.is_some(),
        read_at: row.read_at.map(rfc3339).unwrap_or_default(),
    }
}

/// A unit the caller may see (else not found).
fn visible_unit(caller: &Caller, text: &str) -> Result<UnitCode> {
    UnitCode::try_from(text)
        .ok()
        .filter(|unit| caller.sees(unit))
        .ok_or_else(|| NotifierError::NotFound(format!("unit {text}")))
}

fn channels_message(
    unit: &str,
    channels: &Channels,
    stored: Option<(DateTime<Utc>, String)>,
) -> pb::Channels {
    let shown = channels.masked();
    let (updated_at, updated_by) = stored.map(|(at, by)| (rfc3339(at), by)).unwrap_or_default();
    pb::Channels {
        unit: unit.to_owned(),
        email: shown.email,
        webhooks: shown
            .webhooks
            .into_iter()
            .map(|w| pb::Webhook {
                url: w.url,
                secret: w.secret,
            })
            .collect(),
        wecom: shown
            .wecom
            .into_iter()
            .map(|w| pb::WecomRobot { url: w.url })
            .collect(),
        sms: shown
            .sms
            .into_iter()
            .map(|s| pb::SmsGateway {
                url: s.url,
                body_template: s.body_template.to_string(),
                phones: s.phones,
            })
            .collect(),
        updated_at,
        updated_by,
    }
}

impl NotifierApi {
    async fn notify(&self, peer: &str, request: pb::NotifyRequest) -> Result<pb::NotifyResponse> {
        let total = request.notifications.len() as u32;
        let time = |text: &str| DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc));
        let mut requests = Vec::with_capacity(request.notifications.len());
        for (i, n) in request.notifications.into_iter().enumerate() {
            let invalid = |what: &str| {
                NotifierError::invalid(format!("notifications[{i}].{what} is not valid"))
            };
            if n.dedupe_key.is_empty() || n.dedupe_key.len() > 200 {
                return Err(invalid("dedupe_key"));
            }
            if n.event.is_empty()
                || n.event.len() > 40
                || UnitCode::try_from(n.unit.as_str()).is_err()
            {
                return Err(invalid("event or unit"));
            }
            // Checked here without building it: PostgreSQL parses it once.
            let is_object = n.variables_json.trim_start().starts_with('{')
                && serde_json::from_str::<serde::de::IgnoredAny>(&n.variables_json).is_ok();
            if !is_object {
                return Err(invalid("variables_json"));
            }
            let quiet_until = match n.quiet_until.as_str() {
                "" => None,
                text => Some(time(text).map_err(|_| invalid("quiet_until"))?),
            };
            requests.push(storage::Request {
                dedupe_key: n.dedupe_key,
                event: n.event,
                unit: n.unit,
                variables: n.variables_json,
                quiet_until,
                occurred_at: time(&n.occurred_at).map_err(|_| invalid("occurred_at"))?,
            });
        }
        let mut tx = self.pool.begin().await?;
        let accepted = storage::accept(&mut tx, peer, requests).await?;
        tx.commit().await?;
        self.accepted.notify_waiters();
        Ok(pb::NotifyResponse {
            accepted,
            duplicates: total - accepted,
        })
    }

    async fn put_channels(&self, caller: &Caller, request: pb::Channels) -> Result<pb::Channels> {
        let unit = visible_unit(caller, &request.unit)?;
        // The city office for any unit of its area; otherwise only the unit
        // itself, by the accounts that answer for it (not the supervisors or
        // auditors who sit at the same level and only read).
        let may = caller.role == Role::CityAdmin
            || (caller.unit == unit
                && matches!(
                    caller.role,
                    Role::Township | Role::Village | Role::Department
                ));
        if !may {
            return Err(NotifierError::PermissionDenied(
                "only the city office or the unit itself sets how the unit is reached".into(),
            ));
        }
        let mut faults = Vec::new();
        let sms = request
            .sms
            .into_iter()
            .enumerate()
            .map(|(i, s)| channels::SmsGateway {
                url: s.url,
                body_template: serde_json::from_str(&s.body_template).unwrap_or_else(|_| {
                    faults.push(format!("sms[{i}].body_template: not JSON"));
                    serde_json::Value::Null
                }),
                phones: s.phones,
            })
            .collect();
        let mut channels = Channels {
            email: request
                .email
                .into_iter()
                .map(|e| e.trim().to_owned())
                .collect(),
            webhooks: request
                .webhooks
                .into_iter()
                .map(|w| channels::Webhook {
                    url: w.url,
                    secret: w.secret,
                })
                .collect(),
            wecom: request
                .wecom
                .into_iter()
                .map(|w| channels::WecomRobot { url: w.url })
                .collect(),
            sms,
        };
        if let Some((stored, ..)) = storage::channels(&self.pool, unit.as_str()).await? {
            channels.keep_secrets(&stored);
        }
        if let Err(more) = channels.validate() {
            faults.extend(more);
        }
        if faults.is_empty() {
            // Resolved now, and again when connecting (see `delivery`).
            for (field, url) in channels.urls() {
                if let Err(refused) = self.egress.check_url_resolving(url).await {
                    faults.push(format!("{field}: {refused}"));
                }
            }
        }
        if !faults.is_empty() {
            return Err(NotifierError::Invalid(faults));
        }
        storage::put_channels(&self.pool, unit.as_str(), &channels, &caller.username).await?;
        tracing::info!(unit = %unit, by = caller.username, "channels set");
        let stored = storage::channels(&self.pool, unit.as_str()).await?;
        Ok(channels_message(
            unit.as_str(),
            &channels,
            stored.map(|(_, at, by)| (at, by)),
        ))
    }
}

#[tonic::async_trait]
impl pb::notifier_service_server::NotifierService for NotifierApi {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        caller(&request)?;
        let (service, version, schema_version) =
            zhenggai_common::grpc::describe(SERVICE_NAME, &self.pool).await?;
        Ok(Response::new(pb::DescribeResponse {
            service,
            version,
            schema_version,
        }))
    }

    async fn ingest_ledger_events(
        &self,
        request: Request<ledger_pb::IngestLedgerEventsRequest>,
    ) -> Result<Response<ledger_pb::IngestLedgerEventsResponse>, Status> {
        peer(&request)?;
        let events = request.into_inner().events;
        let answer = zhenggai_common::received::record(&self.pool, events).await?;
        self.arrived.notify_waiters();
        Ok(Response::new(answer))
    }

    async fn notify(
        &self,
        request: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let peer = peer(&request)?.service.clone();
        Ok(Response::new(
            self.notify(&peer, request.into_inner()).await?,
        ))
    }

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> Result<Response<pb::ListInboxResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let before = match request.cursor.as_str() {
            "" => None,
            text => Some(
                text.split_once('|')
                    .and_then(|(at, id)| {
                        Some((
                            DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
                            Uuid::parse_str(id).ok()?,
                        ))
                    })
                    .ok_or_else(|| NotifierError::invalid("cursor: not a cursor this list gave"))?,
            ),
        };
        let limit = page_limit(request.limit);
        let unit = caller.unit.as_str();
        let rows = storage::inbox(
            &self.pool,
            unit,
            caller.user_id,
            request.unread_only,
            before,
            limit,
        )
        .await
        .map_err(Status::from)?;
        let unread = storage::unread(&self.pool, unit, caller.user_id).await?;
        let mut response = paged(
            rows,
            limit,
            |row| format!("{}|{}", row.occurred_at.to_rfc3339(), row.id),
            inbox_item,
            |items, next_cursor| pb::ListInboxResponse {
                items,
                next_cursor,
                unread: 0,
            },
        );
        response.unread = unread as u32;
        Ok(Response::new(response))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::InboxItem>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("notification", &request.get_ref().id)?;
        let not_found = || NotifierError::NotFound(format!("notification {id}"));
        storage::inbox_item(&self.pool, id, caller.user_id)
            .await?
            .filter(|row| row.unit == caller.unit.as_str())
            .ok_or_else(not_found)?;
        storage::mark_read(&self.pool, id, caller.user_id).await?;
        let row = storage::inbox_item(&self.pool, id, caller.user_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(Response::new(inbox_item(row)))
    }

    async fn get_channels(
        &self,
        request: Request<pb::GetChannelsRequest>,
    ) -> Result<Response<pb::Channels>, Status> {
        let caller = caller(&request)?.clone();
        let unit = visible_unit(&caller, &request.get_ref().unit)?;
        let stored = storage::channels(&self.pool, unit.as_str()).await?;
        let message = match stored {
            Some((channels, at, by)) => channels_message(unit.as_str(), &channels, Some((at, by))),
            None => channels_message(unit.as_str(), &Channels::default(), None),
        };
        Ok(Response::new(message))
    }

    async fn put_channels(
        &self,
        request: Request<pb::Channels>,
    ) -> Result<Response<pb::Channels>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.put_channels(&caller, request.into_inner()).await?,
        ))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("notification", &request.get_ref().notification_id)?;
        let (event, unit) = storage::notification_unit(&self.pool, id)
            .await?
            .filter(|(_, unit)| UnitCode::try_from(unit.as_str()).is_ok_and(|u| caller.sees(&u)))
            .ok_or_else(|| NotifierError::NotFound(format!("notification {id}")))?;
        let (deliveries, attempts) = storage::deliveries(&self.pool, id).await?;
        let items = deliveries
            .into_iter()
            .map(|d| pb::Delivery {
                id: d.id.to_string(),
                target: channels::shown_target(&d.channel, &d.target),
                channel: d.channel,
                state: d.state.clone(),
                attempts: d.attempts as u32,
                next_attempt_at: if d.state == "pending" {
                    rfc3339(d.next_attempt_at)
                } else {
                    String::new()
                },
                last_error: d.last_error,
                history: attempts
                    .iter()
                    .filter(|a| a.delivery_id == d.id)
                    .map(|a| pb::Attempt {
                        attempt: a.attempt as u32,
                        at: rfc3339(a.at),
                        outcome: a.outcome.clone(),
                        error: a.error.clone(),
                        duration_ms: a.duration_ms as u32,
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::ListDeliveriesResponse {
            notification_id: id.to_string(),
            event,
            unit,
            items,
        }))
    }
}
