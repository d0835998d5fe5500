//! A private PostgreSQL cluster, for tests that stop and restart the server
//! under load. Made from the machine's binaries (as `deploy/lib/postgres.sh`
//! does), with the settings our deployment files give it; removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: as root, the cluster runs as `postgres`.
    as_postgres: bool,
}

impl Cluster {
    /// Initialises and starts a cluster on a free loopback port.
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = std::env::temp_dir().join(format!(
            "zhenggai-test-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(&dir));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        run(cluster
            .command("initdb")
            .args(["-D", &cluster.data(), "-U", "postgres", "--auth=trust"])
            .args(["--encoding=UTF8", "--locale=C.UTF-8"]));
        cluster.start_server();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`-m immediate`: as if it crashed; every
    /// connection breaks).
    pub fn stop(&self) {
        run(self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]));
    }

    /// Starts the stopped server again (after crash recovery).
    pub fn start_server(&self) {
        // The settings of deploy/lib/postgres.sh: a crashed client cannot
        // hold row locks for long.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 \
             -c idle_in_transaction_session_timeout=60s -c client_connection_check_interval=10s \
             -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        run(self.command("pg_ctl").args([
            "-D",
            &self.data(),
            "-l",
            &log,
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ]));
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// The folder of `initdb` and `pg_ctl`: on the PATH, else the newest
/// /usr/lib/postgresql/<version>/bin.
fn server_binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()))
    {
        return dir;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
                .filter(|bin| Path::new(bin).join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
    });
    versions
        .pop()
        .expect("no PostgreSQL server binaries (initdb, pg_ctl): install them (Debian: apt-get install postgresql)")
}
