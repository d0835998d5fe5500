//! How many due reminders per second one scheduler instance turns into
//! requests to the notifier.
//!
//! `cargo bench -p zhenggai-system-tests --bench reminders [-- N]` starts the
//! stack (as the system tests do, on `DATABASE_URL`), gives the scheduler N
//! pending findings (default 100,000, each of its own unit, so no digests)
//! due in three working days, moves the drill clock to 10:00 and times until
//! every reminder is acknowledged by the notifier. The baseline, in the same
//! run, is PostgreSQL inserting the same number of notification rows in one
//! statement: the floor under the notifier's own work.

use std::time::{Duration, Instant};

use zhenggai_system_tests::Stack;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let items: i64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(100_000);
    let stack = Stack::start_for_bench().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-17T08:00:00+08:00").await;

    let mut scheduler = stack.database("scheduler").await;
    let campaign = uuid::Uuid::now_v7();
    let rules = serde_json::to_value(zhenggai_scheduler::domain::rules::ReminderRules::default())
        .expect("rules as JSON");
    sqlx::query(
        "INSERT INTO campaigns (id, document_id, area, title, rules, created_at)
         VALUES ($1, $1, '411081', '基准', $2, now())",
    )
    .bind(campaign)
    .bind(&rules)
    .execute(&mut scheduler)
    .await
    .expect("campaign");
    sqlx::query(
        "INSERT INTO findings (id, ledger_id, campaign_id, unit_code, unit_name, unit_level,
                               problem_seq, seq, kind, state, due_on, version)
         SELECT gen_random_uuid(), gen_random_uuid(), $1, '9' || lpad(n::text, 11, '0'),
                '基准村' || n, 'village', 1, 1, 'deadline', 'open', '2023-07-20', 1
           FROM generate_series(1, $2) n",
    )
    .bind(campaign)
    .bind(items)
    .execute(&mut scheduler)
    .await
    .expect("findings");
    sqlx::query("ANALYZE findings")
        .execute(&mut scheduler)
        .await
        .expect("analyze");

    // The baseline: the same number of notification rows, one statement.
    let mut notifier = stack.database("notifier").await;
    sqlx::query("CREATE TEMP TABLE baseline (LIKE notifications INCLUDING ALL)")
        .execute(&mut notifier)
        .await
        .expect("scratch table");
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO baseline (id, dedupe_key, event, unit, variables, occurred_at, requested_by)
         SELECT gen_random_uuid(), 'reminder:' || n, 'due_soon', '9' || lpad(n::text, 11, '0'),
                jsonb_build_object('finding_id', gen_random_uuid(), 'workdays', 3), now(), 'scheduler'
           FROM generate_series(1, $1) n",
    )
    .bind(items)
    .execute(&mut notifier)
    .await
    .expect("baseline");
    let baseline = started.elapsed();

    let started = Instant::now();
    stack.set_clock(&admin, "2023-07-17T10:00:00+08:00").await;
    // Cheap probes every 50 ms: counting the whole queue each time would take
    // the CPU the scheduler is measured on.
    let mut planned = None;
    loop {
        if planned.is_none() {
            let total: i64 = sqlx::query_scalar("SELECT count(*) FROM reminders")
                .fetch_one(&mut scheduler)
                .await
                .expect("progress");
            if total >= items {
                planned = Some(started.elapsed());
            }
        }
        let unsent: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reminders WHERE sent_at IS NULL)")
                .fetch_one(&mut scheduler)
                .await
                .expect("progress");
        if planned.is_some() && !unsent {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not all {items} sent in 10 min"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = started.elapsed();
    let accepted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE event = 'due_soon'")
            .fetch_one(&mut notifier)
            .await
            .expect("accepted");
    assert_eq!(accepted, items, "every reminder reached the notifier once");

    let per_s = items as f64 / total.as_secs_f64();
    let baseline_per_s = items as f64 / baseline.as_secs_f64();
    let planned = planned.unwrap_or(total);
    println!("reminders: {items} due items, one scheduler instance");
    println!(
        "  planned in            {:>8.0} ms",
        planned.as_secs_f64() * 1e3
    );
    println!(
        "  all acknowledged in   {:>8.0} ms",
        total.as_secs_f64() * 1e3
    );
    println!("  reminders_per_s       {per_s:>8.0}");
    println!(
        "  baseline_rows_per_s   {baseline_per_s:>8.0}  (one INSERT of {items} notification rows)"
    );
    println!("  reminders_ratio       {:>8.3}", per_s / baseline_per_s);
    let report = serde_json::json!({
        "reminders_items": items,
        "reminders_planned_ms": planned.as_millis() as u64,
        "reminders_total_ms": total.as_millis() as u64,
        "reminders_per_s": per_s.round(),
        "reminders_baseline_rows_per_s": baseline_per_s.round(),
        "reminders_ratio": per_s / baseline_per_s,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("reminders.json"), format!("{report:#}\n"));
}
