//! Ledgers (整改台账) and their sections: `/ledgers`, `/ledgers/{id}`, its
//! history and its chain check, and answering a section with a finding or
//! with 经排查无此类问题 (`/ledgers/{id}/problems/{problem_id}/…`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::ledger::v1 as pb;

use super::{ApiJson, Page};
use crate::AppState;
use crate::api::findings::{Finding, History, Household, finding_response, history};
use crate::api::units::{UnitRef, unit_ref};
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/ledgers`, `/ledgers/{id}`, `/ledgers/{id}/history`, `/ledgers/{id}/verify`,
/// `/ledgers/{id}/problems/{problem_id}/findings` and `/no-findings`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_ledgers))
        .routes(routes!(get_ledger))
        .routes(routes!(ledger_history))
        .routes(routes!(verify_ledger))
        .routes(super::idempotent(routes!(create_finding)))
        .routes(super::idempotent(routes!(declare_no_findings)))
        .routes(routes!(withdraw_no_findings))
}

/// A ledger without its sections.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerSummary {
    pub id: String,
    pub campaign_id: String,
    pub unit: UnitRef,
    pub sections: u32,
    pub sections_answered: u32,
    /// Every section answered.
    pub complete: bool,
    pub findings: u32,
    pub closed: u32,
    /// Bumps with every change of the ledger.
    pub version: u64,
}

impl From<pb::LedgerSummary> for LedgerSummary {
    fn from(l: pb::LedgerSummary) -> Self {
        Self {
            id: l.id,
            campaign_id: l.campaign_id,
            unit: unit_ref(l.unit),
            sections: l.sections,
            sections_answered: l.sections_answered,
            complete: l.complete,
            findings: l.findings,
            closed: l.closed,
            version: l.version,
        }
    }
}

/// A section: one problem of the notice as this unit answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Section {
    pub problem_id: String,
    pub problem_seq: u32,
    pub problem_title: String,
    pub aspect: crate::api::documents::Aspect,
    /// unanswered | no_findings (经排查无此类问题) | findings
    pub state: String,
    /// What was checked, when declared free of findings.
    pub no_findings_note: Option<String>,
    pub findings: Vec<Finding>,
}

impl From<pb::Section> for Section {
    fn from(s: pb::Section) -> Self {
        Self {
            problem_id: s.problem_id,
            problem_seq: s.problem_seq,
            problem_title: s.problem_title,
            aspect: crate::api::documents::Aspect {
                seq: s.aspect_seq,
                name: s.aspect_name,
            },
            state: s.state,
            no_findings_note: Some(s.no_findings_note).filter(|n| !n.is_empty()),
            findings: s.findings.into_iter().map(Finding::from).collect(),
        }
    }
}

/// A unit's ledger (整改台账) with every section.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    #[serde(flatten)]
    pub summary: LedgerSummary,
    pub sections: Vec<Section>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Only this campaign's ledgers.
    pub campaign: Option<String>,
    /// Only ledgers in this unit's subtree (default: the caller's).
    pub unit: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Ledgers in the caller's subtree.
#[utoipa::path(get, path = "/api/v1/ledgers", tag = "ledgers", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = Page<LedgerSummary>), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
pub async fn list_ledgers(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<LedgerQuery>,
) -> ApiResult<Json<Page<LedgerSummary>>> {
    let request = pb::ListLedgersRequest {
        campaign_id: query.campaign.unwrap_or_default(),
        unit: query.unit.unwrap_or_default(),
        limit: query.limit.unwrap_or(0),
        cursor: query.cursor.unwrap_or_default(),
    };
    let answer = state
        .ledger()
        .list_ledgers(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Page::of(answer.items, answer.next_cursor)))
}

#[utoipa::path(get, path = "/api/v1/ledgers/{id}", tag = "ledgers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Ledger), (status = 404, body = ProblemDetails)))]
pub async fn get_ledger(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Ledger>> {
    let ledger = state
        .ledger()
        .get_ledger(outgoing(pb::GetLedgerRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Ledger {
        summary: ledger.summary.unwrap_or_default().into(),
        sections: ledger.sections.into_iter().map(Section::from).collect(),
    }))
}

/// The whole history of a ledger, oldest first.
#[utoipa::path(get, path = "/api/v1/ledgers/{id}/history", tag = "ledgers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = History), (status = 404, body = ProblemDetails)))]
pub async fn ledger_history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<History>> {
    let answer = state
        .ledger()
        .get_ledger_history(outgoing(pb::GetLedgerRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(history(answer)))
}

/// The result of recomputing a ledger's hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when every event matches its digest and its link.
    pub intact: bool,
    pub events: u64,
    /// The first event that does not match.
    pub first_bad_seq: Option<u64>,
    pub problem: Option<String>,
    pub head_digest: String,
}

/// Recompute a ledger's hash chain and name the first event that does not match.
#[utoipa::path(get, path = "/api/v1/ledgers/{id}/verify", tag = "ledgers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Verification), (status = 404, body = ProblemDetails)))]
pub async fn verify_ledger(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Verification>> {
    let v = state
        .ledger()
        .verify_ledger(outgoing(pb::GetLedgerRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Verification {
        intact: v.intact,
        events: v.events,
        first_bad_seq: Some(v.first_bad_seq).filter(|s| *s != 0),
        problem: Some(v.problem).filter(|p| !p.is_empty()),
        head_digest: v.head_digest,
    }))
}

/// A new finding of a section.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFinding {
    /// 对照排查发现具体问题描述
    pub description: String,
    /// 整改措施
    pub measures: String,
    /// 整改时限, YYYY-MM-DD; optional only for long_term.
    #[serde(default)]
    pub due_on: Option<String>,
    /// immediate | deadline | long_term (or 立行立改 | 限期整改 | 长期整改)
    pub kind: String,
    /// 责任单位 / 责任人
    pub responsible: String,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub standing_mechanism: Option<String>,
    #[serde(default)]
    pub households: Vec<Household>,
}

/// Add a finding to a section of the caller's own ledger.
#[utoipa::path(post, path = "/api/v1/ledgers/{id}/problems/{problem_id}/findings", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("problem_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")),
    request_body = NewFinding,
    responses((status = 201, body = Finding), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails),
              (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn create_finding(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, problem_id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<NewFinding>,
) -> ApiResult<Response> {
    let request = pb::CreateFindingRequest {
        ledger_id: id,
        problem_id,
        request_key: crate::idempotency::request_key(&headers, auth.caller.user_id),
        fields: Some(pb::FindingFields {
            description: body.description,
            measures: body.measures,
            due_on: body.due_on.unwrap_or_default(),
            kind: body.kind,
            responsible: body.responsible,
            result: body.result.unwrap_or_default(),
            standing_mechanism: body.standing_mechanism.unwrap_or_default(),
            households: body.households.into_iter().map(Into::into).collect(),
        }),
    };
    let finding = state
        .ledger()
        .create_finding(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(finding_response(StatusCode::CREATED, finding))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFindings {
    /// What was checked (排查了什么), e.g. 已逐户核查 123 户.
    pub note: String,
}

/// 经排查无此类问题: answer a section without findings.
#[utoipa::path(post, path = "/api/v1/ledgers/{id}/problems/{problem_id}/no-findings", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("problem_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")),
    request_body = NoFindings,
    responses((status = 200, body = Section), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails),
              (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
pub async fn declare_no_findings(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, problem_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<NoFindings>,
) -> ApiResult<Json<Section>> {
    let request = pb::DeclareNoFindingsRequest {
        ledger_id: id,
        problem_id,
        note: body.note,
    };
    let section = state
        .ledger()
        .declare_no_findings(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(section.into()))
}

/// Withdraw a no-findings declaration; the section is unanswered again.
#[utoipa::path(delete, path = "/api/v1/ledgers/{id}/problems/{problem_id}/no-findings", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("problem_id" = String, Path)),
    responses((status = 200, body = Section), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
pub async fn withdraw_no_findings(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, problem_id)): Path<(String, String)>,
) -> ApiResult<Json<Section>> {
    let request = pb::SectionRef {
        ledger_id: id,
        problem_id,
    };
    let section = state
        .ledger()
        .withdraw_no_findings(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(section.into()))
}
