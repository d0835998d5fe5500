//! Campaigns, their fan-out, and the dashboard roll-up.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::domain::LedgerPlan;
use crate::error::Result;

/// A problem of the campaign's notice.
#[derive(Debug, Clone)]
pub struct CampaignProblem {
    pub seq: i16,
    pub problem_id: Uuid,
    pub title: String,
    pub aspect_seq: i16,
    pub aspect_name: String,
}

#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub id: Uuid,
    pub document_id: Uuid,
    pub doc_number: String,
    pub area: UnitCode,
    pub area_name: String,
    pub title: String,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: Uuid,
    pub document_id: Uuid,
    pub doc_number: String,
    pub area: UnitCode,
    pub area_name: String,
    pub title: String,
    pub ledger_count: i32,
    pub section_count: i64,
    pub problem_count: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Writes the campaign, its problems, a ledger per planned unit and a section
/// per ledger and problem, as three set-based statements: the sections are
/// made inside the server from the ledgers just written.
pub async fn insert_campaign(
    tx: &mut PgConnection,
    campaign: &NewCampaign,
    problems: &[CampaignProblem],
    ledgers: &[LedgerPlan],
) -> Result<(i32, i64)> {
    sqlx::query(
        "INSERT INTO campaigns (id, document_id, doc_number, area, area_name, title, ledger_count, section_count, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(campaign.id)
    .bind(campaign.document_id)
    .bind(&campaign.doc_number)
    .bind(campaign.area.as_str())
    .bind(&campaign.area_name)
    .bind(&campaign.title)
    .bind(ledgers.len() as i32)
    .bind((ledgers.len() * problems.len()) as i64)
    .bind(&campaign.created_by)
    .execute(&mut *tx)
    .await?;

    sqlx::query(
        "INSERT INTO campaign_problems (campaign_id, seq, problem_id, title, aspect_seq, aspect_name)
         SELECT $1, * FROM UNNEST($2::smallint[], $3::uuid[], $4::text[], $5::smallint[], $6::text[])",
    )
    .bind(campaign.id)
    .bind(problems.iter().map(|p| p.seq).collect::<Vec<_>>())
    .bind(problems.iter().map(|p| p.problem_id).collect::<Vec<_>>())
    .bind(problems.iter().map(|p| p.title.as_str()).collect::<Vec<_>>())
    .bind(problems.iter().map(|p| p.aspect_seq).collect::<Vec<_>>())
    .bind(problems.iter().map(|p| p.aspect_name.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    let ledger_count = sqlx::query(
        "INSERT INTO ledgers (id, campaign_id, unit_code, unit_name, unit_level, sections)
         SELECT gen_random_uuid(), $1, code, name, level, $5
           FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(code, name, level)",
    )
    .bind(campaign.id)
    .bind(ledgers.iter().map(|l| l.code.as_str()).collect::<Vec<_>>())
    .bind(ledgers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>())
    .bind(ledgers.iter().map(|l| l.level.as_str()).collect::<Vec<_>>())
    .bind(problems.len() as i32)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let section_count = sqlx::query(
        "INSERT INTO sections (ledger_id, problem_seq)
         SELECT l.id, p.seq FROM ledgers l CROSS JOIN campaign_problems p
          WHERE l.campaign_id = $1 AND p.campaign_id = $1",
    )
    .bind(campaign.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok((ledger_count as i32, section_count as i64))
}

pub async fn campaign_exists(pool: &PgPool, document_id: Uuid, area: &UnitCode) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM campaigns WHERE document_id = $1 AND area = $2)",
    )
    .bind(document_id)
    .bind(area.as_str())
    .fetch_one(pool)
    .await?)
}

const CAMPAIGN_COLUMNS: &str = "c.id, c.document_id, c.doc_number, c.area, c.area_name, c.title, c.ledger_count, c.section_count, c.created_at, c.created_by,
    (SELECT count(*) FROM campaign_problems p WHERE p.campaign_id = c.id) AS problem_count";

fn campaign_from_row(row: &sqlx::postgres::PgRow) -> Result<Campaign> {
    Ok(Campaign {
        id: row.try_get("id")?,
        document_id: row.try_get("document_id")?,
        doc_number: row.try_get("doc_number")?,
        area: super::unit_code(row.try_get("area")?)?,
        area_name: row.try_get("area_name")?,
        title: row.try_get("title")?,
        ledger_count: row.try_get("ledger_count")?,
        section_count: row.try_get("section_count")?,
        problem_count: row.try_get("problem_count")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

pub async fn get_campaign(pool: &PgPool, id: Uuid) -> Result<Option<Campaign>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(campaign_from_row)
    .transpose()
}

/// Campaigns whose area covers `unit` or lies within `scope`, newest first.
pub async fn list_campaigns(
    pool: &PgPool,
    scope: &UnitCode,
    unit: &UnitCode,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Campaign>> {
    let lineage: Vec<String> = unit.lineage().into_iter().map(String::from).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns c
          WHERE (c.area LIKE $1 OR c.area = ANY($2)) AND ($3::uuid IS NULL OR c.id < $3)
          ORDER BY c.id DESC LIMIT $4"
    )))
    .bind(scope.subtree_pattern())
    .bind(&lineage)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(campaign_from_row)
    .collect()
}

pub async fn campaign_problems(
    db: impl sqlx::PgExecutor<'_>,
    campaign_id: Uuid,
) -> Result<Vec<CampaignProblem>> {
    sqlx::query(
        "SELECT seq, problem_id, title, aspect_seq, aspect_name FROM campaign_problems
          WHERE campaign_id = $1 ORDER BY seq",
    )
    .bind(campaign_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|row| {
        Ok(CampaignProblem {
            seq: row.try_get("seq")?,
            problem_id: row.try_get("problem_id")?,
            title: row.try_get("title")?,
            aspect_seq: row.try_get("aspect_seq")?,
            aspect_name: row.try_get("aspect_name")?,
        })
    })
    .collect()
}

/// Counts of one part of a campaign.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub ledgers: i64,
    pub ledgers_complete: i64,
    pub sections: i64,
    pub sections_answered: i64,
    pub findings: i64,
    pub open: i64,
    pub in_progress: i64,
    pub submitted: i64,
    pub verified: i64,
    pub closed: i64,
    pub overdue: i64,
}

impl std::ops::AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, other: &Tally) {
        self.ledgers += other.ledgers;
        self.ledgers_complete += other.ledgers_complete;
        self.sections += other.sections;
        self.sections_answered += other.sections_answered;
        self.findings += other.findings;
        self.open += other.open;
        self.in_progress += other.in_progress;
        self.submitted += other.submitted;
        self.verified += other.verified;
        self.closed += other.closed;
        self.overdue += other.overdue;
    }
}

/// The roll-up of `unit`'s subtree in a campaign, by the child of `unit`
/// that each ledger lies under (the unit's own ledger under the unit itself).
/// Reads the counters kept on each ledger; only overdue findings are counted
/// from the findings, through a partial index.
pub async fn dashboard(
    pool: &PgPool,
    campaign_id: Uuid,
    unit: &UnitCode,
    today: NaiveDate,
) -> Result<Vec<(String, Tally)>> {
    // The child a code lies under: a department one level down is the
    // government code plus D and three digits; otherwise the next division.
    let child_len: i32 = match unit.as_str().len() {
        _ if unit.is_nation() => 2,
        2 => 4,
        4 => 6,
        6 => 9,
        _ => 12,
    };
    let rows = sqlx::query(
        "WITH overdue AS (
            SELECT ledger_id, count(*) AS overdue FROM findings
             WHERE campaign_id = $1 AND unit_code LIKE $4 AND state IN ('open', 'in_progress') AND due_on < $5
             GROUP BY ledger_id
        )
        SELECT CASE WHEN unit_code = $2 THEN $2
                    WHEN substr(unit_code, length($2) + 1, 1) = 'D' THEN left(unit_code, length($2) + 4)
                    ELSE left(unit_code, $3) END AS child,
               count(*) AS ledgers,
               count(*) FILTER (WHERE sections_answered = sections) AS ledgers_complete,
               sum(sections)::bigint AS sections, sum(sections_answered)::bigint AS sections_answered,
               sum(findings)::bigint AS findings, sum(open)::bigint AS open,
               sum(in_progress)::bigint AS in_progress, sum(submitted)::bigint AS submitted,
               sum(verified)::bigint AS verified, sum(closed)::bigint AS closed,
               COALESCE(sum(o.overdue), 0)::bigint AS overdue
          FROM ledgers l LEFT JOIN overdue o ON o.ledger_id = l.id
         WHERE l.campaign_id = $1 AND l.unit_code LIKE $4
         GROUP BY 1 ORDER BY 1",
    )
    .bind(campaign_id)
    .bind(unit.as_str())
    .bind(child_len)
    .bind(unit.subtree_pattern())
    .bind(today)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("child")?,
                Tally {
                    ledgers: row.try_get("ledgers")?,
                    ledgers_complete: row.try_get("ledgers_complete")?,
                    sections: row.try_get("sections")?,
                    sections_answered: row.try_get("sections_answered")?,
                    findings: row.try_get("findings")?,
                    open: row.try_get("open")?,
                    in_progress: row.try_get("in_progress")?,
                    submitted: row.try_get("submitted")?,
                    verified: row.try_get("verified")?,
                    closed: row.try_get("closed")?,
                    overdue: row.try_get("overdue")?,
                },
            ))
        })
        .collect()
}
