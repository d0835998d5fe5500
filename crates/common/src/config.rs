//! Configuration pieces that every service reads from its environment.
//!
//! Each service composes these into its own `Config` with `#[command(flatten)]`
//! and parses it once in `main`. Secrets are hidden from `--help`.

use std::path::PathBuf;

use secrecy::SecretString;

/// Where the service's own database lives.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Any database on the PostgreSQL server; the service connects there to
    /// create its own database when it is missing.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true,
        value_parser = secret
    )]
    pub url: SecretString,
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
    /// The service's own database.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// How callers are verified.
    #[command(flatten)]
    pub identity: IdentityConfig,
    /// Run as a drill (演练): the city office may set the clock that
    /// deadlines and reminders read (`PUT /api/v1/admin/clock`). Off in
    /// production.
    #[arg(
        long = "drill",
        env = "ZG_DRILL",
        value_parser = Switch,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        require_equals = true
    )]
    pub drill: bool,
}

/// Reads a secret setting (a password, a URL with credentials in it) into a
/// [`SecretString`], whose `Debug` never prints it. Use it as the
/// `value_parser` of every secret, beside `hide_env_values = true`.
pub fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// A switch (on/off setting) read as people write it: `1`/`0`, `true`/`false`,
/// `yes`/`no`, `on`/`off`, in any case; empty is off. A wrong value is refused naming the
/// environment variable it came from, so an operator sees which line of the
/// compose file or manifest to fix.
///
/// Use it on every boolean setting: `value_parser = Switch, num_args = 0..=1,
/// default_value = "false", default_missing_value = "true", require_equals = true`
/// (so `--drill` alone still switches it on).
#[derive(Debug, Clone, Copy)]
pub struct Switch;

impl Switch {
    /// The value of a switch, or `None` when the text is not one.
    pub fn read(text: &str) -> Option<bool> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "y" => Some(true),
            // An empty value (`ZG_DRILL=` in an env file) is the default: off.
            "" | "0" | "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        }
    }
}

impl clap::builder::TypedValueParser for Switch {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        if let Some(on) = value.to_str().and_then(Self::read) {
            return Ok(on);
        }
        let setting = match arg {
            Some(arg) => {
                let flag = arg.get_long().map(|long| format!("--{long}"));
                match (arg.get_env().and_then(|env| env.to_str()), flag) {
                    (Some(env), Some(flag)) => format!("{env} ({flag})"),
                    (Some(env), None) => env.to_owned(),
                    (None, Some(flag)) => flag,
                    (None, None) => arg.get_id().to_string(),
                }
            }
            None => "a switch".to_owned(),
        };
        let message = format!(
            "{setting}: {:?} is not a switch; write 1 or 0, true or false, yes or no, on or off\n",
            value.to_string_lossy()
        );
        Err(clap::Error::raw(clap::error::ErrorKind::InvalidValue, message).with_cmd(cmd))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            ["true", "false", "1", "0", "yes", "no", "on", "off"]
                .into_iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Service {
        #[command(flatten)]
        service: ServiceConfig,
    }

    /// Parses `args` with `ZG_DRILL` as the environment gives it (process
    /// environment is shared by tests, so each test holds the lock).
    fn drill(env: Option<&str>, args: &[&str]) -> Result<bool, String> {
        static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _held = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: every test that touches the environment holds ENV.
        unsafe {
            match env {
                Some(value) => std::env::set_var("ZG_DRILL", value),
                None => std::env::remove_var("ZG_DRILL"),
            }
        }
        let parsed =
            Service::try_parse_from(std::iter::once("service").chain(args.iter().copied()))
                .map(|parsed| parsed.service.drill)
                .map_err(|error| error.to_string());
        unsafe { std::env::remove_var("ZG_DRILL") };
        parsed
    }

    #[test]
    fn the_drill_switch_reads_as_people_write_it() {
        for on in ["1", "true", "TRUE", "yes", "Yes", "on", "ON"] {
            assert_eq!(drill(Some(on), &[]), Ok(true), "ZG_DRILL={on}");
        }
        for off in ["0", "false", "False", "no", "off", "OFF"] {
            assert_eq!(drill(Some(off), &[]), Ok(false), "ZG_DRILL={off}");
        }
        assert_eq!(drill(None, &[]), Ok(false), "off unless set");
        assert_eq!(drill(None, &["--drill"]), Ok(true), "the bare flag");
        assert_eq!(drill(None, &["--drill=off"]), Ok(false));
        assert_eq!(
            drill(Some("1"), &["--drill=no"]),
            Ok(false),
            "the flag wins"
        );
    }

    #[test]
    fn a_wrong_switch_is_refused_naming_the_variable() {
        let error = drill(Some("maybe"), &[]).expect_err("maybe is not a switch");
        assert!(error.contains("ZG_DRILL"), "{error}");
        assert!(error.contains("maybe"), "{error}");
        assert!(error.contains("on or off"), "{error}");
        assert_eq!(drill(Some(""), &[]), Ok(false), "an empty value is off");
    }

    #[test]
    fn a_secret_never_prints() {
        let parsed = Service::try_parse_from([
            "service",
            "--database-url",
            "postgres://zhenggai:s3cret-pass@db:5432/postgres",
        ])
        .expect("a configuration");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        use secrecy::ExposeSecret as _;
        assert!(
            parsed
                .service
                .database
                .url
                .expose_secret()
                .contains("s3cret-pass")
        );
    }
}
