//! Faults, with real processes: each service SIGKILLed under a steady write
//! load and restarted, SIGTERM while requests are in flight, PostgreSQL
//! stopped under load and started again, and the notifier down for a minute.
//! Each test has its own PostgreSQL cluster and runs the service binaries of
//! `cargo build --bins` as child processes.
//!
//! The writers behave as a careful client would: every create carries an
//! Idempotency-Key, and a request that failed (refused connection, 5xx, 409
//! "being settled") is sent again with the same key until it is answered.
//! Then the tests ask whether every acknowledged write is there, whether any
//! was made twice, whether anything is half-written (a finding without its
//! history event, a history event without its outbox entry), whether every
//! outbox event reached both consumers, and whether the inbox shows each
//! notification once.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zhenggai_system_tests::postgres::Cluster;
use zhenggai_system_tests::{Stack, eventually};

const TOWNSHIP: &str = "411081114"; // 浅井镇
/// Villages of 浅井镇, one writer each.
const VILLAGES: [&str; 4] = [
    "411081114204",
    "411081114201",
    "411081114202",
    "411081114203",
];

/// What the writers saw.
#[derive(Default)]
struct Tally {
    /// Findings acknowledged (201) with their descriptions.
    acknowledged: Vec<(String, String)>,
    /// Findings acknowledged as submitted.
    submitted: HashSet<String>,
    /// Answers by status (0: no answer: refused or broken connection).
    statuses: BTreeMap<u16, u64>,
    /// Answers that were neither success nor a clean "unavailable" problem.
    unclean: Vec<String>,
    /// The slowest answer.
    slowest: Duration,
}

/// A steady write load through the gateway: one writer per village, each
/// creating findings, starting them and submitting them for review.
struct Load {
    tally: Arc<Mutex<Tally>>,
    stopping: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(stack: &Stack, campaign: &Value) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for (n, village) in VILLAGES.iter().enumerate() {
            let token = stack.user(&format!("village{n}"), "village", village).await;
            let ledger = stack.ledger(&token, campaign, village).await;
            let writer = Writer {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("client"),
                http: stack.http.clone(),
                token,
                ledger,
                name: format!("w{n}"),
                tally: tally.clone(),
                stopping: stopping.clone(),
            };
            writers.push(tokio::spawn(writer.run()));
        }
        Self {
            tally,
            stopping,
            writers,
        }
    }

    fn acknowledged(&self) -> Vec<(String, String)> {
        self.tally.lock().expect("tally").acknowledged.clone()
    }

    /// Waits until the writers have had `count` more findings acknowledged.
    async fn progress(&self, count: usize) {
        let start = self.acknowledged().len();
        eventually("the writers make progress", || async {
            (self.acknowledged().len() >= start + count).then_some(())
        })
        .await;
    }

    /// Stops the writers after the item each is on, and answers the tally.
    async fn stop(self) -> Tally {
        self.stopping.store(true, Ordering::SeqCst);
        for writer in self.writers {
            writer.await.expect("a writer");
        }
        Arc::try_unwrap(self.tally)
            .ok()
            .expect("the writers are done")
            .into_inner()
            .expect("tally")
    }
}

struct Writer {
    client: reqwest::Client,
    http: String,
    token: String,
    ledger: Value,
    name: String,
    tally: Arc<Mutex<Tally>>,
    stopping: Arc<AtomicBool>,
}

impl Writer {
    async fn run(self) {
        for n in 0.. {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let description = format!("{}-{n}: 低保户识别不准", self.name);
            let Some(id) = self.create(&description, n % 3).await else {
                return;
            };
            self.tally
                .lock()
                .expect("tally")
                .acknowledged
                .push((id.clone(), description));
            if self.transition(&id, "start", "in_progress").await
                && self.transition(&id, "submit", "submitted").await
            {
                self.tally.lock().expect("tally").submitted.insert(id);
            }
        }
    }

    /// Sends one request until it is answered (or the load stops while the
    /// service is away): (status, body).
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        retry_conflict: bool,
    ) -> Option<(u16, Value)> {
        loop {
            let started = Instant::now();
            let outcome = match request().send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    (status, body)
                }
                Err(_) => (0, Value::Null),
            };
            let elapsed = started.elapsed();
            let (status, body) = outcome;
            {
                let mut tally = self.tally.lock().expect("tally");
                *tally.statuses.entry(status).or_default() += 1;
                tally.slowest = tally.slowest.max(elapsed);
                let clean_unavailable = status == 503 && body["code"] == "unavailable";
                if status >= 500 && !clean_unavailable {
                    tally.unclean.push(format!("{status} {body}"));
                }
            }
            let retry = status == 0 || status >= 500 || (retry_conflict && status == 409);
            if !retry {
                return Some((status, body));
            }
            if self.stopping.load(Ordering::SeqCst) && status != 409 {
                // Unanswered: the item is not acknowledged.
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create(&self, description: &str, section: usize) -> Option<String> {
        let key = uuid::Uuid::new_v4().to_string();
        let path = format!(
            "{}/api/v1/ledgers/{}/problems/{}/findings",
            self.http,
            self.ledger["id"].as_str().expect("ledger id"),
            self.ledger["sections"][section]["problem_id"]
                .as_str()
                .expect("problem id")
        );
        let body = json!({
            "description": description,
            "measures": "逐户走访，建立台账",
            "due_on": "2023-07-20",
            "kind": "deadline",
            "responsible": "村两委",
            "result": "已重新核定",
        });
        // 409 here is the Idempotency-Key "being settled" by a request the
        // client lost: it is retried with the same key.
        let (status, finding) = self
            .send(
                || {
                    self.client
                        .post(&path)
                        .bearer_auth(&self.token)
                        .header("idempotency-key", &key)
                        .json(&body)
                },
                true,
            )
            .await?;
        assert_eq!(status, 201, "create answered {finding}");
        Some(finding["id"].as_str().expect("finding id").to_owned())
    }

    /// Takes a review step; a 409 after a lost answer means it was taken
    /// (the finding already stands in `state`).
    async fn transition(&self, id: &str, action: &str, state: &str) -> bool {
        let path = format!("{}/api/v1/findings/{id}/{action}", self.http);
        let Some((status, body)) = self
            .send(|| self.client.post(&path).bearer_auth(&self.token), false)
            .await
        else {
            return false;
        };
        if status == 200 {
            return true;
        }
        assert_eq!(status, 409, "{action} answered {body}");
        let Some((status, finding)) = self
            .send(
                || {
                    self.client
                        .get(format!("{}/api/v1/findings/{id}", self.http))
                        .bearer_auth(&self.token)
                },
                false,
            )
            .await
        else {
            return false;
        };
        assert_eq!(status, 200, "{finding}");
        assert_eq!(finding["state"], state, "{action} refused: {body}");
        true
    }
}

/// What no fault may break, counted in the ledger's database.
#[derive(Debug)]
struct Breaches {
    /// Acknowledged findings that are not there.
    missing: i64,
    /// Findings made more than once.
    duplicates: i64,
    /// Findings without their `finding_created` event.
    without_created: i64,
    /// Findings whose state their history does not end in.
    state_mismatch: i64,
    /// Findings whose history and outbox entries do not match.
    without_outbox: i64,
}

impl Breaches {
    /// Half-written findings of every kind.
    fn half_written(&self) -> i64 {
        self.without_created + self.state_mismatch + self.without_outbox
    }

    /// Asserts that nothing is broken, saying after what.
    fn assert_none(&self, after: &str) {
        assert_eq!(self.missing, 0, "acknowledged findings lost after {after}");
        assert_eq!(self.duplicates, 0, "findings made twice after {after}");
        assert_eq!(
            self.without_created, 0,
            "findings without history after {after}"
        );
        assert_eq!(
            self.state_mismatch, 0,
            "states without history after {after}"
        );
        assert_eq!(
            self.without_outbox, 0,
            "history without outbox after {after}"
        );
    }
}

/// Counts the breaches in the databases, given what was acknowledged.
async fn breaches(stack: &Stack, acknowledged: &[(String, String)]) -> Breaches {
    let mut ledger = stack.database("ledger").await;
    let ids: Vec<uuid::Uuid> = acknowledged
        .iter()
        .map(|(id, _)| id.parse().expect("a uuid"))
        .collect();
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM findings WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&mut ledger)
        .await
        .expect("count");
    let scalar = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let duplicates = scalar(
        "SELECT coalesce(sum(n - 1), 0)::bigint FROM (SELECT count(*) AS n FROM findings GROUP BY description) d",
    )
    .fetch_one(&mut ledger)
    .await
    .expect("duplicates");
    let without_created = scalar(
        "SELECT count(*) FROM findings f WHERE NOT EXISTS
           (SELECT 1 FROM ledger_events e WHERE e.finding_id = f.id AND e.kind = 'finding_created')",
    )
    .fetch_one(&mut ledger)
    .await
    .expect("findings without history");
    let state_not_in_history = scalar(
        "SELECT count(*) FROM findings f WHERE f.state IS DISTINCT FROM
           (SELECT e.to_state FROM ledger_events e WHERE e.finding_id = f.id AND e.to_state <> ''
             ORDER BY e.seq DESC LIMIT 1)",
    )
    .fetch_one(&mut ledger)
    .await
    .expect("states");
    let history_without_outbox = scalar(
        "SELECT count(*) FROM
           (SELECT finding_id, count(*) AS n FROM ledger_events WHERE finding_id IS NOT NULL GROUP BY 1) e
           FULL JOIN (SELECT (payload->>'finding_id')::uuid AS finding_id, count(*) AS n
                        FROM outbox WHERE topic = 'finding.changed' GROUP BY 1) o USING (finding_id)
          WHERE e.n IS DISTINCT FROM o.n",
    )
    .fetch_one(&mut ledger)
    .await
    .expect("history against outbox");
    Breaches {
        missing: ids.len() as i64 - found,
        duplicates,
        without_created,
        state_mismatch: state_not_in_history,
        without_outbox: history_without_outbox,
    }
}

/// Waits until every outbox event reached both consumers and the notifier
/// holds one notification per submitted finding; then checks the township's
/// inbox lists each once. Answers (undelivered, notifications, inbox
/// duplicates).
async fn delivered(stack: &Stack, township: &str, submitted: usize) -> (i64, i64, usize) {
    let undelivered = eventually("the outbox drains", || async {
        let n = stack
            .scalar(
                "ledger",
                "SELECT count(*) FROM outbox WHERE cardinality(pending) > 0",
            )
            .await;
        (n == 0).then_some(n)
    })
    .await;
    // Submits acknowledged before the writers stopped, and perhaps a few
    // committed whose answer the writer never got.
    let notifications = eventually("a notification per submitted finding", || async {
        let n = stack
            .scalar(
                "notifier",
                "SELECT count(*) FROM notifications WHERE event = 'awaiting_review'",
            )
            .await;
        let committed = stack
            .scalar(
                "ledger",
                "SELECT count(*) FROM findings WHERE state = 'submitted'",
            )
            .await;
        (n >= submitted as i64 && n == committed).then_some(n)
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        // A cursor is base64: its + / = must be escaped in a query.
        let escaped: String = cursor
            .chars()
            .map(|c| match c {
                '+' => "%2B".to_owned(),
                '/' => "%2F".to_owned(),
                '=' => "%3D".to_owned(),
                c => c.to_string(),
            })
            .collect();
        let path = format!("/api/v1/inbox?limit=200&cursor={escaped}");
        let (status, page) = stack.json(stack.get(&path, township)).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().expect("inbox items") {
            if item["event"] == "awaiting_review" {
                seen.push(item["variables"]["finding_id"].to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = next.to_owned(),
            _ => break,
        }
    }
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        seen.len() as i64,
        notifications,
        "the inbox lists every notification"
    );
    (undelivered, notifications, seen.len() - distinct.len())
}

async fn stack_on(cluster: &Cluster) -> (Stack, Value, String) {
    let stack = Stack::start_processes(cluster.url()).await;
    let campaign = stack.yuzhou_campaign().await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    (stack, campaign, township)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_killed_under_writes_loses_nothing() {
    let cluster = Cluster::start();
    let (mut stack, campaign, township) = stack_on(&cluster).await;
    let load = Load::start(&stack, &campaign).await;
    load.progress(8).await;
    for service in ["ledger", "gateway", "notifier", "scheduler", "catalogue"] {
        stack.kill(service);
        let killed_with = load.acknowledged().len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stack.restart(service).await;
        stack.wait_ready().await;
        load.progress(8).await;
        let acknowledged = load.acknowledged();
        let broken = breaches(&stack, &acknowledged).await;
        println!(
            "SIGKILL {service}: {killed_with} acknowledged at the kill, {} after the restart; \
             missing {}, duplicates {}, half-written {}",
            acknowledged.len(),
            broken.missing,
            broken.duplicates,
            broken.half_written()
        );
        broken.assert_none(&format!("killing {service}"));
    }
    let tally = load.stop().await;
    breaches(&stack, &tally.acknowledged)
        .await
        .assert_none("all the kills");
    let (undelivered, notifications, inbox_duplicates) =
        delivered(&stack, &township, tally.submitted.len()).await;
    println!(
        "after all kills: {} acknowledged, {} submitted, {notifications} notifications, \
         {undelivered} undelivered, {inbox_duplicates} inbox duplicates; answers {:?}",
        tally.acknowledged.len(),
        tally.submitted.len(),
        tally.statuses
    );
    assert_eq!(inbox_duplicates, 0, "a notification shown twice");
    assert!(
        tally.unclean.is_empty(),
        "answers other than success or a clean 503: {:?}",
        tally.unclean,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_accepted_requests_finish() {
    let cluster = Cluster::start();
    let (mut stack, campaign, _) = stack_on(&cluster).await;
    let admin = stack.admin().await;
    let load = Load::start(&stack, &campaign).await;
    load.progress(4).await;
    let export = format!(
        "{}/api/v1/campaigns/{}/export.xlsx?unit=411081",
        stack.http,
        campaign["id"].as_str().expect("campaign id")
    );
    for service in ["ledger", "gateway"] {
        // A slow request in flight: all 禹州市 as one workbook (724 sheets).
        let request = stack.client.get(&export).bearer_auth(&admin).send();
        let started = Instant::now();
        let in_flight = tokio::spawn(async move {
            let response = request.await.expect("the export is answered");
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("the whole workbook");
            (status, body, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!in_flight.is_finished(), "the export is still running");
        let (exit_after, exit) = stack.terminate(service).await;
        let (status, workbook, took) = in_flight.await.expect("the export task");
        println!(
            "SIGTERM {service}: exited {exit} after {exit_after:?}; the export in flight answered {status} with {} bytes after {took:?}",
            workbook.len()
        );
        assert_eq!(status, 200, "the request accepted before SIGTERM finished");
        assert!(workbook.starts_with(b"PK"), "a whole workbook");
        exited_cleanly_then_back(&mut stack, &load, service, exit_after, exit).await;
    }
    // The others, busy relaying, planning and delivering under the writes.
    for service in ["scheduler", "notifier", "catalogue"] {
        let (exit_after, exit) = stack.terminate(service).await;
        println!("SIGTERM {service}: exited {exit} after {exit_after:?}");
        exited_cleanly_then_back(&mut stack, &load, service, exit_after, exit).await;
    }
    let tally = load.stop().await;
    breaches(&stack, &tally.acknowledged)
        .await
        .assert_none("SIGTERM to every service");
    assert!(tally.unclean.is_empty(), "{:?}", tally.unclean);
}

/// A service told to stop exited cleanly and soon; it starts again and the
/// writes go on.
async fn exited_cleanly_then_back(
    stack: &mut Stack,
    load: &Load,
    service: &'static str,
    exit_after: Duration,
    exit: std::process::ExitStatus,
) {
    assert!(exit.success(), "{service} exits cleanly: {exit}");
    assert!(
        exit_after < Duration::from_secs(10),
        "{service} took {exit_after:?} to exit"
    );
    stack.restart(service).await;
    stack.wait_ready().await;
    load.progress(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_loses_nothing() {
    let cluster = Cluster::start();
    let (stack, campaign, township) = stack_on(&cluster).await;
    let load = Load::start(&stack, &campaign).await;
    load.progress(8).await;
    cluster.stop();
    let at_stop = load.acknowledged().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during_gap = load.acknowledged().len() - at_stop;
    cluster.start_server();
    // The services reconnect by themselves.
    load.progress(8).await;
    let tally = load.stop().await;
    let broken = breaches(&stack, &tally.acknowledged).await;
    let (undelivered, notifications, inbox_duplicates) =
        delivered(&stack, &township, tally.submitted.len()).await;
    println!(
        "PostgreSQL stopped for 3 s under load: {at_stop} acknowledged before, {during_gap} during, {} in all; missing {}, duplicates {}, half-written {}; {notifications} notifications, {undelivered} undelivered, {inbox_duplicates} shown twice; slowest answer {:?}; answers {:?}",
        tally.acknowledged.len(),
        broken.missing,
        broken.duplicates,
        broken.half_written(),
        tally.slowest,
        tally.statuses
    );
    broken.assert_none("the PostgreSQL restart");
    assert_eq!(inbox_duplicates, 0);
    assert!(
        tally.statuses.get(&503).is_some_and(|n| *n > 0),
        "requests during the gap were refused with 503"
    );
    assert!(
        tally.unclean.is_empty(),
        "requests during the gap fail cleanly (503 problem): {:?}",
        tally.unclean
    );
    // The pool gives up on a connection after 5 s (ZG_DATABASE_ACQUIRE_TIMEOUT_MS).
    assert!(
        tally.slowest < Duration::from_secs(15),
        "a request hung for {:?}",
        tally.slowest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_down_for_a_minute_holds_its_events_until_it_returns() {
    let cluster = Cluster::start();
    let (mut stack, campaign, township) = stack_on(&cluster).await;
    let load = Load::start(&stack, &campaign).await;
    load.progress(4).await;
    stack.terminate("notifier").await;
    let at_stop = load.acknowledged().len();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let during = load.acknowledged().len() - at_stop;
    let held = stack
        .scalar(
            "ledger",
            "SELECT count(*) FROM outbox WHERE 'notifier' = ANY(pending)",
        )
        .await;
    stack.restart("notifier").await;
    let tally = load.stop().await;
    let (undelivered, notifications, inbox_duplicates) =
        delivered(&stack, &township, tally.submitted.len()).await;
    let broken = breaches(&stack, &tally.acknowledged).await;
    println!(
        "notifier down for 60 s: {during} findings acknowledged meanwhile, {held} events held \
         for it; after its return {notifications} notifications, {undelivered} undelivered, \
         {inbox_duplicates} shown twice; answers {:?}",
        tally.statuses
    );
    assert!(during > 0, "the gateway kept serving");
    assert!(held > 0, "the outbox held the notifier's events");
    broken.assert_none("the notifier's minute away");
    assert_eq!(inbox_duplicates, 0);
    assert!(
        tally
            .statuses
            .keys()
            .all(|status| *status < 500 && *status != 0),
        "a stopped notifier is not on the write path: {:?}",
        tally.statuses
    );
}
