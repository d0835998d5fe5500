//! The scheduler service: the working-day calendar, campaign milestones,
//! deadlines and their lights, reminders and escalation, and re-checks
//! (回头看).
//!
//! `main` only wires; [`run`] is what tests start on port 0. Besides the
//! gRPC API, an instance runs two loops: the consumer that applies the
//! ledger's events ([`events`]), and the planner and sender of reminders
//! ([`reminders`]). Any number of instances may share one database.

pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod reminders;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::scheduler::v1 as pb;

pub use grpc::SERVICE_NAME;

/// The scheduler's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-scheduler",
    version,
    about = "The zhenggai scheduler service"
)]
pub struct Config {
    /// Address for gRPC (and /metrics, /healthz).
    #[arg(long, env = "ZG_SCHEDULER_ADDR", default_value = "0.0.0.0:50053")]
    pub listen: SocketAddr,
    /// The ledger service (campaigns' ledgers; reopening after a failed re-check).
    #[arg(long, env = "ZG_LEDGER_URL", default_value = "http://127.0.0.1:50052")]
    pub ledger_url: String,
    /// The notifier service, which reminders are sent to.
    #[arg(
        long,
        env = "ZG_NOTIFIER_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notifier_url: String,
    /// How often an instance plans and sends reminders, at most.
    #[arg(long, env = "ZG_SCHEDULER_TICK_MS", default_value_t = 10_000)]
    pub tick_ms: u64,
    /// How long a claim on reminders holds before another instance may take
    /// them over (the holder died mid-batch).
    #[arg(long, env = "ZG_SCHEDULER_LEASE_MS", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Reminders per request to the notifier.
    #[arg(long, env = "ZG_SCHEDULER_BATCH", default_value_t = 1_000)]
    pub batch: usize,
    /// Batches an instance has in flight to the notifier at once.
    #[arg(long, env = "ZG_SCHEDULER_SENDERS", default_value_t = 4)]
    pub senders: usize,
    /// This instance's name in claims (default: host name and process id).
    #[arg(long, env = "ZG_SCHEDULER_INSTANCE")]
    pub instance: Option<String>,
    #[command(flatten)]
    pub service: ServiceConfig,
}

/// Connects to the database, migrates, seeds the shipped calendar, runs the
/// event consumer and the reminder loop, and serves on `listener` until
/// `shutdown` resolves; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let identity = config
        .service
        .identity
        .service_identity("scheduler")?
        .context("the scheduler needs the services' own key pair (ZG_SERVICE_PRIVATE_KEY_FILE, ZG_SERVICE_PUBLIC_KEY_FILE)")?;
    let ledger = zhenggai_common::grpc::channel(&config.ledger_url)?;
    let notifier = zhenggai_common::grpc::channel(&config.notifier_url)?;
    let settings = reminders::Settings {
        instance: zhenggai_common::config::instance_name(config.instance.as_deref(), "scheduler"),
        tick: Duration::from_millis(config.tick_ms.max(50)),
        lease: Duration::from_millis(config.lease_ms.max(100)),
        batch: config.batch.clamp(1, 10_000),
        senders: config.senders.clamp(1, 64),
    };
    // Owned by this future: when it ends, or is dropped (a killed task in
    // tests), the loops end with it.
    let mut loops = tokio::task::JoinSet::new();
    let served = zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_scheduler",
        &storage::MIGRATOR,
        listener,
        shutdown,
        |pool, clock| {
            let wake = Arc::new(reminders::Replan::default());
            let consumer = events::Consumer {
                pool: pool.clone(),
                ledger: ledger.clone(),
                identity: identity.clone(),
                arrived: wake.clone(),
            };
            let reminders = reminders::Reminders {
                pool: pool.clone(),
                clock: clock.clone(),
                notifier,
                identity: identity.clone(),
                settings,
                wake: wake.clone(),
                planned: Default::default(),
            };
            loops.spawn(consumer.run());
            loops.spawn(reminders.run());
            async move {
                storage::seed_calendar(&pool).await?;
                let api = grpc::SchedulerApi {
                    pool,
                    clock,
                    ledger,
                    identity,
                    wake,
                };
                Ok(tonic::service::Routes::new(
                    pb::scheduler_service_server::SchedulerServiceServer::new(api),
                ))
            }
        },
    )
    .await;
    loops.abort_all();
    served
}
