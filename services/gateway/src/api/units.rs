//! The unit directory (统计用区划代码 and departments): `/units`,
//! `/units/{code}`, and the division table's import, `/units/import`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_proto::catalogue::v1 as pb;
use zhenggai_proto::ledger::v1 as ledger_pb;

use super::Page;
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};

/// `/units`, `/units/{code}`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units))
        .routes(routes!(get_unit))
}

/// `/units/import`: a whole division table, up to the upload limit.
pub(crate) fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_units))
}

/// A unit as a user's account names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRef {
    pub code: String,
    pub name: String,
    pub level: String,
}

/// A unit as a service names it.
pub(crate) fn unit_ref(unit: Option<ledger_pb::UnitRef>) -> UnitRef {
    let unit = unit.unwrap_or_default();
    UnitRef {
        code: unit.code,
        name: unit.name,
        level: unit.level,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unit {
    pub code: String,
    pub name: String,
    /// nation (全国, code 00) | province | city | county | township | village | department
    pub level: String,
    pub parent_code: Option<String>,
}

/// A unit with the chain above it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDetail {
    #[serde(flatten)]
    pub unit: Unit,
    /// The units above, root first.
    pub ancestors: Vec<Unit>,
}

impl From<pb::Unit> for Unit {
    fn from(u: pb::Unit) -> Self {
        Self {
            code: u.code,
            name: u.name,
            level: u.level,
            parent_code: Some(u.parent_code).filter(|c| !c.is_empty()),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitQuery {
    /// The unit whose children to list (default: the caller's own scope).
    pub parent: Option<String>,
    /// Only this level: nation | province | city | county | township | village | department.
    pub level: Option<String>,
    /// Every descendant instead of the direct children.
    #[serde(default)]
    pub subtree: bool,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The directory under a unit.
#[utoipa::path(get, path = "/api/v1/units", tag = "directory", security(("bearer" = [])), params(UnitQuery),
    responses((status = 200, body = Page<Unit>), (status = 404, body = ProblemDetails)))]
pub async fn list_units(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<UnitQuery>,
) -> ApiResult<Json<Page<Unit>>> {
    let request = pb::ListUnitsRequest {
        parent_code: query.parent.unwrap_or_default(),
        level: query.level.unwrap_or_default(),
        subtree: query.subtree,
        limit: query.limit.unwrap_or(0),
        cursor: query.cursor.unwrap_or_default(),
    };
    let answer = state
        .catalogue()
        .list_units(outgoing(request, &auth.token))
        .await?
        .into_inner();
    Ok(Json(Page::of(answer.items, answer.next_cursor)))
}

/// One unit with its ancestors.
#[utoipa::path(get, path = "/api/v1/units/{code}", tag = "directory", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = UnitDetail), (status = 404, body = ProblemDetails)))]
pub async fn get_unit(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(code): Path<String>,
) -> ApiResult<Json<UnitDetail>> {
    let mut catalogue = state.catalogue();
    let unit = catalogue
        .get_unit(outgoing(
            pb::GetUnitRequest { code: code.clone() },
            &auth.token,
        ))
        .await?
        .into_inner();
    let ancestors = catalogue
        .get_ancestors(outgoing(pb::GetUnitRequest { code }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(UnitDetail {
        unit: unit.into(),
        ancestors: ancestors.items.into_iter().map(Unit::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Import a division table (`code,name,level,parent_code` CSV, UTF-8) into the
/// directory, all or nothing (city office only).
#[utoipa::path(post, path = "/api/v1/units/import", tag = "directory", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 400, body = ProblemDetails),
              (status = 403, body = ProblemDetails), (status = 413, body = ProblemDetails)))]
pub async fn import_units(
    State(state): State<AppState>,
    auth: Authenticated,
    body: axum::body::Bytes,
) -> ApiResult<Json<ImportResult>> {
    if body.is_empty() {
        return Err(ApiError::invalid(
            "send the CSV as the request body (Content-Type: text/csv)",
        ));
    }
    let answer = state
        .catalogue()
        .import_units(outgoing(
            pb::ImportUnitsRequest { csv: body.to_vec() },
            &auth.token,
        ))
        .await?
        .into_inner();
    Ok(Json(ImportResult {
        inserted: answer.inserted,
        updated: answer.updated,
        unchanged: answer.unchanged,
    }))
}
