//! The REST API under `/api/v1`, one module per resource, each with its
//! routes, handlers and request and response types. Every route is added
//! through [`OpenApiRouter`], so the OpenAPI document is built from the same
//! list as the router: a route cannot exist undocumented.

pub mod admin;
pub mod auth;
pub mod calendar;
pub mod campaigns;
pub mod channels;
pub mod deadlines;
pub mod documents;
pub mod evidence;
pub mod findings;
pub mod forms;
pub mod inbox;
pub mod ledgers;
pub mod milestones;
pub mod rechecks;
pub mod reminders;
pub mod units;
pub mod users;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt as _};

use crate::AppState;
use crate::error::ApiError;

/// Every route of `/api/v1` with its OpenAPI description. JSON bodies are
/// held to `ZG_BODY_LIMIT_BYTES`; files stream under their own limits.
pub fn router(body_limit: usize, upload_limit: usize) -> OpenApiRouter<AppState> {
    let json = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(documents::router())
        .merge(units::router())
        .merge(campaigns::router())
        .merge(ledgers::router())
        .merge(findings::router())
        .merge(evidence::router())
        .merge(forms::router())
        .merge(calendar::router())
        .merge(milestones::router())
        .merge(reminders::router())
        .merge(deadlines::router())
        .merge(rechecks::router())
        .merge(inbox::router())
        .merge(channels::router())
        .merge(admin::router())
        .layer(RequestBodyLimitLayer::new(body_limit));
    // Evidence, hand-ins and workbooks are streamed and limited as they
    // arrive (see `crate::upload`); the division table is held whole.
    let files = OpenApiRouter::new()
        .merge(evidence::uploads())
        .merge(forms::uploads())
        .layer(axum::extract::DefaultBodyLimit::disable());
    let directory = units::uploads()
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(upload_limit));
    json.merge(files).merge(directory)
}

/// Routes that take an `Idempotency-Key` (see [`crate::idempotency`]).
fn idempotent(routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    routes.layer(axum::middleware::from_fn(crate::idempotency::replay))
}

/// A time as the API writes it: RFC 3339 in Asia/Shanghai.
pub(crate) fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.with_timezone(&zhenggai_common::clock::shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A JSON body whose faults (not JSON, wrong types, unknown fields, missing
/// content type) answer 400 with a problem document, not axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::BytesRejection(bytes)
                    if bytes.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::new(
                        zhenggai_common::ErrorCode::PayloadTooLarge,
                        "the request body is too large",
                    )
                }
                other => {
                    ApiError::new(zhenggai_common::ErrorCode::MalformedBody, other.body_text())
                }
            }),
        }
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, next_cursor: String) -> Self {
        Self {
            items,
            next_cursor: Some(next_cursor).filter(|cursor| !cursor.is_empty()),
        }
    }

    /// A page of a service's answer, each item converted to its REST shape.
    pub fn of<M: Into<T>>(items: Vec<M>, next_cursor: String) -> Self {
        Self::new(items.into_iter().map(Into::into).collect(), next_cursor)
    }
}
