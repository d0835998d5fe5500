//! What the official forms read (附件1, 附件2) and the hand-ins (上报).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use super::{FindingRow, LedgerRow, SectionRow};
use crate::error::Result;

/// Every ledger of a campaign under `prefix`, in unit-code order.
pub async fn ledgers_under(
    pool: &PgPool,
    campaign_id: Uuid,
    prefix: &UnitCode,
) -> Result<Vec<LedgerRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM ledgers WHERE campaign_id = $1 AND unit_code LIKE $2 ORDER BY unit_code",
        super::ledgers::LEDGER_COLUMNS
    )))
    .bind(campaign_id)
    .bind(prefix.subtree_pattern())
    .fetch_all(pool)
    .await?
    .iter()
    .map(super::ledgers::ledger_from_row)
    .collect()
}

/// The sections of several ledgers, by ledger, in problem order.
pub async fn sections_of(
    pool: &PgPool,
    ledgers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<SectionRow>>> {
    let rows = sqlx::query(
        "SELECT ledger_id, problem_seq, state, note, findings FROM sections
          WHERE ledger_id = ANY($1) ORDER BY ledger_id, problem_seq",
    )
    .bind(ledgers)
    .fetch_all(pool)
    .await?;
    let mut by_ledger: HashMap<Uuid, Vec<SectionRow>> = HashMap::new();
    for row in &rows {
        let ledger: Uuid = row.try_get("ledger_id")?;
        by_ledger
            .entry(ledger)
            .or_default()
            .push(super::ledgers::section_from_row(row)?);
    }
    Ok(by_ledger)
}

/// The findings of several ledgers, by ledger, in problem and 序号2 order.
pub async fn findings_of(
    pool: &PgPool,
    ledgers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<FindingRow>>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM findings WHERE ledger_id = ANY($1) ORDER BY ledger_id, problem_seq, seq",
        super::findings::FINDING_COLUMNS
    )))
    .bind(ledgers)
    .fetch_all(pool)
    .await?;
    let mut by_ledger: HashMap<Uuid, Vec<FindingRow>> = HashMap::new();
    for row in &rows {
        let finding = super::findings::finding_from_row(row)?;
        by_ledger
            .entry(finding.ledger_id)
            .or_default()
            .push(finding);
    }
    Ok(by_ledger)
}

/// How the ledgers under a prefix answered one problem.
#[derive(Debug, Clone, Default)]
pub struct ProblemTallyRow {
    pub problem_seq: i16,
    pub ledgers: i64,
    pub unanswered: i64,
    pub no_findings: i64,
    pub with_findings: i64,
    /// Findings by state: open, in_progress, submitted, verified, closed.
    pub states: HashMap<String, i64>,
}

/// Per problem, the sections and findings of a campaign under `prefix`: two
/// grouped scans, whatever the number of ledgers.
pub async fn problem_summary(
    pool: &PgPool,
    campaign_id: Uuid,
    prefix: &UnitCode,
) -> Result<Vec<ProblemTallyRow>> {
    let pattern = prefix.subtree_pattern();
    let sections = sqlx::query(
        "SELECT s.problem_seq, count(*) AS ledgers,
                count(*) FILTER (WHERE s.state = 'unanswered') AS unanswered,
                count(*) FILTER (WHERE s.state = 'no_findings') AS no_findings,
                count(*) FILTER (WHERE s.state = 'findings') AS with_findings
           FROM ledgers l JOIN sections s ON s.ledger_id = l.id
          WHERE l.campaign_id = $1 AND l.unit_code LIKE $2
          GROUP BY s.problem_seq ORDER BY s.problem_seq",
    )
    .bind(campaign_id)
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    let mut tallies = Vec::with_capacity(sections.len());
    for row in &sections {
        tallies.push(ProblemTallyRow {
            problem_seq: row.try_get("problem_seq")?,
            ledgers: row.try_get("ledgers")?,
            unanswered: row.try_get("unanswered")?,
            no_findings: row.try_get("no_findings")?,
            with_findings: row.try_get("with_findings")?,
            states: HashMap::new(),
        });
    }
    let findings = sqlx::query(
        "SELECT problem_seq, state, count(*) AS n FROM findings
          WHERE campaign_id = $1 AND unit_code LIKE $2 GROUP BY problem_seq, state",
    )
    .bind(campaign_id)
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    for row in &findings {
        let seq: i16 = row.try_get("problem_seq")?;
        if let Some(tally) = tallies.iter_mut().find(|t| t.problem_seq == seq) {
            tally
                .states
                .insert(row.try_get("state")?, row.try_get("n")?);
        }
    }
    Ok(tallies)
}

/// A hand-in (上报) of a ledger with its report.
#[derive(Debug, Clone)]
pub struct HandInRow {
    pub id: Uuid,
    pub ledger_id: Uuid,
    pub milestone_id: Option<Uuid>,
    pub note: String,
    pub file_name: String,
    pub declared_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub findings: i32,
    pub closed: i32,
    pub history_seq: i64,
    pub handed_in_by: String,
    pub handed_in_at: DateTime<Utc>,
}

pub async fn insert_hand_in(tx: &mut PgConnection, hand_in: &HandInRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO hand_ins (id, ledger_id, milestone_id, note, file_name, declared_type, content_type, size,
                               sha256, findings, closed, history_seq, handed_in_by, handed_in_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(hand_in.id)
    .bind(hand_in.ledger_id)
    .bind(hand_in.milestone_id)
    .bind(&hand_in.note)
    .bind(&hand_in.file_name)
    .bind(&hand_in.declared_type)
    .bind(&hand_in.content_type)
    .bind(hand_in.size)
    .bind(&hand_in.sha256)
    .bind(hand_in.findings)
    .bind(hand_in.closed)
    .bind(hand_in.history_seq)
    .bind(&hand_in.handed_in_by)
    .bind(hand_in.handed_in_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn list_hand_ins(pool: &PgPool, ledger_id: Uuid) -> Result<Vec<HandInRow>> {
    sqlx::query(
        "SELECT id, ledger_id, milestone_id, note, file_name, declared_type, content_type, size, sha256,
                findings, closed, history_seq, handed_in_by, handed_in_at
           FROM hand_ins WHERE ledger_id = $1 ORDER BY handed_in_at, id",
    )
    .bind(ledger_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(HandInRow {
            id: row.try_get("id")?,
            ledger_id: row.try_get("ledger_id")?,
            milestone_id: row.try_get("milestone_id")?,
            note: row.try_get("note")?,
            file_name: row.try_get("file_name")?,
            declared_type: row.try_get("declared_type")?,
            content_type: row.try_get("content_type")?,
            size: row.try_get("size")?,
            sha256: row.try_get("sha256")?,
            findings: row.try_get("findings")?,
            closed: row.try_get("closed")?,
            history_seq: row.try_get("history_seq")?,
            handed_in_by: row.try_get("handed_in_by")?,
            handed_in_at: row.try_get("handed_in_at")?,
        })
    })
    .collect()
}
