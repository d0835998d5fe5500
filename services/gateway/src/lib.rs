//! The gateway: REST/JSON for people and other systems over the gRPC
//! services — login and tokens, authorization, problem documents, the OpenAPI
//! document and its browsable page.
//!
//! `main` only wires; [`run`] is what tests start on port 0.

pub mod api;
pub mod auth;
pub mod error;
pub use zhenggai_forms as forms;
mod idempotency;
mod openapi;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use api::{ledger, notify, schedule};
use axum::Router;
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use zhenggai_common::config::DatabaseConfig;
use zhenggai_common::identity::{TokenSigner, TokenVerifier};
use zhenggai_common::{Role, UnitCode};
use zhenggai_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use zhenggai_proto::clock::v1::clock_service_client::ClockServiceClient;
use zhenggai_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use zhenggai_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use zhenggai_proto::scheduler::v1::scheduler_service_client::SchedulerServiceClient;

use crate::auth::PasswordPolicy;

/// Lockout after repeated failed logins.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LockoutConfig {
    /// Failed logins in a row that lock an account.
    #[arg(
        long = "lockout-threshold",
        env = "ZG_LOCKOUT_THRESHOLD",
        default_value_t = 5
    )]
    pub threshold: u32,
    /// Minutes an account stays locked.
    #[arg(
        long = "lockout-minutes",
        env = "ZG_LOCKOUT_MINUTES",
        default_value_t = 30
    )]
    pub minutes: u32,
    /// Password checks (argon2, deliberately slow) that may run at once. A
    /// login that cannot start its check within a second gets 429: a flood
    /// of guesses, even at many names, cannot take the CPU from everyone else.
    #[arg(
        long = "password-checks",
        env = "ZG_PASSWORD_CHECKS",
        default_value_t = 1
    )]
    pub concurrent_checks: usize,
}

/// The gateway's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-gateway",
    version,
    about = "The zhenggai REST gateway"
)]
pub struct Config {
    /// Address for HTTP.
    #[arg(long, env = "ZG_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[arg(
        long,
        env = "ZG_CATALOGUE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub catalogue_url: String,
    #[arg(long, env = "ZG_LEDGER_URL", default_value = "http://127.0.0.1:50052")]
    pub ledger_url: String,
    #[arg(
        long,
        env = "ZG_SCHEDULER_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub scheduler_url: String,
    #[arg(
        long,
        env = "ZG_NOTIFIER_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notifier_url: String,
    /// PEM file with the Ed25519 private key that signs tokens (gateway only).
    #[arg(
        long,
        env = "ZG_JWT_PRIVATE_KEY_FILE",
        default_value = "keys/jwt-private.pem"
    )]
    pub jwt_private_key_file: PathBuf,
    /// PEM file with the matching public key, which every service reads.
    #[arg(
        long,
        env = "ZG_JWT_PUBLIC_KEY_FILE",
        default_value = "keys/jwt-public.pem"
    )]
    pub jwt_public_key_file: PathBuf,
    /// Write a new key pair to the two key files if they are missing, and the
    /// services' own pair when its files are named, then exit.
    #[arg(long)]
    pub generate_keys: bool,
    /// With --generate-keys: where the back-end services' own private key goes
    /// (the gateway itself never reads it).
    #[arg(long, env = "ZG_SERVICE_PRIVATE_KEY_FILE")]
    pub service_private_key_file: Option<PathBuf>,
    /// With --generate-keys: where its public key goes.
    #[arg(long, env = "ZG_SERVICE_PUBLIC_KEY_FILE")]
    pub service_public_key_file: Option<PathBuf>,
    /// How long a token lives, in seconds.
    #[arg(long, env = "ZG_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// The password of the first account, `admin`, made on the first start.
    /// Without it the first start generates one and prints it once.
    #[arg(long, env = "ZG_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
    /// The unit of the first account.
    #[arg(long, env = "ZG_BOOTSTRAP_ADMIN_UNIT", default_value = "411081")]
    pub bootstrap_admin_unit: String,
    #[arg(long, env = "ZG_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,
    /// How many of: lower case, upper case, digits, other characters.
    #[arg(long, env = "ZG_PASSWORD_MIN_CLASSES", default_value_t = 3)]
    pub password_min_classes: usize,
    #[command(flatten)]
    pub lockout: LockoutConfig,
    /// Largest JSON body, in bytes.
    #[arg(long, env = "ZG_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Largest upload (directory import), in bytes.
    #[arg(long, env = "ZG_UPLOAD_LIMIT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub upload_limit_bytes: usize,
    /// Largest evidence file (佐证材料) or hand-in report (整改报告), in bytes.
    #[arg(long, env = "ZG_EVIDENCE_LIMIT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub evidence_limit_bytes: u64,
    /// Largest workbook an import takes (a filled 附件2), in bytes.
    #[arg(long, env = "ZG_WORKBOOK_LIMIT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub workbook_limit_bytes: u64,
    /// Requests running longer than this fail with 504.
    #[arg(long, env = "ZG_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

/// What the gateway's settings resolve to at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token_ttl_secs: u64,
    pub password_policy: PasswordPolicy,
    pub lockout: LockoutConfig,
    pub evidence_limit_bytes: u64,
    pub workbook_limit_bytes: u64,
    /// No request runs longer: an Idempotency-Key reserved longer ago than
    /// this belongs to a request that ended without answering (its gateway
    /// died), and a retry may take it over.
    pub request_timeout_secs: u64,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub config: Arc<Settings>,
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    /// Permits for password checks (see [`LockoutConfig::concurrent_checks`]).
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Accounts known to be locked (see [`auth::Lockouts`]).
    pub lockouts: Arc<auth::Lockouts>,
    /// Tokens lately found current (see [`auth::CurrentTokens`]).
    pub current_tokens: Arc<auth::CurrentTokens>,
    catalogue: Channel,
    ledger: Channel,
    scheduler: Channel,
    notifier: Channel,
}

impl AppState {
    pub fn catalogue(&self) -> CatalogueServiceClient<Channel> {
        CatalogueServiceClient::new(self.catalogue.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
    }

    pub fn ledger(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.ledger.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
    }

    pub fn notifier(&self) -> NotifierServiceClient<Channel> {
        NotifierServiceClient::new(self.notifier.clone())
    }

    pub fn scheduler(&self) -> SchedulerServiceClient<Channel> {
        SchedulerServiceClient::new(self.scheduler.clone())
    }

    /// The clock service of every back-end service (the drill clock is set
    /// in all of them).
    pub fn clocks(&self) -> Vec<ClockServiceClient<Channel>> {
        [
            &self.catalogue,
            &self.ledger,
            &self.scheduler,
            &self.notifier,
        ]
        .into_iter()
        .map(|channel| ClockServiceClient::new(channel.clone()))
        .collect()
    }
}

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
        .as_deref()
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
    use tower_http::limit::RequestBodyLimitLayer;
    let idempotent = axum::middleware::from_fn_with_state(state.clone(), idempotency::replay);
    let v1 = Router::new()
        .route("/auth/login", post(api::accounts::login))
        .route("/auth/logout", post(api::accounts::logout))
        .route("/me", get(api::accounts::me))
        .route(
            "/users",
            post(api::accounts::create_user)
                .layer(idempotent.clone())
                .get(api::accounts::list_users),
        )
        .route("/users/{id}/password", post(api::accounts::change_password))
        .route(
            "/documents",
            post(api::catalogue::publish_document)
                .layer(idempotent.clone())
                .get(api::catalogue::list_documents),
        )
        .route("/documents/{id}", get(api::catalogue::get_document))
        .route(
            "/documents/{id}/problems",
            get(api::catalogue::list_problems),
        )
        .route("/problems/{id}", get(api::catalogue::get_problem))
        .route("/units", get(api::catalogue::list_units))
        .route("/units/{code}", get(api::catalogue::get_unit))
        .route("/users/{id}/clearance", post(api::accounts::set_clearance))
        .route(
            "/campaigns",
            post(ledger::create_campaign)
                .layer(idempotent.clone())
                .get(ledger::list_campaigns),
        )
        .route("/campaigns/{id}", get(ledger::get_campaign))
        .route("/campaigns/{id}/dashboard", get(ledger::dashboard))
        .route("/ledgers", get(ledger::list_ledgers))
        .route("/ledgers/{id}", get(ledger::get_ledger))
        .route("/ledgers/{id}/history", get(ledger::ledger_history))
        .route("/ledgers/{id}/verify", get(ledger::verify_ledger))
        .route("/ledgers/{id}/export.xlsx", get(api::forms::export_ledger))
        .route("/ledgers/{id}/hand-ins", get(api::forms::list_hand_ins))
        .route(
            "/campaigns/{id}/export.xlsx",
            get(api::forms::export_campaign),
        )
        .route(
            "/ledgers/{id}/problems/{problem_id}/findings",
            post(ledger::create_finding).layer(idempotent.clone()),
        )
        .route(
            "/ledgers/{id}/problems/{problem_id}/no-findings",
            post(ledger::declare_no_findings)
                .layer(idempotent.clone())
                .delete(ledger::withdraw_no_findings),
        )
        .route(
            "/findings/{id}",
            get(ledger::get_finding).patch(ledger::update_finding),
        )
        .route("/findings/{id}/history", get(ledger::finding_history))
        .route("/calendar/add-workdays", get(schedule::add_workdays))
        .route(
            "/calendar/{year}",
            get(schedule::get_calendar).put(schedule::put_calendar),
        )
        .route("/campaigns/{id}/milestones", get(schedule::list_milestones))
        .route(
            "/campaigns/{id}/milestones/{milestone_id}",
            patch(schedule::update_milestone),
        )
        .route(
            "/campaigns/{id}/reminder-rules",
            get(schedule::get_reminder_rules).put(schedule::put_reminder_rules),
        )
        .route("/deadlines", get(schedule::list_deadlines))
        .route("/rechecks", get(schedule::list_rechecks))
        .route("/rechecks/{id}", post(schedule::record_recheck))
        .route("/inbox", get(notify::inbox))
        .route("/inbox/{id}/read", post(notify::mark_read))
        .route(
            "/units/{code}/channels",
            get(notify::get_channels).put(notify::put_channels),
        )
        .route("/notifications/{id}/deliveries", get(notify::deliveries))
        .route(
            "/admin/clock",
            get(schedule::get_clock).put(schedule::set_clock),
        )
        .route("/findings/{id}/{action}", post(ledger::transition_finding))
        .route(
            "/findings/{id}/evidence/{evidence_id}",
            get(ledger::download_evidence),
        )
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .merge(
            Router::new()
                .route(
                    "/findings/{id}/evidence",
                    post(ledger::upload_evidence).get(ledger::list_evidence),
                )
                .route("/ledgers/{id}/hand-in", post(api::forms::hand_in))
                .route("/ledgers/{id}/import", post(api::forms::import_ledger))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .merge(
            Router::new()
                .route("/units/import", post(api::catalogue::import_units))
                .layer(axum::extract::DefaultBodyLimit::disable())
                .layer(RequestBodyLimitLayer::new(config.upload_limit_bytes)),
        );
    let metrics = zhenggai_common::grpc::metrics_handle();
    let ready_pool = state.pool.clone();
    Router::new()
        .nest("/api/v1", v1)
        .merge(openapi::swagger_ui())
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
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(observe))
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

/// A span per request, continuing the caller's trace if it sent one, and
/// request metrics by route.
async fn observe(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("http", %method, %route, %request_id, status = tracing::field::Empty, otel.kind = "server");
    zhenggai_common::telemetry::adopt_context(&span, request.headers());
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    metrics::counter!("zg_http_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => status.to_string()).increment(1);
    metrics::histogram!("zg_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
