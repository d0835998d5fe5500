//! How long the official forms take to export: one village's 附件2, one
//! township as one workbook (a summary and a sheet per ledger), the whole of
//! 禹州市 as one workbook, and 附件1 of the campaign.
//!
//! `cargo bench -p zhenggai-system-tests --bench exports` starts the stack
//! (on `DATABASE_URL`), starts the founding notice's campaign, fills one
//! village, and times each export (the median of several runs). The baseline,
//! in the same run, is reading the same ledgers as JSON through the same
//! gateway (`GET /api/v1/ledgers/{id}` for each), so the ratio is what the
//! workbook costs over the data it holds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zhenggai_system_tests::Stack;

const VILLAGE: &str = "411081114204";
const TOWNSHIP: &str = "411081114";
const COUNTY: &str = "411081";

async fn median<F, Fut>(runs: usize, mut once: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        once().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[runs / 2]
}

async fn fetch(stack: &Stack, path: &str, token: &str) -> usize {
    let response = stack.get(path, token).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.bytes().await.expect("body").len()
}

/// The ids of the campaign's ledgers under `unit`.
async fn ledger_ids(stack: &Stack, token: &str, campaign: &Value, unit: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!(
            "/api/v1/ledgers?campaign={}&unit={unit}&limit=1000&cursor={cursor}",
            campaign["id"].as_str().expect("campaign id")
        );
        let (status, page) = stack.json(stack.get(&path, token)).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|l| l["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return ids,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("bench-village", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    for n in 0..3 {
        stack
            .add_finding(
                &village,
                &ledger,
                n,
                json!({ "description": format!("对照排查发现问题{n}"), "measures": "逐户走访，协助办理",
                        "due_on": "2023-07-20", "kind": "deadline", "responsible": "村两委" }),
            )
            .await;
    }
    stack.answer_the_rest(&village, &ledger).await;
    let campaign_path = format!(
        "/api/v1/campaigns/{}/export.xlsx",
        campaign["id"].as_str().expect("campaign id")
    );

    let mut figures = serde_json::Map::new();
    let mut lines = Vec::new();
    for (name, unit, runs) in [
        ("village", VILLAGE, 9),
        ("township", TOWNSHIP, 5),
        ("county", COUNTY, 3),
    ] {
        let ids = ledger_ids(&stack, &admin, &campaign, unit).await;
        let export_path = if name == "village" {
            format!(
                "/api/v1/ledgers/{}/export.xlsx",
                ledger["id"].as_str().expect("id")
            )
        } else {
            format!("{campaign_path}?unit={unit}")
        };
        let bytes = fetch(&stack, &export_path, &admin).await;
        let export = median(runs, || async {
            fetch(&stack, &export_path, &admin).await;
        })
        .await;
        let baseline = median(runs, || async {
            for id in &ids {
                fetch(&stack, &format!("/api/v1/ledgers/{id}"), &admin).await;
            }
        })
        .await;
        let ms = export.as_secs_f64() * 1e3;
        let baseline_ms = baseline.as_secs_f64() * 1e3;
        lines.push(format!(
            "  export_{name}_ms {ms:>9.1}   ({} ledgers, {bytes} bytes; JSON of the same ledgers {baseline_ms:.1} ms, ratio {:.2})",
            ids.len(),
            ms / baseline_ms
        ));
        figures.insert(
            format!("export_{name}_ms"),
            json!((ms * 10.0).round() / 10.0),
        );
        figures.insert(
            format!("export_{name}_baseline_ms"),
            json!((baseline_ms * 10.0).round() / 10.0),
        );
        figures.insert(format!("export_{name}_ratio"), json!(ms / baseline_ms));
        figures.insert(format!("export_{name}_ledgers"), json!(ids.len()));
    }
    let city = median(3, || async {
        fetch(&stack, &campaign_path, &admin).await;
    })
    .await;
    let city_ms = city.as_secs_f64() * 1e3;
    lines.push(format!(
        "  export_city_ledger_ms {city_ms:>5.1}   (附件1 of the campaign, one row per problem)"
    ));
    figures.insert(
        "export_city_ledger_ms".into(),
        json!((city_ms * 10.0).round() / 10.0),
    );

    println!(
        "exports: the founding notice's campaign over 禹州市 ({} ledgers)",
        campaign["ledger_count"]
    );
    for line in lines {
        println!("{line}");
    }
    let report = Value::Object(figures);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("exports.json"), format!("{report:#}\n"));
}
