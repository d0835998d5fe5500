//! Database start-up: every service owns a database on the shared server,
//! creates it when it is missing and applies its own migrations at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::DatabaseConfig;

/// How long start-up waits for PostgreSQL to accept connections.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// A pooled connection idle this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Connects to the service's own database (creating it when missing) and
/// applies `migrator`. Waits for the server while it is still starting.
pub async fn connect(
    config: &DatabaseConfig,
    default_name: &str,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let name = config.name.as_deref().unwrap_or(default_name);
    anyhow::ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "database name {name:?} must be lowercase letters, digits and underscores"
    );
    let server = PgConnectOptions::from_str(config.url.expose_secret())
        .context("DATABASE_URL is not a PostgreSQL URL")?
        .log_statements(tracing::log::LevelFilter::Trace);
    create_database_if_missing(&server, name).await?;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        // sqlx pings a connection on its way back to the pool; pinging it
        // again on the way out cost a round trip per query. Only one that sat
        // idle (PostgreSQL may have restarted meanwhile) is checked first.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(server.database(name))
        .await
        .with_context(|| format!("cannot connect to database {name}"))?;
    migrator
        .run(&pool)
        .await
        .with_context(|| format!("cannot migrate database {name}"))?;
    tracing::info!(database = name, "database ready");
    Ok(pool)
}

async fn create_database_if_missing(server: &PgConnectOptions, name: &str) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut connection = loop {
        match sqlx::PgConnection::connect_with(server).await {
            Ok(connection) => break connection,
            Err(error) if started.elapsed() < STARTUP_PATIENCE => {
                tracing::warn!(%error, "PostgreSQL not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error).context("PostgreSQL not reachable"),
        }
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut connection)
            .await?;
    if !exists {
        // The name was checked to be a plain identifier above.
        match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut connection)
            .await
        {
            Ok(_) => tracing::info!(database = name, "database created"),
            // Another replica created it a moment ago: PostgreSQL says so
            // either as duplicate_database or as a unique violation on pg_database.
            Err(sqlx::Error::Database(error))
                if matches!(error.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot create database {name}"));
            }
        }
    }
    connection.close().await.ok();
    Ok(())
}

/// The newest migration applied, for `Describe` answers and readiness.
pub async fn schema_version(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
}
