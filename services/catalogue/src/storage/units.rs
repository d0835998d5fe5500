use sqlx::{PgConnection, PgPool, Row};
use zhenggai_common::UnitCode;

use crate::domain::{Level, Unit, UnitTable};
use crate::error::{CatalogueError, Result};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

fn unit_from_row(row: &sqlx::postgres::PgRow) -> Result<Unit> {
    let code: String = row.try_get("code")?;
    let level: String = row.try_get("level")?;
    let parent: Option<String> = row.try_get("parent_code")?;
    Ok(Unit {
        code: super::code(code)?,
        name: row.try_get("name")?,
        level: level.parse().map_err(super::corrupt)?,
        parent_code: parent.map(super::code).transpose()?,
    })
}

/// Writes a whole division table in one statement (UNNEST), in the caller's
/// transaction. Parents outside the table must already be in the directory.
/// With an `area`, units outside it may be added but not changed: an office
/// can bring in another region's table, not rewrite what others keep.
pub async fn upsert_units(
    tx: &mut PgConnection,
    table: &UnitTable,
    area: Option<&UnitCode>,
) -> Result<ImportCounts> {
    let outside = table.outside_parents();
    if !outside.is_empty() {
        let known: Vec<String> = sqlx::query_scalar("SELECT code FROM units WHERE code = ANY($1)")
            .bind(&outside)
            .fetch_all(&mut *tx)
            .await?;
        let missing: Vec<String> = outside
            .into_iter()
            .filter(|code| !known.contains(code))
            .map(|code| format!("parent_code {code} is neither in the file nor in the directory"))
            .take(50)
            .collect();
        if !missing.is_empty() {
            return Err(CatalogueError::Invalid(missing));
        }
    }
    let n = table.units.len();
    let (mut codes, mut names, mut levels, mut parents) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for unit in &table.units {
        codes.push(unit.code.as_str());
        names.push(unit.name.as_str());
        levels.push(unit.level.as_str());
        parents.push(unit.parent_code.as_ref().map(UnitCode::as_str));
    }
    if let Some(area) = area {
        // Compared here rather than in one joined statement: the planner
        // cannot estimate an UNNEST and would scan the directory per row.
        let existing: Vec<Unit> = sqlx::query(
            "SELECT code, name, level, parent_code FROM units WHERE code = ANY($1) AND NOT starts_with(code, $2)",
        )
        .bind(&codes)
        .bind(area.subtree_prefix())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(unit_from_row)
        .collect::<Result<_>>()?;
        let incoming: std::collections::HashMap<&UnitCode, &Unit> =
            table.units.iter().map(|unit| (&unit.code, unit)).collect();
        let foreign: Vec<String> = existing
            .iter()
            .filter(|unit| incoming.get(&unit.code).is_some_and(|new| *new != *unit))
            .take(50)
            .map(|unit| format!("{} lies outside your area {area} and differs from the directory: only its own office may change it", unit.code))
            .collect();
        if !foreign.is_empty() {
            return Err(CatalogueError::Invalid(foreign));
        }
    }
    let rows = sqlx::query(
        "INSERT INTO units (code, name, level, parent_code)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
         ON CONFLICT (code) DO UPDATE
            SET name = EXCLUDED.name, level = EXCLUDED.level, parent_code = EXCLUDED.parent_code, updated_at = now()
          WHERE (units.name, units.level, units.parent_code)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_code)
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(&codes)
    .bind(&names)
    .bind(&levels)
    .bind(&parents)
    .fetch_all(&mut *tx)
    .await?;
    let inserted = rows
        .iter()
        .filter(|row| row.get::<bool, _>("inserted"))
        .count() as u64;
    let updated = rows.len() as u64 - inserted;
    Ok(ImportCounts {
        inserted,
        updated,
        unchanged: n as u64 - inserted - updated,
    })
}

pub async fn get_unit(pool: &PgPool, code: &UnitCode) -> Result<Option<Unit>> {
    sqlx::query("SELECT code, name, level, parent_code FROM units WHERE code = $1")
        .bind(code.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(unit_from_row)
        .transpose()
}

/// The units of these codes that exist, by code.
pub async fn get_units(pool: &PgPool, codes: &[String]) -> Result<Vec<Unit>> {
    sqlx::query(
        "SELECT code, name, level, parent_code FROM units WHERE code = ANY($1) ORDER BY code",
    )
    .bind(codes)
    .fetch_all(pool)
    .await?
    .iter()
    .map(unit_from_row)
    .collect()
}

/// A page of the directory under one unit.
#[derive(Debug, Clone)]
pub struct UnitQuery {
    pub parent: UnitCode,
    pub level: Option<Level>,
    /// Every descendant rather than the direct children.
    pub subtree: bool,
    /// Codes after this one (the cursor).
    pub after: Option<String>,
    pub limit: u32,
}

pub async fn list_units(pool: &PgPool, query: &UnitQuery) -> Result<Vec<Unit>> {
    let prefix = query.parent.subtree_pattern();
    sqlx::query(
        "SELECT code, name, level, parent_code FROM units
          WHERE CASE WHEN $2 THEN code LIKE $3 AND code <> $1 ELSE parent_code = $1 END
            AND ($4::text IS NULL OR level = $4)
            AND ($5::text IS NULL OR code > $5)
          ORDER BY code
          LIMIT $6",
    )
    .bind(query.parent.as_str())
    .bind(query.subtree)
    .bind(prefix)
    .bind(query.level.map(Level::as_str))
    .bind(query.after.as_deref())
    .bind(i64::from(query.limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(unit_from_row)
    .collect()
}

/// Every unit of `root`'s subtree (the root included) at the given levels (all
/// when empty), in code order, sent in batches of `batch` to `sink` as they
/// are read; stops early when the receiver goes away.
pub async fn stream_subtree(
    pool: &PgPool,
    root: &UnitCode,
    levels: &[Level],
    batch: usize,
    sink: tokio::sync::mpsc::Sender<Result<Vec<Unit>>>,
) {
    use futures::TryStreamExt as _;
    let levels: Vec<&str> = levels.iter().map(|level| level.as_str()).collect();
    let mut rows = sqlx::query(
        "SELECT code, name, level, parent_code FROM units
          WHERE code LIKE $1 AND (cardinality($2::text[]) = 0 OR level = ANY($2))
          ORDER BY code",
    )
    .bind(root.subtree_pattern())
    .bind(&levels)
    .fetch(pool);
    let mut units = Vec::with_capacity(batch);
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => match unit_from_row(&row) {
                Ok(unit) => units.push(unit),
                Err(error) => {
                    let _ = sink.send(Err(error)).await;
                    return;
                }
            },
            Ok(None) => break,
            Err(error) => {
                let _ = sink.send(Err(error.into())).await;
                return;
            }
        }
        if units.len() == batch && sink.send(Ok(std::mem::take(&mut units))).await.is_err() {
            return;
        }
    }
    if !units.is_empty() {
        let _ = sink.send(Ok(units)).await;
    }
}

/// The units above `code` that the directory holds, root first.
pub async fn ancestors(pool: &PgPool, code: &UnitCode) -> Result<Vec<Unit>> {
    let lineage: Vec<String> = code
        .lineage()
        .into_iter()
        .filter(|ancestor| ancestor != code)
        .map(String::from)
        .collect();
    sqlx::query("SELECT code, name, level, parent_code FROM units WHERE code = ANY($1) ORDER BY length(code), code")
        .bind(&lineage)
        .fetch_all(pool)
        .await?
        .iter()
        .map(unit_from_row)
        .collect()
}
