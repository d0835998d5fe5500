//! The gRPC adapter: who may ask what, conversions at the boundary.

mod convert;

use std::sync::Arc;

use chrono::NaiveDate;
use sqlx::PgPool;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use zhenggai_common::clock::Clock;
use zhenggai_common::grpc::{caller, page_limit, paged, peer};
use zhenggai_common::identity::ServiceIdentity;
use zhenggai_common::{Caller, Role, UnitCode};
use zhenggai_proto::ledger::v1 as ledger_pb;
use zhenggai_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use zhenggai_proto::scheduler::v1 as pb;

use crate::domain::calendar::{MAX_WORKDAYS, WorkdayCalendar};
use crate::domain::milestone::MilestoneKind;
use crate::domain::rules::{DeadlineStatus, Lights};
use crate::error::{Result, SchedulerError};
use crate::storage::{self, CampaignRow};

pub const SERVICE_NAME: &str = "zhenggai.scheduler.v1.SchedulerService";

pub struct SchedulerApi {
    pub pool: PgPool,
    pub clock: Clock,
    pub ledger: Channel,
    pub identity: ServiceIdentity,
    /// Rung when events arrive; told when rules, milestones, the calendar or
    /// re-checks change.
    pub wake: Arc<crate::reminders::Replan>,
}

fn id_of(what: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| SchedulerError::NotFound(format!("{what} {text}")))
}

/// The unit a list is about: the one asked for, within the caller's
/// subtree, or the caller's own.
fn unit_of(caller: &Caller, text: &str) -> Result<UnitCode> {
    if text.is_empty() {
        return Ok(caller.scope());
    }
    UnitCode::try_from(text)
        .ok()
        .filter(|unit| caller.sees(unit))
        .ok_or_else(|| SchedulerError::NotFound(format!("unit {text}")))
}

fn require_city_office(caller: &Caller, area: &UnitCode) -> Result<()> {
    if caller.role == Role::CityAdmin && caller.sees(area) {
        Ok(())
    } else {
        Err(SchedulerError::PermissionDenied(
            "only the city office over the campaign's area may change it".into(),
        ))
    }
}

/// "due_on|id" → the key a page starts after.
fn cursor(text: &str) -> Result<Option<(NaiveDate, Uuid)>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.split_once('|')
        .and_then(|(date, id)| Some((date.parse().ok()?, Uuid::parse_str(id).ok()?)))
        .map(Some)
        .ok_or_else(|| SchedulerError::invalid("cursor: not a cursor this list gave"))
}

impl SchedulerApi {
    async fn calendar(&self) -> Result<WorkdayCalendar> {
        storage::workday_calendar(&self.pool).await
    }

    /// A campaign over the caller's subtree, or over a unit above it.
    async fn visible_campaign(&self, caller: &Caller, id: &str) -> Result<CampaignRow> {
        let id = id_of("campaign", id)?;
        storage::get_campaign(&self.pool, id)
            .await?
            .filter(|c| caller.sees(&c.area) || caller.unit.is_within(&c.area))
            .ok_or_else(|| SchedulerError::NotFound(format!("campaign {id}")))
    }

    async fn list_deadlines(
        &self,
        caller: &Caller,
        request: pb::ListDeadlinesRequest,
    ) -> Result<pb::ListDeadlinesResponse> {
        let unit = unit_of(caller, &request.unit)?;
        let status = match request.status.as_str() {
            "" => None,
            text => Some(DeadlineStatus::try_from(text).map_err(SchedulerError::invalid)?),
        };
        let campaign = match request.campaign_id.as_str() {
            "" => None,
            id => Some(self.visible_campaign(caller, id).await?.id),
        };
        let calendar = self.calendar().await?;
        let today = self.clock.today();
        // Each campaign's rules say when its lights turn yellow.
        let mut lights = std::collections::HashMap::new();
        for c in storage::all_campaigns(&self.pool).await? {
            lights.insert(c.id, Lights::on(&calendar, &c.rules, today)?);
        }
        let limit = page_limit(request.limit);
        let filter = storage::DeadlineFilter {
            unit: &unit,
            campaign,
            status,
            after: cursor(&request.cursor)?,
        };
        let rows = storage::list_deadlines(&self.pool, filter, today, &lights, limit).await?;
        Ok(paged(
            rows,
            limit,
            |row| format!("{}|{}", row.due_on, row.id),
            |row| {
                let done = row.done();
                let status = lights[&row.campaign_id].status(row.due_on, done);
                let workdays = match done {
                    true => None,
                    false => calendar.signed_workdays(today, row.due_on).ok(),
                };
                convert::deadline(row, status, workdays)
            },
            |items, next_cursor| pb::ListDeadlinesResponse {
                items,
                next_cursor,
                today: today.to_string(),
            },
        ))
    }

    async fn record_recheck(
        &self,
        caller: &Caller,
        request: pb::RecordRecheckRequest,
    ) -> Result<pb::Recheck> {
        let id = id_of("re-check", &request.id)?;
        let note = request.note.trim().to_owned();
        let mut faults = Vec::new();
        let outcome = request.outcome.as_str();
        if !matches!(outcome, "passed" | "failed") {
            faults.push(format!("outcome: {outcome:?} is not passed or failed"));
        }
        if outcome == "failed" && note.is_empty() {
            faults.push("note: say what the re-check found (反弹)".to_owned());
        }
        if note.chars().count() > 2_000 {
            faults.push("note: at most 2000 characters".to_owned());
        }
        if !faults.is_empty() {
            return Err(SchedulerError::Invalid(faults));
        }
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row = storage::lock_recheck(&mut tx, id)
            .await?
            .filter(|r| {
                UnitCode::try_from(r.unit_code.as_str()).is_ok_and(|unit| caller.sees(&unit))
            })
            .ok_or_else(|| SchedulerError::NotFound(format!("re-check {id}")))?;
        // Only after the lookup: a re-check outside the caller's subtree is
        // not found, whatever the caller's role.
        if matches!(caller.role, Role::Auditor) {
            return Err(SchedulerError::PermissionDenied(
                "auditors read; they do not record re-checks".into(),
            ));
        }
        if row.status != "scheduled" {
            return Err(SchedulerError::Conflict(format!(
                "this re-check is {} already",
                row.status
            )));
        }
        if row.due_on
            > now
                .with_timezone(&zhenggai_common::clock::shanghai())
                .date_naive()
        {
            return Err(SchedulerError::Conflict(format!(
                "this re-check is due on {}, not before",
                row.due_on
            )));
        }
        if outcome == "failed" {
            let token = self
                .identity
                .token()
                .map_err(|error| SchedulerError::Conflict(format!("service token: {error}")))?;
            let reopen = ledger_pb::ReopenAfterRecheckRequest {
                finding_id: row.finding_id.to_string(),
                recheck_id: id.to_string(),
                reason: note.clone(),
                actor: caller.username.clone(),
                actor_unit: caller.unit.as_str().to_owned(),
                actor_role: caller.role.as_str().to_owned(),
            };
            LedgerServiceClient::new(self.ledger.clone())
                .reopen_after_recheck(zhenggai_common::grpc::outgoing(reopen, &token))
                .await?;
            tracing::info!(recheck = %id, finding = %row.finding_id, "re-check failed: finding reopened");
        }
        storage::record_recheck(&mut tx, id, outcome, &note, &caller.username, now).await?;
        tx.commit().await?;
        self.wake.changed();
        let row = storage::RecheckRow {
            status: outcome.to_owned(),
            note,
            recorded_by: Some(caller.username.clone()),
            recorded_at: Some(now),
            ..row
        };
        Ok(convert::recheck(row, self.clock.today()))
    }
}

#[tonic::async_trait]
impl pb::scheduler_service_server::SchedulerService for SchedulerApi {
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
        self.wake.ring();
        Ok(Response::new(answer))
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::CalendarYear>, Status> {
        caller(&request)?;
        let year = request.get_ref().year;
        let stored = storage::calendar_year(&self.pool, year)
            .await?
            .ok_or_else(|| {
                SchedulerError::NotFound(format!("the working-day calendar for {year}"))
            })?;
        Ok(Response::new(convert::calendar_year(stored)))
    }

    async fn put_calendar(
        &self,
        request: Request<pb::CalendarYear>,
    ) -> Result<Response<pb::CalendarYear>, Status> {
        let caller = caller(&request)?.clone();
        if caller.role != Role::CityAdmin {
            return Err(SchedulerError::PermissionDenied(
                "only the city office loads the working-day calendar".into(),
            )
            .into());
        }
        let year = convert::year_calendar(request.into_inner())?;
        storage::put_calendar_year(&self.pool, &year, &caller.username).await?;
        tracing::info!(
            year = year.year,
            days = year.days.len(),
            by = caller.username,
            "calendar loaded"
        );
        self.wake.changed();
        let stored = storage::calendar_year(&self.pool, year.year)
            .await?
            .ok_or_else(|| SchedulerError::NotFound(format!("calendar {}", year.year)))?;
        Ok(Response::new(convert::calendar_year(stored)))
    }

    async fn add_workdays(
        &self,
        request: Request<pb::AddWorkdaysRequest>,
    ) -> Result<Response<pb::AddWorkdaysResponse>, Status> {
        caller(&request)?;
        let request = request.into_inner();
        let from = convert::date("from", &request.from)?;
        let days = u32::try_from(request.days)
            .ok()
            .filter(|days| *days <= MAX_WORKDAYS)
            .ok_or_else(|| {
                SchedulerError::invalid(format!(
                    "days: {} is not 0 to {MAX_WORKDAYS}",
                    request.days
                ))
            })?;
        let date = self
            .calendar()
            .await?
            .add_workdays(from, days)
            .map_err(SchedulerError::from)?;
        Ok(Response::new(pb::AddWorkdaysResponse {
            from: from.to_string(),
            days: request.days,
            date: date.to_string(),
        }))
    }

    async fn list_milestones(
        &self,
        request: Request<pb::ListMilestonesRequest>,
    ) -> Result<Response<pb::ListMilestonesResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let campaign = self.visible_campaign(&caller, &request.campaign_id).await?;
        let unit = if request.unit.is_empty() && caller.sees(&campaign.area) {
            campaign.area.clone()
        } else {
            unit_of(&caller, &request.unit)?
        };
        let rows = storage::milestones(&self.pool, campaign.id, &unit, self.clock.today()).await?;
        Ok(Response::new(pb::ListMilestonesResponse {
            items: rows.into_iter().map(convert::milestone).collect(),
        }))
    }

    async fn update_milestone(
        &self,
        request: Request<pb::UpdateMilestoneRequest>,
    ) -> Result<Response<pb::Milestone>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let campaign = self.visible_campaign(&caller, &request.campaign_id).await?;
        require_city_office(&caller, &campaign.area)?;
        let id = id_of("milestone", &request.milestone_id)?;
        let mut faults = Vec::new();
        let title = request.title.as_deref().map(str::trim);
        if title.is_some_and(|t| t.is_empty() || t.chars().count() > 200) {
            faults.push("title: 1 to 200 characters".to_owned());
        }
        let due_on = match request.due_on.as_deref() {
            Some(text) => match convert::date("due_on", text) {
                Ok(date) => Some(date),
                Err(SchedulerError::Invalid(more)) => {
                    faults.extend(more);
                    None
                }
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        if !faults.is_empty() {
            return Err(SchedulerError::Invalid(faults).into());
        }
        let kind = storage::milestone_kind(&self.pool, campaign.id, id)
            .await?
            .ok_or_else(|| SchedulerError::NotFound(format!("milestone {id}")))?;
        if due_on.is_some() && kind == MilestoneKind::Continuing {
            return Err(SchedulerError::Conflict(
                "continuing work (持续推进) has no due date".into(),
            )
            .into());
        }
        storage::update_milestone(&self.pool, campaign.id, id, title, due_on).await?;
        tracing::info!(milestone = %id, by = caller.username, "milestone changed");
        self.wake.changed();
        let row = storage::milestones(&self.pool, campaign.id, &campaign.area, self.clock.today())
            .await?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| SchedulerError::NotFound(format!("milestone {id}")))?;
        Ok(Response::new(convert::milestone(row)))
    }

    async fn list_deadlines(
        &self,
        request: Request<pb::ListDeadlinesRequest>,
    ) -> Result<Response<pb::ListDeadlinesResponse>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.list_deadlines(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_reminder_rules(
        &self,
        request: Request<pb::GetReminderRulesRequest>,
    ) -> Result<Response<pb::ReminderRules>, Status> {
        let caller = caller(&request)?.clone();
        let campaign = self
            .visible_campaign(&caller, &request.get_ref().campaign_id)
            .await?;
        Ok(Response::new(convert::rules(&campaign.rules)))
    }

    async fn put_reminder_rules(
        &self,
        request: Request<pb::PutReminderRulesRequest>,
    ) -> Result<Response<pb::ReminderRules>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let campaign = self.visible_campaign(&caller, &request.campaign_id).await?;
        require_city_office(&caller, &campaign.area)?;
        let rules = convert::reminder_rules(request.rules.unwrap_or_default())?;
        storage::set_rules(&self.pool, campaign.id, &rules).await?;
        tracing::info!(campaign = %campaign.id, by = caller.username, "reminder rules changed");
        self.wake.changed();
        Ok(Response::new(convert::rules(&rules)))
    }

    async fn list_rechecks(
        &self,
        request: Request<pb::ListRechecksRequest>,
    ) -> Result<Response<pb::ListRechecksResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let unit = unit_of(&caller, &request.unit)?;
        let status = match request.status.as_str() {
            "" => None,
            s @ ("scheduled" | "due" | "passed" | "failed" | "cancelled") => Some(s),
            other => {
                return Err(SchedulerError::invalid(format!(
                    "status: {other:?} is not scheduled, due, passed, failed or cancelled"
                ))
                .into());
            }
        };
        let today = self.clock.today();
        let limit = page_limit(request.limit);
        let rows = storage::list_rechecks(
            &self.pool,
            &unit,
            status,
            today,
            cursor(&request.cursor)?,
            limit,
        )
        .await?;
        Ok(Response::new(paged(
            rows,
            limit,
            |row| format!("{}|{}", row.due_on, row.id),
            |row| convert::recheck(row, today),
            |items, next_cursor| pb::ListRechecksResponse { items, next_cursor },
        )))
    }

    async fn record_recheck(
        &self,
        request: Request<pb::RecordRecheckRequest>,
    ) -> Result<Response<pb::Recheck>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.record_recheck(&caller, request.into_inner()).await?,
        ))
    }
}
