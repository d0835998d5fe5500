//! Start-up and the server: keys, database, the first account, the router
//! with its middleware, and a graceful stop.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use zhenggai_common::identity::{TokenSigner, TokenVerifier};
use zhenggai_common::{Role, UnitCode};

use crate::auth::{self, PasswordPolicy};
use crate::config::{Config, Settings};
use crate::state::AppState;
use crate::{api, error, middleware, openapi, storage};

/// Writes the key pairs that are missing (`--generate-keys`): the token pair,
/// and the services' own pair when its files are named. Answers the files
/// written.
pub fn generate_keys(config: &Config) -> anyhow::Result<Vec<PathBuf>> {
    let mut pairs = vec![(&config.jwt_private_key_file, &config.jwt_public_key_file)];
    if let (Some(private), Some(public)) = (
        &config.service_private_key_file,
        &config.service_public_key_file,
    ) {
        pairs.push((private, public));
    }
    let mut written = Vec::new();
    for (private, public) in pairs {
        if zhenggai_common::identity::ensure_key_files(private, public)? {
            written.extend([private.clone(), public.clone()]);
        }
    }
    Ok(written)
}

/// Connects, migrates, makes the first account if there is none, and serves
/// HTTP on `listener` until `shutdown`; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let signer = TokenSigner::from_file(&config.jwt_private_key_file)?;
    let verifier = TokenVerifier::from_file(&config.jwt_public_key_file)?;
    let pool =
        zhenggai_common::db::connect(&config.database, "zhenggai_gateway", &storage::MIGRATOR)
            .await?;
    let settings = Settings {
        token_ttl_secs: config.token_ttl_secs,
        password_policy: PasswordPolicy {
            min_length: config.password_min_length,
            min_classes: config.password_min_classes,
        },
        lockout: config.lockout,
        evidence_limit_bytes: config.evidence_limit_bytes,
        workbook_limit_bytes: config.workbook_limit_bytes,
        request_timeout_secs: config.request_timeout_secs,
    };
    bootstrap_admin(&pool, &config, &settings).await?;
    // A call to a service lives as long as the request it serves may.
    let channel = |url: &str| {
        zhenggai_common::grpc::channel_with_timeout(
            url,
            Duration::from_secs(config.request_timeout_secs),
        )
    };
    let state = AppState {
        pool: pool.clone(),
        config: Arc::new(settings),
        signer,
        verifier,
        password_checks: Arc::new(tokio::sync::Semaphore::new(
            config.lockout.concurrent_checks.max(1),
        )),
        lockouts: Arc::default(),
        current_tokens: Arc::default(),
        catalogue: channel(&config.catalogue_url)?,
        ledger: channel(&config.ledger_url)?,
        scheduler: channel(&config.scheduler_url)?,
        notifier: channel(&config.notifier_url)?,
    };
    let app = router(state, &config);
    tracing::info!(address = %listener.local_addr()?, "serving HTTP");
    let sweeper = tokio::spawn(sweep_idempotency_keys(pool.clone()));
    let served = axum::serve(zhenggai_common::grpc::no_delay(listener), app)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    served?;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn bootstrap_admin(
    pool: &sqlx::PgPool,
    config: &Config,
    settings: &Settings,
) -> anyhow::Result<()> {
    if storage::has_users(pool).await? {
        return Ok(());
    }
    let unit = UnitCode::try_from(config.bootstrap_admin_unit.as_str())?;
    let (password, generated) = match config
        .bootstrap_admin_password
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
        .filter(|p| !p.is_empty())
    {
        Some(password) => {
            settings.password_policy.check(password).map_err(|error| {
                anyhow::anyhow!("ZG_BOOTSTRAP_ADMIN_PASSWORD: {}", error.detail)
            })?;
            (password.to_owned(), false)
        }
        None => (auth::generate_password(), true),
    };
    let hash = auth::hash_password(password.clone())
        .await
        .map_err(|error| anyhow::anyhow!(error.detail))?;
    if storage::insert_user(pool, "admin", &hash, Role::CityAdmin, &unit, "bootstrap")
        .await?
        .is_some()
        && generated
    {
        // Printed once, on the console of the first start; never logged.
        println!("zhenggai: created the first account: username admin, password {password}");
    }
    Ok(())
}

fn router(state: AppState, config: &Config) -> Router {
    let (api, document) =
        api::router(config.body_limit_bytes, config.upload_limit_bytes).split_for_parts();
    let metrics = zhenggai_common::grpc::metrics_handle();
    let ready_pool = state.pool.clone();
    Router::new()
        .merge(api)
        .merge(openapi::swagger_ui(document))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                match sqlx::query("SELECT 1").execute(&ready_pool).await {
                    Ok(_) => Ok("ready"),
                    Err(error) => Err(error::ApiError::from(error)),
                }
            }),
        )
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .layer(axum::Extension(state.clone()))
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(middleware::observe))
                .layer(axum::middleware::from_fn(error::render_problems))
                .layer(tower_http::catch_panic::CatchPanicLayer::new())
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    Duration::from_secs(config.request_timeout_secs),
                )),
        )
}

/// Every hour, forgets the Idempotency-Key answers older than a day (each
/// replica may sweep; the DELETE is the same for all).
async fn sweep_idempotency_keys(pool: sqlx::PgPool) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        if let Err(error) = storage::forget_old_keys(&pool).await {
            tracing::warn!(%error, "old idempotency keys not swept");
        }
    }
}
