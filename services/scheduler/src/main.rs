use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = zhenggai_scheduler::Config::parse();
    let _telemetry = zhenggai_common::telemetry::init("scheduler")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    zhenggai_scheduler::run(config, listener, zhenggai_common::shutdown::signal()).await
}
