//! Every finding's deadline with its light (on track, due soon, overdue):
//! `/deadlines`.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::scheduler::v1 as pb;

use super::PageQuery;
use crate::AppState;
use crate::api::units::{UnitRef, unit_ref};
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/deadlines`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_deadlines))
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
    params(DeadlineQuery, PageQuery), responses((status = 200, body = DeadlinePage), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
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
