//! Logging in and out, and the caller's own account: `/auth/login`,
//! `/auth/logout`, `/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::ErrorCode;

use super::{ApiJson, rfc3339};
use crate::AppState;
use crate::api::users::UserView;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::{auth, storage};

/// `/auth/login`, `/auth/logout`, `/me`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

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

/// Log in with a username and password; answers a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ProblemDetails),
              (status = 429, description = "account locked", body = ProblemDetails)))]
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
pub(crate) async fn check_password(
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
    responses((status = 204), (status = 401, body = ProblemDetails)))]
pub async fn logout(State(state): State<AppState>, auth: Authenticated) -> ApiResult<StatusCode> {
    storage::revoke_token(&state.pool, &auth.caller).await?;
    state.current_tokens.forget_token(auth.caller.token_id);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ProblemDetails)))]
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Json<UserView>> {
    let user = storage::user_by_id(&state.pool, auth.caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    Ok(Json(state.user_view(&auth.token, user).await?))
}
