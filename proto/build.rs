//! Generates the gRPC contracts with the vendored `protoc`: nothing to install.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "zhenggai/clock/v1/clock.proto",
    "zhenggai/catalogue/v1/catalogue.proto",
    "zhenggai/ledger/v1/ledger.proto",
    "zhenggai/scheduler/v1/scheduler.proto",
    "zhenggai/notifier/v1/notifier.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("zhenggai_descriptor.bin"))
        .compile_protos(PROTOS, &["."])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}
