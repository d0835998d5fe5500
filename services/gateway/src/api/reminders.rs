//! A campaign's reminder rules (提醒规则): `/campaigns/{id}/reminder-rules`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::scheduler::v1 as pb;

use super::ApiJson;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/campaigns/{id}/reminder-rules`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_reminder_rules, put_reminder_rules))
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
    params(("id" = String, Path)), responses((status = 200, body = ReminderRules), (status = 404, body = ProblemDetails)))]
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
    responses((status = 200, body = ReminderRules), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
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
