//! The ledger service: the ledger of every unit in a campaign (整改台账), its findings, review and 销号, evidence and the tamper-evident history.
//!
//! This is the service's frame (configuration, database, migrations, health,
//! reflection, metrics, identity checks, graceful shutdown); its capabilities
//! arrive with their own issues. `main` only wires; [`run`] is what tests
//! start on port 0.

use std::future::Future;
use std::net::SocketAddr;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::ledger::v1 as pb;

pub const SERVICE_NAME: &str = "zhenggai.ledger.v1.LedgerService";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
}

struct LedgerApi {
    pool: PgPool,
}

#[tonic::async_trait]
impl pb::ledger_service_server::LedgerService for LedgerApi {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        zhenggai_common::grpc::caller(&request)?;
        let (service, version, schema_version) =
            zhenggai_common::grpc::describe(SERVICE_NAME, &self.pool).await?;
        Ok(Response::new(pb::DescribeResponse {
            service,
            version,
            schema_version,
        }))
    }
}

/// Connects to the database, migrates, and serves on `listener` until
/// `shutdown` resolves; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_ledger",
        &MIGRATOR,
        listener,
        shutdown,
        |pool| async move {
            let api = pb::ledger_service_server::LedgerServiceServer::new(LedgerApi { pool });
            Ok(tonic::service::Routes::new(api))
        },
    )
    .await
}
