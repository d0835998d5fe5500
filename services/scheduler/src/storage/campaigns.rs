use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::domain::milestone::{MilestoneDraft, MilestoneKind};
use crate::domain::rules::ReminderRules;
use crate::error::{Result, SchedulerError};

#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: Uuid,
    pub area: UnitCode,
    pub title: String,
    pub rules: ReminderRules,
}

type CampaignTuple = (Uuid, String, String, sqlx::types::Json<ReminderRules>);

fn campaign_row((id, area, title, rules): CampaignTuple) -> Result<CampaignRow> {
    Ok(CampaignRow {
        id,
        area: UnitCode::try_from(area.as_str())
            .map_err(|_| SchedulerError::Conflict(format!("campaign {id} has a bad area")))?,
        title,
        rules: rules.0,
    })
}

/// Records a campaign the ledger announced; false when it was known.
pub async fn insert_campaign(
    tx: &mut PgConnection,
    id: Uuid,
    document_id: Uuid,
    area: &str,
    title: &str,
    created_at: DateTime<Utc>,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO campaigns (id, document_id, area, title, rules, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(document_id)
    .bind(area)
    .bind(title)
    .bind(sqlx::types::Json(ReminderRules::default()))
    .bind(created_at)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn insert_milestones(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    drafts: &[MilestoneDraft],
) -> Result<()> {
    for draft in drafts {
        sqlx::query(
            "INSERT INTO milestones (id, campaign_id, seq, kind, title, due_on, owed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(campaign_id)
        .bind(draft.seq)
        .bind(draft.kind.as_str())
        .bind(draft.title)
        .bind(draft.due_on)
        .bind(draft.owed_by)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A campaign's ledger as the ledger service streams it.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub unit_code: String,
    pub unit_name: String,
    pub unit_level: String,
    pub parent_code: Option<String>,
    pub complete: bool,
}

pub async fn insert_ledgers(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    ledgers: &[LedgerEntry],
    at: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<Uuid> = ledgers.iter().map(|l| l.id).collect();
    let codes: Vec<&str> = ledgers.iter().map(|l| l.unit_code.as_str()).collect();
    let names: Vec<&str> = ledgers.iter().map(|l| l.unit_name.as_str()).collect();
    let levels: Vec<&str> = ledgers.iter().map(|l| l.unit_level.as_str()).collect();
    let parents: Vec<Option<&str>> = ledgers.iter().map(|l| l.parent_code.as_deref()).collect();
    let complete: Vec<bool> = ledgers.iter().map(|l| l.complete).collect();
    sqlx::query(
        "INSERT INTO ledgers (id, campaign_id, unit_code, unit_name, unit_level, parent_code,
                              complete, completed_at)
         SELECT id, $1, code, name, level, parent, complete, CASE WHEN complete THEN $8 END
           FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[])
             AS t(id, code, name, level, parent, complete)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(campaign_id)
    .bind(&ids)
    .bind(&codes)
    .bind(&names)
    .bind(&levels)
    .bind(&parents)
    .bind(&complete)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get_campaign(pool: &PgPool, id: Uuid) -> Result<Option<CampaignRow>> {
    sqlx::query_as::<_, CampaignTuple>("SELECT id, area, title, rules FROM campaigns WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(campaign_row)
        .transpose()
}

pub async fn all_campaigns(pool: &PgPool) -> Result<Vec<CampaignRow>> {
    sqlx::query_as::<_, CampaignTuple>("SELECT id, area, title, rules FROM campaigns ORDER BY id")
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(campaign_row)
        .collect()
}

pub async fn set_rules(pool: &PgPool, id: Uuid, rules: &ReminderRules) -> Result<()> {
    sqlx::query("UPDATE campaigns SET rules = $2 WHERE id = $1")
        .bind(id)
        .bind(sqlx::types::Json(rules))
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether every section of the ledger is answered, as of `at`.
pub async fn set_ledger_complete(
    tx: &mut PgConnection,
    ledger_id: Uuid,
    complete: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE ledgers SET complete = $2,
                completed_at = CASE WHEN $2 THEN coalesce(completed_at, $3) END
          WHERE id = $1",
    )
    .bind(ledger_id)
    .bind(complete)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    refresh_rectified(tx, ledger_id, at).await
}

/// 集中整改: a complete ledger whose every finding that is not long-term
/// was handed in for review; the time it first became so.
pub async fn refresh_rectified(
    tx: &mut PgConnection,
    ledger_id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE ledgers SET rectified_at = CASE
             WHEN complete AND NOT EXISTS (
                 SELECT 1 FROM findings f
                  WHERE f.ledger_id = $1 AND f.kind <> 'long_term'
                    AND f.state IN ('open', 'in_progress'))
             THEN coalesce(rectified_at, $2) END
          WHERE id = $1",
    )
    .bind(ledger_id)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn set_handed_in(
    tx: &mut PgConnection,
    ledger_id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE ledgers SET handed_in_at = coalesce(handed_in_at, $2) WHERE id = $1")
        .bind(ledger_id)
        .bind(at)
        .execute(tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub owed: i64,
    pub on_time: i64,
    pub late: i64,
    pub missing: i64,
    pub pending: i64,
}

#[derive(Debug, Clone)]
pub struct MilestoneRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub seq: i16,
    pub kind: MilestoneKind,
    pub title: String,
    pub due_on: Option<NaiveDate>,
    pub owed_by: Vec<String>,
    pub tally: Tally,
}

type MilestoneTuple = (
    Uuid,
    Uuid,
    i16,
    String,
    String,
    Option<NaiveDate>,
    Vec<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// A campaign's milestones, each tallied over the units of `unit`'s subtree
/// that owe it, as of `today`. A unit fulfils a milestone on the day (in
/// Asia/Shanghai) its ledger first met what the milestone asks.
pub async fn milestones(
    pool: &PgPool,
    campaign_id: Uuid,
    unit: &UnitCode,
    today: NaiveDate,
) -> Result<Vec<MilestoneRow>> {
    let rows = sqlx::query_as::<_, MilestoneTuple>(
        "SELECT m.id, m.campaign_id, m.seq, m.kind, m.title, m.due_on, m.owed_by,
                count(l.id),
                count(l.id) FILTER (WHERE (l.done AT TIME ZONE 'Asia/Shanghai')::date <= m.due_on),
                count(l.id) FILTER (WHERE (l.done AT TIME ZONE 'Asia/Shanghai')::date > m.due_on),
                count(l.id) FILTER (WHERE l.done IS NULL AND m.due_on < $3),
                count(l.id) FILTER (WHERE l.done IS NULL AND m.due_on >= $3)
           FROM milestones m
           LEFT JOIN LATERAL (
                SELECT id, CASE m.kind WHEN 'plan' THEN completed_at
                                       WHEN 'hand_in' THEN handed_in_at
                                       ELSE rectified_at END AS done
                  FROM ledgers
                 WHERE campaign_id = m.campaign_id AND unit_level = ANY(m.owed_by)
                   AND unit_code LIKE $2 AND m.due_on IS NOT NULL) l ON true
          WHERE m.campaign_id = $1
          GROUP BY m.id ORDER BY m.seq",
    )
    .bind(campaign_id)
    .bind(unit.subtree_pattern())
    .bind(today)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(
            |(
                id,
                campaign_id,
                seq,
                kind,
                title,
                due_on,
                owed_by,
                owed,
                on_time,
                late,
                missing,
                pending,
            )| {
                Ok(MilestoneRow {
                    id,
                    campaign_id,
                    seq,
                    kind: MilestoneKind::try_from(kind.as_str())
                        .map_err(SchedulerError::Conflict)?,
                    title,
                    due_on,
                    owed_by,
                    tally: Tally {
                        owed,
                        on_time,
                        late,
                        missing,
                        pending,
                    },
                })
            },
        )
        .collect()
}

pub async fn milestone_kind(
    pool: &PgPool,
    campaign_id: Uuid,
    id: Uuid,
) -> Result<Option<MilestoneKind>> {
    sqlx::query_scalar::<_, String>(
        "SELECT kind FROM milestones WHERE campaign_id = $1 AND id = $2",
    )
    .bind(campaign_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .map(|kind| MilestoneKind::try_from(kind.as_str()).map_err(SchedulerError::Conflict))
    .transpose()
}

pub async fn update_milestone(
    pool: &PgPool,
    campaign_id: Uuid,
    id: Uuid,
    title: Option<&str>,
    due_on: Option<NaiveDate>,
) -> Result<()> {
    sqlx::query(
        "UPDATE milestones SET title = coalesce($3, title), due_on = coalesce($4, due_on)
          WHERE campaign_id = $1 AND id = $2",
    )
    .bind(campaign_id)
    .bind(id)
    .bind(title)
    .bind(due_on)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn campaign_rules(tx: &mut PgConnection, id: Uuid) -> Result<ReminderRules> {
    Ok(sqlx::query_scalar::<_, sqlx::types::Json<ReminderRules>>(
        "SELECT rules FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?
    .map(|rules| rules.0)
    .unwrap_or_default())
}

/// The dated milestones that remind: (id, due date).
pub async fn dated_milestones(
    tx: &mut PgConnection,
    campaign_id: Uuid,
) -> Result<Vec<(Uuid, NaiveDate)>> {
    Ok(sqlx::query_as(
        "SELECT id, due_on FROM milestones
          WHERE campaign_id = $1 AND due_on IS NOT NULL AND kind <> 'continuing'",
    )
    .bind(campaign_id)
    .fetch_all(tx)
    .await?)
}
