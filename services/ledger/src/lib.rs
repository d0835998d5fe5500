//! The ledger service: the ledger of every unit in a campaign (整改台账), its
//! findings, review and 销号, evidence (佐证材料) and the tamper-evident
//! history.
//!
//! `main` only wires; [`run`] is what tests start on port 0.

pub mod domain;
pub mod error;
mod grpc;
mod relay;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::ledger::v1::ledger_service_server::LedgerServiceServer;

pub const SERVICE_NAME: &str = "zhenggai.ledger.v1.LedgerService";

/// The ledger's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-ledger",
    version,
    about = "The zhenggai ledger service"
)]
pub struct Config {
    /// Address for gRPC (and /metrics, /healthz).
    #[arg(long, env = "ZG_LEDGER_ADDR", default_value = "0.0.0.0:50052")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub service: ServiceConfig,
    /// The catalogue, asked for notices, problems and units.
    #[arg(
        long,
        env = "ZG_CATALOGUE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub catalogue_url: String,
    /// The scheduler, told of due dates and state changes.
    #[arg(
        long,
        env = "ZG_SCHEDULER_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub scheduler_url: String,
    /// The notifier, told of what people must hear.
    #[arg(
        long,
        env = "ZG_NOTIFIER_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notifier_url: String,
    /// Largest evidence file, in bytes.
    #[arg(long, env = "ZG_EVIDENCE_LIMIT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub evidence_limit_bytes: u64,
}

/// Connects to the database, migrates, and serves on `listener` until
/// `shutdown` resolves; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let catalogue = zhenggai_common::grpc::channel(&config.catalogue_url)?;
    let identity = config
        .service
        .identity
        .service_identity("ledger")?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the ledger relays its outbox as a service: set ZG_SERVICE_PRIVATE_KEY_FILE and ZG_SERVICE_PUBLIC_KEY_FILE"
            )
        })?;
    let peers = relay::Peers {
        scheduler: zhenggai_common::grpc::channel(&config.scheduler_url)?,
        notifier: zhenggai_common::grpc::channel(&config.notifier_url)?,
    };
    // Owned by this future: when it ends, or is dropped, the relay ends too.
    let mut relay = tokio::task::JoinSet::new();
    let served = zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_ledger",
        &storage::MIGRATOR,
        listener,
        shutdown,
        |pool, clock| {
            relay.spawn(relay::run(pool.clone(), identity, peers));
            async move {
                let api = grpc::LedgerApi::new(pool, clock, catalogue, config.evidence_limit_bytes);
                let server = LedgerServiceServer::new(api)
                    .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                    .send_compressed(tonic::codec::CompressionEncoding::Gzip);
                Ok(tonic::service::Routes::new(server))
            }
        },
    )
    .await;
    relay.abort_all();
    served
}
