//! Deliveries per second from the notifier to a local webhook receiver.
//!
//! `cargo bench -p zhenggai-system-tests --bench deliveries [-- N]` starts the
//! stack (on `DATABASE_URL`), gives one unit a webhook on a loopback
//! receiver, hands the notifier N notifications (default 20,000) in batches
//! of 1,000 as the scheduler does, and times until every delivery is made.
//! The baseline, in the same run, is the receiver itself taking as many
//! posts from 32 concurrent plain HTTP clients. Memory is this process's
//! resident set (all services, the receiver and PostgreSQL's client side
//! share it: an upper bound for the notifier).

use std::time::{Duration, Instant};

use serde_json::json;
use zhenggai_proto::notifier::v1 as pb;
use zhenggai_system_tests::Stack;
use zhenggai_system_tests::fakes::Receiver;

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let stack = Stack::start_for_bench().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;

    // Baseline: the receiver taking n posts from 32 concurrent clients.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let url = receiver.url("/baseline");
    futures::future::join_all((0..32).map(|w| {
        let client = client.clone();
        let url = url.clone();
        async move {
            for i in (w..n).step_by(32) {
                client
                    .post(&url)
                    .json(&json!({ "i": i }))
                    .send()
                    .await
                    .expect("post");
            }
        }
    }))
    .await;
    let baseline = started.elapsed();

    let (status, body) = stack
        .json(
            stack
                .put("/api/v1/units/411081114204/channels", &admin)
                .json(&json!({ "webhooks": [{ "url": receiver.url("/hook"), "secret": "0123456789abcdef" }] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let idle_kb = rss_kb("VmRSS:");
    let mut client = pb::notifier_service_client::NotifierServiceClient::connect(format!(
        "http://{}",
        stack.notifier
    ))
    .await
    .expect("notifier");
    let started = Instant::now();
    for chunk in 0..n.div_ceil(1_000) {
        let notifications = (chunk * 1_000..((chunk + 1) * 1_000).min(n))
            .map(|i| pb::Notification {
                dedupe_key: format!("bench:{i}"),
                event: "overdue".into(),
                unit: "411081114204".into(),
                variables_json: json!({ "unit_name": "土门口村委会", "problem_seq": 4, "seq": i, "workdays": -2, "due_on": "2023-07-20" }).to_string(),
                quiet_until: String::new(),
                occurred_at: "2023-07-21T09:00:00+08:00".into(),
            })
            .collect();
        let request = zhenggai_common::grpc::outgoing(
            pb::NotifyRequest { notifications },
            &stack.peer_token("scheduler"),
        );
        client.notify(request).await.expect("notify");
    }
    let accepted = started.elapsed();
    let mut db = stack.database("notifier").await;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE state <> 'delivered'")
                .fetch_one(&mut db)
                .await
                .expect("progress");
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{pending} deliveries left after 15 min"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let delivered = receiver
        .received()
        .iter()
        .filter(|r| r.path == "/hook")
        .count();
    assert!(delivered >= n, "{delivered} of {n} arrived");
    let per_s = n as f64 / total.as_secs_f64();
    let baseline_per_s = n as f64 / baseline.as_secs_f64();
    let peak_kb = rss_kb("VmHWM:");
    println!("deliveries: {n} notifications to one webhook on loopback");
    println!(
        "  accepted in           {:>8.0} ms",
        accepted.as_secs_f64() * 1e3
    );
    println!(
        "  all delivered in      {:>8.0} ms",
        total.as_secs_f64() * 1e3
    );
    println!("  deliveries_per_s      {per_s:>8.0}");
    println!(
        "  baseline_posts_per_s  {baseline_per_s:>8.0}  (32 plain HTTP clients to the same receiver)"
    );
    println!("  deliveries_ratio      {:>8.3}", per_s / baseline_per_s);
    println!(
        "  process rss idle      {:>8.1} MB (every service, the receiver, the bench)",
        idle_kb as f64 / 1024.0
    );
    println!(
        "  process rss peak      {:>8.1} MB",
        peak_kb as f64 / 1024.0
    );
    let report = json!({
        "deliveries": n, "deliveries_total_ms": total.as_millis() as u64,
        "deliveries_per_s": per_s.round(), "deliveries_baseline_per_s": baseline_per_s.round(),
        "deliveries_ratio": per_s / baseline_per_s,
        "process_rss_idle_mb": idle_kb / 1024, "process_rss_peak_mb": peak_kb / 1024,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("deliveries.json"), format!("{report:#}\n"));
}
