use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Result;

/// Keeps the item keys not planned before; answers those.
pub async fn claim_item_keys(tx: &mut PgConnection, keys: &[String]) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO reminder_items (key) SELECT UNNEST($1::text[])
         ON CONFLICT (key) DO NOTHING RETURNING key",
    )
    .bind(keys)
    .fetch_all(tx)
    .await?)
}

/// Who holds new reminders, and for how long (milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub instance: &'a str,
    pub ms: i64,
}

/// Writes reminders claimed by `lease`'s instance (their first attempt).
pub async fn insert_reminders(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    reminders: &[ReminderRow],
    lease: Lease<'_>,
) -> Result<()> {
    let ids: Vec<Uuid> = reminders.iter().map(|r| r.id).collect();
    let recipients: Vec<&str> = reminders.iter().map(|r| r.recipient.as_str()).collect();
    let events: Vec<&str> = reminders.iter().map(|r| r.event.as_str()).collect();
    let variables: Vec<&str> = reminders.iter().map(|r| r.variables.as_str()).collect();
    let quiet: Vec<Option<DateTime<Utc>>> = reminders.iter().map(|r| r.quiet_until).collect();
    let planned: Vec<DateTime<Utc>> = reminders.iter().map(|r| r.planned_for).collect();
    sqlx::query(
        "INSERT INTO reminders (id, campaign_id, recipient, event, variables, quiet_until, planned_for,
                                claimed_by, lease_until, attempts)
         SELECT id, $1, recipient, event, variables, quiet_until, planned_for,
                $8, now() + $9 * interval '1 millisecond', 1
           FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
             AS t(id, recipient, event, variables, quiet_until, planned_for)",
    )
    .bind(campaign_id)
    .bind(&ids)
    .bind(&recipients)
    .bind(&events)
    .bind(&variables)
    .bind(&quiet)
    .bind(&planned)
    .bind(lease.instance)
    .bind(lease.ms as f64)
    .execute(tx)
    .await?;
    Ok(())
}

/// Renews the planner's statistics of the reminder queue (ANALYZE).
pub async fn restate_reminders(pool: &PgPool) -> Result<()> {
    sqlx::query("ANALYZE reminders").execute(pool).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderRow {
    pub id: Uuid,
    pub recipient: String,
    pub event: String,
    /// The variables as JSON text, passed on to the notifier as they are.
    pub variables: String,
    pub quiet_until: Option<DateTime<Utc>>,
    pub planned_for: DateTime<Utc>,
}

/// Claims up to `limit` unsent reminders for `lease`'s instance until the
/// lease ends: those nobody holds, and those whose holder's lease ran out
/// (it died mid-batch). Rows another instance is claiming are skipped.
pub async fn claim_reminders(
    pool: &PgPool,
    lease: Lease<'_>,
    limit: i64,
) -> Result<Vec<ReminderRow>> {
    Ok(sqlx::query_as::<_, ReminderRow>(
        "UPDATE reminders r
            SET claimed_by = $1, lease_until = now() + $2 * interval '1 millisecond',
                attempts = attempts + 1
           FROM (SELECT id FROM reminders
                  WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until < now())
                  ORDER BY created_at, id
                  LIMIT $3 FOR UPDATE SKIP LOCKED) due
          WHERE r.id = due.id
      RETURNING r.id, r.recipient, r.event, r.variables, r.quiet_until, r.planned_for",
    )
    .bind(lease.instance)
    .bind(lease.ms as f64)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The notifier acknowledged them: done, if the lease is still ours.
pub async fn mark_sent(pool: &PgPool, instance: &str, ids: &[Uuid]) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE reminders SET sent_at = now(), lease_until = NULL
          WHERE id = ANY($1) AND claimed_by = $2 AND sent_at IS NULL",
    )
    .bind(ids)
    .bind(instance)
    .execute(pool)
    .await?
    .rows_affected())
}

/// The notifier failed: try again after `retry_ms`.
pub async fn release(pool: &PgPool, instance: &str, ids: &[Uuid], retry_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE reminders SET lease_until = now() + $3 * interval '1 millisecond'
          WHERE id = ANY($1) AND claimed_by = $2 AND sent_at IS NULL",
    )
    .bind(ids)
    .bind(instance)
    .bind(retry_ms as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// A ledger that owes a milestone and has not fulfilled it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwingLedger {
    pub milestone_id: Uuid,
    pub title: String,
    pub due_on: NaiveDate,
    pub ledger_id: Uuid,
    pub unit_code: String,
    pub unit_name: String,
}

/// The units that still owe the campaign's dated milestones.
pub async fn owing_ledgers(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    milestones: &[Uuid],
) -> Result<Vec<OwingLedger>> {
    Ok(sqlx::query_as::<_, OwingLedger>(
        "SELECT m.id AS milestone_id, m.title, m.due_on, l.id AS ledger_id, l.unit_code, l.unit_name
           FROM milestones m
           JOIN ledgers l ON l.campaign_id = m.campaign_id AND l.unit_level = ANY(m.owed_by)
          WHERE m.campaign_id = $1 AND m.id = ANY($2) AND m.due_on IS NOT NULL
            AND CASE m.kind WHEN 'plan' THEN l.completed_at
                            WHEN 'hand_in' THEN l.handed_in_at
                            ELSE l.rectified_at END IS NULL",
    )
    .bind(campaign_id)
    .bind(milestones)
    .fetch_all(tx)
    .await?)
}
