use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::calendar::{SpecialDay, WorkdayCalendar, YearCalendar, shipped};
use crate::error::Result;

/// A loaded year and who loaded it (nobody: it ships with zhenggai).
#[derive(Debug, Clone)]
pub struct StoredYear {
    pub year: YearCalendar,
    pub loaded_at: Option<DateTime<Utc>>,
    pub loaded_by: Option<String>,
}

/// Loads the shipped years that are not in the database; a year an
/// operator loaded or corrected stays as they left it.
pub async fn seed_calendar(pool: &PgPool) -> Result<()> {
    for year in shipped() {
        sqlx::query(
            "INSERT INTO calendar_years (year, notice, days) VALUES ($1, $2, $3)
             ON CONFLICT (year) DO NOTHING",
        )
        .bind(year.year)
        .bind(&year.notice)
        .bind(sqlx::types::Json(&year.days))
        .execute(pool)
        .await?;
    }
    Ok(())
}

type YearRow = (
    i32,
    String,
    sqlx::types::Json<Vec<SpecialDay>>,
    Option<DateTime<Utc>>,
    Option<String>,
);

fn stored((year, notice, days, loaded_at, loaded_by): YearRow) -> StoredYear {
    StoredYear {
        year: YearCalendar {
            year,
            notice,
            days: days.0,
        },
        loaded_at,
        loaded_by,
    }
}

pub async fn calendar_year(pool: &PgPool, year: i32) -> Result<Option<StoredYear>> {
    Ok(sqlx::query_as::<_, YearRow>(
        "SELECT year, notice, days, loaded_at, loaded_by FROM calendar_years WHERE year = $1",
    )
    .bind(year)
    .fetch_optional(pool)
    .await?
    .map(stored))
}

pub async fn put_calendar_year(pool: &PgPool, year: &YearCalendar, by: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO calendar_years (year, notice, days, loaded_at, loaded_by)
         VALUES ($1, $2, $3, now(), $4)
         ON CONFLICT (year) DO UPDATE
            SET notice = $2, days = $3, loaded_at = now(), loaded_by = $4",
    )
    .bind(year.year)
    .bind(&year.notice)
    .bind(sqlx::types::Json(&year.days))
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every loaded year as one calendar.
pub async fn workday_calendar(pool: &PgPool) -> Result<WorkdayCalendar> {
    let years: Vec<StoredYear> = sqlx::query_as::<_, YearRow>(
        "SELECT year, notice, days, loaded_at, loaded_by FROM calendar_years",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(stored)
    .collect();
    Ok(WorkdayCalendar::new(years.iter().map(|y| &y.year)))
}
