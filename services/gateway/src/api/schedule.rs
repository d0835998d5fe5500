//! The working-day calendar, milestones, deadlines and their lights,
//! reminder rules and re-checks (回头看), served from the scheduler; and the
//! drill clock, set in every service at once.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhenggai_common::grpc::outgoing;
use zhenggai_common::{ErrorCode, Role};
use zhenggai_proto::clock::v1 as clock_pb;
use zhenggai_proto::scheduler::v1 as pb;

use super::{ApiJson, PageQuery};
use crate::AppState;
use crate::api::accounts::UnitRef;
use crate::api::ledger::unit_ref;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};

/// A day that differs from the plain week.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialDay {
    /// YYYY-MM-DD
    pub date: String,
    /// `holiday` (放假) or `workday` (调休上班, a Saturday or Sunday worked).
    pub kind: String,
    /// The festival, e.g. 春节.
    pub name: String,
}

/// One year of the working-day calendar, from its State Council notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarYear {
    pub year: i32,
    /// e.g. 国办发明电〔2022〕16号
    pub notice: String,
    pub days: Vec<SpecialDay>,
    /// Working days in the year.
    pub workdays: u32,
    /// RFC 3339; null for a year that ships with zhenggai.
    pub loaded_at: Option<String>,
    pub loaded_by: Option<String>,
}

impl From<pb::CalendarYear> for CalendarYear {
    fn from(y: pb::CalendarYear) -> Self {
        Self {
            year: y.year,
            notice: y.notice,
            days: y
                .days
                .into_iter()
                .map(|d| SpecialDay {
                    date: d.date,
                    kind: d.kind,
                    name: d.name,
                })
                .collect(),
            workdays: y.workdays,
            loaded_at: Some(y.loaded_at).filter(|t| !t.is_empty()),
            loaded_by: Some(y.loaded_by).filter(|t| !t.is_empty()),
        }
    }
}

/// A year as its notice lists it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendarYear {
    pub notice: String,
    /// Every holiday (including those on weekends) and every make-up working day.
    pub days: Vec<SpecialDay>,
}

#[utoipa::path(get, path = "/api/v1/calendar/{year}", tag = "calendar", security(("bearer" = [])),
    params(("year" = i32, Path)), responses((status = 200, body = CalendarYear), (status = 404, body = Problem)))]
pub async fn get_calendar(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(year): Path<String>,
) -> ApiResult<Json<CalendarYear>> {
    let year = year.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("calendar year {year} not found"),
        )
    })?;
    let answer = state
        .scheduler()
        .get_calendar(outgoing(pb::GetCalendarRequest { year }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// Load a year's notice (法定节假日 and 调休) when it comes out, or correct one
/// (city office only). Every fault is listed.
#[utoipa::path(put, path = "/api/v1/calendar/{year}", tag = "calendar", security(("bearer" = [])),
    params(("year" = i32, Path)), request_body = NewCalendarYear,
    responses((status = 200, body = CalendarYear), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn put_calendar(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(year): Path<String>,
    ApiJson(body): ApiJson<NewCalendarYear>,
) -> ApiResult<Json<CalendarYear>> {
    let year = year
        .parse()
        .map_err(|_| ApiError::invalid(format!("year: {year:?} is not a year")))?;
    let request = pb::CalendarYear {
        year,
        notice: body.notice,
        days: body
            .days
            .into_iter()
            .map(|d| pb::SpecialDay {
                date: d.date,
                kind: d.kind,
                name: d.name,
            })
            .collect(),
        ..Default::default()
    };
    let answer = state
        .scheduler()
        .put_calendar(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddWorkdaysQuery {
    /// YYYY-MM-DD: the day the period starts (not counted).
    pub from: Option<String>,
    /// How many working days.
    pub days: Option<String>,
}

/// 'N working days after D': the N-th working day strictly after D.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedWorkdays {
    pub from: String,
    pub days: i32,
    pub date: String,
}

#[utoipa::path(get, path = "/api/v1/calendar/add-workdays", tag = "calendar", security(("bearer" = [])),
    params(AddWorkdaysQuery), responses((status = 200, body = AddedWorkdays), (status = 400, body = Problem),
    (status = 409, body = Problem, description = "the answer runs into a year whose calendar is not loaded")))]
pub async fn add_workdays(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<AddWorkdaysQuery>,
) -> ApiResult<Json<AddedWorkdays>> {
    let from = query
        .from
        .ok_or_else(|| ApiError::invalid("from: the start date (YYYY-MM-DD) is required"))?;
    let days = query
        .days
        .ok_or_else(|| ApiError::invalid("days: how many working days is required"))?;
    let days = days
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(format!("days: {days:?} is not a whole number")))?;
    let answer = state
        .scheduler()
        .add_workdays(outgoing(pb::AddWorkdaysRequest { from, days }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(AddedWorkdays {
        from: answer.from,
        days: answer.days,
        date: answer.date,
    }))
}

/// How many of the units that owe a milestone fulfilled it, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct MilestoneTally {
    pub owed: u32,
    pub on_time: u32,
    pub late: u32,
    /// Due date passed, not fulfilled.
    pub missing: u32,
    /// Not fulfilled, not yet due.
    pub pending: u32,
}

/// A campaign milestone (时间节点).
#[derive(Debug, Serialize, ToSchema)]
pub struct Milestone {
    pub id: String,
    pub campaign_id: String,
    pub seq: i32,
    /// `plan` (整改方案), `hand_in` (台账和整改报告), `rectified` (集中整改结束), `continuing` (持续推进).
    pub kind: String,
    pub title: String,
    /// YYYY-MM-DD; null for continuing work.
    pub due_on: Option<String>,
    /// The unit levels that owe it.
    pub owed_by: Vec<String>,
    pub tally: MilestoneTally,
}

impl From<pb::Milestone> for Milestone {
    fn from(m: pb::Milestone) -> Self {
        let tally = m.tally.unwrap_or_default();
        Self {
            id: m.id,
            campaign_id: m.campaign_id,
            seq: m.seq,
            kind: m.kind,
            title: m.title,
            due_on: Some(m.due_on).filter(|d| !d.is_empty()),
            owed_by: m.owed_by,
            tally: MilestoneTally {
                owed: tally.owed,
                on_time: tally.on_time,
                late: tally.late,
                missing: tally.missing,
                pending: tally.pending,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Milestones {
    pub items: Vec<Milestone>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitQuery {
    /// A unit code (default: the campaign's area, or the caller's own unit).
    pub unit: Option<String>,
}

/// A campaign's milestones, each tallied over a unit's subtree.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/milestones", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path), UnitQuery), responses((status = 200, body = Milestones), (status = 404, body = Problem)))]
pub async fn list_milestones(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<UnitQuery>,
) -> ApiResult<Json<Milestones>> {
    let request = pb::ListMilestonesRequest {
        campaign_id: id,
        unit: query.unit.unwrap_or_default(),
    };
    let answer = state
        .scheduler()
        .list_milestones(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Milestones {
        items: answer.items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneChange {
    pub title: Option<String>,
    /// YYYY-MM-DD
    pub due_on: Option<String>,
}

/// Move or rename a milestone (city office only).
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}/milestones/{milestone_id}", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path), ("milestone_id" = String, Path)), request_body = MilestoneChange,
    responses((status = 200, body = Milestone), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "the milestone cannot take that change (continuing work has no due date)", body = Problem)))]
pub async fn update_milestone(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, milestone_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MilestoneChange>,
) -> ApiResult<Json<Milestone>> {
    let request = pb::UpdateMilestoneRequest {
        campaign_id: id,
        milestone_id,
        title: body.title,
        due_on: body.due_on,
    };
    let answer = state
        .scheduler()
        .update_milestone(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// A finding's due date and its light (红黄绿灯).
#[derive(Debug, Serialize, ToSchema)]
pub struct Deadline {
    pub finding_id: String,
    pub ledger_id: String,
    pub campaign_id: String,
    pub unit: UnitRef,
    pub problem_seq: i32,
    pub seq: i32,
    pub kind: String,
    pub state: String,
    pub due_on: String,
    /// `on_track` (green), `due_soon` (yellow), `overdue` (red) or `done`.
    pub status: String,
    /// Working days left; negative: working days late.
    pub workdays: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlinePage {
    pub items: Vec<Deadline>,
    pub next_cursor: Option<String>,
    /// The day the lights are for (YYYY-MM-DD, Asia/Shanghai).
    pub today: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineQuery {
    /// A unit code in the caller's subtree (default: the caller's own).
    pub unit: Option<String>,
    /// `on_track`, `due_soon`, `overdue` or `done`.
    pub status: Option<String>,
    /// One campaign only.
    pub campaign: Option<String>,
}

/// Deadlines in a unit's subtree by due date, with their lights.
#[utoipa::path(get, path = "/api/v1/deadlines", tag = "schedule", security(("bearer" = [])),
    params(DeadlineQuery, PageQuery), responses((status = 200, body = DeadlinePage), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_deadlines(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<DeadlineQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<DeadlinePage>> {
    let request = pb::ListDeadlinesRequest {
        unit: query.unit.unwrap_or_default(),
        status: query.status.unwrap_or_default(),
        campaign_id: query.campaign.unwrap_or_default(),
        limit: page.limit.unwrap_or(0),
        cursor: page.cursor.unwrap_or_default(),
    };
    let answer = state
        .scheduler()
        .list_deadlines(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(DeadlinePage {
        items: answer
            .items
            .into_iter()
            .map(|d| Deadline {
                finding_id: d.finding_id,
                ledger_id: d.ledger_id,
                campaign_id: d.campaign_id,
                unit: unit_ref(d.unit),
                problem_seq: d.problem_seq,
                seq: d.seq,
                kind: d.kind,
                state: d.state,
                due_on: d.due_on,
                status: d.status,
                workdays: d.workdays,
            })
            .collect(),
        next_cursor: Some(answer.next_cursor).filter(|c| !c.is_empty()),
        today: answer.today,
    }))
}

/// How a campaign reminds (提醒规则).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderRules {
    /// Working days before the due date, e.g. [3, 1].
    pub remind_before: Vec<u32>,
    pub remind_on_the_day: bool,
    pub remind_while_overdue: bool,
    /// Working days overdue before the unit above is told (0: never).
    pub escalate_to_parent_after: u32,
    /// Working days overdue before the city office is told (0: never).
    pub escalate_to_city_after: u32,
    /// Working days within which a deadline is due soon (yellow).
    pub due_soon_within: u32,
    /// HH:MM
    pub remind_at: String,
    /// HH:MM: from then until `quiet_until` only the inbox hears anything.
    pub quiet_from: String,
    pub quiet_until: String,
    /// A unit with this many reminders at once gets one digest.
    pub digest_threshold: u32,
    /// Days after 销号 to re-check a long-term finding (回头看).
    pub recheck_after_days: Vec<u32>,
}

impl From<pb::ReminderRules> for ReminderRules {
    fn from(r: pb::ReminderRules) -> Self {
        Self {
            remind_before: r.remind_before,
            remind_on_the_day: r.remind_on_the_day,
            remind_while_overdue: r.remind_while_overdue,
            escalate_to_parent_after: r.escalate_to_parent_after,
            escalate_to_city_after: r.escalate_to_city_after,
            due_soon_within: r.due_soon_within,
            remind_at: r.remind_at,
            quiet_from: r.quiet_from,
            quiet_until: r.quiet_until,
            digest_threshold: r.digest_threshold,
            recheck_after_days: r.recheck_after_days,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/reminder-rules", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ReminderRules), (status = 404, body = Problem)))]
pub async fn get_reminder_rules(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<ReminderRules>> {
    let request = pb::GetReminderRulesRequest { campaign_id: id };
    let answer = state
        .scheduler()
        .get_reminder_rules(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// Replace a campaign's reminder rules (city office only).
#[utoipa::path(put, path = "/api/v1/campaigns/{id}/reminder-rules", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReminderRules,
    responses((status = 200, body = ReminderRules), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn put_reminder_rules(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReminderRules>,
) -> ApiResult<Json<ReminderRules>> {
    let request = pb::PutReminderRulesRequest {
        campaign_id: id,
        rules: Some(pb::ReminderRules {
            remind_before: r.remind_before,
            remind_on_the_day: r.remind_on_the_day,
            remind_while_overdue: r.remind_while_overdue,
            escalate_to_parent_after: r.escalate_to_parent_after,
            escalate_to_city_after: r.escalate_to_city_after,
            due_soon_within: r.due_soon_within,
            remind_at: r.remind_at,
            quiet_from: r.quiet_from,
            quiet_until: r.quiet_until,
            digest_threshold: r.digest_threshold,
            recheck_after_days: r.recheck_after_days,
        }),
    };
    let answer = state
        .scheduler()
        .put_reminder_rules(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// A re-check (回头看) of a closed long-term finding.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recheck {
    pub id: String,
    pub finding_id: String,
    pub ledger_id: String,
    pub campaign_id: String,
    pub unit: UnitRef,
    pub problem_seq: i32,
    pub seq: i32,
    /// 1 for the first re-check after 销号.
    pub round: i32,
    pub due_on: String,
    /// `scheduled`, `due`, `passed`, `failed` or `cancelled` (the finding was reopened).
    pub status: String,
    pub note: String,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<String>,
}

impl From<pb::Recheck> for Recheck {
    fn from(r: pb::Recheck) -> Self {
        Self {
            id: r.id,
            finding_id: r.finding_id,
            ledger_id: r.ledger_id,
            campaign_id: r.campaign_id,
            unit: unit_ref(r.unit),
            problem_seq: r.problem_seq,
            seq: r.seq,
            round: r.round,
            due_on: r.due_on,
            status: r.status,
            note: r.note,
            recorded_by: Some(r.recorded_by).filter(|s| !s.is_empty()),
            recorded_at: Some(r.recorded_at).filter(|s| !s.is_empty()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecheckPage {
    pub items: Vec<Recheck>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecheckQuery {
    /// A unit code in the caller's subtree (default: the caller's own).
    pub unit: Option<String>,
    /// `scheduled`, `due`, `passed`, `failed` or `cancelled`.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/rechecks", tag = "schedule", security(("bearer" = [])),
    params(RecheckQuery, PageQuery), responses((status = 200, body = RecheckPage), (status = 400, body = Problem)))]
pub async fn list_rechecks(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<RecheckQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<RecheckPage>> {
    let request = pb::ListRechecksRequest {
        unit: query.unit.unwrap_or_default(),
        status: query.status.unwrap_or_default(),
        limit: page.limit.unwrap_or(0),
        cursor: page.cursor.unwrap_or_default(),
    };
    let answer = state
        .scheduler()
        .list_rechecks(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(RecheckPage {
        items: answer.items.into_iter().map(Into::into).collect(),
        next_cursor: Some(answer.next_cursor).filter(|c| !c.is_empty()),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecheckOutcome {
    /// `passed`, or `failed`: the finding is reopened (反弹).
    pub outcome: String,
    /// What the re-check found (required when it failed).
    #[serde(default)]
    pub note: String,
}

/// Record a due re-check; a failed one reopens the finding through the ledger.
#[utoipa::path(post, path = "/api/v1/rechecks/{id}", tag = "schedule", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RecheckOutcome,
    responses((status = 200, body = Recheck), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn record_recheck(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecheckOutcome>,
) -> ApiResult<Json<Recheck>> {
    let request = pb::RecordRecheckRequest {
        id,
        outcome: body.outcome,
        note: body.note,
    };
    let answer = state
        .scheduler()
        .record_recheck(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// The clock as one service reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceClock {
    pub service: String,
    /// RFC 3339 in Asia/Shanghai.
    pub now: String,
    pub drill: bool,
    /// Milliseconds ahead of the machine's clock.
    pub offset_ms: i64,
}

/// The one clock, as every back-end service reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockReading {
    /// RFC 3339 in Asia/Shanghai (the scheduler's reading).
    pub now: String,
    /// Whether the deployment runs drills (the clock can be set).
    pub drill: bool,
    pub services: Vec<ServiceClock>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// RFC 3339 with offset, e.g. 2023-07-19T09:00:00+08:00; the clock runs on from there.
    pub now: String,
}

fn reading(readings: Vec<clock_pb::ClockReading>) -> ClockReading {
    let scheduler = readings
        .iter()
        .find(|r| r.service.contains("scheduler"))
        .or(readings.first());
    ClockReading {
        now: scheduler.map(|r| r.now.clone()).unwrap_or_default(),
        drill: !readings.is_empty() && readings.iter().all(|r| r.drill),
        services: readings
            .into_iter()
            .map(|r| ServiceClock {
                service: r.service,
                now: r.now,
                drill: r.drill,
                offset_ms: r.offset_ms,
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/clock", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ClockReading), (status = 401, body = Problem)))]
pub async fn get_clock(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<ClockReading>> {
    let mut readings = Vec::new();
    for mut clock in state.clocks() {
        readings.push(
            clock
                .get_clock(outgoing(clock_pb::GetClockRequest {}, &auth.token))
                .await?
                .into_inner(),
        );
    }
    Ok(Json(reading(readings)))
}

/// Set the clock of every service (drills only: `ZG_DRILL=1`; city office only).
#[utoipa::path(put, path = "/api/v1/admin/clock", tag = "admin", security(("bearer" = [])), request_body = SetClock,
    responses((status = 200, body = ClockReading), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem, description = "the deployment does not run drills")))]
pub async fn set_clock(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<SetClock>,
) -> ApiResult<Json<ClockReading>> {
    if auth.caller.role != Role::CityAdmin {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "only the city office sets the drill clock",
        ));
    }
    let mut readings = Vec::new();
    for mut clock in state.clocks() {
        let request = clock_pb::SetClockRequest {
            now: body.now.clone(),
        };
        readings.push(
            clock
                .set_clock(outgoing(request, &auth.token))
                .await?
                .into_inner(),
        );
    }
    tracing::warn!(
        now = body.now,
        by = auth.caller.username,
        "drill clock set in every service"
    );
    Ok(Json(reading(readings)))
}
