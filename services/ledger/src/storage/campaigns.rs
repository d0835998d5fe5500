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

/// Writes the campaign and its problems; [`insert_ledgers`] then writes its
/// ledgers a chunk at a time, and [`insert_sections`] their sections and the
/// counts, all in the caller's transaction.
pub async fn insert_campaign(
    tx: &mut PgConnection,
    campaign: &NewCampaign,
    problems: &[CampaignProblem],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO campaigns (id, document_id, doc_number, area, area_name, title, ledger_count, section_count, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7)",
    )
    .bind(campaign.id)
    .bind(campaign.document_id)
    .bind(&campaign.doc_number)
    .bind(campaign.area.as_str())
    .bind(&campaign.area_name)
    .bind(&campaign.title)
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
    Ok(())
}

/// A ledger per planned unit, in one set-based statement: how many.
pub async fn insert_ledgers(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    sections_each: usize,
    ledgers: &[LedgerPlan],
) -> Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO ledgers (id, campaign_id, unit_code, unit_name, unit_level, sections)
         SELECT gen_random_uuid(), $1, code, name, level, $5
           FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(code, name, level)",
    )
    .bind(campaign_id)
    .bind(ledgers.iter().map(|l| l.code.as_str()).collect::<Vec<_>>())
    .bind(ledgers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>())
    .bind(ledgers.iter().map(|l| l.level.as_str()).collect::<Vec<_>>())
    .bind(sections_each as i32)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// The units between the area and its ledgers' units (cities, counties), by
/// name, for the campaign's dashboards.
pub async fn insert_campaign_units(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    units: &[LedgerPlan],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO campaign_units (campaign_id, code, name, level)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[])",
    )
    .bind(campaign_id)
    .bind(units.iter().map(|u| u.code.as_str()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.level.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A section per ledger and problem, made inside the server from the ledgers
/// written; records the campaign's counts and answers the sections'.
pub async fn insert_sections(
    tx: &mut PgConnection,
    campaign_id: Uuid,
    ledger_count: i32,
) -> Result<i64> {
    let section_count = sqlx::query(
        "INSERT INTO sections (ledger_id, problem_seq)
         SELECT l.id, p.seq FROM ledgers l CROSS JOIN campaign_problems p
          WHERE l.campaign_id = $1 AND p.campaign_id = $1",
    )
    .bind(campaign_id)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    sqlx::query("UPDATE campaigns SET ledger_count = $2, section_count = $3 WHERE id = $1")
        .bind(campaign_id)
        .bind(ledger_count)
        .bind(section_count)
        .execute(&mut *tx)
        .await?;
    Ok(section_count)
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
/// Above the townships it sums `campaign_tallies` (the counters per township
/// that triggers keep); a township or a department sums its own ledgers.
/// Overdue findings are counted from the findings, through a partial index.
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
    let by_township = unit.is_nation() || (!unit.is_department() && unit.as_str().len() <= 6);
    let (key, source, ledgers, complete) = if by_township {
        (
            "area_key",
            "campaign_tallies",
            "sum(ledgers)",
            "sum(ledgers_complete)",
        )
    } else {
        (
            "unit_code",
            "ledgers",
            "count(*)",
            "count(*) FILTER (WHERE sections_answered = sections)",
        )
    };
    let child = |column: &str| {
        format!(
            "CASE WHEN {column} = $2 THEN $2
                  WHEN substr({column}, length($2) + 1, 1) = 'D' THEN left({column}, length($2) + 4)
                  ELSE left({column}, $3) END"
        )
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH tallies AS (
            SELECT {child_of_key} AS child,
                   {ledgers}::bigint AS ledgers, {complete}::bigint AS ledgers_complete,
                   sum(sections)::bigint AS sections, sum(sections_answered)::bigint AS sections_answered,
                   sum(findings)::bigint AS findings, sum(open)::bigint AS open,
                   sum(in_progress)::bigint AS in_progress, sum(submitted)::bigint AS submitted,
                   sum(verified)::bigint AS verified, sum(closed)::bigint AS closed
              FROM {source} WHERE campaign_id = $1 AND {key} LIKE $4
             GROUP BY 1
        ), overdue AS (
            SELECT {child_of_unit} AS child, count(*) AS overdue FROM findings
             WHERE campaign_id = $1 AND unit_code LIKE $4 AND state IN ('open', 'in_progress') AND due_on < $5
             GROUP BY 1
        )
        SELECT t.*, COALESCE(o.overdue, 0)::bigint AS overdue
          FROM tallies t LEFT JOIN overdue o USING (child)
         ORDER BY child",
        child_of_key = child(key),
        child_of_unit = child("unit_code"),
    )))
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
