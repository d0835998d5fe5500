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
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, username, role, unit_code, created_at";

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
        created_at: row.try_get("created_at")?,
    })
}

/// What a login attempt may go on with.
pub enum LoginAttempt {
    /// No such user.
    Unknown,
    /// The account is locked until then.
    Locked(DateTime<Utc>),
    /// The attempt is counted (as a failure, until the password proves
    /// right): `attempt` is its number since the last success or lock.
    Counted {
        user: User,
        password_hash: String,
        attempt: u32,
    },
}

/// Counts a login attempt before the password is checked, so that parallel
/// guesses cannot slip past the lockout: each takes a number atomically.
pub async fn begin_login(pool: &PgPool, username: &str) -> Result<LoginAttempt, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE users
            SET failed_logins = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END,
                locked_until = NULL
          WHERE username = $1 AND (locked_until IS NULL OR locked_until <= now())
          RETURNING {USER_COLUMNS}, password_hash, failed_logins"
    )))
    .bind(username)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = row {
        return Ok(LoginAttempt::Counted {
            user: user_from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
            attempt: u32::try_from(row.try_get::<i32, _>("failed_logins")?).unwrap_or(u32::MAX),
        });
    }
    let locked: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT locked_until FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    Ok(match locked {
        Some(Some(until)) => LoginAttempt::Locked(until),
        _ => LoginAttempt::Unknown,
    })
}

/// Locks an account for `minutes`; the attempt count starts again after.
pub async fn lock_account(
    pool: &PgPool,
    id: Uuid,
    minutes: u32,
) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET failed_logins = 0, locked_until = now() + make_interval(mins => $2)
          WHERE id = $1 RETURNING locked_until",
    )
    .bind(id)
    .bind(minutes as i32)
    .fetch_one(pool)
    .await
}

/// A successful login clears the count.
pub async fn record_login(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
        .bind(id)
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
    .bind(scope.as_str())
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(user_from_row)
    .collect()
}

pub async fn current_password_hash(pool: &PgPool, id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// Sets a new password, lifts any lock, and so ends every token issued before.
pub async fn set_password(pool: &PgPool, id: Uuid, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = now(), failed_logins = 0, locked_until = NULL
          WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
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

/// A token is current while its user exists, it was not revoked, and it was
/// issued after the user's last password change (to the second).
pub async fn token_is_current(pool: &PgPool, caller: &Caller) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
            SELECT 1 FROM users u
             WHERE u.id = $1
               AND date_trunc('second', u.password_changed_at) <= to_timestamp($3)
               AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2))",
    )
    .bind(caller.user_id)
    .bind(caller.token_id)
    .bind(caller.issued_at as f64)
    .fetch_one(pool)
    .await
}
