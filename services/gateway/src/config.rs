//! The gateway's configuration, read once from the environment, and what
//! it resolves to at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use zhenggai_common::config::DatabaseConfig;

use crate::auth::PasswordPolicy;

/// Lockout after repeated failed logins.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LockoutConfig {
    /// Failed logins in a row that lock an account.
    #[arg(
        long = "lockout-threshold",
        env = "ZG_LOCKOUT_THRESHOLD",
        default_value_t = 5
    )]
    pub threshold: u32,
    /// Minutes an account stays locked.
    #[arg(
        long = "lockout-minutes",
        env = "ZG_LOCKOUT_MINUTES",
        default_value_t = 30
    )]
    pub minutes: u32,
    /// Password checks (argon2, deliberately slow) that may run at once. A
    /// login that cannot start its check within a second gets 429: a flood
    /// of guesses, even at many names, cannot take the CPU from everyone else.
    #[arg(
        long = "password-checks",
        env = "ZG_PASSWORD_CHECKS",
        default_value_t = 1
    )]
    pub concurrent_checks: usize,
}

/// The gateway's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-gateway",
    version,
    about = "The zhenggai REST gateway"
)]
pub struct Config {
    /// Address for HTTP.
    #[arg(long, env = "ZG_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[arg(
        long,
        env = "ZG_CATALOGUE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub catalogue_url: String,
    #[arg(long, env = "ZG_LEDGER_URL", default_value = "http://127.0.0.1:50052")]
    pub ledger_url: String,
    #[arg(
        long,
        env = "ZG_SCHEDULER_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub scheduler_url: String,
    #[arg(
        long,
        env = "ZG_NOTIFIER_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub notifier_url: String,
    /// PEM file with the Ed25519 private key that signs tokens (gateway only).
    #[arg(
        long,
        env = "ZG_JWT_PRIVATE_KEY_FILE",
        default_value = "keys/jwt-private.pem"
    )]
    pub jwt_private_key_file: PathBuf,
    /// PEM file with the matching public key, which every service reads.
    #[arg(
        long,
        env = "ZG_JWT_PUBLIC_KEY_FILE",
        default_value = "keys/jwt-public.pem"
    )]
    pub jwt_public_key_file: PathBuf,
    /// Write a new key pair to the two key files if they are missing, and the
    /// services' own pair when its files are named, then exit.
    #[arg(long)]
    pub generate_keys: bool,
    /// With --generate-keys: where the back-end services' own private key goes
    /// (the gateway itself never reads it).
    #[arg(long, env = "ZG_SERVICE_PRIVATE_KEY_FILE")]
    pub service_private_key_file: Option<PathBuf>,
    /// With --generate-keys: where its public key goes.
    #[arg(long, env = "ZG_SERVICE_PUBLIC_KEY_FILE")]
    pub service_public_key_file: Option<PathBuf>,
    /// How long a token lives, in seconds.
    #[arg(long, env = "ZG_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// The password of the first account, `admin`, made on the first start.
    /// Without it the first start generates one and prints it once.
    #[arg(
        long,
        env = "ZG_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true,
        value_parser = zhenggai_common::config::secret
    )]
    pub bootstrap_admin_password: Option<secrecy::SecretString>,
    /// The unit of the first account.
    #[arg(long, env = "ZG_BOOTSTRAP_ADMIN_UNIT", default_value = "411081")]
    pub bootstrap_admin_unit: String,
    #[arg(long, env = "ZG_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,
    /// How many of: lower case, upper case, digits, other characters.
    #[arg(long, env = "ZG_PASSWORD_MIN_CLASSES", default_value_t = 3)]
    pub password_min_classes: usize,
    #[command(flatten)]
    pub lockout: LockoutConfig,
    /// Largest JSON body, in bytes.
    #[arg(long, env = "ZG_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Largest upload (directory import), in bytes.
    #[arg(long, env = "ZG_UPLOAD_LIMIT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub upload_limit_bytes: usize,
    /// Largest evidence file (佐证材料) or hand-in report (整改报告), in bytes.
    #[arg(long, env = "ZG_EVIDENCE_LIMIT_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub evidence_limit_bytes: u64,
    /// Largest workbook an import takes (a filled 附件2), in bytes.
    #[arg(long, env = "ZG_WORKBOOK_LIMIT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub workbook_limit_bytes: u64,
    /// Requests running longer than this fail with 504.
    #[arg(long, env = "ZG_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

/// What the gateway's settings resolve to at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token_ttl_secs: u64,
    pub password_policy: PasswordPolicy,
    pub lockout: LockoutConfig,
    pub evidence_limit_bytes: u64,
    pub workbook_limit_bytes: u64,
    /// No request runs longer: an Idempotency-Key reserved longer ago than
    /// this belongs to a request that ended without answering (its gateway
    /// died), and a retry may take it over.
    pub request_timeout_secs: u64,
}
