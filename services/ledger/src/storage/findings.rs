//! Findings (序号2 rows).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use crate::domain::household::{Household, HouseholdDraft};
use crate::domain::{FindingFields, FindingKind, FindingState};
use crate::error::Result;

/// A household as the table keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredHousehold {
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
}

fn households_json(households: &[Household]) -> serde_json::Value {
    let stored: Vec<StoredHousehold> = households
        .iter()
        .map(|household| {
            let clear = household.clear();
            StoredHousehold {
                name: clear.name,
                id_number: clear.id_number,
                phone: clear.phone,
            }
        })
        .collect();
    serde_json::to_value(stored).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct FindingRow {
    pub id: Uuid,
    pub ledger_id: Uuid,
    pub campaign_id: Uuid,
    pub unit_code: UnitCode,
    pub problem_seq: i16,
    pub seq: i32,
    pub fields: FindingFields,
    pub state: FindingState,
    pub written_off: bool,
    pub version: i64,
    pub evidence_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) const FINDING_COLUMNS: &str = "id, ledger_id, campaign_id, unit_code, problem_seq, seq, description, measures, due_on, kind, responsible, result, standing_mechanism, households, state, written_off, version, evidence_count, created_at, updated_at";

pub(super) fn finding_from_row(row: &sqlx::postgres::PgRow) -> Result<FindingRow> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let stored: sqlx::types::Json<Vec<StoredHousehold>> = row.try_get("households")?;
    let households = stored
        .0
        .into_iter()
        .map(|h| {
            Household::try_from(HouseholdDraft {
                name: h.name,
                id_number: h.id_number,
                phone: h.phone,
            })
            .map_err(|_| super::corrupt("a stored household does not validate"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(FindingRow {
        id: row.try_get("id")?,
        ledger_id: row.try_get("ledger_id")?,
        campaign_id: row.try_get("campaign_id")?,
        unit_code: super::unit_code(row.try_get("unit_code")?)?,
        problem_seq: row.try_get("problem_seq")?,
        seq: row.try_get("seq")?,
        fields: FindingFields {
            description: row.try_get("description")?,
            measures: row.try_get("measures")?,
            due_on: row.try_get::<Option<NaiveDate>, _>("due_on")?,
            kind: kind.parse::<FindingKind>().map_err(super::corrupt)?,
            responsible: row.try_get("responsible")?,
            result: row.try_get("result")?,
            standing_mechanism: row.try_get("standing_mechanism")?,
            households,
        },
        state: state.parse().map_err(super::corrupt)?,
        written_off: row.try_get("written_off")?,
        version: row.try_get("version")?,
        evidence_count: row.try_get("evidence_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get_finding(pool: &PgPool, id: Uuid) -> Result<Option<FindingRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(finding_from_row)
    .transpose()
}

/// The finding's ledger, to lock before the finding.
pub async fn ledger_of_finding(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT ledger_id FROM findings WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Reads a finding inside a transaction that holds its ledger's lock.
pub async fn lock_finding(tx: &mut PgConnection, id: Uuid) -> Result<Option<FindingRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?
    .as_ref()
    .map(finding_from_row)
    .transpose()
}

pub async fn findings_of_ledger(
    db: impl sqlx::PgExecutor<'_>,
    ledger_id: Uuid,
) -> Result<Vec<FindingRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE ledger_id = $1 ORDER BY problem_seq, seq"
    )))
    .bind(ledger_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(finding_from_row)
    .collect()
}

/// Inserts a finding as the 序号2 `seq` of its section (the next one when
/// `None`), counts it on the section and the ledger, and answers its number.
/// The caller holds the ledger's lock, so the next number is its own.
#[allow(clippy::too_many_arguments)]
pub async fn insert_finding(
    tx: &mut PgConnection,
    id: Uuid,
    ledger: &super::LedgerRow,
    problem_seq: i16,
    seq: Option<i32>,
    fields: &FindingFields,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<i32> {
    sqlx::query(
        "UPDATE sections SET findings = findings + 1 WHERE ledger_id = $1 AND problem_seq = $2",
    )
    .bind(ledger.id)
    .bind(problem_seq)
    .execute(&mut *tx)
    .await?;
    let seq: i32 = match seq {
        Some(seq) => seq,
        None => {
            sqlx::query_scalar(
                "SELECT coalesce(max(seq), 0) + 1 FROM findings WHERE ledger_id = $1 AND problem_seq = $2",
            )
            .bind(ledger.id)
            .bind(problem_seq)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    sqlx::query(
        "INSERT INTO findings (id, ledger_id, problem_seq, seq, campaign_id, unit_code, description, measures, due_on, kind,
                               responsible, result, standing_mechanism, households, created_at, updated_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)",
    )
    .bind(id)
    .bind(ledger.id)
    .bind(problem_seq)
    .bind(seq)
    .bind(ledger.campaign_id)
    .bind(ledger.unit_code.as_str())
    .bind(&fields.description)
    .bind(&fields.measures)
    .bind(fields.due_on)
    .bind(fields.kind.as_str())
    .bind(&fields.responsible)
    .bind(&fields.result)
    .bind(&fields.standing_mechanism)
    .bind(households_json(&fields.households))
    .bind(now)
    .bind(created_by)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE ledgers SET findings = findings + 1, open = open + 1 WHERE id = $1")
        .bind(ledger.id)
        .execute(&mut *tx)
        .await?;
    Ok(seq)
}

/// Writes a finding's fields and bumps its version.
pub async fn update_fields(
    tx: &mut PgConnection,
    id: Uuid,
    fields: &FindingFields,
    now: DateTime<Utc>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE findings SET description = $2, measures = $3, due_on = $4, kind = $5, responsible = $6, result = $7,
                standing_mechanism = $8, households = $9, updated_at = $10, version = version + 1
          WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .bind(&fields.description)
    .bind(&fields.measures)
    .bind(fields.due_on)
    .bind(fields.kind.as_str())
    .bind(&fields.responsible)
    .bind(&fields.result)
    .bind(&fields.standing_mechanism)
    .bind(households_json(&fields.households))
    .bind(now)
    .fetch_one(tx)
    .await?)
}

/// Moves a finding to `to`, keeps the ledger's counters, bumps the version.
pub async fn set_state(
    tx: &mut PgConnection,
    finding: &FindingRow,
    to: FindingState,
    now: DateTime<Utc>,
) -> Result<i64> {
    let version: i64 = sqlx::query_scalar(
        "UPDATE findings SET state = $2, written_off = $3, updated_at = $4, version = version + 1
          WHERE id = $1 RETURNING version",
    )
    .bind(finding.id)
    .bind(to.as_str())
    .bind(to == FindingState::Closed)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    // The column names are the states' own static names.
    let from = finding.state.as_str();
    let to = to.as_str();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE ledgers SET {from} = {from} - 1, {to} = {to} + 1 WHERE id = $1"
    )))
    .bind(finding.ledger_id)
    .execute(&mut *tx)
    .await?;
    Ok(version)
}

/// Records that `reader` saw these findings' households in clear.
pub async fn record_clear_reads(
    pool: &PgPool,
    reader: &zhenggai_common::Caller,
    findings: &[Uuid],
) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO personal_data_reads (user_id, username, finding_id) SELECT $1, $2, UNNEST($3::uuid[])",
    )
    .bind(reader.user_id)
    .bind(&reader.username)
    .bind(findings)
    .execute(pool)
    .await?;
    Ok(())
}

/// The finding a keyed create request made, if it committed.
pub async fn created_by_request(pool: &PgPool, key: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT finding_id FROM create_requests WHERE request_key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?,
    )
}

/// Remembers which finding a keyed create request made (same transaction).
pub async fn record_create_request(tx: &mut PgConnection, key: &str, finding: Uuid) -> Result<()> {
    sqlx::query("INSERT INTO create_requests (request_key, finding_id) VALUES ($1, $2)")
        .bind(key)
        .bind(finding)
        .execute(tx)
        .await?;
    Ok(())
}
