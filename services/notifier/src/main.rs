use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = zhenggai_notifier::Config::parse();
    let _telemetry = zhenggai_common::telemetry::init("notifier")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    zhenggai_notifier::run(config, listener, zhenggai_common::shutdown::signal()).await
}
