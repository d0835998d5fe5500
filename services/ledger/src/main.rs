use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = zhenggai_ledger::Config::parse();
    let _telemetry = zhenggai_common::telemetry::init("ledger")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    zhenggai_ledger::run(config, listener, zhenggai_common::shutdown::signal()).await
}
