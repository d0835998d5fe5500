//! Deployment-wide settings: the drill clock (`/admin/clock`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_common::{ErrorCode, Role};
use zhenggai_proto::clock::v1 as clock_pb;

use super::ApiJson;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};

/// `/admin/clock`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_clock, set_clock))
}

/// The clock as one service reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceClock {
    pub service: String,
    /// RFC 3339 in Asia/Shanghai.
    pub now: String,
    pub drill: bool,
    /// Milliseconds ahead of the machine's clock.
    pub offset_ms: i64,
}

/// The one clock, as every back-end service reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockReading {
    /// RFC 3339 in Asia/Shanghai (the scheduler's reading).
    pub now: String,
    /// Whether the deployment runs drills (the clock can be set).
    pub drill: bool,
    pub services: Vec<ServiceClock>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// RFC 3339 with offset, e.g. 2023-07-19T09:00:00+08:00; the clock runs on from there.
    pub now: String,
}

fn reading(readings: Vec<clock_pb::ClockReading>) -> ClockReading {
    let scheduler = readings
        .iter()
        .find(|r| r.service.contains("scheduler"))
        .or(readings.first());
    ClockReading {
        now: scheduler.map(|r| r.now.clone()).unwrap_or_default(),
        drill: !readings.is_empty() && readings.iter().all(|r| r.drill),
        services: readings
            .into_iter()
            .map(|r| ServiceClock {
                service: r.service,
                now: r.now,
                drill: r.drill,
                offset_ms: r.offset_ms,
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/clock", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ClockReading), (status = 401, body = ProblemDetails)))]
pub async fn get_clock(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<ClockReading>> {
    let mut readings = Vec::new();
    for mut clock in state.clocks() {
        readings.push(
            clock
                .get_clock(outgoing(clock_pb::GetClockRequest {}, &auth.token))
                .await?
                .into_inner(),
        );
    }
    Ok(Json(reading(readings)))
}

/// Set the clock of every service (drills only: `ZG_DRILL=1`; city office only).
#[utoipa::path(put, path = "/api/v1/admin/clock", tag = "admin", security(("bearer" = [])), request_body = SetClock,
    responses((status = 200, body = ClockReading), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails),
              (status = 409, body = ProblemDetails, description = "the deployment does not run drills")))]
pub async fn set_clock(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<SetClock>,
) -> ApiResult<Json<ClockReading>> {
    if auth.caller.role != Role::CityAdmin {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "only the city office sets the drill clock",
        ));
    }
    let mut readings = Vec::new();
    for mut clock in state.clocks() {
        let request = clock_pb::SetClockRequest {
            now: body.now.clone(),
        };
        readings.push(
            clock
                .set_clock(outgoing(request, &auth.token))
                .await?
                .into_inner(),
        );
    }
    tracing::warn!(
        now = body.now,
        by = auth.caller.username,
        "drill clock set in every service"
    );
    Ok(Json(reading(readings)))
}
