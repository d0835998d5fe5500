//! The load generator of `deploy/bench.sh`. It drives a running stack over
//! loopback HTTP from its own process, runs each scenario's baseline in the
//! same go (pgbench running the ledger's own statements, a COPY of the same
//! rows), samples every service's resident memory, prints a table and
//! writes `report.json`. Speed figures are ratios against those baselines or
//! latencies from the same run: these machines are shared and noisy.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The server every service's database is on (any database there).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "ZG_BOOTSTRAP_ADMIN_PASSWORD")]
    admin_password: String,
    /// county (禹州市) | province (河南) | national (全国)
    #[arg(long, default_value = "county")]
    scale: String,
    /// The division table to load at province or national scale (default:
    /// data/divisions/henan-41.csv.gz or data/divisions/china.csv.gz).
    #[arg(long)]
    divisions: Option<PathBuf>,
    /// Each service's process: name=pid, comma-separated.
    #[arg(long, default_value = "")]
    pids: String,
    /// The pgbench binary.
    #[arg(long, default_value = "pgbench")]
    pgbench: String,
    /// Seconds each load phase runs.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Concurrent clients of the write and read scenarios.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Where the report goes.
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// Figures measured elsewhere in this run (JSON files), merged in.
    #[arg(long = "merge")]
    merge: Vec<PathBuf>,
    /// Scenarios to run (default: all): fanout write read dashboard export memory.
    scenarios: Vec<String>,
}

/// Latencies of one phase.
#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort();
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index].as_secs_f64() * 1e3
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        version: Option<u64>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(version) = version {
            request = request.header("if-match", version.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .call(reqwest::Method::GET, path, token, None, None)
            .await?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self
            .call(reqwest::Method::POST, path, token, Some(body), None)
            .await?;
        ensure!(
            (200..300).contains(&status),
            "POST {path}: {status} {answer}"
        );
        Ok(answer)
    }

    async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                "",
                Some(json!({ "username": username, "password": password })),
                None,
            )
            .await?;
        ensure!(status == 200, "login {username}: {status} {body}");
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("a token")
    }
}

/// Resident memory of a process in MB: now (VmRSS) or its peak (VmHWM).
fn rss_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU time (clock ticks) a process has used, user and system.
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the command name (which may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// CPU ticks of each service, of every PostgreSQL process, and of this one.
fn cpu_snapshot(pids: &BTreeMap<String, u32>) -> BTreeMap<String, u64> {
    let mut ticks: BTreeMap<String, u64> = pids
        .iter()
        .map(|(name, pid)| (name.clone(), cpu_ticks(*pid)))
        .collect();
    let postgres: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_ticks)
        .sum();
    ticks.insert("postgres".into(), postgres);
    ticks.insert("loadgen".into(), cpu_ticks(std::process::id()));
    ticks
}

/// Where the CPU went between two snapshots, as shares of the total.
fn cpu_shares(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Value {
    let used: BTreeMap<&String, u64> = after
        .iter()
        .map(|(name, t)| {
            (
                name,
                t.saturating_sub(before.get(name).copied().unwrap_or(0)),
            )
        })
        .collect();
    let total: u64 = used.values().sum::<u64>().max(1);
    Value::Object(
        used.into_iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    json!(((t as f64 / total as f64) * 1000.0).round() / 1000.0),
                )
            })
            .collect(),
    )
}

fn database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => url.to_owned(),
    }
}

/// Runs pgbench with `script` and answers its transactions per second.
async fn pgbench(args: &Args, database: &str, script: &str, clients: usize) -> anyhow::Result<f64> {
    let file = std::env::temp_dir().join(format!("zhenggai-pgbench-{}.sql", uuid::Uuid::new_v4()));
    std::fs::write(&file, script)?;
    let output = tokio::process::Command::new(&args.pgbench)
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(args.seconds.to_string())
        .arg("-f")
        .arg(&file)
        .arg(database)
        .output()
        .await
        .context("pgbench")?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .context("pgbench printed no tps")
}

/// What the scenarios share: the campaign and the units that load it.
struct Setup {
    campaign: Value,
    area: String,
    /// (village code, ledger id, token) of the writing and reading clients.
    villages: Vec<(String, String, String)>,
}

const LEDGER_COLUMNS: &str = "id, campaign_id, unit_code, unit_name, unit_level, sections, sections_answered, findings, closed, version, head_seq, head_digest";
const FINDING_COLUMNS: &str = "id, ledger_id, campaign_id, unit_code, problem_seq, seq, description, measures, due_on, kind, responsible, result, standing_mechanism, households, state, written_off, version, evidence_count, created_at, updated_at";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let all = ["fanout", "write", "read", "dashboard", "export", "memory"];
    let scenarios: Vec<String> = if args.scenarios.is_empty() {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        args.scenarios.clone()
    };
    let runs = |name: &str| scenarios.iter().any(|s| s == name);
    let client = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(600))
            .build()?,
        base: args.gateway.trim_end_matches('/').to_owned(),
    };
    let pids: BTreeMap<String, u32> = args
        .pids
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(name, pid)| Some((name.to_owned(), pid.parse().ok()?)))
        .collect();
    let mut report = serde_json::Map::new();
    report.insert("scale".into(), json!(args.scale));
    let mut rss_idle = serde_json::Map::new();
    for (name, pid) in &pids {
        if let Some(mb) = rss_mb(*pid, "VmRSS:") {
            rss_idle.insert(name.clone(), json!((mb * 10.0).round() / 10.0));
        }
    }

    let admin = client.login("admin", &args.admin_password).await?;
    let setup = setup(&args, &client, &admin, &mut report, runs("fanout")).await?;
    let ledger_db = database(&args.database_url, "zhenggai_ledger");

    if runs("write") || runs("dashboard") {
        prepare_findings(&client, &setup).await?;
    }
    for phase in ["write", "read"] {
        if !runs(phase) {
            continue;
        }
        let before = cpu_snapshot(&pids);
        let (rps, mut latencies) = match phase {
            "write" => write_load(&client, &setup, args.seconds, args.clients).await?,
            _ => read_load(&client, &setup, args.seconds, args.clients).await?,
        };
        let shares = cpu_shares(&before, &cpu_snapshot(&pids));
        let script = match phase {
            "write" => write_script(&args, &setup).await?,
            _ => read_script(&args, &setup).await?,
        };
        let baseline = pgbench(&args, &ledger_db, &script, args.clients).await?;
        for (figure, value) in [
            ("rps", json!(rps.round())),
            ("baseline_tps", json!(baseline.round())),
            ("ratio", json!(rps / baseline)),
            ("p50_ms", json!(latencies.percentile(0.5))),
            ("p99_ms", json!(latencies.percentile(0.99))),
            ("cpu_share", shares.clone()),
        ] {
            report.insert(format!("{phase}_{figure}"), value);
        }
    }
    if runs("dashboard") {
        // The roll-up alone first, for what the query costs without the writes.
        let mut idle = dashboard_alone(&client, &setup, &admin, args.seconds.min(5)).await?;
        report.insert("dashboard_idle_p50_ms".into(), json!(idle.percentile(0.5)));
        report.insert("dashboard_idle_p99_ms".into(), json!(idle.percentile(0.99)));
        let mut latencies =
            dashboard_under_writes(&client, &setup, &admin, args.seconds, args.clients).await?;
        report.insert("dashboard_p50_ms".into(), json!(latencies.percentile(0.5)));
        report.insert("dashboard_p99_ms".into(), json!(latencies.percentile(0.99)));
    }
    if runs("export") {
        export(&client, &setup, &admin, &mut report).await?;
    }
    if runs("memory") || !pids.is_empty() {
        let mut rss_peak = serde_json::Map::new();
        for (name, pid) in &pids {
            if let Some(mb) = rss_mb(*pid, "VmHWM:") {
                rss_peak.insert(name.clone(), json!((mb * 10.0).round() / 10.0));
            }
        }
        report.insert("rss_idle_mb".into(), Value::Object(rss_idle));
        report.insert("rss_peak_mb".into(), Value::Object(rss_peak));
    }
    for path in &args.merge {
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("loadgen: {} missing, not merged", path.display());
            continue;
        };
        if let Ok(Value::Object(figures)) = serde_json::from_str::<Value>(&text) {
            report.extend(figures);
        }
    }
    print_table(&report);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, format!("{:#}\n", Value::Object(report)))?;
    println!("report: {}", args.out.display());
    Ok(())
}

/// The scale's directory and notice, the campaign (timed as `fanout` with
/// its COPY baseline), and village users to load it.
async fn setup(
    args: &Args,
    client: &Client,
    admin: &str,
    report: &mut serde_json::Map<String, Value>,
    measure_fanout: bool,
) -> anyhow::Result<Setup> {
    let (area, document_id) = match args.scale.as_str() {
        "county" => {
            let documents = client.get("/api/v1/documents", admin).await?;
            let id = documents["items"]
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .find(|d| d["doc_number"] == "禹巩固脱贫组〔2023〕5号")
                })
                .and_then(|d| d["id"].as_str())
                .context("the founding notice")?
                .to_owned();
            ("411081".to_owned(), id)
        }
        scale @ ("province" | "national") => {
            let (area, table, issuer, doc_prefix, whole) = if scale == "province" {
                (
                    "41",
                    "data/divisions/henan-41.csv.gz",
                    "河南省巩固拓展脱贫攻坚成果领导小组",
                    "豫",
                    "全省",
                )
            } else {
                (
                    "00",
                    "data/divisions/china.csv.gz",
                    "巩固拓展脱贫攻坚成果领导小组",
                    "国",
                    "全国",
                )
            };
            let path = args.divisions.clone().unwrap_or_else(|| table.into());
            let started = Instant::now();
            for csv in tables_by_province(&path)? {
                let response = client
                    .http
                    .post(format!("{}/api/v1/units/import", client.base))
                    .bearer_auth(admin)
                    .header("content-type", "text/csv")
                    .body(csv)
                    .send()
                    .await?;
                ensure!(
                    response.status().is_success(),
                    "import: {}",
                    response.text().await?
                );
            }
            report.insert(
                "import_divisions_s".into(),
                json!(started.elapsed().as_secs_f64()),
            );
            let problems: Vec<Value> = (1..=15)
                .map(|seq| {
                    json!({ "seq": seq, "aspect_seq": 1 + (seq - 1) / 4, "title": format!("反馈问题{seq}"),
                            "manifestation": format!("问题表现{seq}"), "measures": [{ "seq": 1, "text": "对照整改" }],
                            "responsible_units": [{ "code": area, "lead": true, "scope": "unit" }],
                            "responsible_text": "各乡镇", "deadline": { "due_on": "2023-07-20", "continuing": true } })
                })
                .collect();
            let aspects: Vec<Value> = [
                "责任落实方面",
                "政策落实方面",
                "工作落实方面",
                "巩固成效方面",
            ]
            .iter()
            .enumerate()
            .map(|(i, name)| json!({ "seq": i + 1, "name": name }))
            .collect();
            let document = client
                .post(
                    "/api/v1/documents",
                    admin,
                    json!({ "doc_number": format!("{doc_prefix}巩固脱贫组〔2023〕{}号", std::process::id()),
                            "title": format!("关于印发《{whole}反馈问题对照整改方案》的通知"), "issuer": issuer,
                            "issued_on": "2023-06-20", "area": area, "aspects": aspects, "problems": problems }),
                )
                .await?;
            (
                area.to_owned(),
                document["id"].as_str().context("document id")?.to_owned(),
            )
        }
        other => bail!("scale {other:?}: county, province or national"),
    };
    let started = Instant::now();
    let campaign = client
        .post(
            "/api/v1/campaigns",
            admin,
            json!({ "document_id": document_id, "area": area }),
        )
        .await?;
    let fanout = started.elapsed().as_secs_f64();
    if measure_fanout {
        let sections = campaign["section_count"].as_u64().unwrap_or_default();
        let copy = copy_baseline(args, campaign["id"].as_str().context("campaign id")?).await?;
        report.insert("fanout_s".into(), json!(fanout));
        report.insert("fanout_ledgers".into(), campaign["ledger_count"].clone());
        report.insert("fanout_sections".into(), json!(sections));
        report.insert("fanout_copy_s".into(), json!(copy));
        report.insert("fanout_copy_ratio".into(), json!(copy / fanout));
    }
    // Village users: one per village ledger, for the load's clients.
    let page = client
        .get(
            &format!(
                "/api/v1/ledgers?campaign={}&limit=1000",
                campaign["id"].as_str().context("campaign id")?
            ),
            admin,
        )
        .await?;
    let mut villages = Vec::new();
    for ledger in page["items"].as_array().context("ledgers")? {
        if ledger["unit"]["level"] != "village" || villages.len() >= args.clients {
            continue;
        }
        let code = ledger["unit"]["code"].as_str().context("code")?.to_owned();
        let username = format!("bench-{code}");
        let password = "Bench-pass-1";
        client
            .post(
                "/api/v1/users",
                admin,
                json!({ "username": username, "password": password, "role": "village", "unit": code }),
            )
            .await?;
        let token = client.login(&username, password).await?;
        villages.push((code, ledger["id"].as_str().context("id")?.to_owned(), token));
    }
    ensure!(
        villages.len() == args.clients,
        "only {} village ledgers",
        villages.len()
    );
    Ok(Setup {
        campaign,
        area,
        villages,
    })
}

/// A gzipped division table split by province, each part with the header:
/// one import per province keeps each request (and the catalogue's memory)
/// at a province's size. Rows keep their order, parents before children.
fn tables_by_province(path: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(path).with_context(|| path.display().to_string())?,
    )
    .read_to_string(&mut text)?;
    let mut lines = text.lines();
    let header = lines.next().context("an empty division table")?;
    let mut parts: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let part = parts
            .entry(line.get(..2).unwrap_or_default())
            .or_insert_with(|| format!("{header}\n").into_bytes());
        part.extend_from_slice(line.as_bytes());
        part.push(b'\n');
    }
    Ok(parts.into_values().collect())
}

/// The same ledgers and sections COPYed into scratch tables of the ledger's
/// database: seconds.
async fn copy_baseline(args: &Args, campaign_id: &str) -> anyhow::Result<f64> {
    use sqlx::Connection as _;
    let mut db =
        sqlx::PgConnection::connect(&database(&args.database_url, "zhenggai_ledger")).await?;
    let campaign = uuid::Uuid::parse_str(campaign_id)?;
    let mut ledgers = Vec::new();
    let mut out = db
        .copy_out_raw(&format!(
            "COPY (SELECT * FROM ledgers WHERE campaign_id = '{campaign}') TO STDOUT"
        ))
        .await?;
    while let Some(chunk) = futures::StreamExt::next(&mut out).await {
        ledgers.extend_from_slice(&chunk?);
    }
    drop(out);
    let mut sections = Vec::new();
    let mut out = db
        .copy_out_raw(&format!(
            "COPY (SELECT s.* FROM sections s JOIN ledgers l ON l.id = s.ledger_id WHERE l.campaign_id = '{campaign}') TO STDOUT"
        ))
        .await?;
    while let Some(chunk) = futures::StreamExt::next(&mut out).await {
        sections.extend_from_slice(&chunk?);
    }
    drop(out);
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_ledgers, bench_sections;
         CREATE TABLE bench_ledgers (LIKE ledgers INCLUDING ALL);
         CREATE TABLE bench_sections (LIKE sections INCLUDING ALL);",
    )
    .execute(&mut db)
    .await?;
    let started = Instant::now();
    let mut tx = db.begin().await?;
    for (table, rows) in [("bench_ledgers", &ledgers), ("bench_sections", &sections)] {
        let mut copy = tx.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
        copy.send(rows.as_slice()).await?;
        copy.finish().await?;
    }
    tx.commit().await?;
    let took = started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_ledgers, bench_sections")
        .execute(&mut db)
        .await?;
    Ok(took)
}

/// One finding per client village, in its first section.
async fn prepare_findings(client: &Client, setup: &Setup) -> anyhow::Result<()> {
    for (code, ledger_id, token) in &setup.villages {
        let ledger = client
            .get(&format!("/api/v1/ledgers/{ledger_id}"), token)
            .await?;
        if ledger["findings"].as_u64().unwrap_or_default() > 0 {
            continue;
        }
        let problem = ledger["sections"][0]["problem_id"]
            .as_str()
            .context("problem")?;
        client
            .post(
                &format!("/api/v1/ledgers/{ledger_id}/problems/{problem}/findings"),
                token,
                json!({ "description": format!("{code}对照排查发现的问题"), "measures": "逐户走访，协助办理",
                        "due_on": "2023-07-20", "kind": "deadline", "responsible": "村两委" }),
            )
            .await?;
    }
    Ok(())
}

/// Each client updates its own finding (PATCH with If-Match) as fast as the
/// stack answers, for `seconds`.
async fn write_load(
    client: &Client,
    setup: &Setup,
    seconds: u64,
    clients: usize,
) -> anyhow::Result<(f64, Latencies)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers = setup
        .villages
        .iter()
        .take(clients)
        .map(|(_, ledger_id, token)| async move {
            let ledger = client
                .get(&format!("/api/v1/ledgers/{ledger_id}"), token)
                .await?;
            let finding = &ledger["sections"][0]["findings"][0];
            let id = finding["id"].as_str().context("finding")?.to_owned();
            let mut version = finding["version"].as_u64().context("version")?;
            let mut latencies = Vec::new();
            let mut n = 0_u64;
            while Instant::now() < deadline {
                n += 1;
                let started = Instant::now();
                let (status, body) = client
                    .call(
                        reqwest::Method::PATCH,
                        &format!("/api/v1/findings/{id}"),
                        token,
                        Some(json!({ "result": format!("第{n}次更新") })),
                        Some(version),
                    )
                    .await?;
                ensure!(status == 200, "PATCH: {status} {body}");
                latencies.push(started.elapsed());
                version = body["version"].as_u64().context("version")?;
            }
            anyhow::Ok(latencies)
        });
    gather(workers).await
}

/// Runs the clients side by side: requests per second over the phase, and
/// every request's latency.
async fn gather<F>(workers: impl Iterator<Item = F>) -> anyhow::Result<(f64, Latencies)>
where
    F: std::future::Future<Output = anyhow::Result<Vec<Duration>>>,
{
    let started = Instant::now();
    let results = futures::future::join_all(workers).await;
    let took = started.elapsed().as_secs_f64();
    let mut all = Latencies::default();
    for result in results {
        all.0.extend(result?);
    }
    Ok((all.0.len() as f64 / took, all))
}

/// The update's own statements, as the ledger runs them for one PATCH (a
/// campaign's problems it keeps in memory after their first read).
async fn write_script(args: &Args, setup: &Setup) -> anyhow::Result<String> {
    bench_findings(args, setup).await?;
    Ok(format!(
        "\\set n random(1, {n})
BEGIN;
SELECT ledger_id FROM findings WHERE id = (SELECT id FROM bench_findings WHERE n = :n);
SELECT {LEDGER_COLUMNS} FROM ledgers WHERE id = (SELECT ledger_id FROM bench_findings WHERE n = :n) FOR UPDATE;
SELECT {FINDING_COLUMNS} FROM findings WHERE id = (SELECT id FROM bench_findings WHERE n = :n) FOR UPDATE;
UPDATE findings SET description = description, measures = measures, due_on = due_on, kind = kind, responsible = responsible,
       result = 'pgbench ' || :n, standing_mechanism = standing_mechanism, households = households, updated_at = now(),
       version = version + 1 WHERE id = (SELECT id FROM bench_findings WHERE n = :n) RETURNING version;
INSERT INTO ledger_events (ledger_id, seq, at, kind, finding_id, actor, actor_unit, actor_role, reason, from_state, to_state,
                           details, prev_digest, digest)
     SELECT l.id, l.head_seq + 1, now(), 'finding_updated', b.id, 'pgbench', l.unit_code, 'village', '', '', '',
            '{{\"version\": 1, \"changed\": {{\"result\": \"pgbench\"}}}}', coalesce(l.head_digest, sha256('genesis')), sha256(l.id::text::bytea)
       FROM ledgers l JOIN bench_findings b ON b.ledger_id = l.id WHERE b.n = :n;
UPDATE ledgers SET head_seq = head_seq + 1, head_digest = sha256(id::text::bytea), version = version + 1
 WHERE id = (SELECT ledger_id FROM bench_findings WHERE n = :n);
SELECT {FINDING_COLUMNS} FROM findings WHERE id = (SELECT id FROM bench_findings WHERE n = :n) FOR UPDATE;
INSERT INTO outbox (id, topic, payload, pending) VALUES (gen_random_uuid(), 'bench', '{{}}', '{{}}');
COMMIT;
",
        n = setup.villages.len()
    ))
}

/// The clients' findings, numbered, for pgbench to pick from.
async fn bench_findings(args: &Args, setup: &Setup) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut db =
        sqlx::PgConnection::connect(&database(&args.database_url, "zhenggai_ledger")).await?;
    let ledgers: Vec<uuid::Uuid> = setup
        .villages
        .iter()
        .map(|(_, id, _)| uuid::Uuid::parse_str(id))
        .collect::<Result<_, _>>()?;
    sqlx::raw_sql("DROP TABLE IF EXISTS bench_findings")
        .execute(&mut db)
        .await?;
    sqlx::query(
        "CREATE TABLE bench_findings AS
         SELECT row_number() OVER (ORDER BY ledger_id)::int AS n, l.ledger_id,
                (SELECT f.id FROM findings f WHERE f.ledger_id = l.ledger_id ORDER BY problem_seq, seq LIMIT 1) AS id
           FROM unnest($1::uuid[]) AS l(ledger_id)",
    )
    .bind(&ledgers)
    .execute(&mut db)
    .await?;
    Ok(())
}

/// Each client reads its own ledger, whole, for `seconds`.
async fn read_load(
    client: &Client,
    setup: &Setup,
    seconds: u64,
    clients: usize,
) -> anyhow::Result<(f64, Latencies)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers = setup
        .villages
        .iter()
        .take(clients)
        .map(|(_, ledger_id, token)| async move {
            let path = format!("/api/v1/ledgers/{ledger_id}");
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let (status, body) = client
                    .call(reqwest::Method::GET, &path, token, None, None)
                    .await?;
                ensure!(status == 200, "GET: {status} {body}");
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        });
    gather(workers).await
}

/// The read's own queries, as the ledger runs them for one GET (a campaign's
/// problems it keeps in memory after their first read).
async fn read_script(args: &Args, setup: &Setup) -> anyhow::Result<String> {
    bench_findings(args, setup).await?;
    Ok(format!(
        "\\set n random(1, {n})
SELECT {LEDGER_COLUMNS} FROM ledgers WHERE id = (SELECT ledger_id FROM bench_findings WHERE n = :n);
SELECT problem_seq, state, note, findings FROM sections WHERE ledger_id = (SELECT ledger_id FROM bench_findings WHERE n = :n) ORDER BY problem_seq;
SELECT {FINDING_COLUMNS} FROM findings WHERE ledger_id = (SELECT ledger_id FROM bench_findings WHERE n = :n) ORDER BY problem_seq, seq;
",
        n = setup.villages.len()
    ))
}

/// The area's dashboard, read by one client for as long as `going` says.
async fn read_dashboard(
    client: &Client,
    setup: &Setup,
    admin: &str,
    going: impl Fn() -> bool,
) -> anyhow::Result<Latencies> {
    let path = format!(
        "/api/v1/campaigns/{}/dashboard?unit={}",
        setup.campaign["id"].as_str().context("campaign id")?,
        setup.area
    );
    let mut latencies = Latencies::default();
    while going() {
        let started = Instant::now();
        client.get(&path, admin).await?;
        latencies.0.push(started.elapsed());
    }
    Ok(latencies)
}

/// The area's dashboard, read by one client with nothing else running.
async fn dashboard_alone(
    client: &Client,
    setup: &Setup,
    admin: &str,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    read_dashboard(client, setup, admin, || Instant::now() < deadline).await
}

/// The area's dashboard, read by one client while the others write.
async fn dashboard_under_writes(
    client: &Client,
    setup: &Setup,
    admin: &str,
    seconds: u64,
    clients: usize,
) -> anyhow::Result<Latencies> {
    let done = AtomicBool::new(false);
    let reader = read_dashboard(client, setup, admin, || !done.load(Ordering::Relaxed));
    let writers = async {
        let result = write_load(client, setup, seconds, clients.saturating_sub(1).max(1)).await;
        done.store(true, Ordering::Relaxed);
        result
    };
    let (latencies, writes) = tokio::join!(reader, writers);
    writes?;
    latencies
}

/// The forms: one village's 附件2, one township as one workbook, the whole
/// county as one workbook (the median of three).
async fn export(
    client: &Client,
    setup: &Setup,
    admin: &str,
    report: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    let campaign = setup.campaign["id"].as_str().context("campaign id")?;
    let (village, ledger_id, _) = &setup.villages[0];
    let township = &village[..9];
    let county = &village[..6];
    for (name, path) in [
        (
            "village",
            format!("/api/v1/ledgers/{ledger_id}/export.xlsx"),
        ),
        (
            "township",
            format!("/api/v1/campaigns/{campaign}/export.xlsx?unit={township}"),
        ),
        (
            "county",
            format!("/api/v1/campaigns/{campaign}/export.xlsx?unit={county}"),
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let response = client
                .http
                .get(format!("{}{path}", client.base))
                .bearer_auth(admin)
                .send()
                .await?;
            ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.bytes().await?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        report.insert(format!("export_{name}_ms"), json!(times[1]));
    }
    Ok(())
}

/// The figures as a table, each with its target where the issue set one.
fn print_table(report: &serde_json::Map<String, Value>) {
    let targets: BTreeMap<&str, &str> = [
        ("write_ratio", "≥ 0.7"),
        ("read_ratio", "≥ 0.8"),
        ("fanout_copy_ratio", "≥ 0.5"),
        ("fanout_s", "≤ 10 (河南)"),
        ("dashboard_p99_ms", "≤ 100 (河南)"),
        ("reminders_per_s", "≥ 20000"),
        ("deliveries_per_s", "≥ 2000"),
        ("export_township_ms", "≤ 300"),
    ]
    .into_iter()
    .collect();
    println!("{:<28} {:>14}  target", "figure", "value");
    for (name, value) in report {
        match value {
            Value::Object(per_service) => {
                let target = match name.as_str() {
                    n if n.starts_with("rss_idle") => "≤ 30 each",
                    n if n.starts_with("rss_peak") => "≤ 200 each",
                    _ => "",
                };
                for (service, mb) in per_service {
                    println!(
                        "{:<28} {:>14}  {target}",
                        format!("{name}.{service}"),
                        mb.to_string()
                    );
                }
            }
            Value::Number(n) => {
                let shown = n.as_f64().map(|f| {
                    if f.fract() == 0.0 {
                        format!("{f:.0}")
                    } else {
                        format!("{f:.3}")
                    }
                });
                println!(
                    "{name:<28} {:>14}  {}",
                    shown.unwrap_or_default(),
                    targets.get(name.as_str()).unwrap_or(&"")
                );
            }
            other => println!("{name:<28} {:>14}", other.to_string()),
        }
    }
}
