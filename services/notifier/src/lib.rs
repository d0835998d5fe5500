//! The notifier service: inbox, email and webhooks, with every delivery attempt recorded.
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
use zhenggai_proto::notifier::v1 as pb;

pub const SERVICE_NAME: &str = "zhenggai.notifier.v1.NotifierService";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    #[command(flatten)]
    pub service: ServiceConfig,
}

struct NotifierApi {
    pool: PgPool,
}

#[tonic::async_trait]
impl pb::notifier_service_server::NotifierService for NotifierApi {
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

    async fn ingest_ledger_events(
        &self,
        request: Request<zhenggai_proto::ledger::v1::IngestLedgerEventsRequest>,
    ) -> Result<Response<zhenggai_proto::ledger::v1::IngestLedgerEventsResponse>, Status> {
        zhenggai_common::grpc::peer(&request)?;
        let events = request.into_inner().events;
        Ok(Response::new(
            zhenggai_common::received::record(&self.pool, events).await?,
        ))
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
        "zhenggai_notifier",
        &MIGRATOR,
        listener,
        shutdown,
        |pool, _clock| async move {
            let api = pb::notifier_service_server::NotifierServiceServer::new(NotifierApi { pool });
            Ok(tonic::service::Routes::new(api))
        },
    )
    .await
}
