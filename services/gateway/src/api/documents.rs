//! Notices (通知) and their problems (具体问题): `/documents`,
//! `/documents/{id}`, `/documents/{id}/problems`, `/problems/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::catalogue::v1 as pb;

use super::{ApiJson, Page, PageQuery};
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/documents`, `/documents/{id}`, `/documents/{id}/problems`, `/problems/{id}`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(super::idempotent(routes!(publish_document)))
        .routes(routes!(list_documents))
        .routes(routes!(get_document))
        .routes(routes!(list_problems))
        .routes(routes!(get_problem))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Aspect {
    /// 一, 二, 三, … as 1, 2, 3, …
    pub seq: u32,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Measure {
    pub seq: u32,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResponsibleUnit {
    pub code: String,
    pub name: String,
    /// 牵头单位
    pub lead: bool,
}

/// A problem's deadline as the notice sets it (`ProblemDeadline` in the
/// OpenAPI document: `Deadline` is a finding's, with its light).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = ProblemDeadline)]
pub struct Deadline {
    /// YYYY-MM-DD (Asia/Shanghai); null when there is no fixed date.
    pub due_on: Option<String>,
    /// 持续推进
    #[serde(default)]
    pub continuing: bool,
}

/// A problem (具体问题) with its manifestation (问题表现), measures, responsible units and deadline.
/// Named `NoticeProblem` in the OpenAPI document: `Problem` is the error document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NoticeProblem)]
pub struct Problem {
    pub id: String,
    pub document_id: String,
    pub seq: u32,
    pub title: String,
    pub manifestation: String,
    pub aspect: Aspect,
    pub measures: Vec<Measure>,
    pub responsible_units: Vec<ResponsibleUnit>,
    /// The 责任单位 line as the notice words it.
    pub responsible_text: String,
    pub deadline: Deadline,
}

/// A notice (通知).
#[derive(Debug, Serialize, ToSchema)]
pub struct Document {
    pub id: String,
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    /// YYYY-MM-DD
    pub issued_on: String,
    /// The code of the area the notice governs.
    pub area: String,
    pub aspects: Vec<Aspect>,
    pub problem_count: u32,
    pub editorial_notes: Vec<String>,
    /// RFC 3339
    pub published_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemList {
    pub items: Vec<Problem>,
}

impl From<pb::Aspect> for Aspect {
    fn from(a: pb::Aspect) -> Self {
        Self {
            seq: a.seq,
            name: a.name,
        }
    }
}

impl From<pb::Document> for Document {
    fn from(d: pb::Document) -> Self {
        Self {
            id: d.id,
            doc_number: d.doc_number,
            title: d.title,
            issuer: d.issuer,
            issued_on: d.issued_on,
            area: d.area,
            aspects: d.aspects.into_iter().map(Aspect::from).collect(),
            problem_count: d.problem_count,
            editorial_notes: d.editorial_notes,
            published_at: d.published_at,
        }
    }
}

impl From<pb::Problem> for Problem {
    fn from(p: pb::Problem) -> Self {
        let deadline = p.deadline.unwrap_or_default();
        Self {
            id: p.id,
            document_id: p.document_id,
            seq: p.seq,
            title: p.title,
            manifestation: p.manifestation,
            aspect: p.aspect.map(Aspect::from).unwrap_or(Aspect {
                seq: 0,
                name: String::new(),
            }),
            measures: p
                .measures
                .into_iter()
                .map(|m| Measure {
                    seq: m.seq,
                    text: m.text,
                })
                .collect(),
            responsible_units: p
                .responsible_units
                .into_iter()
                .map(|r| ResponsibleUnit {
                    code: r.code,
                    name: r.name,
                    lead: r.lead,
                })
                .collect(),
            responsible_text: p.responsible_text,
            deadline: Deadline {
                due_on: Some(deadline.due_on).filter(|d| !d.is_empty()),
                continuing: deadline.continuing,
            },
        }
    }
}

/// Notices whose area is in, or above, the caller's unit.
#[utoipa::path(get, path = "/api/v1/documents", tag = "catalogue", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Document>), (status = 401, body = ProblemDetails)))]
pub async fn list_documents(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<Document>>> {
    let request = pb::ListDocumentsRequest {
        limit: page.limit.unwrap_or(0),
        cursor: page.cursor.unwrap_or_default(),
    };
    let answer = state
        .catalogue()
        .list_documents(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Page::of(answer.items, answer.next_cursor)))
}

#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Document), (status = 404, body = ProblemDetails)))]
pub async fn get_document(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Document>> {
    let document = state
        .catalogue()
        .get_document(outgoing(pb::GetDocumentRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(document.into()))
}

/// The problems of a notice, in order, with measures and responsible units.
#[utoipa::path(get, path = "/api/v1/documents/{id}/problems", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProblemList), (status = 404, body = ProblemDetails)))]
pub async fn list_problems(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<ProblemList>> {
    let answer = state
        .catalogue()
        .list_problems(outgoing(
            pb::ListProblemsRequest { document_id: id },
            &auth.token,
        ))
        .await?
        .into_inner();
    Ok(Json(ProblemList {
        items: answer.items.into_iter().map(Problem::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/problems/{id}", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Problem), (status = 404, body = ProblemDetails)))]
pub async fn get_problem(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Problem>> {
    let problem = state
        .catalogue()
        .get_problem(outgoing(pb::GetProblemRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(problem.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResponsibleUnit {
    pub code: String,
    /// 牵头单位: exactly one per problem.
    #[serde(default)]
    pub lead: bool,
    /// `unit` (default), `townships` (every township under the code: 各乡镇（街道）),
    /// or `departments` (every department under the code: 成员单位).
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProblem {
    pub seq: u32,
    pub aspect_seq: u32,
    pub title: String,
    pub manifestation: String,
    pub measures: Vec<Measure>,
    pub responsible_units: Vec<NewResponsibleUnit>,
    #[serde(default)]
    pub responsible_text: Option<String>,
    pub deadline: Deadline,
}

/// A whole notice to publish: validated, then written all or nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    /// 文号, e.g. 禹巩固脱贫组〔2023〕5号; unique.
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    /// YYYY-MM-DD
    pub issued_on: String,
    /// The unit code of the area the notice governs.
    pub area: String,
    #[serde(default)]
    pub editorial_notes: Vec<String>,
    /// Names of households the texts mention (户主姓名): shown masked (潘*有)
    /// to every reader without clearance, and never answered back.
    #[serde(default)]
    pub personal_names: Vec<String>,
    pub aspects: Vec<Aspect>,
    pub problems: Vec<NewProblem>,
}

impl From<NewDocument> for pb::PublishDocumentRequest {
    fn from(d: NewDocument) -> Self {
        Self {
            doc_number: d.doc_number,
            title: d.title,
            issuer: d.issuer,
            issued_on: d.issued_on,
            area: d.area,
            aspects: d
                .aspects
                .into_iter()
                .map(|a| pb::Aspect {
                    seq: a.seq,
                    name: a.name,
                })
                .collect(),
            problems: d
                .problems
                .into_iter()
                .map(|p| pb::NewProblem {
                    seq: p.seq,
                    aspect_seq: p.aspect_seq,
                    title: p.title,
                    manifestation: p.manifestation,
                    measures: p
                        .measures
                        .into_iter()
                        .map(|m| pb::Measure {
                            seq: m.seq,
                            text: m.text,
                        })
                        .collect(),
                    responsible_units: p
                        .responsible_units
                        .into_iter()
                        .map(|r| pb::ResponsibleUnitRef {
                            code: r.code,
                            lead: r.lead,
                            scope: r.scope.unwrap_or_default(),
                        })
                        .collect(),
                    responsible_text: p.responsible_text.unwrap_or_default(),
                    deadline: Some(pb::Deadline {
                        due_on: p.deadline.due_on.unwrap_or_default(),
                        continuing: p.deadline.continuing,
                    }),
                })
                .collect(),
            editorial_notes: d.editorial_notes,
            personal_names: d.personal_names,
        }
    }
}

/// Publish a whole notice (city office only).
#[utoipa::path(post, path = "/api/v1/documents", tag = "catalogue", security(("bearer" = [])), request_body = NewDocument,
    responses((status = 201, body = Document), (status = 400, body = ProblemDetails),
              (status = 403, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
pub async fn publish_document(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewDocument>,
) -> ApiResult<(StatusCode, Json<Document>)> {
    let request = pb::PublishDocumentRequest::from(body);
    let document = state
        .catalogue()
        .publish_document(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(document.into())))
}
