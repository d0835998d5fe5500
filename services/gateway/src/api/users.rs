//! Accounts: `/users`, a password (`/users/{id}/password`) and the clearance
//! to read households in clear (`/users/{id}/clearance`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zhenggai_common::{ErrorCode, Role, UnitCode};
use zhenggai_proto::catalogue::v1 as pb;

use super::{ApiJson, Page, PageQuery, rfc3339};
use crate::AppState;
use crate::api::units::UnitRef;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::{auth, storage};

/// `/users`, `/users/{id}/password`, `/users/{id}/clearance`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(super::idempotent(routes!(create_user)))
        .routes(routes!(list_users))
        .routes(routes!(change_password))
        .routes(routes!(set_clearance))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    /// city_admin | supervisor | department | township | village | auditor
    pub role: String,
    pub unit: UnitRef,
    /// RFC 3339.
    pub created_at: String,
}

impl AppState {
    /// The unit of an account, named from the directory (with the system's
    /// own view, since a user's unit is always visible to that user).
    async fn unit_ref(&self, token: &str, code: &UnitCode) -> ApiResult<UnitRef> {
        let unit = self
            .catalogue()
            .get_unit(zhenggai_common::grpc::outgoing(
                pb::GetUnitRequest {
                    code: code.to_string(),
                },
                token,
            ))
            .await?
            .into_inner();
        Ok(UnitRef {
            code: unit.code,
            name: unit.name,
            level: unit.level,
        })
    }

    /// Accounts as the API shows them, their units named in one call.
    async fn user_views(&self, token: &str, users: Vec<storage::User>) -> ApiResult<Vec<UserView>> {
        let codes: Vec<String> = users.iter().map(|user| user.unit.to_string()).collect();
        let request = zhenggai_common::grpc::outgoing(pb::GetUnitsRequest { codes }, token);
        let units = match self.catalogue().get_units(request).await {
            Ok(answer) => answer.into_inner().items,
            // Accounts stay usable while the directory is down: codes alone.
            Err(status)
                if matches!(
                    ErrorCode::of(&status),
                    ErrorCode::Unavailable | ErrorCode::Timeout
                ) =>
            {
                tracing::warn!(
                    message = status.message(),
                    "catalogue unavailable; showing unit codes only"
                );
                Vec::new()
            }
            Err(status) => return Err(status.into()),
        };
        Ok(users
            .into_iter()
            .map(|user| {
                // A unit outside the reader's directory view shows its code alone.
                let unit = units
                    .iter()
                    .find(|unit| unit.code == user.unit.as_str())
                    .map(|unit| UnitRef {
                        code: unit.code.clone(),
                        name: unit.name.clone(),
                        level: unit.level.clone(),
                    })
                    .unwrap_or_else(|| UnitRef {
                        code: user.unit.to_string(),
                        name: String::new(),
                        level: String::new(),
                    });
                UserView {
                    id: user.id,
                    username: user.username,
                    role: user.role.to_string(),
                    unit,
                    created_at: rfc3339(user.created_at),
                }
            })
            .collect())
    }

    pub(crate) async fn user_view(&self, token: &str, user: storage::User) -> ApiResult<UserView> {
        self.user_views(token, vec![user])
            .await?
            .pop()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no view of the account"))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    /// city_admin | supervisor | department | township | village | auditor
    pub role: String,
    /// The unit code the account belongs to.
    pub unit: String,
}

/// Which directory level each role's unit must have.
fn role_fits_level(role: Role, level: &str) -> bool {
    match role {
        Role::Village => level == "village",
        Role::Township => level == "township",
        Role::Department => level == "department",
        Role::CityAdmin | Role::Supervisor | Role::Auditor => {
            matches!(
                level,
                "nation" | "province" | "city" | "county" | "township"
            )
        }
    }
}

/// Create an account in the caller's subtree (city office only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ProblemDetails),
              (status = 403, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    if auth.caller.role != Role::CityAdmin {
        return Err(ApiError::forbidden(
            "only the city office (city_admin) may create accounts",
        ));
    }
    let username = body.username.trim();
    if username.chars().count() < 2
        || username.chars().count() > 64
        || !username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(ApiError::invalid(
            "username: 2 to 64 letters, digits, or _ - . @ (Chinese characters are letters too)",
        ));
    }
    let role: Role =
        body.role
            .parse()
            .map_err(|error: zhenggai_common::identity::InvalidRole| {
                ApiError::invalid(error.to_string())
            })?;
    let unit = UnitCode::try_from(body.unit.trim())
        .map_err(|error| ApiError::invalid(format!("unit: {error}")))?;
    state.config.password_policy.check(&body.password)?;
    if !auth.caller.sees(&unit) {
        return Err(ApiError::invalid(format!(
            "unit: {unit} is not in your unit's subtree"
        )));
    }
    let unit_ref = state.unit_ref(&auth.token, &unit).await.map_err(|error| {
        if error.code == ErrorCode::NotFound {
            ApiError::invalid(format!("unit: {unit} is not in the directory"))
        } else {
            error
        }
    })?;
    if !role_fits_level(role, &unit_ref.level) {
        return Err(ApiError::invalid(format!(
            "role {role} does not fit a {} unit",
            unit_ref.level
        )));
    }
    let hash = auth::hash_password(body.password).await?;
    let user = storage::insert_user(
        &state.pool,
        username,
        &hash,
        role,
        &unit,
        &auth.caller.username,
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::AlreadyExists,
            format!("the username {username} is taken"),
        )
    })?;
    tracing::info!(user_id = %user.id, by = %auth.caller.user_id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            id: user.id,
            username: user.username,
            role: role.to_string(),
            unit: unit_ref,
            created_at: rfc3339(user.created_at),
        }),
    ))
}

/// Accounts in the caller's subtree.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, body = ProblemDetails)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    if !matches!(
        auth.caller.role,
        Role::CityAdmin | Role::Supervisor | Role::Auditor | Role::Township
    ) {
        return Err(ApiError::forbidden("your role may not list accounts"));
    }
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let mut users = storage::list_users(
        &state.pool,
        &auth.caller.scope(),
        page.cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let next = if more {
        users.last().map(|u| u.username.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Json(Page::new(
        state.user_views(&auth.token, users).await?,
        next,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Needed when you change your own password.
    pub current_password: Option<String>,
    pub new_password: String,
}

/// Change a password: your own (with the current one), or, for the city
/// office, any account in its subtree. Every earlier token of that account stops working.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found(format!("user {id}"));
    let user_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let user = storage::user_by_id(&state.pool, user_id)
        .await?
        .ok_or_else(not_found)?;
    let own = user.id == auth.caller.user_id;
    let manages = auth.caller.role == Role::CityAdmin && auth.caller.sees(&user.unit);
    if !(own || manages) {
        return Err(not_found());
    }
    if own {
        let current = body.current_password.unwrap_or_default();
        super::auth::check_password(&state, &user.username, current).await?;
    }
    state.config.password_policy.check(&body.new_password)?;
    let hash = auth::hash_password(body.new_password).await?;
    storage::set_password(&state.pool, user.id, &hash).await?;
    state.current_tokens.forget_user(user.id);
    tracing::info!(user_id = %user.id, by = %auth.caller.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearanceChange {
    /// May the account read household personal data (names, ID numbers,
    /// phones) in clear? Every read in clear is recorded.
    pub clearance: bool,
}

/// Grant or withdraw clearance for household personal data (city office
/// only, for accounts in its subtree). The account's earlier tokens stop
/// working; it logs in again to read with the new clearance.
#[utoipa::path(post, path = "/api/v1/users/{id}/clearance", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ClearanceChange,
    responses((status = 204), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
pub async fn set_clearance(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClearanceChange>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found(format!("user {id}"));
    let user_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let user = storage::user_by_id(&state.pool, user_id)
        .await?
        .filter(|user| auth.caller.sees(&user.unit))
        .ok_or_else(not_found)?;
    if auth.caller.role != Role::CityAdmin {
        return Err(ApiError::forbidden(
            "only the city office (city_admin) grants clearance",
        ));
    }
    storage::set_clearance(&state.pool, user.id, body.clearance).await?;
    state.current_tokens.forget_user(user.id);
    tracing::info!(user_id = %user.id, by = %auth.caller.user_id, clearance = body.clearance, "clearance changed");
    Ok(StatusCode::NO_CONTENT)
}
