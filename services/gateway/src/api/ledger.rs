//! Campaigns, ledgers, findings, review and 销号, evidence and history,
//! served from the ledger service.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhenggai_common::ErrorCode;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::ledger::v1 as pb;

use super::{ApiJson, Page, PageQuery};
use crate::AppState;
use crate::api::accounts::UnitRef;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};

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

/// A unit as a service names it.
pub(crate) fn unit_ref(unit: Option<pb::UnitRef>) -> UnitRef {
    let unit = unit.unwrap_or_default();
    UnitRef {
        code: unit.code,
        name: unit.name,
        level: unit.level,
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
    responses((status = 201, body = Campaign), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    responses((status = 200, body = Page<Campaign>), (status = 401, body = Problem)))]
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
    params(("id" = String, Path)), responses((status = 200, body = Campaign), (status = 404, body = Problem)))]
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
    params(("id" = String, Path), UnitParam), responses((status = 200, body = Dashboard), (status = 404, body = Problem)))]
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

/// A section: one problem of the notice as this unit answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Section {
    pub problem_id: String,
    pub problem_seq: u32,
    pub problem_title: String,
    pub aspect: crate::api::catalogue::Aspect,
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
            aspect: crate::api::catalogue::Aspect {
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
    responses((status = 200, body = Page<LedgerSummary>), (status = 400, body = Problem), (status = 404, body = Problem)))]
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
    params(("id" = String, Path)), responses((status = 200, body = Ledger), (status = 404, body = Problem)))]
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

fn history(answer: pb::HistoryResponse) -> History {
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

/// The whole history of a ledger, oldest first.
#[utoipa::path(get, path = "/api/v1/ledgers/{id}/history", tag = "ledgers", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = History), (status = 404, body = Problem)))]
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
    params(("id" = String, Path)), responses((status = 200, body = Verification), (status = 404, body = Problem)))]
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

/// Answers a finding with its version as the ETag.
fn finding_response(status: StatusCode, finding: pb::Finding) -> Response {
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

/// Add a finding to a section of the caller's own ledger.
#[utoipa::path(post, path = "/api/v1/ledgers/{id}/problems/{problem_id}/findings", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path), ("problem_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to the same request")),
    request_body = NewFinding,
    responses((status = 201, body = Finding), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    responses((status = 200, body = Section), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
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
    responses((status = 200, body = Section), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
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

/// A finding; its version is the ETag.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Finding), (status = 404, body = Problem)))]
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
    responses((status = 200, body = Finding), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 412, body = Problem), (status = 428, body = Problem)))]
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
    responses((status = 200, body = Finding), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 412, body = Problem)))]
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

/// Every step of a finding, who took it and why.
#[utoipa::path(get, path = "/api/v1/findings/{id}/history", tag = "findings", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = History), (status = 404, body = Problem)))]
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

/// A file kept as evidence (佐证材料).
#[derive(Debug, Serialize, ToSchema)]
pub struct Evidence {
    pub id: String,
    pub finding_id: String,
    pub file_name: String,
    /// Judged from the bytes.
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes (also in the history).
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

impl From<pb::Evidence> for Evidence {
    fn from(e: pb::Evidence) -> Self {
        Self {
            id: e.id,
            finding_id: e.finding_id,
            file_name: e.file_name,
            content_type: e.content_type,
            size: e.size,
            sha256: e.sha256,
            uploaded_by: e.uploaded_by,
            uploaded_at: e.uploaded_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceList {
    pub items: Vec<Evidence>,
}

#[utoipa::path(get, path = "/api/v1/findings/{id}/evidence", tag = "evidence", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = EvidenceList), (status = 404, body = Problem)))]
pub async fn list_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<EvidenceList>> {
    let answer = state
        .ledger()
        .list_evidence(outgoing(pb::GetFindingRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(EvidenceList {
        items: answer.items.into_iter().map(Evidence::from).collect(),
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, for a raw (non-multipart) upload.
    pub file_name: Option<String>,
}

/// Upload a photo, PDF or office file to a finding, as `multipart/form-data`
/// (field `file`) or as the raw body with `?file_name=`. Streamed; the type is
/// judged from the bytes; larger than the limit → 413 and nothing kept.
#[utoipa::path(post, path = "/api/v1/findings/{id}/evidence", tag = "evidence", security(("bearer" = [])),
    params(("id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Evidence), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
pub async fn upload_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Evidence>)> {
    use pb::upload_evidence_request::Part;
    let limit = state.config.evidence_limit_bytes;
    let evidence = with_upload(request, query.file_name, limit, move |upload, chunks| {
        Box::pin(async move {
            let header = Part::Header(pb::EvidenceHeader {
                finding_id: id,
                file_name: upload.file_name,
                declared_type: upload.declared_type,
            });
            let wrap = |part| pb::UploadEvidenceRequest { part: Some(part) };
            let mut ledger = state.ledger();
            stream_file(
                wrap(header),
                |bytes| pb::UploadEvidenceRequest {
                    part: Some(Part::Chunk(bytes)),
                },
                chunks,
                limit,
                |messages| ledger.upload_evidence(outgoing(messages, &auth.token)),
            )
            .await
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(evidence.into())))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("files here are limited to {limit} bytes"),
    )
}

/// What a client said of a file it uploads.
pub(crate) struct Upload {
    pub file_name: String,
    pub declared_type: String,
}

/// The chunks of an uploaded file, as they arrive.
pub(crate) type Chunks<'a> = futures::stream::BoxStream<'a, ApiResult<axum::body::Bytes>>;

/// Hands an uploaded file to `send` chunk by chunk, whether it came as
/// `multipart/form-data` (field `file`) or as the raw body (its name in
/// `?file_name=`). A declared length over `limit` is refused at once.
pub(crate) async fn with_upload<R>(
    request: Request,
    file_name: Option<String>,
    limit: u64,
    send: impl for<'a> FnOnce(Upload, Chunks<'a>) -> futures::future::BoxFuture<'a, ApiResult<R>>,
) -> ApiResult<R> {
    use axum::extract::FromRequest as _;
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit + 64 * 1024) {
        return Err(too_large(limit));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = axum::extract::Multipart::from_request(request, &())
            .await
            .map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.body_text()))?;
        let field = loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.name() == Some("file") || field.file_name().is_some() => {
                    break field;
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err(ApiError::invalid("the form has no file field")),
                Err(error) => {
                    return Err(ApiError::new(ErrorCode::MalformedBody, error.body_text()));
                }
            }
        };
        let upload = Upload {
            file_name: field.file_name().unwrap_or_default().to_owned(),
            declared_type: field.content_type().unwrap_or_default().to_owned(),
        };
        let chunks = field.map(|chunk| {
            chunk.map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.body_text()))
        });
        send(upload, Box::pin(chunks)).await
    } else {
        let chunks = request.into_body().into_data_stream().map(|chunk| {
            chunk.map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.to_string()))
        });
        let upload = Upload {
            file_name: file_name.unwrap_or_default(),
            declared_type: content_type,
        };
        send(upload, Box::pin(chunks)).await
    }
}

/// Feeds a file to a client-streaming call: `header` first, then the chunks
/// (wrapped by `chunk`) in pieces of 64 KiB. On a broken or oversize body
/// the call is dropped unfinished, so the service keeps nothing.
pub(crate) async fn stream_file<M, R, F>(
    header: M,
    chunk: fn(Vec<u8>) -> M,
    chunks: Chunks<'_>,
    limit: u64,
    call: impl FnOnce(tokio_stream::wrappers::ReceiverStream<M>) -> F,
) -> ApiResult<R>
where
    M: Send + 'static,
    F: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let (sink, source) = tokio::sync::mpsc::channel::<M>(4);
    let call = call(tokio_stream::wrappers::ReceiverStream::new(source));
    let feed = async move {
        let mut chunks = chunks;
        if sink.send(header).await.is_err() {
            return Ok(());
        }
        let mut size = 0_u64;
        while let Some(bytes) = chunks.next().await {
            let bytes = bytes?;
            size += bytes.len() as u64;
            if size > limit {
                return Err(too_large(limit));
            }
            for piece in bytes.chunks(64 * 1024) {
                if sink.send(chunk(piece.to_vec())).await.is_err() {
                    // The service answered early (a refusal); its answer tells why.
                    return Ok(());
                }
            }
        }
        Ok(())
    };
    tokio::pin!(call);
    tokio::pin!(feed);
    let mut fed = false;
    loop {
        tokio::select! {
            answer = &mut call => return Ok(answer?.into_inner()),
            result = &mut feed, if !fed => {
                // On an error the call is dropped unfinished: the service
                // sees a broken stream and rolls the upload back.
                result?;
                fed = true;
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/findings/{id}/evidence/{evidence_id}", tag = "evidence", security(("bearer" = [])),
    params(("id" = String, Path), ("evidence_id" = String, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = Problem)))]
pub async fn download_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, evidence_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    use pb::download_evidence_response::Part;
    let request = pb::DownloadEvidenceRequest {
        finding_id: id,
        evidence_id,
    };
    let mut stream = state
        .ledger()
        .download_evidence(outgoing(request, &auth.token))
        .await?
        .into_inner();
    let evidence = match stream.message().await? {
        Some(pb::DownloadEvidenceResponse {
            part: Some(Part::Evidence(evidence)),
        }) => evidence,
        _ => {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the ledger sent no file description",
            ));
        }
    };
    let body = Body::from_stream(stream.filter_map(|message| async move {
        match message {
            Ok(pb::DownloadEvidenceResponse {
                part: Some(Part::Chunk(bytes)),
            }) => Some(Ok(axum::body::Bytes::from(bytes))),
            Ok(_) => None,
            Err(status) => Some(Err(std::io::Error::other(status.message().to_owned()))),
        }
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, evidence.content_type.clone());
    set(header::CONTENT_LENGTH, evidence.size.to_string());
    set(header::ETAG, format!("\"{}\"", evidence.sha256));
    set(
        header::CONTENT_DISPOSITION,
        content_disposition(&evidence.file_name),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned());
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox".to_owned(),
    );
    Ok(response)
}

/// `attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266/8187).
pub(crate) fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
