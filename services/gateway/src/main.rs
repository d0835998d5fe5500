use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_large_blocks();
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

/// A password check (argon2id) takes 19 MiB. glibc raises its mmap threshold
/// after the first such block is freed and from then on keeps them in each
/// thread's arena, so every blocking thread that ever checked a password held
/// 19–38 MiB for good (175 MB after 65 logins). A fixed threshold hands each
/// block back to the system when the check ends.
fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator, under its own lock; it takes
    // no pointers and may be called from any thread at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
