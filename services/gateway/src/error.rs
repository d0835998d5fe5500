//! Errors as RFC 9457 problem documents (`application/problem+json`) with a
//! stable `code` member from the shared vocabulary and the request id.
//!
//! Handlers return [`ApiError`]; the [`render_problems`] middleware writes the
//! document, so that errors raised by the framework itself (unknown route,
//! body too large, timeout, panic) get the same shape.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zhenggai_common::ErrorCode;

/// An error a handler answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    /// Every fault, when there are several (validation).
    pub errors: Vec<String>,
    /// Every bad row of an imported file.
    pub rows: Vec<RowError>,
    pub retry_after_secs: Option<u64>,
}

/// A row of an imported file that cannot be taken, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The row as the spreadsheet numbers it (0: the sheet as a whole).
    pub row: u32,
    /// The column's letter (A–K); empty for the whole row or sheet.
    pub column: String,
    /// The column's header on the form (整改时限, 对照排查发现具体问题描述, …).
    pub header: String,
    pub reason: String,
}

impl RowError {
    fn line(&self) -> String {
        match (self.row, self.column.as_str()) {
            (0, _) => self.reason.clone(),
            (row, "") => format!("row {row}: {}", self.reason),
            (row, column) => format!(
                "row {row}, column {column} ({}): {}",
                self.header, self.reason
            ),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            rows: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// 422 listing every bad row of an imported file.
    pub fn rows(detail: impl Into<String>, rows: Vec<RowError>) -> Self {
        Self {
            errors: rows.iter().map(RowError::line).collect(),
            rows,
            ..Self::new(ErrorCode::InvalidRows, detail)
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, detail)
    }
}

impl From<tonic::Status> for ApiError {
    /// A peer's answer: its stable code decides the status; its message was
    /// written for clients, except for internal errors, which stay in the log.
    fn from(status: tonic::Status) -> Self {
        let code = ErrorCode::of(&status);
        match code {
            ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::Timeout => {
                tracing::warn!(grpc_code = ?status.code(), message = status.message(), "peer call failed");
                Self::new(code, code.title())
            }
            _ => Self {
                errors: ErrorCode::faults_of(&status),
                ..Self::new(code, status.message())
            },
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let code = zhenggai_common::error::database_error(&error);
        Self::new(code, code.title())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if let Some(seconds) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine code (`not_found`, `invalid_argument`, …).
    pub code: String,
    /// The request's `x-request-id`.
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The bad rows of an imported file (`invalid_rows`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<RowError>,
}

/// Writes every error response as a problem document with the request id.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return response;
    }
    let error = response
        .extensions()
        .get::<ApiError>()
        .cloned()
        .unwrap_or_else(|| {
            let code = match status {
                StatusCode::NOT_FOUND => ErrorCode::NotFound,
                StatusCode::METHOD_NOT_ALLOWED => ErrorCode::NotFound,
                StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ErrorCode::Timeout,
                StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
                StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
                StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
                s if s.is_client_error() => ErrorCode::InvalidArgument,
                _ => ErrorCode::Internal,
            };
            let detail = match status {
                StatusCode::METHOD_NOT_ALLOWED => "this path does not take that method".to_owned(),
                StatusCode::NOT_FOUND => "no such resource".to_owned(),
                _ => code.title().to_owned(),
            };
            ApiError::new(code, detail)
        });
    if error.code == ErrorCode::Internal {
        tracing::error!(%request_id, detail = %error.detail, "internal error");
    }
    let status = if status == StatusCode::METHOD_NOT_ALLOWED {
        status
    } else {
        StatusCode::from_u16(error.code.http_status()).unwrap_or(status)
    };
    let body = ProblemDetails {
        kind: format!("urn:zhenggai:problem:{}", error.code.as_str()),
        title: error.code.title().to_owned(),
        status: status.as_u16(),
        detail: if error.code == ErrorCode::Internal {
            error.code.title().to_owned()
        } else {
            error.detail
        },
        code: error.code.as_str().to_owned(),
        request_id,
        errors: error.errors,
        rows: error.rows,
    };
    let (mut parts, _) = response.into_parts();
    parts.status = status;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
