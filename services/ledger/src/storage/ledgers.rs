//! Ledgers and their sections.

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::domain::SectionState;
use crate::error::Result;

/// A ledger with its counters.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub unit_code: UnitCode,
    pub unit_name: String,
    pub unit_level: String,
    pub sections: i32,
    pub sections_answered: i32,
    pub findings: i32,
    pub closed: i32,
    pub version: i64,
    pub head_seq: i64,
    pub head_digest: Option<Vec<u8>>,
}

impl LedgerRow {
    pub fn complete(&self) -> bool {
        self.sections_answered == self.sections
    }
}

pub(super) const LEDGER_COLUMNS: &str = "id, campaign_id, unit_code, unit_name, unit_level, sections, sections_answered, findings, closed, version, head_seq, head_digest";

pub(super) fn ledger_from_row(row: &sqlx::postgres::PgRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        unit_code: super::unit_code(row.try_get("unit_code")?)?,
        unit_name: row.try_get("unit_name")?,
        unit_level: row.try_get("unit_level")?,
        sections: row.try_get("sections")?,
        sections_answered: row.try_get("sections_answered")?,
        findings: row.try_get("findings")?,
        closed: row.try_get("closed")?,
        version: row.try_get("version")?,
        head_seq: row.try_get("head_seq")?,
        head_digest: row.try_get("head_digest")?,
    })
}

pub async fn get_ledger(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<LedgerRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLUMNS} FROM ledgers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(ledger_from_row)
    .transpose()
}

/// Locks a ledger for a change: every change of a ledger (and of its
/// findings) takes this lock first, so the history chain stays a line.
pub async fn lock_ledger(tx: &mut PgConnection, id: Uuid) -> Result<Option<LedgerRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLUMNS} FROM ledgers WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?
    .as_ref()
    .map(ledger_from_row)
    .transpose()
}

/// Ledgers under `prefix` (optionally of one campaign), in campaign and code
/// order, after the cursor `(campaign, code)`.
pub async fn list_ledgers(
    pool: &PgPool,
    campaign_id: Option<Uuid>,
    prefix: &UnitCode,
    after: Option<(Uuid, String)>,
    limit: u32,
) -> Result<Vec<LedgerRow>> {
    let (after_campaign, after_code) = after.unzip();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLUMNS} FROM ledgers
          WHERE ($1::uuid IS NULL OR campaign_id = $1) AND unit_code LIKE $2
            AND ($3::uuid IS NULL OR (campaign_id, unit_code) > ($3, $4::text COLLATE \"C\"))
          ORDER BY campaign_id, unit_code LIMIT $5"
    )))
    .bind(campaign_id)
    .bind(prefix.subtree_pattern())
    .bind(after_campaign)
    .bind(after_code)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(ledger_from_row)
    .collect()
}

/// A section of a ledger.
#[derive(Debug, Clone)]
pub struct SectionRow {
    pub problem_seq: i16,
    pub state: SectionState,
    pub note: String,
    pub findings: i32,
}

pub(super) fn section_from_row(row: &sqlx::postgres::PgRow) -> Result<SectionRow> {
    let state: String = row.try_get("state")?;
    Ok(SectionRow {
        problem_seq: row.try_get("problem_seq")?,
        state: state.parse().map_err(super::corrupt)?,
        note: row.try_get("note")?,
        findings: row.try_get("findings")?,
    })
}

pub async fn sections(db: impl sqlx::PgExecutor<'_>, ledger_id: Uuid) -> Result<Vec<SectionRow>> {
    sqlx::query(
        "SELECT problem_seq, state, note, findings FROM sections WHERE ledger_id = $1 ORDER BY problem_seq",
    )
    .bind(ledger_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(section_from_row)
    .collect()
}

pub async fn section(
    tx: &mut PgConnection,
    ledger_id: Uuid,
    problem_seq: i16,
) -> Result<Option<SectionRow>> {
    sqlx::query(
        "SELECT problem_seq, state, note, findings FROM sections WHERE ledger_id = $1 AND problem_seq = $2",
    )
    .bind(ledger_id)
    .bind(problem_seq)
    .fetch_optional(tx)
    .await?
    .as_ref()
    .map(section_from_row)
    .transpose()
}

/// Sets a section's answer and keeps the ledger's answered count.
pub async fn set_section(
    tx: &mut PgConnection,
    ledger: &mut LedgerRow,
    problem_seq: i16,
    before: SectionState,
    state: SectionState,
    note: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE sections SET state = $3, note = $4 WHERE ledger_id = $1 AND problem_seq = $2",
    )
    .bind(ledger.id)
    .bind(problem_seq)
    .bind(state.as_str())
    .bind(note)
    .execute(&mut *tx)
    .await?;
    let answered = |s: SectionState| i32::from(s != SectionState::Unanswered);
    let delta = answered(state) - answered(before);
    if delta != 0 {
        sqlx::query("UPDATE ledgers SET sections_answered = sections_answered + $2 WHERE id = $1")
            .bind(ledger.id)
            .bind(delta)
            .execute(&mut *tx)
            .await?;
        ledger.sections_answered += delta;
    }
    Ok(())
}

/// Code, name and level of the units among `codes` that the campaign knows:
/// its ledgers' units and the units between them.
pub async fn ledger_units(
    pool: &PgPool,
    campaign_id: Uuid,
    codes: &[String],
) -> Result<Vec<(String, String, String)>> {
    sqlx::query(
        "SELECT unit_code, unit_name, unit_level FROM ledgers WHERE campaign_id = $1 AND unit_code = ANY($2)
         UNION ALL
         SELECT code, name, level FROM campaign_units WHERE campaign_id = $1 AND code = ANY($2)",
    )
        .bind(campaign_id)
        .bind(codes)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("unit_code")?,
                row.try_get("unit_name")?,
                row.try_get("unit_level")?,
            ))
        })
        .collect()
}

/// A campaign's ledger as peers hear of it: (id, unit code, unit name, unit
/// level, every section answered).
pub type CampaignLedgerRow = (Uuid, String, String, String, bool);

/// Every ledger of a campaign, in batches of `batch` sent to `sink` as they
/// are read; stops early when the receiver goes away.
pub async fn stream_campaign_ledgers(
    pool: &PgPool,
    campaign_id: Uuid,
    batch: usize,
    sink: tokio::sync::mpsc::Sender<Result<Vec<CampaignLedgerRow>>>,
) {
    use futures::TryStreamExt as _;
    let mut rows = sqlx::query_as::<_, CampaignLedgerRow>(
        "SELECT id, unit_code, unit_name, unit_level, sections_answered = sections
           FROM ledgers WHERE campaign_id = $1 ORDER BY unit_code",
    )
    .bind(campaign_id)
    .fetch(pool);
    let mut ledgers = Vec::with_capacity(batch);
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => ledgers.push(row),
            Ok(None) => break,
            Err(error) => {
                let _ = sink.send(Err(error.into())).await;
                return;
            }
        }
        if ledgers.len() == batch && sink.send(Ok(std::mem::take(&mut ledgers))).await.is_err() {
            return;
        }
    }
    if !ledgers.is_empty() {
        let _ = sink.send(Ok(ledgers)).await;
    }
}
