//! The REST API under `/api/v1`.

pub mod accounts;
pub mod catalogue;
pub mod forms;
pub mod ledger;
pub mod notify;
pub mod schedule;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

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
