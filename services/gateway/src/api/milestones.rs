//! A campaign's milestones (时间节点) and who met them:
//! `/campaigns/{id}/milestones`.

use axum::Json;
use axum::extract::{Path, Query, State};
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

/// `/campaigns/{id}/milestones`, `/campaigns/{id}/milestones/{milestone_id}`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_milestones))
        .routes(routes!(update_milestone))
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
    params(("id" = String, Path), UnitQuery), responses((status = 200, body = Milestones), (status = 404, body = ProblemDetails)))]
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
    responses((status = 200, body = Milestone), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 409, description = "the milestone cannot take that change (continuing work has no due date)", body = ProblemDetails)))]
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
