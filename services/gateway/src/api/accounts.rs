//! Login, logout, the caller's own account, and account management.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use zhenggai_common::{ErrorCode, Role, UnitCode};
use zhenggai_proto::catalogue::v1 as pb;

use super::{ApiJson, Page, PageQuery};
use crate::auth::{self, Authenticated};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, storage};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserView,
}

/// A unit as a user's account names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRef {
    pub code: String,
    pub name: String,
    pub level: String,
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

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.with_timezone(&zhenggai_common::clock::shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
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

    async fn user_view(&self, token: &str, user: storage::User) -> ApiResult<UserView> {
        self.user_views(token, vec![user])
            .await?
            .pop()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no view of the account"))
    }
}

/// Log in with a username and password; answers a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem),
              (status = 429, description = "account locked", body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let user = check_password(&state, body.username.trim(), body.password).await?;
    let now = chrono::Utc::now();
    let (token, claims) = state.mint_token(&user)?;
    let user = state.user_view(&token, user).await?;
    tracing::info!(user_id = %user.id, "login");
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.config.token_ttl_secs,
        expires_at: rfc3339(chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now)),
        user,
    }))
}

/// How long a login waits for a password check to start.
const PASSWORD_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Checks a password under the lockout: every check counts as an attempt on
/// that name (known or not) before the hash is compared, so neither parallel
/// guesses nor the password-change form get more than the threshold.
async fn check_password(
    state: &AppState,
    username: &str,
    password: String,
) -> ApiResult<storage::User> {
    let refused = || ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password");
    let policy = state.config.lockout;
    if let Some(until) = state.lockouts.locked_until(username) {
        return Err(locked(until));
    }
    let lock = |until| {
        state.lockouts.remember(username, until);
        locked(until)
    };
    let (account, attempt) = match storage::begin_login(&state.pool, username).await? {
        storage::LoginAttempt::Locked(until) => return Err(lock(until)),
        storage::LoginAttempt::Counted { account, attempt } => (account, attempt),
    };
    if attempt > policy.threshold {
        // Parallel guesses beyond the threshold are not even checked.
        return Err(lock(
            storage::lock_login(&state.pool, username, policy.minutes).await?,
        ));
    }
    let (user, hash) = match account {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // A bounded number of checks run at once; a guess that waits too long
    // is turned away without costing a hash.
    let Ok(Ok(_permit)) =
        tokio::time::timeout(PASSWORD_CHECK_WAIT, state.password_checks.acquire()).await
    else {
        return Err(ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(
                ErrorCode::TooManyRequests,
                "too many logins at once; retry in a second",
            )
        });
    };
    // An unknown name costs as much time as a wrong password.
    let right = auth::verify_password(password, hash).await;
    match user {
        Some(user) if right => {
            storage::record_login(&state.pool, username).await?;
            Ok(user)
        }
        _ if attempt >= policy.threshold => {
            tracing::warn!("login locked after repeated failures");
            Err(lock(
                storage::lock_login(&state.pool, username, policy.minutes).await?,
            ))
        }
        _ => Err(refused()),
    }
}

fn locked(until: chrono::DateTime<chrono::Utc>) -> ApiError {
    let seconds = (until - chrono::Utc::now()).num_seconds().max(1) as u64;
    ApiError {
        retry_after_secs: Some(seconds),
        ..ApiError::new(
            ErrorCode::TooManyRequests,
            format!(
                "the account is locked after repeated failed logins until {}",
                rfc3339(until)
            ),
        )
    }
}

/// Log out: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::Problem)))]
pub async fn logout(State(state): State<AppState>, auth: Authenticated) -> ApiResult<StatusCode> {
    storage::revoke_token(&state.pool, &auth.caller).await?;
    state.current_tokens.forget_token(auth.caller.token_id);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = crate::error::Problem)))]
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Json<UserView>> {
    let user = storage::user_by_id(&state.pool, auth.caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    Ok(Json(state.user_view(&auth.token, user).await?))
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
    responses((status = 201, body = UserView), (status = 400, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
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
    responses((status = 200, body = Page<UserView>), (status = 403, body = crate::error::Problem)))]
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
    responses((status = 204), (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
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
        check_password(&state, &user.username, current).await?;
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
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
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
