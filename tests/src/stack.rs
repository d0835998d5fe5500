//! The stack under test: the gateway and the four gRPC services, started
//! in this process on port 0 (or as processes of their own, for tests that
//! signal them), each with fresh databases that are dropped afterwards.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser as _;
use tokio::net::TcpListener;

use crate::fakes;

/// The first account's password in every test stack.
pub const ADMIN_PASSWORD: &str = "Admin-Passw0rd";

/// A running stack: the gateway and the four gRPC services, as tasks of
/// this process or (for tests that signal them) as processes of their own.
pub struct Stack {
    pub http: String,
    pub catalogue: SocketAddr,
    pub ledger: SocketAddr,
    pub scheduler: SocketAddr,
    pub notifier: SocketAddr,
    pub client: reqwest::Client,
    keys: PathBuf,
    /// The prefix of this stack's databases, dropped when the stack is.
    run: String,
    signer: zhenggai_common::identity::TokenSigner,
    stops: Vec<(&'static str, tokio::sync::oneshot::Sender<()>)>,
    /// Each running service's task, to kill it.
    running: Vec<(&'static str, tokio::task::AbortHandle)>,
    /// The mail server the notifier sends to.
    pub smtp: fakes::SmtpSink,
    /// Each service's name, arguments and address, to restart it.
    services: Vec<(&'static str, Vec<String>, SocketAddr)>,
    /// The PostgreSQL server the services use.
    database_url: String,
    /// Where the service binaries are, when the services run as processes.
    binaries: Option<PathBuf>,
    /// Each running service process.
    children: Vec<(&'static str, std::process::Child)>,
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    (listener, address)
}

/// Runs a service; its failure is printed, so a test that waits in vain says why.
fn spawn_service(handle: tokio::task::JoinHandle<anyhow::Result<()>>) {
    tokio::spawn(async move {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("service failed: {error:#}"),
            // Killed by the test.
            Err(error) if error.is_cancelled() => {}
            Err(error) => eprintln!("service panicked: {error}"),
        }
    });
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The folder of the service binaries this test binary was built with
/// (target/<profile>); `cargo build --bins` puts them there, and
/// deploy/test.sh runs it before the tests.
fn service_binaries() -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .expect("the test binary's folder");
    assert!(
        dir.join("zhenggai-gateway").is_file(),
        "no service binaries in {}: run `cargo build --bins` first (deploy/test.sh does)",
        dir.display()
    );
    dir
}

/// How long a claim on reminders and deliveries holds in tests.
const TEST_LEASE_MS: u64 = 2_000;

impl Stack {
    /// Starts the services in this process, on the server of `DATABASE_URL`.
    pub async fn start() -> Self {
        Self::start_on(database_url(), None, TEST_LEASE_MS).await
    }

    /// [`Stack::start`] with the services' own lease (30 s) on claimed
    /// reminders and deliveries, as a bench measures them; tests take
    /// over a dead instance's claims after 2 s instead.
    pub async fn start_for_bench() -> Self {
        Self::start_on(database_url(), None, 30_000).await
    }

    /// Starts each service as a process of its own (the binaries of
    /// `cargo build --bins`), on the server at `database_url`: a test can
    /// SIGKILL or SIGTERM them.
    pub async fn start_processes(database_url: String) -> Self {
        Self::start_on(database_url, Some(service_binaries()), TEST_LEASE_MS).await
    }

    async fn start_on(url: String, binaries: Option<PathBuf>, lease_ms: u64) -> Self {
        let lease_ms = lease_ms.to_string();
        let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let keys = std::env::temp_dir().join(format!("zhenggai-test-{run}"));
        let private = keys.join("jwt-private.pem");
        let public = keys.join("jwt-public.pem");
        zhenggai_common::identity::ensure_key_files(&private, &public).expect("write test keys");
        let public_arg = public.display().to_string();
        let service_args = |name: &str| {
            vec![
                name.to_owned(),
                "--database-url".to_owned(),
                url.clone(),
                "--database-name".to_owned(),
                format!("zgt_{run}_{name}"),
                "--database-max-connections".to_owned(),
                "4".to_owned(),
                "--jwt-public-key-file".to_owned(),
                public_arg.clone(),
            ]
        };
        let service_private = keys.join("service-private.pem");
        let service_public = keys.join("service-public.pem");
        zhenggai_common::identity::ensure_key_files(&service_private, &service_public)
            .expect("write test service keys");
        let grpc_args = |name: &str| {
            let mut args = service_args(name);
            args.extend([
                "--service-private-key-file".to_owned(),
                service_private.display().to_string(),
                "--service-public-key-file".to_owned(),
                service_public.display().to_string(),
                // Tests drive time with the drill clock: no sleeps.
                "--drill".to_owned(),
            ]);
            args
        };

        let smtp = fakes::SmtpSink::start().await;
        let mut notifier_args = grpc_args("notifier");
        notifier_args.extend(
            [
                "--smtp-url".to_owned(),
                format!("smtp://{}", smtp.address),
                "--smtp-from".to_owned(),
                "zhenggai@test.example".to_owned(),
                // The fake receivers listen on loopback, which the egress
                // policy refuses unless admitted.
                "--channel-allow".to_owned(),
                "127.0.0.1".to_owned(),
            ]
            .into_iter()
            .chain(
                [
                    ("--tick-ms", "100"),
                    ("--lease-ms", lease_ms.as_str()),
                    ("--retry-base-ms", "100"),
                    ("--max-attempts", "4"),
                    (
                        "--rates",
                        "email=10000/s,webhook=100000/s,wecom=100000/s,sms=100000/s",
                    ),
                ]
                .map(|(flag, value)| [flag.to_owned(), value.to_owned()])
                .into_iter()
                .flatten(),
            ),
        );
        // Every address first: the services name each other.
        let (catalogue_l, catalogue) = listener().await;
        let (ledger_l, ledger) = listener().await;
        let (scheduler_l, scheduler) = listener().await;
        let (notifier_l, notifier) = listener().await;
        let (gateway_l, http) = listener().await;
        let mut ledger_args = grpc_args("ledger");
        ledger_args.extend([
            "--catalogue-url".to_owned(),
            format!("http://{catalogue}"),
            "--scheduler-url".to_owned(),
            format!("http://{scheduler}"),
            "--notifier-url".to_owned(),
            format!("http://{notifier}"),
        ]);
        let mut scheduler_args = grpc_args("scheduler");
        scheduler_args.extend([
            "--ledger-url".to_owned(),
            format!("http://{ledger}"),
            "--notifier-url".to_owned(),
            format!("http://{notifier}"),
            "--tick-ms".to_owned(),
            "200".to_owned(),
            "--lease-ms".to_owned(),
            lease_ms.clone(),
        ]);
        let mut gateway_args = service_args("gateway");
        gateway_args.extend([
            "--scheduler-url".to_owned(),
            format!("http://{scheduler}"),
            "--notifier-url".to_owned(),
            format!("http://{notifier}"),
            "--jwt-private-key-file".to_owned(),
            private.display().to_string(),
            "--catalogue-url".to_owned(),
            format!("http://{catalogue}"),
            "--ledger-url".to_owned(),
            format!("http://{ledger}"),
            "--bootstrap-admin-password".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ]);
        let services = vec![
            ("catalogue", grpc_args("catalogue"), catalogue),
            ("ledger", ledger_args, ledger),
            ("scheduler", scheduler_args, scheduler),
            ("notifier", notifier_args, notifier),
            ("gateway", gateway_args, http),
        ];

        let mut stack = Self {
            http: format!("http://{http}"),
            catalogue,
            ledger,
            scheduler,
            notifier,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            signer: zhenggai_common::identity::TokenSigner::from_file(&private)
                .expect("test signing key"),
            keys,
            run,
            stops: Vec::new(),
            running: Vec::new(),
            smtp,
            services,
            database_url: url,
            binaries,
            children: Vec::new(),
        };
        for (name, listener) in [
            ("catalogue", catalogue_l),
            ("ledger", ledger_l),
            ("scheduler", scheduler_l),
            ("notifier", notifier_l),
            ("gateway", gateway_l),
        ] {
            stack.launch(name, listener);
        }
        stack.wait_ready().await;
        stack
    }

    /// Runs one service on `listener` with the arguments it started with.
    fn launch(&mut self, name: &'static str, listener: TcpListener) {
        if let Some(binaries) = &self.binaries {
            let address = listener.local_addr().expect("the listener's address");
            // The process binds the address itself.
            drop(listener);
            let child = self.spawn_process(binaries, name, address);
            self.children.push((name, child));
            return;
        }
        let (tx, stop) = zhenggai_common::shutdown::manual();
        self.stops.push((name, tx));
        let args = self
            .services
            .iter()
            .find(|(service, _, _)| *service == name)
            .map(|(_, args, _)| args.clone())
            .expect("a known service");
        let handle = match name {
            "catalogue" => tokio::spawn(zhenggai_catalogue::run(
                zhenggai_catalogue::Config::parse_from(args),
                listener,
                stop,
            )),
            "ledger" => tokio::spawn(zhenggai_ledger::run(
                zhenggai_ledger::Config::parse_from(args),
                listener,
                stop,
            )),
            "scheduler" => tokio::spawn(zhenggai_scheduler::run(
                zhenggai_scheduler::Config::parse_from(args),
                listener,
                stop,
            )),
            "notifier" => tokio::spawn(zhenggai_notifier::run(
                zhenggai_notifier::Config::parse_from(args),
                listener,
                stop,
            )),
            _ => tokio::spawn(zhenggai_gateway::run(
                zhenggai_gateway::Config::parse_from(args),
                listener,
                stop,
            )),
        };
        self.running.push((name, handle.abort_handle()));
        spawn_service(handle);
    }

    fn spawn_process(
        &self,
        binaries: &std::path::Path,
        name: &'static str,
        address: SocketAddr,
    ) -> std::process::Child {
        let args = self
            .services
            .iter()
            .find(|(service, _, _)| *service == name)
            .map(|(_, args, _)| args[1..].to_vec())
            .expect("a known service");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.keys.join(format!("{name}.log")))
            .expect("a log file");
        std::process::Command::new(binaries.join(format!("zhenggai-{name}")))
            .args(args)
            .arg("--listen")
            .arg(address.to_string())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start zhenggai-{name}: {error}"))
    }

    /// What a service process has logged so far.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.keys.join(format!("{service}.log"))).unwrap_or_default()
    }

    /// The process id of a service running as a process.
    pub fn pid(&self, service: &str) -> u32 {
        self.children
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, child)| child.id())
            .unwrap_or_else(|| panic!("{service} is not running as a process"))
    }

    /// Sends SIGTERM to a service process and answers how long it took to
    /// exit, and its exit status (panics after 60 s).
    pub async fn terminate(
        &mut self,
        service: &str,
    ) -> (std::time::Duration, std::process::ExitStatus) {
        let pid = self.pid(service);
        let started = std::time::Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let index = self
            .children
            .iter()
            .position(|(name, _)| *name == service)
            .expect("a running process");
        let (_, mut child) = self.children.remove(index);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the process") {
                return (started.elapsed(), status);
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{service} did not exit within 60 s of SIGTERM"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Kills one service at once, as SIGKILL would: its tasks are dropped
    /// wherever they stand, nothing finishes. A process gets SIGKILL.
    pub fn kill(&mut self, service: &str) {
        for (_, child) in self
            .children
            .iter_mut()
            .filter(|(name, _)| *name == service)
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.retain(|(name, _)| *name != service);
        self.stops.retain(|(name, _)| *name != service);
        for (_, task) in self.running.iter().filter(|(name, _)| *name == service) {
            task.abort();
        }
        self.running.retain(|(name, _)| *name != service);
    }

    /// Starts a stopped service again on its old address (its database and
    /// everything in it are as it left them).
    pub async fn restart(&mut self, name: &'static str) {
        self.stop(name);
        let address = self
            .services
            .iter()
            .find(|(service, _, _)| *service == name)
            .map(|(_, _, address)| *address)
            .expect("a known service");
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(address).await {
                self.launch(name, listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{name}'s address {address} stayed taken");
    }

    /// Asks one service to stop, as SIGTERM would.
    pub fn stop(&mut self, service: &str) {
        if let Some(index) = self.stops.iter().position(|(name, _)| *name == service) {
            let (_, stop) = self.stops.remove(index);
            let _ = stop.send(());
        }
    }

    /// Waits until the gateway answers and every service serves (the
    /// catalogue has seeded).
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(response) = self.client.get(self.url("/readyz")).send().await
                && response.status().is_success()
                && self.health(self.catalogue).await
                && self.health(self.ledger).await
                && self.health(self.scheduler).await
                && self.health(self.notifier).await
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the stack did not become ready within 60 s");
    }

    /// Asks a service's standard gRPC health service whether it serves.
    pub async fn health(&self, address: SocketAddr) -> bool {
        let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .expect("endpoint")
            .connect()
            .await
        else {
            return false;
        };
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        matches!(
            client.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await,
            Ok(response) if response.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        )
    }

    /// Starts another scheduler instance on the same database, named
    /// `instance` in its claims, with `extra` flags (pairs of flag and
    /// value) in place of the stack's; abort the handle to kill it mid-work.
    pub async fn scheduler_replica(
        &self,
        instance: &str,
        extra: &[&str],
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let (listener, _) = listener().await;
        let mut args = self
            .services
            .iter()
            .find(|(service, _, _)| *service == "scheduler")
            .map(|(_, args, _)| args.clone())
            .expect("the scheduler's arguments");
        // `extra` holds flag and value pairs; each replaces the stack's own.
        for pair in extra.chunks(2) {
            if let Some(at) = args.iter().position(|arg| arg == pair[0]) {
                args.drain(at..at + 2);
            }
            args.extend(pair.iter().map(|arg| (*arg).to_owned()));
        }
        args.extend(["--instance".to_owned(), instance.to_owned()]);
        tokio::spawn(zhenggai_scheduler::run(
            zhenggai_scheduler::Config::try_parse_from(args).expect("replica arguments"),
            listener,
            std::future::pending(),
        ))
    }

    /// A token for an office the gateway has no account for (a province's),
    /// signed with the stack's key: good for calling the services directly.
    /// A back-end service's own token (as the scheduler calls the notifier).
    pub fn peer_token(&self, service: &str) -> String {
        zhenggai_common::identity::ServiceIdentity::from_files(
            service,
            &self.keys.join("service-private.pem"),
            &self.keys.join("service-public.pem"),
        )
        .expect("the stack's service keys")
        .token()
        .expect("a service token")
    }

    pub fn service_token(&self, username: &str, role: zhenggai_common::Role, unit: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&zhenggai_common::identity::Claims {
            iss: zhenggai_common::identity::TOKEN_ISSUER.into(),
            aud: zhenggai_common::identity::TOKEN_AUDIENCE.into(),
            sub: uuid::Uuid::new_v4(),
            name: username.into(),
            role,
            unit: zhenggai_common::UnitCode::try_from(unit).expect("a unit code"),
            jti: uuid::Uuid::new_v4(),
            generation: 0,
            clearance: false,
            iat: now,
            nbf: now,
            exp: now + 3600,
        })
    }

    /// Signs claims with the stack's own key, as the gateway would.
    pub fn sign(&self, claims: &zhenggai_common::identity::Claims) -> String {
        self.signer.sign(claims).expect("sign")
    }

    /// A connection to one service's database in this stack, to look under
    /// the service's feet (as an operator with database access could).
    pub async fn database(&self, service: &str) -> sqlx::PgConnection {
        use sqlx::ConnectOptions as _;
        let options: sqlx::postgres::PgConnectOptions = self
            .database_url
            .parse()
            .expect("DATABASE_URL is a PostgreSQL URL");
        options
            .database(&format!("zgt_{}_{service}", self.run))
            .connect()
            .await
            .expect("connect to a service database")
    }

    /// One number from one service's database.
    pub async fn scalar(&self, service: &str, sql: &str) -> i64 {
        let mut db = self.database(service).await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut db)
            .await
            .expect("a number")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, stop) in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for (_, mut child) in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.keys);
        // Leave a shared server as it was: drop this stack's databases (their
        // services are stopping; FORCE ends their last connections).
        let run = self.run.clone();
        let url = self.database_url.clone();
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use sqlx::Connection as _;
                let Ok(mut connection) = sqlx::PgConnection::connect(&url).await else {
                    return;
                };
                for service in ["catalogue", "ledger", "scheduler", "notifier", "gateway"] {
                    let statement =
                        format!("DROP DATABASE IF EXISTS zgt_{run}_{service} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut connection)
                        .await;
                }
            });
        });
        let _ = dropping.join();
    }
}
