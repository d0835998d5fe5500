//! Findings (序号2 rows of 附件2) and their review: `/findings/{id}`, a review
//! step (`/findings/{id}/{action}`), and a finding's history.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::ErrorCode;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::ledger::v1 as pb;

use super::ApiJson;
use crate::AppState;
use crate::api::units::{UnitRef, unit_ref};
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};

/// `/findings/{id}`, `/findings/{id}/{action}`, `/findings/{id}/history`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_finding, update_finding))
        .routes(routes!(finding_history))
        .routes(routes!(transition_finding))
}

/// A household a finding names (户主). Masked for readers without clearance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Household {
    /// 户主姓名
    pub name: String,
    /// 18-digit 身份证号, checked by its GB 11643 check digit.
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub phone: String,
}

impl From<Household> for pb::Household {
    fn from(h: Household) -> Self {
        Self {
            name: h.name,
            id_number: h.id_number,
            phone: h.phone,
        }
    }
}

/// A finding (序号2 row of 附件2).
#[derive(Debug, Serialize, ToSchema)]
pub struct Finding {
    pub id: String,
    pub ledger_id: String,
    pub campaign_id: String,
    pub problem_id: String,
    pub problem_seq: u32,
    /// 序号2
    pub seq: u32,
    pub unit: UnitRef,
    /// 对照排查发现具体问题描述
    pub description: String,
    /// 整改措施
    pub measures: String,
    /// 整改时限 (YYYY-MM-DD)
    pub due_on: Option<String>,
    /// immediate (立行立改) | deadline (限期整改) | long_term (长期整改)
    pub kind: String,
    /// 责任单位
    pub responsible: String,
    /// 整改结果
    pub result: String,
    /// 长效机制
    pub standing_mechanism: String,
    /// open | in_progress | submitted | verified | closed
    pub state: String,
    /// 是否销号
    pub written_off: bool,
    /// Send it back as `If-Match` to change the finding.
    pub version: u64,
    pub households: Vec<Household>,
    /// True when the households are shown masked (no clearance).
    pub households_masked: bool,
    pub evidence_count: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<pb::Finding> for Finding {
    fn from(f: pb::Finding) -> Self {
        Self {
            id: f.id,
            ledger_id: f.ledger_id,
            campaign_id: f.campaign_id,
            problem_id: f.problem_id,
            problem_seq: f.problem_seq,
            seq: f.seq,
            unit: unit_ref(f.unit),
            description: f.description,
            measures: f.measures,
            due_on: Some(f.due_on).filter(|d| !d.is_empty()),
            kind: f.kind,
            responsible: f.responsible,
            result: f.result,
            standing_mechanism: f.standing_mechanism,
            state: f.state,
            written_off: f.written_off,
            version: f.version,
            households: f
                .households
                .into_iter()
                .map(|h| Household {
                    name: h.name,
                    id_number: h.id_number,
                    phone: h.phone,
                })
                .collect(),
            households_masked: f.households_masked,
            evidence_count: f.evidence_count,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// Answers a finding with its version as the ETag.
pub(crate) fn finding_response(status: StatusCode, finding: pb::Finding) -> Response {
    let etag = format!("\"{}\"", finding.version);
    let location = format!("/api/v1/findings/{}", finding.id);
    let mut response = (status, Json(Finding::from(finding))).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A finding; its version is the ETag.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Finding), (status = 404, body = ProblemDetails)))]
pub async fn get_finding(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let finding = state
        .ledger()
        .get_finding(outgoing(pb::GetFindingRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(finding_response(StatusCode::OK, finding))
}

/// The fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingPatch {
    pub description: Option<String>,
    pub measures: Option<String>,
    /// YYYY-MM-DD, or "" for none (long_term only).
    pub due_on: Option<String>,
    pub kind: Option<String>,
    pub responsible: Option<String>,
    pub result: Option<String>,
    pub standing_mechanism: Option<String>,
    /// Replaces the whole list.
    pub households: Option<Vec<Household>>,
}

/// The version an `If-Match` names: `"3"`, `W/"3"` or `3`. Absent → 428;
/// one that cannot be a version can match nothing → 412.
fn if_match(headers: &HeaderMap, required: bool) -> ApiResult<u64> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return if required {
            Err(ApiError::new(
                ErrorCode::PreconditionRequired,
                "send If-Match with the finding's version (its ETag) to change it",
            ))
        } else {
            Ok(0)
        };
    };
    value
        .to_str()
        .ok()
        .map(|text| text.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|version| *version > 0)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PreconditionFailed,
                "If-Match does not name a version of this finding",
            )
        })
}

/// Change a finding the caller's unit owns, while it is open or in progress.
#[utoipa::path(patch, path = "/api/v1/findings/{id}", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The version read, as its ETag")),
    request_body = FindingPatch,
    responses((status = 200, body = Finding), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 409, body = ProblemDetails), (status = 412, body = ProblemDetails), (status = 428, body = ProblemDetails)))]
pub async fn update_finding(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FindingPatch>,
) -> ApiResult<Response> {
    let expected_version = if_match(&headers, true)?;
    let request = pb::UpdateFindingRequest {
        id,
        expected_version,
        description: body.description,
        measures: body.measures,
        due_on: body.due_on,
        kind: body.kind,
        responsible: body.responsible,
        result: body.result,
        standing_mechanism: body.standing_mechanism,
        households: body.households.map(|list| pb::Households {
            items: list.into_iter().map(Into::into).collect(),
        }),
    };
    let finding = state
        .ledger()
        .update_finding(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(finding_response(StatusCode::OK, finding))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Why: required to reject and to reopen.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A review step: start | submit | verify | close | reject | reopen.
#[utoipa::path(post, path = "/api/v1/findings/{id}/{action}", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("action" = String, Path, description = "start | submit | verify | close | reject | reopen"),
           ("If-Match" = Option<String>, Header, description = "Optional: the version read")),
    request_body(content = Option<TransitionBody>),
    responses((status = 200, body = Finding), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 409, body = ProblemDetails), (status = 412, body = ProblemDetails)))]
pub async fn transition_finding(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let expected_version = if_match(&headers, false)?;
    let body: TransitionBody = if body.iter().all(u8::is_ascii_whitespace) {
        TransitionBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.to_string()))?
    };
    let request = pb::TransitionFindingRequest {
        id,
        action,
        reason: body.reason.unwrap_or_default(),
        expected_version,
    };
    let finding = state
        .ledger()
        .transition_finding(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(finding_response(StatusCode::OK, finding))
}

/// An event of a ledger's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub seq: u64,
    /// RFC 3339
    pub at: String,
    /// finding_created, finding_updated, finding_started, finding_submitted,
    /// finding_verified, finding_closed, finding_rejected, finding_reopened,
    /// no_findings_declared, no_findings_withdrawn, evidence_added, ledger_handed_in
    pub kind: String,
    pub finding_id: Option<String>,
    pub actor: String,
    pub actor_unit: String,
    pub actor_role: String,
    pub reason: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// What changed (households only as a count and a digest).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Hex SHA-256 of the event before.
    pub prev_digest: String,
    /// Hex SHA-256 of this event chained to the one before.
    pub digest: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub items: Vec<HistoryEvent>,
}

pub(crate) fn history(answer: pb::HistoryResponse) -> History {
    let some = |text: String| Some(text).filter(|t| !t.is_empty());
    History {
        items: answer
            .items
            .into_iter()
            .map(|e| HistoryEvent {
                seq: e.seq,
                at: e.at,
                kind: e.kind,
                finding_id: some(e.finding_id),
                actor: e.actor,
                actor_unit: e.actor_unit,
                actor_role: e.actor_role,
                reason: some(e.reason),
                from_state: some(e.from_state),
                to_state: some(e.to_state),
                details: serde_json::from_str(&e.details_json).unwrap_or_default(),
                prev_digest: e.prev_digest,
                digest: e.digest,
            })
            .collect(),
    }
}

/// Every step of a finding, who took it and why.
#[utoipa::path(get, path = "/api/v1/findings/{id}/history", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = History), (status = 404, body = ProblemDetails)))]
pub async fn finding_history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<History>> {
    let answer = state
        .ledger()
        .get_finding_history(outgoing(pb::GetFindingRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(history(answer)))
}
