//! The working-day calendar (法定节假日 and 调休): `/calendar/{year}` and
//! `/calendar/add-workdays`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::ErrorCode;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::scheduler::v1 as pb;

use super::ApiJson;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};

/// `/calendar/{year}`, `/calendar/add-workdays`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_workdays))
        .routes(routes!(get_calendar, put_calendar))
}

/// A day that differs from the plain week.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialDay {
    /// YYYY-MM-DD
    pub date: String,
    /// `holiday` (放假) or `workday` (调休上班, a Saturday or Sunday worked).
    pub kind: String,
    /// The festival, e.g. 春节.
    pub name: String,
}

/// One year of the working-day calendar, from its State Council notice.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarYear {
    pub year: i32,
    /// e.g. 国办发明电〔2022〕16号
    pub notice: String,
    pub days: Vec<SpecialDay>,
    /// Working days in the year.
    pub workdays: u32,
    /// RFC 3339; null for a year that ships with zhenggai.
    pub loaded_at: Option<String>,
    pub loaded_by: Option<String>,
}

impl From<pb::CalendarYear> for CalendarYear {
    fn from(y: pb::CalendarYear) -> Self {
        Self {
            year: y.year,
            notice: y.notice,
            days: y
                .days
                .into_iter()
                .map(|d| SpecialDay {
                    date: d.date,
                    kind: d.kind,
                    name: d.name,
                })
                .collect(),
            workdays: y.workdays,
            loaded_at: Some(y.loaded_at).filter(|t| !t.is_empty()),
            loaded_by: Some(y.loaded_by).filter(|t| !t.is_empty()),
        }
    }
}

/// A year as its notice lists it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendarYear {
    pub notice: String,
    /// Every holiday (including those on weekends) and every make-up working day.
    pub days: Vec<SpecialDay>,
}

#[utoipa::path(get, path = "/api/v1/calendar/{year}", tag = "calendar", security(("bearer" = [])),
    params(("year" = i32, Path)), responses((status = 200, body = CalendarYear), (status = 404, body = ProblemDetails)))]
pub async fn get_calendar(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(year): Path<String>,
) -> ApiResult<Json<CalendarYear>> {
    let year = year.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("calendar year {year} not found"),
        )
    })?;
    let answer = state
        .scheduler()
        .get_calendar(outgoing(pb::GetCalendarRequest { year }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

/// Load a year's notice (法定节假日 and 调休) when it comes out, or correct one
/// (city office only). Every fault is listed.
#[utoipa::path(put, path = "/api/v1/calendar/{year}", tag = "calendar", security(("bearer" = [])),
    params(("year" = i32, Path)), request_body = NewCalendarYear,
    responses((status = 200, body = CalendarYear), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
pub async fn put_calendar(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(year): Path<String>,
    ApiJson(body): ApiJson<NewCalendarYear>,
) -> ApiResult<Json<CalendarYear>> {
    let year = year
        .parse()
        .map_err(|_| ApiError::invalid(format!("year: {year:?} is not a year")))?;
    let request = pb::CalendarYear {
        year,
        notice: body.notice,
        days: body
            .days
            .into_iter()
            .map(|d| pb::SpecialDay {
                date: d.date,
                kind: d.kind,
                name: d.name,
            })
            .collect(),
        ..Default::default()
    };
    let answer = state
        .scheduler()
        .put_calendar(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(answer.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddWorkdaysQuery {
    /// YYYY-MM-DD: the day the period starts (not counted).
    pub from: Option<String>,
    /// How many working days.
    pub days: Option<String>,
}

/// 'N working days after D': the N-th working day strictly after D.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedWorkdays {
    pub from: String,
    pub days: i32,
    pub date: String,
}

#[utoipa::path(get, path = "/api/v1/calendar/add-workdays", tag = "calendar", security(("bearer" = [])),
    params(AddWorkdaysQuery), responses((status = 200, body = AddedWorkdays), (status = 400, body = ProblemDetails),
    (status = 409, body = ProblemDetails, description = "the answer runs into a year whose calendar is not loaded")))]
pub async fn add_workdays(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<AddWorkdaysQuery>,
) -> ApiResult<Json<AddedWorkdays>> {
    let from = query
        .from
        .ok_or_else(|| ApiError::invalid("from: the start date (YYYY-MM-DD) is required"))?;
    let days = query
        .days
        .ok_or_else(|| ApiError::invalid("days: how many working days is required"))?;
    let days = days
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid(format!("days: {days:?} is not a whole number")))?;
    let answer = state
        .scheduler()
        .add_workdays(outgoing(pb::AddWorkdaysRequest { from, days }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(AddedWorkdays {
        from: answer.from,
        days: answer.days,
        date: answer.date,
    }))
}
