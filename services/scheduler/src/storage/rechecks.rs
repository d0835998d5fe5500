use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::error::Result;

/// Schedules the re-checks of a finding closed at `closed_version`.
pub async fn schedule_rechecks(
    tx: &mut PgConnection,
    finding_id: Uuid,
    closed_version: i64,
    due: &[NaiveDate],
) -> Result<()> {
    for (round, due_on) in due.iter().enumerate() {
        sqlx::query(
            "INSERT INTO rechecks (id, finding_id, closed_version, round, due_on)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(finding_id)
        .bind(closed_version)
        .bind(round as i16 + 1)
        .bind(due_on)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A reopened finding needs no re-check until it is closed again.
pub async fn cancel_rechecks(tx: &mut PgConnection, finding_id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE rechecks SET status = 'cancelled' WHERE finding_id = $1 AND status = 'scheduled'",
    )
    .bind(finding_id)
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecheckRow {
    pub id: Uuid,
    pub finding_id: Uuid,
    pub ledger_id: Uuid,
    pub campaign_id: Uuid,
    pub unit_code: String,
    pub unit_name: String,
    pub unit_level: String,
    pub problem_seq: i16,
    pub seq: i32,
    pub round: i16,
    pub due_on: NaiveDate,
    pub status: String,
    pub note: String,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

const RECHECK_COLUMNS: &str = "r.id, r.finding_id, f.ledger_id, f.campaign_id, f.unit_code,
    f.unit_name, f.unit_level, f.problem_seq, f.seq, r.round, r.due_on, r.status, r.note,
    r.recorded_by, r.recorded_at";

/// Re-checks in `unit`'s subtree by due date; `due` selects scheduled ones
/// due by `today`, `scheduled` those not yet due.
pub async fn list_rechecks(
    pool: &PgPool,
    unit: &UnitCode,
    status: Option<&str>,
    today: NaiveDate,
    after: Option<(NaiveDate, Uuid)>,
    limit: u32,
) -> Result<Vec<RecheckRow>> {
    let (after_due, after_id) = after.unzip();
    Ok(sqlx::query_as::<_, RecheckRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECHECK_COLUMNS} FROM rechecks r JOIN findings f ON f.id = r.finding_id
          WHERE f.unit_code LIKE $1
            AND CASE $2::text
                  WHEN 'due' THEN r.status = 'scheduled' AND r.due_on <= $3
                  WHEN 'scheduled' THEN r.status = 'scheduled' AND r.due_on > $3
                  WHEN '' THEN true
                  ELSE r.status = $2 END
            AND ($4::date IS NULL OR (r.due_on, r.id) > ($4, $5))
          ORDER BY r.due_on, r.id LIMIT $6"
    )))
    .bind(unit.subtree_pattern())
    .bind(status.unwrap_or_default())
    .bind(today)
    .bind(after_due)
    .bind(after_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?)
}

pub async fn lock_recheck(tx: &mut PgConnection, id: Uuid) -> Result<Option<RecheckRow>> {
    Ok(sqlx::query_as::<_, RecheckRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECHECK_COLUMNS} FROM rechecks r JOIN findings f ON f.id = r.finding_id
          WHERE r.id = $1 FOR UPDATE OF r"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?)
}

pub async fn record_recheck(
    tx: &mut PgConnection,
    id: Uuid,
    status: &str,
    note: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE rechecks SET status = $2, note = $3, recorded_by = $4, recorded_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(note)
    .bind(by)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Re-checks due by `today` that nobody has recorded, with their unit.
pub async fn due_rechecks(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    today: NaiveDate,
) -> Result<Vec<RecheckRow>> {
    Ok(sqlx::query_as::<_, RecheckRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECHECK_COLUMNS} FROM rechecks r JOIN findings f ON f.id = r.finding_id
          WHERE f.campaign_id = $1 AND r.status = 'scheduled' AND r.due_on <= $2"
    )))
    .bind(campaign_id)
    .bind(today)
    .fetch_all(tx)
    .await?)
}
