//! `Idempotency-Key` on creating requests: the same caller, key and request
//! replay the first answer; the same key with another request is 422.
//!
//! A client that lost the answer to a POST can send it again without creating
//! the thing twice. The key is reserved before the request runs, so the same
//! key sent twice at once runs once (the second gets 409 until the first has
//! answered; a reservation older than the request timeout belongs to a
//! gateway that died mid-request and is taken over). Answers are kept for a
//! day. Server errors (5xx) are not kept, so a retry after an outage runs
//! again; the ledger dedupes a create by the same key (see [`request_key`]),
//! so a retry never makes a second finding when only the answer was lost.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use zhenggai_common::ErrorCode;

use crate::AppState;
use crate::error::ApiError;

const HEADER: &str = "idempotency-key";
const MAX_KEY_CHARS: usize = 200;
/// Answers larger than this are not kept (creating requests answer small).
const MAX_KEPT_BODY: usize = 1024 * 1024;

/// The key a back-end service dedupes a create request by: the caller's own
/// Idempotency-Key, scoped to the caller (empty when the client sent none).
/// Needed when the service committed but its answer never reached us.
pub(crate) fn request_key(headers: &axum::http::HeaderMap, caller_id: uuid::Uuid) -> String {
    headers
        .get(HEADER)
        .and_then(|key| key.to_str().ok())
        .map(|key| format!("{caller_id}:{key}"))
        .unwrap_or_default()
}

/// The middleware; the state comes as a request extension (see
/// [`crate::startup`]), so routes can be described without one.
pub(crate) async fn replay(
    axum::Extension(state): axum::Extension<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match handle(&state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(key) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.chars().count() <= MAX_KEY_CHARS)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
            ))
        })?
        .to_owned();
    // Keys belong to the caller; the handler authenticates fully afterwards.
    let Some(user_id) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| state.verifier.verify(token).ok())
        .map(|caller| caller.user_id)
    else {
        return Ok(next.run(request).await);
    };

    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"))?;
    let mut fingerprint = Vec::with_capacity(bytes.len() + 64);
    fingerprint.extend_from_slice(parts.method.as_str().as_bytes());
    fingerprint.push(b' ');
    fingerprint.extend_from_slice(parts.uri.path().as_bytes());
    fingerprint.push(b'\n');
    fingerprint.extend_from_slice(&bytes);
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &fingerprint)
        .as_ref()
        .to_vec();

    if !crate::storage::reserve_key(
        &state.pool,
        user_id,
        &key,
        &hash,
        state.config.request_timeout_secs,
    )
    .await?
    {
        let kept = crate::storage::kept_answer(&state.pool, user_id, &key)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Conflict,
                    "this Idempotency-Key is being settled; retry",
                )
            })?;
        if kept.request_hash != hash {
            return Err(ApiError::new(
                ErrorCode::IdempotencyMismatch,
                "this Idempotency-Key was used with another request",
            ));
        }
        let (Some(status), Some(body)) = (kept.status, kept.body) else {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a request with this Idempotency-Key is still running; retry once it has answered",
            ));
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        if let Some(content_type) = kept
            .content_type
            .and_then(|value| HeaderValue::from_str(&value).ok())
        {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.status().is_server_error() {
        crate::storage::release_key(&state.pool, user_id, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_KEPT_BODY).await else {
        crate::storage::release_key(&state.pool, user_id, &key).await?;
        return Err(ApiError::new(
            ErrorCode::Internal,
            "the answer was too large to keep",
        ));
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    crate::storage::keep_answer(
        &state.pool,
        user_id,
        &key,
        parts.status.as_u16(),
        content_type.as_deref(),
        &body,
    )
    .await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}
