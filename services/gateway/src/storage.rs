//! SQL for accounts and revoked tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use zhenggai_common::{Caller, Role, UnitCode};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub unit: UnitCode,
    pub generation: i64,
    pub clearance: bool,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, username, role, unit_code, token_generation, clearance, created_at";

fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<User, sqlx::Error> {
    let corrupt = |what: String| sqlx::Error::Decode(what.into());
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: row
            .try_get::<String, _>("role")?
            .parse()
            .map_err(|e: zhenggai_common::identity::InvalidRole| corrupt(e.to_string()))?,
        unit: UnitCode::try_from(row.try_get::<String, _>("unit_code")?)
            .map_err(|e| corrupt(e.to_string()))?,
        generation: row.try_get("token_generation")?,
        clearance: row.try_get("clearance")?,
        created_at: row.try_get("created_at")?,
    })
}

/// What a login attempt may go on with.
pub enum LoginAttempt {
    /// The name is locked until then.
    Locked(DateTime<Utc>),
    /// The attempt is counted (as a failure, until the password proves
    /// right): `attempt` is its number since the last success or lock, and
    /// `account` the user and password hash, if the name exists.
    Counted {
        account: Option<(User, String)>,
        attempt: u32,
    },
}

/// Counts a login attempt before the password is checked, so that parallel
/// guesses cannot slip past the lockout: each takes a number atomically.
/// Names that do not exist are counted alike.
pub async fn begin_login(pool: &PgPool, username: &str) -> Result<LoginAttempt, sqlx::Error> {
    let (failures, locked_until): (i32, Option<DateTime<Utc>>) = sqlx::query_as(
        "INSERT INTO login_throttle AS t (username, failures) VALUES ($1, 1)
         ON CONFLICT (username) DO UPDATE
            SET failures = CASE WHEN t.locked_until <= now() THEN 1
                                WHEN t.locked_until IS NULL THEN t.failures + 1
                                ELSE t.failures END,
                locked_until = CASE WHEN t.locked_until <= now() THEN NULL ELSE t.locked_until END,
                updated_at = now()
         RETURNING failures, locked_until",
    )
    .bind(username)
    .fetch_one(pool)
    .await?;
    if let Some(until) = locked_until {
        return Ok(LoginAttempt::Locked(until));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(pool)
    .await?;
    let account = match row {
        Some(row) => Some((user_from_row(&row)?, row.try_get("password_hash")?)),
        None => None,
    };
    Ok(LoginAttempt::Counted {
        account,
        attempt: u32::try_from(failures).unwrap_or(u32::MAX),
    })
}

/// Locks a name for `minutes`; the count starts again after. Forgets names
/// that have been quiet for a day.
pub async fn lock_login(
    pool: &PgPool,
    username: &str,
    minutes: u32,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let until = sqlx::query_scalar(
        "UPDATE login_throttle SET failures = 0, locked_until = now() + make_interval(mins => $2), updated_at = now()
          WHERE username = $1 RETURNING locked_until",
    )
    .bind(username)
    .bind(minutes as i32)
    .fetch_one(pool)
    .await?;
    sqlx::query("DELETE FROM login_throttle WHERE updated_at < now() - interval '1 day' AND (locked_until IS NULL OR locked_until < now())")
        .execute(pool)
        .await?;
    Ok(until)
}

/// A successful login clears the count.
pub async fn record_login(pool: &PgPool, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE username = $1 AND locked_until IS NULL")
        .bind(username)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn user_by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(user_from_row)
    .transpose()
}

/// Creates an account; `None` when the username is taken.
pub async fn insert_user(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
    role: Role,
    unit: &UnitCode,
    created_by: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, username, password_hash, role, unit_code, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING
         RETURNING {USER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(unit.as_str())
    .bind(created_by)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(user_from_row)
    .transpose()
}

pub async fn has_users(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(pool)
        .await
}

/// Users whose unit lies in the subtree `scope`, by username after `after`.
pub async fn list_users(
    pool: &PgPool,
    scope: &UnitCode,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users
          WHERE starts_with(unit_code, $1) AND ($2::text IS NULL OR username > $2)
          ORDER BY username LIMIT $3"
    )))
    .bind(scope.subtree_prefix())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(user_from_row)
    .collect()
}

/// Sets a new password, and so ends every token issued before.
pub async fn set_password(pool: &PgPool, id: Uuid, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, token_generation = token_generation + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// Grants or withdraws clearance to read household data in clear. Either
/// way the account's earlier tokens stop working: a withdrawal takes effect at
/// once, a grant with the next login.
pub async fn set_clearance(pool: &PgPool, id: Uuid, clearance: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET clearance = $2, token_generation = token_generation + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(clearance)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn revoke_token(pool: &PgPool, caller: &Caller) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, to_timestamp($2)) ON CONFLICT DO NOTHING")
        .bind(caller.token_id)
        .bind(caller.expires_at as f64)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour'")
        .execute(pool)
        .await?;
    Ok(())
}

/// A token is current while its user exists, it was not revoked, and it
/// belongs to the user's current token generation.
pub async fn token_is_current(pool: &PgPool, caller: &Caller) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
            SELECT 1 FROM users u
             WHERE u.id = $1 AND u.token_generation = $3
               AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2))",
    )
    .bind(caller.user_id)
    .bind(caller.token_id)
    .bind(caller.generation)
    .fetch_one(pool)
    .await
}

/// What an idempotency key holds: the request it was first used with, and
/// the answer once there is one (`status` is none while it runs).
pub struct KeptAnswer {
    pub request_hash: Vec<u8>,
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// Forgets the answers kept longer than a day (a sweep, off the request path).
pub async fn forget_old_keys(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Reserves a key for a request about to run; false when the key is taken
/// (answered within a day, or running). A reservation left by a request that
/// never finished (a crash) lapses once the request timeout has passed.
pub async fn reserve_key(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    request_hash: &[u8],
    request_timeout_secs: u64,
) -> Result<bool, sqlx::Error> {
    let reserved = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, created_at = now(), status = NULL, content_type = NULL, body = NULL
          WHERE (idempotency_keys.status IS NULL
                 AND idempotency_keys.created_at < now() - make_interval(secs => $4 + 5))
             OR idempotency_keys.created_at < now() - interval '1 day'",
    )
    .bind(user_id)
    .bind(key)
    .bind(request_hash)
    .bind(request_timeout_secs as f64)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(reserved == 1)
}

pub async fn kept_answer(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
) -> Result<Option<KeptAnswer>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(KeptAnswer {
            request_hash: row.try_get("request_hash")?,
            status: row.try_get("status")?,
            content_type: row.try_get("content_type")?,
            body: row.try_get("body")?,
        })
    })
    .transpose()
}

/// Keeps the answer to a reserved key.
pub async fn keep_answer(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5 WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(i32::from(status))
    .bind(content_type)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Frees a reserved key whose request failed on our side, so a retry runs.
pub async fn release_key(pool: &PgPool, user_id: Uuid, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL")
        .bind(user_id)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
