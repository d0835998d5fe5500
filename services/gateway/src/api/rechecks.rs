//! Re-checks after 销号 (回头看): `/rechecks`, `/rechecks/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::scheduler::v1 as pb;

use super::{ApiJson, PageQuery};
use crate::AppState;
use crate::api::units::{UnitRef, unit_ref};
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/rechecks`, `/rechecks/{id}`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rechecks))
        .routes(routes!(record_recheck))
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
    params(RecheckQuery, PageQuery), responses((status = 200, body = RecheckPage), (status = 400, body = ProblemDetails)))]
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
    responses((status = 200, body = Recheck), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
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
