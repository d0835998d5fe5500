//! Evidence (佐证材料) of a finding: `/findings/{id}/evidence` and each
//! file, `/findings/{id}/evidence/{evidence_id}`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::ErrorCode;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::ledger::v1 as pb;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::upload::{content_disposition, stream_file, with_upload};

/// `/findings/{id}/evidence/{evidence_id}`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download_evidence))
}

/// `/findings/{id}/evidence`: uploads are streamed, not held to the JSON limit.
pub(crate) fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_evidence, list_evidence))
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
    params(("id" = String, Path)), responses((status = 200, body = EvidenceList), (status = 404, body = ProblemDetails)))]
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
    responses((status = 201, body = Evidence), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 409, body = ProblemDetails), (status = 413, body = ProblemDetails), (status = 415, body = ProblemDetails)))]
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

#[utoipa::path(get, path = "/api/v1/findings/{id}/evidence/{evidence_id}", tag = "evidence", security(("bearer" = [])),
    params(("id" = String, Path), ("evidence_id" = String, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = ProblemDetails)))]
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
