//! The inbox, how a unit is reached (channels), and the deliveries of a
//! notification, served from the notifier.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::notifier::v1 as pb;

use super::{ApiJson, PageQuery};
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};

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
    params(InboxQuery, PageQuery), responses((status = 200, body = InboxPage), (status = 401, body = Problem)))]
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
    params(("id" = String, Path)), responses((status = 200, body = InboxItem), (status = 404, body = Problem)))]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    /// HMAC-SHA256 key (at least 16 characters) for `X-Zhenggai-Signature: sha256=<hex>`;
    /// shown as `********`, and sent back so it keeps the stored one.
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WecomRobot {
    /// The group robot's webhook, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsGateway {
    pub url: String,
    /// A JSON object posted to the gateway; its strings may hold `{phone}`, `{title}` and `{text}`.
    #[schema(value_type = Object)]
    pub body_template: serde_json::Value,
    pub phones: Vec<String>,
}

/// How a unit is reached besides the inbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    #[serde(default)]
    pub wecom: Vec<WecomRobot>,
    #[serde(default)]
    pub sms: Vec<SmsGateway>,
    /// When the channels were last set (read-only: a PUT ignores it, so
    /// what a GET answered can be sent back as it is).
    #[serde(default)]
    #[schema(read_only)]
    pub updated_at: Option<String>,
    /// Who last set them (read-only).
    #[serde(default)]
    #[schema(read_only)]
    pub updated_by: Option<String>,
}

impl From<pb::Channels> for Channels {
    fn from(c: pb::Channels) -> Self {
        Self {
            email: c.email,
            webhooks: c
                .webhooks
                .into_iter()
                .map(|w| Webhook {
                    url: w.url,
                    secret: w.secret,
                })
                .collect(),
            wecom: c
                .wecom
                .into_iter()
                .map(|w| WecomRobot { url: w.url })
                .collect(),
            sms: c
                .sms
                .into_iter()
                .map(|s| SmsGateway {
                    url: s.url,
                    body_template: serde_json::from_str(&s.body_template).unwrap_or_default(),
                    phones: s.phones,
                })
                .collect(),
            updated_at: Some(c.updated_at).filter(|t| !t.is_empty()),
            updated_by: Some(c.updated_by).filter(|t| !t.is_empty()),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/units/{code}/channels", tag = "notifications", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = Channels), (status = 404, body = Problem)))]
pub async fn get_channels(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(unit): Path<String>,
) -> ApiResult<Json<Channels>> {
    let answer = state
        .notifier()
        .get_channels(outgoing(pb::GetChannelsRequest { unit }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// Set how a unit is reached (the city office, or the unit itself); every fault listed.
#[utoipa::path(put, path = "/api/v1/units/{code}/channels", tag = "notifications", security(("bearer" = [])),
    params(("code" = String, Path)), request_body = Channels,
    responses((status = 200, body = Channels), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn put_channels(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(unit): Path<String>,
    ApiJson(body): ApiJson<Channels>,
) -> ApiResult<Json<Channels>> {
    let mut sms = Vec::with_capacity(body.sms.len());
    for (i, s) in body.sms.into_iter().enumerate() {
        if !s.body_template.is_object() {
            return Err(ApiError::invalid(format!(
                "sms[{i}].body_template: a JSON object"
            )));
        }
        sms.push(pb::SmsGateway {
            url: s.url,
            body_template: s.body_template.to_string(),
            phones: s.phones,
        });
    }
    let request = pb::Channels {
        unit,
        email: body.email,
        webhooks: body
            .webhooks
            .into_iter()
            .map(|w| pb::Webhook {
                url: w.url,
                secret: w.secret,
            })
            .collect(),
        wecom: body
            .wecom
            .into_iter()
            .map(|w| pb::WecomRobot { url: w.url })
            .collect(),
        sms,
        ..Default::default()
    };
    let answer = state
        .notifier()
        .put_channels(outgoing(request, &auth.token))
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
    params(("id" = String, Path)), responses((status = 200, body = Deliveries), (status = 404, body = Problem)))]
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
