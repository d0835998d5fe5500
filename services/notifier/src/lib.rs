//! The notifier service: it tells people. Requests to notify (from the
//! scheduler's reminders and the ledger's review steps) are kept once per
//! dedupe key in the transaction that accepts them; the inbox shows them at
//! once, and workers deliver them to the unit's email, webhooks, 企业微信
//! robots and SMS gateway, recording every attempt.
//!
//! `main` only wires; [`run`] is what tests start on port 0.

pub mod delivery;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::notifier::v1 as pb;

pub use grpc::SERVICE_NAME;

/// The notifier's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-notifier",
    version,
    about = "The zhenggai notifier service"
)]
pub struct Config {
    /// Address for gRPC (and /metrics, /healthz).
    #[arg(long, env = "ZG_NOTIFIER_ADDR", default_value = "0.0.0.0:50054")]
    pub listen: SocketAddr,
    /// The mail server, e.g. smtp://host:25 or smtps://user:pass@host:465
    /// (unset: email deliveries fail, visibly).
    #[arg(
        long,
        env = "ZG_SMTP_URL",
        hide_env_values = true,
        value_parser = zhenggai_common::config::secret
    )]
    pub smtp_url: Option<secrecy::SecretString>,
    /// The sender of email.
    #[arg(
        long,
        env = "ZG_SMTP_FROM",
        default_value = "整改台账 <zhenggai@localhost>"
    )]
    pub smtp_from: String,
    /// How often idle workers look for due deliveries.
    #[arg(long, env = "ZG_NOTIFIER_TICK_MS", default_value_t = 1_000)]
    pub tick_ms: u64,
    /// How long a claim on a delivery holds before another instance (or
    /// this one after a restart) may try it again.
    #[arg(long, env = "ZG_NOTIFIER_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Deliveries claimed at once, and sent at once.
    #[arg(long, env = "ZG_NOTIFIER_BATCH", default_value_t = 200)]
    pub batch: u32,
    #[arg(long, env = "ZG_NOTIFIER_WORKERS", default_value_t = 32)]
    pub workers: usize,
    /// Attempts before a delivery is given up as failed.
    #[arg(long, env = "ZG_NOTIFIER_MAX_ATTEMPTS", default_value_t = 6)]
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles (with jitter).
    #[arg(long, env = "ZG_NOTIFIER_RETRY_BASE_MS", default_value_t = 5_000)]
    pub retry_base_ms: u64,
    /// Per channel, the most sends per second or minute to one target.
    #[arg(
        long,
        env = "ZG_NOTIFIER_RATES",
        default_value = "email=10/s,webhook=50/s,wecom=20/min,sms=10/s"
    )]
    pub rates: String,
    /// This instance's name in claims (default: host name and process id).
    /// Internal hosts and networks a unit's webhook, 企业微信 robot or SMS
    /// gateway may point to (an intranet SMS gateway): host names, addresses
    /// and networks (`10.20.0.0/16`), separated by commas. Every other
    /// loopback, private, link-local or reserved address is refused.
    #[arg(long, env = "ZG_CHANNEL_ALLOW", default_value = "")]
    pub channel_allow: String,
    #[arg(long, env = "ZG_NOTIFIER_INSTANCE")]
    pub instance: Option<String>,
    #[command(flatten)]
    pub service: ServiceConfig,
}

/// Connects to the database, migrates, runs the ledger-event consumer and
/// the delivery workers, and serves on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let spacing = delivery::parse_rates(&config.rates)
        .map_err(anyhow::Error::msg)
        .context("ZG_NOTIFIER_RATES")?;
    let smtp = match config
        .smtp_url
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
        .filter(|url| !url.is_empty())
    {
        Some(url) => Some(
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
                .context("ZG_SMTP_URL is not an smtp:// or smtps:// URL")?
                .timeout(Some(Duration::from_secs(10)))
                .build(),
        ),
        None => None,
    };
    let egress = zhenggai_common::egress::EgressPolicy::parse(&config.channel_allow)
        .map_err(anyhow::Error::msg)
        .context("ZG_CHANNEL_ALLOW")?;
    let settings = delivery::Settings {
        instance: zhenggai_common::config::instance_name(config.instance.as_deref(), "notifier"),
        tick: Duration::from_millis(config.tick_ms.max(20)),
        lease: Duration::from_millis(config.lease_ms.max(100)),
        batch: i64::from(config.batch.clamp(1, 5_000)),
        workers: config.workers.clamp(1, 256),
        max_attempts: config.max_attempts.clamp(1, 50) as i32,
        retry_base: Duration::from_millis(config.retry_base_ms.max(1)),
        spacing,
        smtp_from: config.smtp_from.clone(),
        egress: egress.clone(),
    };
    // Owned by this future: when it ends, or is dropped (a killed task in
    // tests), the loops end with it.
    let mut loops = tokio::task::JoinSet::new();
    let served = zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_notifier",
        &storage::MIGRATOR,
        listener,
        shutdown,
        |pool, clock| {
            let accepted = Arc::new(tokio::sync::Notify::new());
            let arrived = Arc::new(tokio::sync::Notify::new());
            let deliverer =
                delivery::Deliverer::new(pool.clone(), clock, settings, smtp, accepted.clone())
                    .map(Arc::new);
            if let Ok(deliverer) = &deliverer {
                loops.spawn(deliverer.clone().run());
                loops.spawn(events::run(pool.clone(), arrived.clone(), accepted.clone()));
            }
            async move {
                deliverer?;
                let api = grpc::NotifierApi {
                    pool,
                    accepted,
                    arrived,
                    egress,
                };
                Ok(tonic::service::Routes::new(
                    pb::notifier_service_server::NotifierServiceServer::new(api),
                ))
            }
        },
    )
    .await;
    loops.abort_all();
    served
}
