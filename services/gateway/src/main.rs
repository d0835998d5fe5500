use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = zhenggai_gateway::Config::parse();
    if config.generate_keys {
        let written = zhenggai_gateway::generate_keys(&config)?;
        if written.is_empty() {
            println!("kept the existing keys");
        }
        for file in written {
            println!("wrote {}", file.display());
        }
        return Ok(());
    }
    let _telemetry = zhenggai_common::telemetry::init("gateway")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    zhenggai_gateway::run(config, listener, zhenggai_common::shutdown::signal()).await
}
