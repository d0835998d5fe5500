//! A unit's notification channels (通知渠道: email, webhook, 企业微信 robot,
//! SMS gateway): `/units/{code}/channels`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::notifier::v1 as pb;

use super::ApiJson;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};

/// `/units/{code}/channels`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_channels, put_channels))
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
    params(("code" = String, Path)), responses((status = 200, body = Channels), (status = 404, body = ProblemDetails)))]
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
    responses((status = 200, body = Channels), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
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
