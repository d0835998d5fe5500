//! Configuration pieces that every service reads from its environment.
//!
//! Each service composes these into its own `Config` with `#[command(flatten)]`
//! and parses it once in `main`. Secrets are hidden from `--help`.

use std::path::PathBuf;

/// Where the service's own database lives.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Any database on the PostgreSQL server; the service connects there to
    /// create its own database when it is missing.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    pub url: String,
    /// The name of this service's own database (default: `zhenggai_<service>`).
    #[arg(long = "database-name", env = "ZG_DATABASE_NAME")]
    pub name: Option<String>,
    /// Connections in the pool.
    #[arg(
        long = "database-max-connections",
        env = "ZG_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub max_connections: u32,
    /// How long a request waits for a connection before it fails with 503.
    #[arg(
        long = "database-acquire-timeout-ms",
        env = "ZG_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub acquire_timeout_ms: u64,
}

/// How a service checks the caller's identity: the gateway's public key.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityConfig {
    /// PEM file with the Ed25519 public key that verifies the gateway's tokens.
    #[arg(
        long = "jwt-public-key-file",
        env = "ZG_JWT_PUBLIC_KEY_FILE",
        default_value = "keys/jwt-public.pem"
    )]
    pub public_key_file: PathBuf,
    /// PEM file with the back-end services' own Ed25519 private key, to call
    /// each other when no user is waiting (outbox relays).
    #[arg(long = "service-private-key-file", env = "ZG_SERVICE_PRIVATE_KEY_FILE")]
    pub service_private_key_file: Option<PathBuf>,
    /// PEM file with its public key, to verify such calls.
    #[arg(long = "service-public-key-file", env = "ZG_SERVICE_PUBLIC_KEY_FILE")]
    pub service_public_key_file: Option<PathBuf>,
}

impl IdentityConfig {
    /// The services' own identity, when both of its key files are configured.
    pub fn service_identity(
        &self,
        name: &str,
    ) -> Result<Option<crate::identity::ServiceIdentity>, crate::identity::KeyError> {
        match (
            &self.service_private_key_file,
            &self.service_public_key_file,
        ) {
            (Some(private), Some(public)) => {
                crate::identity::ServiceIdentity::from_files(name, private, public).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// What every gRPC service reads besides its listen address.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub identity: IdentityConfig,
    /// Run as a drill (演练): the city office may set the clock that
    /// deadlines and reminders read (`PUT /api/v1/admin/clock`). Off in
    /// production.
    #[arg(long = "drill", env = "ZG_DRILL", default_value_t = false)]
    pub drill: bool,
}

/// The name an instance signs its claims with (leases on reminders and
/// deliveries): the configured one, or the host name, the process id and a
/// random suffix, unique even for several instances in one process.
pub fn instance_name(configured: Option<&str>, service: &str) -> String {
    match configured.filter(|name| !name.is_empty()) {
        Some(name) => name.to_owned(),
        None => {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| service.to_owned());
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("{host}-{}-{}", std::process::id(), &suffix[..8])
        }
    }
}
