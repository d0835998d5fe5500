//! The catalogue service: notices (通知), aspects (方面), problems (具体问题),
//! measures (整改措施), responsible units (责任单位), and the unit directory
//! (单位名录) from province down to village, plus departments.
//!
//! `main` only wires; [`run`] is what tests start on port 0.

pub mod domain;
pub mod error;
mod grpc;
mod seed;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::catalogue::v1::catalogue_service_server::CatalogueServiceServer;

pub const SERVICE_NAME: &str = "zhenggai.catalogue.v1.CatalogueService";

/// The catalogue's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-catalogue",
    version,
    about = "The zhenggai catalogue service"
)]
pub struct Config {
    /// Address for gRPC (and /metrics, /healthz).
    #[arg(long, env = "ZG_CATALOGUE_ADDR", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub service: ServiceConfig,
}

/// Connects to the database, migrates, seeds, and serves on `listener` until
/// `shutdown` resolves; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_catalogue",
        &storage::MIGRATOR,
        listener,
        shutdown,
        |pool, _clock| async move {
            seed::apply(&pool)
                .await
                .context("cannot seed the catalogue")?;
            let api = CatalogueServiceServer::new(grpc::CatalogueApi::new(pool))
                .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .send_compressed(tonic::codec::CompressionEncoding::Gzip);
            Ok(tonic::service::Routes::new(api))
        },
    )
    .await
}
