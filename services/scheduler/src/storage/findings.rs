use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::domain::rules::{DeadlineStatus, Lights};
use crate::error::Result;

/// A finding as a `finding.changed` event announces it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FindingChange {
    pub finding_id: Uuid,
    pub ledger_id: Uuid,
    pub campaign_id: Uuid,
    pub unit: String,
    pub unit_name: String,
    pub unit_level: String,
    pub problem_seq: i16,
    pub seq: i32,
    pub state: String,
    pub kind: String,
    pub due_on: Option<NaiveDate>,
    pub version: i64,
    /// What happened: created, updated, start, submit, verify, close, ...
    pub event: String,
    /// Every section of the ledger answered.
    #[serde(default)]
    pub complete: Option<bool>,
}

/// Keeps the newest version of a finding; false for an older one.
pub async fn upsert_finding(
    tx: &mut PgConnection,
    change: &FindingChange,
    at: DateTime<Utc>,
) -> Result<bool> {
    let applied = sqlx::query(
        "INSERT INTO findings (id, ledger_id, campaign_id, unit_code, unit_name, unit_level,
                               problem_seq, seq, kind, state, due_on, version, done_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 CASE WHEN $10 NOT IN ('open', 'in_progress') THEN $13::timestamptz END)
         ON CONFLICT (id) DO UPDATE
            SET kind = EXCLUDED.kind, state = EXCLUDED.state, due_on = EXCLUDED.due_on,
                version = EXCLUDED.version,
                done_at = CASE WHEN EXCLUDED.state NOT IN ('open', 'in_progress')
                               THEN coalesce(findings.done_at, EXCLUDED.done_at) END
          WHERE findings.version < EXCLUDED.version",
    )
    .bind(change.finding_id)
    .bind(change.ledger_id)
    .bind(change.campaign_id)
    .bind(&change.unit)
    .bind(&change.unit_name)
    .bind(&change.unit_level)
    .bind(change.problem_seq)
    .bind(change.seq)
    .bind(&change.kind)
    .bind(&change.state)
    .bind(change.due_on)
    .bind(change.version)
    .bind(at)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(applied == 1)
}

/// A deadline row with what the lights need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadlineRow {
    pub id: Uuid,
    pub ledger_id: Uuid,
    pub campaign_id: Uuid,
    pub unit_code: String,
    pub unit_name: String,
    pub unit_level: String,
    pub problem_seq: i16,
    pub seq: i32,
    pub kind: String,
    pub state: String,
    pub due_on: NaiveDate,
}

impl DeadlineRow {
    pub fn done(&self) -> bool {
        !super::PENDING_STATES.contains(&self.state.as_str())
    }
}

/// Which deadlines a list asks for.
#[derive(Debug, Clone)]
pub struct DeadlineFilter<'a> {
    /// Within this unit's subtree.
    pub unit: &'a UnitCode,
    /// One campaign's only.
    pub campaign: Option<Uuid>,
    /// One light only.
    pub status: Option<DeadlineStatus>,
    /// The (due_on, id) the page starts after.
    pub after: Option<(NaiveDate, Uuid)>,
}

/// Deadlines by due date, lit by each campaign's `lights` on `today`.
pub async fn list_deadlines(
    pool: &PgPool,
    filter: DeadlineFilter<'_>,
    today: NaiveDate,
    lights: &HashMap<Uuid, Lights>,
    limit: u32,
) -> Result<Vec<DeadlineRow>> {
    let DeadlineFilter {
        unit,
        campaign,
        status,
        after,
    } = filter;
    let status = status.map(|s| s.as_str());
    let (campaigns, soon_until): (Vec<Uuid>, Vec<NaiveDate>) =
        lights.iter().map(|(id, l)| (*id, l.soon_until)).unzip();
    let (after_due, after_id) = after.unzip();
    Ok(sqlx::query_as::<_, DeadlineRow>(
        "SELECT f.id, f.ledger_id, f.campaign_id, f.unit_code, f.unit_name, f.unit_level,
                f.problem_seq, f.seq, f.kind, f.state, f.due_on
           FROM findings f
           JOIN UNNEST($3::uuid[], $4::date[]) AS t(campaign_id, soon_until)
             ON t.campaign_id = f.campaign_id
          WHERE f.unit_code LIKE $1 AND f.due_on IS NOT NULL
            AND ($2::uuid IS NULL OR f.campaign_id = $2)
            AND CASE $5::text
                  WHEN 'done' THEN f.state NOT IN ('open', 'in_progress')
                  WHEN 'overdue' THEN f.state IN ('open', 'in_progress') AND f.due_on < $6
                  WHEN 'due_soon' THEN f.state IN ('open', 'in_progress')
                                   AND f.due_on >= $6 AND f.due_on <= t.soon_until
                  WHEN 'on_track' THEN f.state IN ('open', 'in_progress') AND f.due_on > t.soon_until
                  ELSE true END
            AND ($7::date IS NULL OR (f.due_on, f.id) > ($7, $8))
          ORDER BY f.due_on, f.id
          LIMIT $9",
    )
    .bind(unit.subtree_pattern())
    .bind(campaign)
    .bind(&campaigns)
    .bind(&soon_until)
    .bind(status)
    .bind(today)
    .bind(after_due)
    .bind(after_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?)
}

/// The distinct due dates of a campaign's pending findings.
pub async fn pending_due_dates(pool: &PgPool, campaign_id: Uuid) -> Result<Vec<NaiveDate>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT due_on FROM findings
          WHERE campaign_id = $1 AND state IN ('open', 'in_progress') AND due_on IS NOT NULL",
    )
    .bind(campaign_id)
    .fetch_all(pool)
    .await?)
}

/// A pending finding due on one of `dates`, with the unit above its unit.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingFinding {
    pub id: Uuid,
    pub ledger_id: Uuid,
    pub unit_code: String,
    pub unit_name: String,
    pub parent_code: Option<String>,
    pub problem_seq: i16,
    pub seq: i32,
    pub kind: String,
    pub due_on: NaiveDate,
}

pub async fn pending_findings(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    dates: &[NaiveDate],
) -> Result<Vec<PendingFinding>> {
    Ok(sqlx::query_as::<_, PendingFinding>(
        "SELECT f.id, f.ledger_id, f.unit_code, f.unit_name, l.parent_code, f.problem_seq,
                f.seq, f.kind, f.due_on
           FROM findings f LEFT JOIN ledgers l ON l.id = f.ledger_id
          WHERE f.campaign_id = $1 AND f.state IN ('open', 'in_progress')
            AND f.due_on = ANY($2)",
    )
    .bind(campaign_id)
    .bind(dates)
    .fetch_all(tx)
    .await?)
}
