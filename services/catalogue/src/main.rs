use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = zhenggai_catalogue::Config::parse();
    let _telemetry = zhenggai_common::telemetry::init("catalogue")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    zhenggai_catalogue::run(config, listener, zhenggai_common::shutdown::signal()).await
}
