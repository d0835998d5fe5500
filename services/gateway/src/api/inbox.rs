//! The inbox (消息) and what became of each notification:
//! `/inbox`, `/inbox/{id}/read`, `/notifications/{id}/deliveries`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::notifier::v1 as pb;

use super::PageQuery;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, ProblemDetails};

/// `/inbox`, `/inbox/{id}/read`, `/notifications/{id}/deliveries`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(mark_read))
        .routes(routes!(deliveries))
}

/// A notification in the caller's inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItem {
    pub id: String,
    /// due_soon, due_today, overdue, escalated, awaiting_review, rejected, closed, reopened, milestone_owed, recheck_due, digest
    pub event: String,
    pub unit: String,
    /// e.g. 【逾期提醒】
    pub title: String,
    pub text: String,
    /// What the text was made from.
    #[schema(value_type = Object)]
    pub variables: serde_json::Value,
    pub occurred_at: String,
    pub read: bool,
    pub read_at: Option<String>,
}

impl From<pb::InboxItem> for InboxItem {
    fn from(i: pb::InboxItem) -> Self {
        Self {
            id: i.id,
            event: i.event,
            unit: i.unit,
            title: i.title,
            text: i.text,
            variables: serde_json::from_str(&i.variables_json).unwrap_or_default(),
            occurred_at: i.occurred_at,
            read: i.read,
            read_at: Some(i.read_at).filter(|t| !t.is_empty()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    pub next_cursor: Option<String>,
    /// Unread notifications in all.
    pub unread: u32,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only those the caller has not read.
    pub unread: Option<bool>,
}

/// The caller's inbox: notifications to the caller's unit, newest first.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "notifications", security(("bearer" = [])),
    params(InboxQuery, PageQuery), responses((status = 200, body = InboxPage), (status = 401, body = ProblemDetails)))]
pub async fn inbox(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<InboxQuery>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<InboxPage>> {
    let request = pb::ListInboxRequest {
        unread_only: query.unread.unwrap_or(false),
        limit: page.limit.unwrap_or(0),
        cursor: page.cursor.unwrap_or_default(),
    };
    let answer = state
        .notifier()
        .list_inbox(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(InboxPage {
        items: answer.items.into_iter().map(Into::into).collect(),
        next_cursor: Some(answer.next_cursor).filter(|c| !c.is_empty()),
        unread: answer.unread,
    }))
}

/// Mark a notification read (for the caller alone).
#[utoipa::path(post, path = "/api/v1/inbox/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = InboxItem), (status = 404, body = ProblemDetails)))]
pub async fn mark_read(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<InboxItem>> {
    let answer = state
        .notifier()
        .mark_read(outgoing(pb::MarkReadRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    pub at: String,
    /// `delivered` or `failed`
    pub outcome: String,
    pub error: String,
    pub duration_ms: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    /// `email`, `webhook`, `wecom` or `sms`
    pub channel: String,
    /// The address, the URL without its query, or the phone masked.
    pub target: String,
    /// `pending`, `delivered` or `failed` (given up)
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: String,
    pub history: Vec<Attempt>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deliveries {
    pub notification_id: String,
    pub event: String,
    pub unit: String,
    pub items: Vec<Delivery>,
}

/// Every delivery of a notification and every attempt of each.
#[utoipa::path(get, path = "/api/v1/notifications/{id}/deliveries", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Deliveries), (status = 404, body = ProblemDetails)))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Deliveries>> {
    let request = pb::ListDeliveriesRequest {
        notification_id: id,
    };
    let answer = state
        .notifier()
        .list_deliveries(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Deliveries {
        notification_id: answer.notification_id,
        event: answer.event,
        unit: answer.unit,
        items: answer
            .items
            .into_iter()
            .map(|d| Delivery {
                id: d.id,
                channel: d.channel,
                target: d.target,
                state: d.state,
                attempts: d.attempts,
                next_attempt_at: Some(d.next_attempt_at).filter(|t| !t.is_empty()),
                last_error: d.last_error,
                history: d
                    .history
                    .into_iter()
                    .map(|a| Attempt {
                        attempt: a.attempt,
                        at: a.at,
                        outcome: a.outcome,
                        error: a.error,
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
