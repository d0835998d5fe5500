//! Campaigns (整改行动) and their progress: `/campaigns`, `/campaigns/{id}`,
//! `/campaigns/{id}/dashboard`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::ledger::v1 as pb;

use super::{ApiJson, Page, PageQuery};
use crate::AppState;
use crate::api::units::{UnitRef, unit_ref};
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/campaigns`, `/campaigns/{id}`, `/campaigns/{id}/dashboard`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(super::idempotent(routes!(create_campaign)))
        .routes(routes!(list_campaigns))
        .routes(routes!(get_campaign))
        .routes(routes!(dashboard))
}

/// A campaign (整改行动): a notice carried out over an area.
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    pub id: String,
    pub document_id: String,
    /// The code of the area.
    pub area: String,
    pub title: String,
    pub doc_number: String,
    pub ledger_count: u32,
    pub section_count: u64,
    pub problem_count: u32,
    /// RFC 3339
    pub created_at: String,
    pub created_by: String,
}

impl From<pb::Campaign> for Campaign {
    fn from(c: pb::Campaign) -> Self {
        Self {
            id: c.id,
            document_id: c.document_id,
            area: c.area,
            title: c.title,
            doc_number: c.doc_number,
            ledger_count: c.ledger_count,
            section_count: c.section_count,
            problem_count: c.problem_count,
            created_at: c.created_at,
            created_by: c.created_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub document_id: String,
    /// The unit code of the area, e.g. 411081 (禹州市).
    pub area: String,
    /// Defaults to the notice's title.
    #[serde(default)]
    pub title: Option<String>,
}

/// Start a campaign: every township, village, responsible department and the
/// area itself get a ledger with one section per problem (city office only).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])), request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")),
    responses((status = 201, body = Campaign), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails),
              (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn create_campaign(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    let request = pb::CreateCampaignRequest {
        document_id: body.document_id,
        area: body.area,
        title: body.title.unwrap_or_default(),
    };
    let campaign = state
        .ledger()
        .create_campaign(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(campaign.into())))
}

/// Campaigns over, or covering, the caller's unit; newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Campaign>), (status = 401, body = ProblemDetails)))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<Campaign>>> {
    let request = pb::ListCampaignsRequest {
        limit: page.limit.unwrap_or(0),
        cursor: page.cursor.unwrap_or_default(),
    };
    let answer = state
        .ledger()
        .list_campaigns(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Page::of(answer.items, answer.next_cursor)))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Campaign), (status = 404, body = ProblemDetails)))]
pub async fn get_campaign(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Campaign>> {
    let campaign = state
        .ledger()
        .get_campaign(outgoing(pb::GetCampaignRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(campaign.into()))
}

/// Counts of a part of a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tally {
    pub ledgers: u32,
    /// Ledgers whose every section is answered.
    pub ledgers_complete: u32,
    pub sections: u64,
    pub sections_answered: u64,
    pub findings: u64,
    pub open: u64,
    pub in_progress: u64,
    pub submitted: u64,
    pub verified: u64,
    /// Written off (已销号).
    pub closed: u64,
    /// Past their due date and not yet submitted.
    pub overdue: u64,
    /// closed / findings (0 without findings).
    pub written_off_rate: f64,
}

impl From<Option<pb::Tally>> for Tally {
    fn from(t: Option<pb::Tally>) -> Self {
        let t = t.unwrap_or_default();
        Self {
            ledgers: t.ledgers,
            ledgers_complete: t.ledgers_complete,
            sections: t.sections,
            sections_answered: t.sections_answered,
            findings: t.findings,
            open: t.open,
            in_progress: t.in_progress,
            submitted: t.submitted,
            verified: t.verified,
            closed: t.closed,
            overdue: t.overdue,
            written_off_rate: t.written_off_rate,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardRow {
    pub unit: UnitRef,
    pub tally: Tally,
}

/// The roll-up of a unit's children in a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub campaign_id: String,
    pub unit: UnitRef,
    pub total: Tally,
    pub children: Vec<DashboardRow>,
    /// The day overdue was counted on (YYYY-MM-DD, Asia/Shanghai).
    pub as_of: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitParam {
    /// A unit code (default: the campaign's area, or the caller's own unit).
    pub unit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/dashboard", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path), UnitParam), responses((status = 200, body = Dashboard), (status = 404, body = ProblemDetails)))]
pub async fn dashboard(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<UnitParam>,
) -> ApiResult<Json<Dashboard>> {
    let request = pb::GetDashboardRequest {
        campaign_id: id,
        unit: query.unit.unwrap_or_default(),
    };
    let d = state
        .ledger()
        .get_dashboard(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Dashboard {
        campaign_id: d.campaign_id,
        unit: unit_ref(d.unit),
        total: d.total.into(),
        children: d
            .children
            .into_iter()
            .map(|row| DashboardRow {
                unit: unit_ref(row.unit),
                tally: row.tally.into(),
            })
            .collect(),
        as_of: d.as_of,
    }))
}
