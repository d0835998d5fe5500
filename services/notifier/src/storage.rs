//! The notifier's SQL.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::channels::Channels;
use crate::error::Result;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A request to notify, read and checked.
#[derive(Debug, Clone)]
pub struct Request {
    pub dedupe_key: String,
    pub event: String,
    pub unit: String,
    /// A JSON object, as text (checked, then parsed once, by PostgreSQL).
    pub variables: String,
    pub quiet_until: Option<DateTime<Utc>>,
    pub occurred_at: DateTime<Utc>,
}

/// Keeps the requests whose keys are new, each with one delivery per
/// channel target its unit has now; a key seen before only counts a
/// repeat. Answers how many were new.
pub async fn accept(
    tx: &mut PgConnection,
    requested_by: &str,
    requests: Vec<Request>,
) -> Result<u32> {
    let mut seen = std::collections::HashSet::new();
    let requests: Vec<Request> = requests
        .into_iter()
        .filter(|r| seen.insert(r.dedupe_key.clone()))
        .collect();
    let ids: Vec<Uuid> = requests.iter().map(|_| Uuid::now_v7()).collect();
    let keys: Vec<&str> = requests.iter().map(|r| r.dedupe_key.as_str()).collect();
    let events: Vec<&str> = requests.iter().map(|r| r.event.as_str()).collect();
    let units: Vec<&str> = requests.iter().map(|r| r.unit.as_str()).collect();
    let variables: Vec<&str> = requests.iter().map(|r| r.variables.as_str()).collect();
    let quiet: Vec<Option<DateTime<Utc>>> = requests.iter().map(|r| r.quiet_until).collect();
    let occurred: Vec<DateTime<Utc>> = requests.iter().map(|r| r.occurred_at).collect();
    let new: Vec<(Uuid, String)> = sqlx::query_as(
        "INSERT INTO notifications (id, dedupe_key, event, unit, variables, quiet_until, occurred_at, requested_by)
         SELECT id, dedupe_key, event, unit, variables::jsonb, quiet_until, occurred_at, $8
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::timestamptz[])
             AS t(id, dedupe_key, event, unit, variables, quiet_until, occurred_at)
         ON CONFLICT (dedupe_key) DO NOTHING
         RETURNING id, unit",
    )
    .bind(&ids)
    .bind(&keys)
    .bind(&events)
    .bind(&units)
    .bind(&variables)
    .bind(&quiet)
    .bind(&occurred)
    .bind(requested_by)
    .fetch_all(&mut *tx)
    .await?;
    if new.len() < requests.len() {
        let fresh: std::collections::HashSet<Uuid> = new.iter().map(|(id, _)| *id).collect();
        let repeated: Vec<&str> = ids
            .iter()
            .zip(&keys)
            .filter(|(id, _)| !fresh.contains(id))
            .map(|(_, key)| *key)
            .collect();
        sqlx::query("UPDATE notifications SET repeats = repeats + 1 WHERE dedupe_key = ANY($1)")
            .bind(&repeated)
            .execute(&mut *tx)
            .await?;
    }
    // One delivery per target of each new notification's unit.
    let mut wanted: Vec<&str> = new.iter().map(|(_, unit)| unit.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let configs: Vec<(String, sqlx::types::Json<Channels>)> =
        sqlx::query_as("SELECT unit, config FROM channels WHERE unit = ANY($1)")
            .bind(&wanted)
            .fetch_all(&mut *tx)
            .await?;
    let configs: std::collections::HashMap<String, Channels> =
        configs.into_iter().map(|(unit, c)| (unit, c.0)).collect();
    let (mut delivery_ids, mut notification_ids, mut channels, mut targets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, unit) in &new {
        if let Some(config) = configs.get(unit) {
            for (channel, target) in config.targets() {
                delivery_ids.push(Uuid::now_v7());
                notification_ids.push(*id);
                channels.push(channel);
                targets.push(target);
            }
        }
    }
    if !delivery_ids.is_empty() {
        sqlx::query(
            "INSERT INTO deliveries (id, notification_id, channel, target)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[])",
        )
        .bind(&delivery_ids)
        .bind(&notification_ids)
        .bind(&channels)
        .bind(&targets)
        .execute(&mut *tx)
        .await?;
    }
    Ok(new.len() as u32)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: Uuid,
    pub event: String,
    pub unit: String,
    pub variables: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A unit's notifications, newest first, with `user`'s read state.
pub async fn inbox(
    pool: &PgPool,
    unit: &str,
    user: Uuid,
    unread_only: bool,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<InboxRow>> {
    let (before_at, before_id) = before.unzip();
    Ok(sqlx::query_as::<_, InboxRow>(
        "SELECT n.id, n.event, n.unit, n.variables, n.occurred_at, r.read_at
           FROM notifications n
           LEFT JOIN inbox_reads r ON r.notification_id = n.id AND r.user_id = $2
          WHERE n.unit = $1 AND (NOT $3 OR r.read_at IS NULL)
            AND ($4::timestamptz IS NULL OR (n.occurred_at, n.id) < ($4, $5))
          ORDER BY n.occurred_at DESC, n.id DESC LIMIT $6",
    )
    .bind(unit)
    .bind(user)
    .bind(unread_only)
    .bind(before_at)
    .bind(before_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?)
}

pub async fn unread(pool: &PgPool, unit: &str, user: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM notifications n
          WHERE n.unit = $1 AND NOT EXISTS (
                SELECT 1 FROM inbox_reads r WHERE r.notification_id = n.id AND r.user_id = $2)",
    )
    .bind(unit)
    .bind(user)
    .fetch_one(pool)
    .await?)
}

pub async fn mark_read(pool: &PgPool, id: Uuid, user: Uuid) -> Result<()> {
    sqlx::query(
        "INSERT INTO inbox_reads (notification_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(user)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn inbox_item(pool: &PgPool, id: Uuid, user: Uuid) -> Result<Option<InboxRow>> {
    Ok(sqlx::query_as::<_, InboxRow>(
        "SELECT n.id, n.event, n.unit, n.variables, n.occurred_at, r.read_at
           FROM notifications n
           LEFT JOIN inbox_reads r ON r.notification_id = n.id AND r.user_id = $2
          WHERE n.id = $1",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await?)
}

pub type StoredChannels = (Channels, DateTime<Utc>, String);

pub async fn channels(pool: &PgPool, unit: &str) -> Result<Option<StoredChannels>> {
    Ok(
        sqlx::query_as::<_, (sqlx::types::Json<Channels>, DateTime<Utc>, String)>(
            "SELECT config, updated_at, updated_by FROM channels WHERE unit = $1",
        )
        .bind(unit)
        .fetch_optional(pool)
        .await?
        .map(|(config, at, by)| (config.0, at, by)),
    )
}

pub async fn put_channels(pool: &PgPool, unit: &str, channels: &Channels, by: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO channels (unit, config, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (unit) DO UPDATE SET config = $2, updated_by = $3, updated_at = now()",
    )
    .bind(unit)
    .bind(sqlx::types::Json(channels))
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub channel: String,
    pub target: serde_json::Value,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub error: String,
    pub duration_ms: i32,
}

pub async fn notification_unit(pool: &PgPool, id: Uuid) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT event, unit FROM notifications WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn deliveries(
    pool: &PgPool,
    notification: Uuid,
) -> Result<(Vec<DeliveryRow>, Vec<AttemptRow>)> {
    let deliveries = sqlx::query_as::<_, DeliveryRow>(
        "SELECT id, channel, target, state, attempts, next_attempt_at, last_error
           FROM deliveries WHERE notification_id = $1 ORDER BY channel, id",
    )
    .bind(notification)
    .fetch_all(pool)
    .await?;
    let attempts = sqlx::query_as::<_, AttemptRow>(
        "SELECT a.delivery_id, a.attempt, a.at, a.outcome, a.error, a.duration_ms
           FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
          WHERE d.notification_id = $1 ORDER BY a.delivery_id, a.attempt",
    )
    .bind(notification)
    .fetch_all(pool)
    .await?;
    Ok((deliveries, attempts))
}

/// A delivery claimed for sending, with what it tells.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub channel: String,
    pub target: serde_json::Value,
    pub attempts: i32,
    pub event: String,
    pub unit: String,
    pub variables: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// Claims due deliveries for `instance` until the lease ends; deliveries
/// in their notification's quiet hours (by the service's clock, `now`) wait.
pub async fn claim_deliveries(
    pool: &PgPool,
    instance: &str,
    lease_ms: i64,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>> {
    Ok(sqlx::query_as::<_, Claimed>(
        "UPDATE deliveries d
            SET claimed_by = $1, lease_until = now() + $2 * interval '1 millisecond',
                attempts = d.attempts + 1
           FROM (SELECT d.id FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                  WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                    AND (d.lease_until IS NULL OR d.lease_until < now())
                    AND (n.quiet_until IS NULL OR n.quiet_until <= $3)
                  ORDER BY d.next_attempt_at LIMIT $4
                  FOR UPDATE OF d SKIP LOCKED) due,
                notifications n
          WHERE d.id = due.id AND n.id = d.notification_id
      RETURNING d.id, d.notification_id, d.channel, d.target, d.attempts, n.event, n.unit,
                n.variables, n.occurred_at",
    )
    .bind(instance)
    .bind(lease_ms as f64)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// What one attempt came to.
pub enum Outcome {
    Delivered,
    /// Try again after the delay.
    Retry(std::time::Duration, String),
    /// Given up: visible to operators as failed.
    Failed(String),
}

/// Records a batch of attempts in one transaction: each delivery's state,
/// and its attempt, where the lease is still ours.
pub async fn record_attempts(
    pool: &PgPool,
    instance: &str,
    results: &[(Claimed, Outcome, i32)],
) -> Result<()> {
    let mut ids = Vec::with_capacity(results.len());
    let mut attempts = Vec::with_capacity(results.len());
    let mut states = Vec::with_capacity(results.len());
    let mut errors = Vec::with_capacity(results.len());
    let mut delays = Vec::with_capacity(results.len());
    let mut durations = Vec::with_capacity(results.len());
    for (delivery, outcome, duration_ms) in results {
        let (state, error, delay_ms) = match outcome {
            Outcome::Delivered => ("delivered", "", 0.0),
            Outcome::Retry(delay, error) => ("pending", error.as_str(), delay.as_millis() as f64),
            Outcome::Failed(error) => ("failed", error.as_str(), 0.0),
        };
        ids.push(delivery.id);
        attempts.push(delivery.attempts);
        states.push(state);
        errors.push(error);
        delays.push(delay_ms);
        durations.push(*duration_ms);
    }
    let mut tx = pool.begin().await?;
    let ours: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE deliveries d
            SET state = t.state, last_error = t.error, lease_until = NULL,
                next_attempt_at = now() + t.delay * interval '1 millisecond',
                delivered_at = CASE WHEN t.state = 'delivered' THEN now() END
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::float8[]) AS t(id, state, error, delay)
          WHERE d.id = t.id AND d.claimed_by = $5
      RETURNING d.id",
    )
    .bind(&ids)
    .bind(&states)
    .bind(&errors)
    .bind(&delays)
    .bind(instance)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, attempt, outcome, error, duration_ms)
         SELECT id, attempt, CASE WHEN state = 'delivered' THEN 'delivered' ELSE 'failed' END, error, duration
           FROM UNNEST($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[])
             AS t(id, attempt, state, error, duration)
          WHERE id = ANY($6)
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(&states)
    .bind(&errors)
    .bind(&durations)
    .bind(&ours)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
