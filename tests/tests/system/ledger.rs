//! Ledgers through the gateway: the 禹州市 campaign, filling, review and 销号,
//! masks, preconditions, idempotency, foreign units, evidence, the history's
//! chain, and concurrent writers.

use serde_json::{Value, json};
use zhenggai_system_tests::{PNG, Stack};

const VILLAGE: &str = "411081114204"; // 土门口村委会
const OTHER_VILLAGE: &str = "411081115201"; // 方东村委会, another township
const TOWNSHIP: &str = "411081114"; // 浅井镇

fn finding_body(description: &str) -> Value {
    json!({
        "description": description,
        "measures": "逐户走访，建立台账",
        "due_on": "2023-07-20",
        "kind": "deadline",
        "responsible": "土门口村两委",
    })
}

fn path_of(ledger: &Value, section: usize) -> String {
    format!(
        "/api/v1/ledgers/{}/problems/{}",
        ledger["id"].as_str().unwrap(),
        ledger["sections"][section]["problem_id"].as_str().unwrap()
    )
}

async fn patch(
    stack: &Stack,
    token: &str,
    finding: &Value,
    version: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = stack
        .patch(
            &format!("/api/v1/findings/{}", finding["id"].as_str().unwrap()),
            token,
        )
        .json(&body);
    if let Some(version) = version {
        request = request.header("if-match", version);
    }
    stack.json(request).await
}

/// A finding's history: (status, body).
async fn history_of(stack: &Stack, token: &str, finding: &Value) -> (u16, Value) {
    let path = format!(
        "/api/v1/findings/{}/history",
        finding["id"].as_str().unwrap()
    );
    stack.json(stack.get(&path, token)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_yuzhou_campaign_gives_every_unit_its_ledger() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let notice = stack.founding_notice(&admin).await;
    let (status, problems) = stack
        .json(stack.get(
            &format!(
                "/api/v1/documents/{}/problems",
                notice["id"].as_str().unwrap()
            ),
            &admin,
        ))
        .await;
    assert_eq!(status, 200);
    let mut departments: Vec<String> = problems["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["responsible_units"].as_array().unwrap().iter())
        .filter_map(|u| u["code"].as_str())
        .filter(|code| code.contains('D'))
        .map(str::to_owned)
        .collect();
    departments.sort();
    departments.dedup();
    // From the directory the catalogue seeds: 禹州市's townships and villages.
    let directory = include_str!("../../../services/catalogue/data/xuchang-4110.csv");
    let townships_and_villages = directory
        .lines()
        .filter_map(|line| line.split(',').next())
        .filter(|code| code.starts_with("411081") && matches!(code.len(), 9 | 12))
        .count();
    let expected = townships_and_villages + departments.len() + 1;

    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let (status, refused) = stack
        .json(
            stack
                .post("/api/v1/campaigns", &village)
                .json(&json!({ "document_id": notice["id"], "area": "411081" })),
        )
        .await;
    assert_eq!(status, 403, "{refused}");

    let started = std::time::Instant::now();
    let campaign = stack.yuzhou_campaign().await;
    println!(
        "fan-out 禹州市: {} ledgers, {} sections in {} ms (through the gateway)",
        campaign["ledger_count"],
        campaign["section_count"],
        started.elapsed().as_millis()
    );
    assert_eq!(
        campaign["ledger_count"].as_u64().unwrap() as usize,
        expected
    );
    assert!(
        expected > 700,
        "禹州市 has over 700 ledgers, not {expected}"
    );
    assert_eq!(campaign["problem_count"], 15);
    assert_eq!(
        campaign["section_count"].as_u64().unwrap() as usize,
        expected * 15
    );
    assert_eq!(campaign["area"], "411081");

    let (status, again) = stack
        .json(
            stack
                .post("/api/v1/campaigns", &admin)
                .json(&json!({ "document_id": notice["id"], "area": "411081" })),
        )
        .await;
    assert_eq!(status, 409, "one campaign per notice and area: {again}");

    // The village sees its own ledger, with a section per problem, in order.
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    assert_eq!(ledger["unit"]["name"], "土门口村委会");
    let sections = ledger["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 15);
    assert!(sections.iter().all(|s| s["state"] == "unanswered"));
    assert_eq!(sections[0]["problem_seq"], 1);
    assert_eq!(sections[0]["aspect"]["name"], "责任落实方面");
    assert_eq!(ledger["complete"], false);
    // Every named department and the city itself have one too.
    for unit in [departments[0].as_str(), "411081", TOWNSHIP] {
        stack.ledger(&admin, &campaign, unit).await;
    }
    let (_, listed) = stack
        .json(stack.get("/api/v1/ledgers?limit=5", &village))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_village_fills_its_township_verifies_the_city_writes_off() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let admin = stack.admin().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;

    let finding = stack
        .add_finding(&village, &ledger, 0, finding_body("村级帮扶台账不完整"))
        .await;
    assert_eq!(finding["state"], "open");
    assert_eq!(finding["seq"], 1);
    assert_eq!(finding["version"], 1);
    assert_eq!(finding["written_off"], false);
    assert_eq!(finding["kind"], "deadline");
    assert_eq!(finding["due_on"], "2023-07-20");

    // 428 without If-Match, 412 on a stale one.
    let (status, problem) = patch(
        &stack,
        &village,
        &finding,
        None,
        json!({ "result": "已补齐" }),
    )
    .await;
    assert_eq!(status, 428, "{problem}");
    assert_eq!(problem["code"], "precondition_required");
    let (status, updated) = patch(
        &stack,
        &village,
        &finding,
        Some("\"1\""),
        json!({ "result": "已补齐台账 36 户" }),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    let (status, problem) = patch(
        &stack,
        &village,
        &finding,
        Some("\"1\""),
        json!({ "result": "覆盖" }),
    )
    .await;
    assert_eq!(status, 412, "{problem}");
    assert_eq!(problem["code"], "precondition_failed");

    // Nobody skips a step, and nobody reviews their own work.
    let (status, _) = stack.act(&village, &finding, "submit", None).await;
    assert_eq!(status, 409);
    let (status, started) = stack.act(&village, &finding, "start", None).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["state"], "in_progress");
    let (status, submitted) = stack.act(&village, &finding, "submit", None).await;
    assert_eq!(status, 200, "{submitted}");
    assert_eq!(submitted["state"], "submitted");
    let (status, _) = patch(
        &stack,
        &village,
        &finding,
        Some(&submitted["version"].to_string()),
        json!({ "result": "改口" }),
    )
    .await;
    assert_eq!(status, 409, "what was submitted stays as it was");
    let (status, _) = stack.act(&village, &finding, "verify", None).await;
    assert_eq!(status, 403);
    let (status, _) = stack.act(&admin, &finding, "verify", None).await;
    assert_eq!(
        status, 403,
        "the township, not the city, verifies a village"
    );
    let (status, verified) = stack.act(&township, &finding, "verify", None).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["state"], "verified");
    let (status, _) = stack.act(&township, &finding, "close", None).await;
    assert_eq!(status, 403, "only the city office writes off");
    let (status, closed) = stack.act(&admin, &finding, "close", None).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["written_off"], true);

    // Every step, who took it, in order.
    let (status, history) = history_of(&stack, &village, &finding).await;
    assert_eq!(status, 200);
    let steps: Vec<(&str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("finding_created", "tumenkou"),
            ("finding_updated", "tumenkou"),
            ("finding_started", "tumenkou"),
            ("finding_submitted", "tumenkou"),
            ("finding_verified", "qianjing"),
            ("finding_closed", "admin"),
        ]
    );

    // The other fourteen problems: 经排查无此类问题. Then the ledger is complete.
    for section in 1..15 {
        let (status, answered) = stack
            .json(
                stack
                    .post(
                        &format!("{}/no-findings", path_of(&ledger, section)),
                        &village,
                    )
                    .json(&json!({ "note": "已逐户核查全村 412 户" })),
            )
            .await;
        assert_eq!(status, 200, "{answered}");
        assert_eq!(answered["state"], "no_findings");
    }
    let (status, _) = stack
        .json(
            stack
                .post(&format!("{}/findings", path_of(&ledger, 1)), &village)
                .json(&finding_body("迟来的问题")),
        )
        .await;
    assert_eq!(
        status, 409,
        "a section declared free of findings takes none"
    );
    let (status, _) = stack
        .json(
            stack
                .post(&format!("{}/no-findings", path_of(&ledger, 0)), &village)
                .json(&json!({ "note": "无" })),
        )
        .await;
    assert_eq!(
        status, 409,
        "a section with findings cannot be declared free of them"
    );
    let whole = stack.ledger(&village, &campaign, VILLAGE).await;
    assert_eq!(whole["complete"], true);
    assert_eq!(whole["sections"][0]["state"], "findings");
    assert_eq!(whole["sections"][0]["findings"][0]["state"], "closed");
    assert_eq!(
        whole["sections"][3]["no_findings_note"],
        "已逐户核查全村 412 户"
    );

    // The city's dashboard rolls the township up.
    let (status, dashboard) = stack
        .json(stack.get(
            &format!(
                "/api/v1/campaigns/{}/dashboard",
                campaign["id"].as_str().unwrap()
            ),
            &admin,
        ))
        .await;
    assert_eq!(status, 200, "{dashboard}");
    assert_eq!(dashboard["unit"]["code"], "411081");
    let qianjing = dashboard["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["unit"]["code"] == TOWNSHIP)
        .expect("浅井镇 is a child of 禹州市");
    assert_eq!(qianjing["unit"]["name"], "浅井镇");
    assert_eq!(qianjing["tally"]["findings"], 1);
    assert_eq!(qianjing["tally"]["closed"], 1);
    assert_eq!(qianjing["tally"]["ledgers_complete"], 1);
    assert_eq!(qianjing["tally"]["written_off_rate"], 1.0);
    assert_eq!(dashboard["total"]["findings"], 1);
    assert_eq!(dashboard["total"]["ledgers"], campaign["ledger_count"]);
    // The township's own view: its villages.
    let (status, own) = stack
        .json(stack.get(
            &format!(
                "/api/v1/campaigns/{}/dashboard",
                campaign["id"].as_str().unwrap()
            ),
            &township,
        ))
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["unit"]["code"], TOWNSHIP);
    assert!(
        own["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["unit"]["code"] == VILLAGE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewers_reject_with_a_reason_and_the_city_reopens() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let admin = stack.admin().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;

    let mut body = finding_body("饮水安全长效管护机制未建立");
    body["kind"] = json!("长期整改");
    body["due_on"] = Value::Null;
    body["result"] = json!("已落实管护员");
    let finding = stack.add_finding(&village, &ledger, 2, body).await;
    assert_eq!(finding["kind"], "long_term");
    stack.act(&village, &finding, "start", None).await;
    stack.act(&village, &finding, "submit", None).await;

    let (status, problem) = stack.act(&township, &finding, "reject", None).await;
    assert_eq!(status, 400, "a rejection needs a reason: {problem}");
    let (status, rejected) = stack
        .act(&township, &finding, "reject", Some("佐证材料不足"))
        .await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["state"], "in_progress");

    stack.act(&village, &finding, "submit", None).await;
    stack.act(&township, &finding, "verify", None).await;
    let (status, problem) = stack.act(&admin, &finding, "close", None).await;
    assert_eq!(
        status, 409,
        "a long-term finding needs its standing mechanism: {problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("长效机制"));
    // Back to the village to describe it, then through review again.
    let (status, _) = stack
        .act(&admin, &finding, "reject", Some("请补充长效机制"))
        .await;
    assert_eq!(status, 200);
    let current = stack
        .json(stack.get(
            &format!("/api/v1/findings/{}", finding["id"].as_str().unwrap()),
            &village,
        ))
        .await
        .1;
    let (status, _) = patch(
        &stack,
        &village,
        &finding,
        Some(&format!("\"{}\"", current["version"])),
        json!({ "standing_mechanism": "管护员每月巡查一次，村两委每季度复核" }),
    )
    .await;
    assert_eq!(status, 200);
    stack.act(&village, &finding, "submit", None).await;
    stack.act(&township, &finding, "verify", None).await;
    let (status, closed) = stack.act(&admin, &finding, "close", None).await;
    assert_eq!(status, 200, "{closed}");

    // 反弹: only the city office, only with a reason.
    let (status, _) = stack.act(&township, &finding, "reopen", Some("反弹")).await;
    assert_eq!(status, 403);
    let (status, _) = stack.act(&admin, &finding, "reopen", Some("  ")).await;
    assert_eq!(status, 400);
    let (status, reopened) = stack
        .act(&admin, &finding, "reopen", Some("回头看发现问题反弹"))
        .await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["state"], "in_progress");
    assert_eq!(reopened["written_off"], false);
    let (_, history) = history_of(&stack, &admin, &finding).await;
    let reasons: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["佐证材料不足", "请补充长效机制", "回头看发现问题反弹"]
    );
    let (status, _) = stack.act(&admin, &finding, "promote", None).await;
    assert_eq!(status, 400, "an unknown action is a bad request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn households_are_masked_without_clearance_and_kept_out_of_history() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let admin = stack.admin().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;

    let mut body = finding_body("脱贫户住房安全未鉴定");
    body["households"] = json!([
        { "name": "张三有", "id_number": "12345619900101000X", "phone": "13812345678" },
    ]);
    let (status, problem) = stack
        .json(
            stack
                .post(&format!("{}/findings", path_of(&ledger, 4)), &village)
                .json(&body),
        )
        .await;
    assert_eq!(status, 400, "a wrong check digit is refused: {problem}");
    assert!(
        problem["errors"][0]
            .as_str()
            .unwrap()
            .contains("households[0].id_number"),
        "{problem}"
    );

    // A valid number: its check digit computed as GB 11643 prescribes.
    body["households"] = json!([
        { "name": "张三有", "id_number": "11010519491231002X", "phone": "13812345678" },
        { "name": "李四", "id_number": "", "phone": "" },
    ]);
    let finding = stack.add_finding(&village, &ledger, 4, body).await;
    assert_eq!(finding["households_masked"], true);
    assert_eq!(finding["households"][0]["name"], "张*有");
    assert_eq!(finding["households"][0]["id_number"], "1101**********002X");
    assert_eq!(finding["households"][0]["phone"], "138****5678");
    assert_eq!(finding["households"][1]["name"], "李*");
    let text = stack
        .get(
            &format!("/api/v1/ledgers/{}", ledger["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("张三有") && !text.contains("11010519491231002X"),
        "the city office has no clearance by default"
    );
    let history = stack
        .get(
            &format!("/api/v1/ledgers/{}/history", ledger["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !history.contains("张三有") && !history.contains("张*有") && !history.contains("002X"),
        "{history}"
    );

    // The city office grants an auditor clearance; the auditor reads in clear.
    stack.user("shenji", "auditor", "411081").await;
    let (_, users) = stack.json(stack.get("/api/v1/users", &admin)).await;
    let auditor_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "shenji")
        .unwrap()["id"]
        .clone();
    let (status, _) = stack
        .json(
            stack
                .post(
                    &format!("/api/v1/users/{}/clearance", auditor_id.as_str().unwrap()),
                    &village,
                )
                .json(&json!({ "clearance": true })),
        )
        .await;
    assert_eq!(
        status, 404,
        "a village cannot see, let alone grant, a city account"
    );
    let response = stack
        .post(
            &format!("/api/v1/users/{}/clearance", auditor_id.as_str().unwrap()),
            &admin,
        )
        .json(&json!({ "clearance": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let auditor = stack.login("shenji", "Village-pass1").await;
    let (status, clear) = stack
        .json(stack.get(
            &format!("/api/v1/findings/{}", finding["id"].as_str().unwrap()),
            &auditor,
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(clear["households_masked"], false);
    assert_eq!(clear["households"][0]["name"], "张三有");
    assert_eq!(clear["households"][0]["id_number"], "11010519491231002X");
    // That read in clear is on record.
    use sqlx::Row as _;
    let mut db = stack.database("ledger").await;
    let reads = sqlx::query("SELECT username FROM personal_data_reads")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].get::<String, _>("username"), "shenji");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_village_learns_nothing_and_keys_replay() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let stranger = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let ledger_id = ledger["id"].as_str().unwrap();

    // Idempotency-Key: the same key and body replay; another body is 422.
    let path = format!("{}/findings", path_of(&ledger, 0));
    let send = |body: Value| {
        stack
            .post(&path, &village)
            .header("idempotency-key", "fill-0001")
            .json(&body)
    };
    let first = send(finding_body("a")).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(finding_body("a")).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let (status, problem) = stack.json(send(finding_body("b"))).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        stack.ledger(&village, &campaign, VILLAGE).await["findings"],
        1
    );
    // The same new key sent eight times at once runs once.
    let racing = (0..8).map(|_| {
        stack
            .post(&path, &village)
            .header("idempotency-key", "fill-0002")
            .json(&finding_body("c"))
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(racing)
        .await
        .into_iter()
        .map(|response| response.unwrap().status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201), "{statuses:?}");
    assert_eq!(
        stack.ledger(&village, &campaign, VILLAGE).await["findings"],
        2,
        "{statuses:?}"
    );
    // Both are open and due 2023-07-20, long past: the village's own
    // dashboard counts them overdue.
    let (status, own) = stack
        .json(stack.get(
            &format!(
                "/api/v1/campaigns/{}/dashboard",
                campaign["id"].as_str().unwrap()
            ),
            &village,
        ))
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["unit"]["code"], VILLAGE);
    assert_eq!(own["total"]["open"], 2, "{own}");
    assert_eq!(own["total"]["overdue"], 2, "{own}");
    assert_eq!(own["total"]["written_off_rate"], 0.0);

    let finding_id = first["id"].as_str().unwrap();
    for (what, request) in [
        (
            "ledger",
            stack.get(&format!("/api/v1/ledgers/{ledger_id}"), &stranger),
        ),
        (
            "history",
            stack.get(&format!("/api/v1/ledgers/{ledger_id}/history"), &stranger),
        ),
        (
            "verify",
            stack.get(&format!("/api/v1/ledgers/{ledger_id}/verify"), &stranger),
        ),
        (
            "finding",
            stack.get(&format!("/api/v1/findings/{finding_id}"), &stranger),
        ),
        (
            "evidence",
            stack.get(
                &format!("/api/v1/findings/{finding_id}/evidence"),
                &stranger,
            ),
        ),
        (
            "write",
            stack.post(&path, &stranger).json(&finding_body("x")),
        ),
        (
            "patch",
            stack
                .patch(&format!("/api/v1/findings/{finding_id}"), &stranger)
                .header("if-match", "\"1\"")
                .json(&json!({ "result": "x" })),
        ),
        (
            "start",
            stack.post(&format!("/api/v1/findings/{finding_id}/start"), &stranger),
        ),
        (
            "list",
            stack.get(&format!("/api/v1/ledgers?unit={VILLAGE}"), &stranger),
        ),
    ] {
        let (status, problem) = stack.json(request).await;
        assert_eq!(status, 404, "{what}: {problem}");
        assert_eq!(problem["code"], "not_found", "{what}");
    }
    // A missing ledger answers exactly like a foreign one.
    let (_, missing) = stack
        .json(stack.get(
            &format!("/api/v1/ledgers/{}", uuid::Uuid::new_v4()),
            &stranger,
        ))
        .await;
    let (_, foreign) = stack
        .json(stack.get(&format!("/api/v1/ledgers/{ledger_id}"), &stranger))
        .await;
    assert_eq!(missing["title"], foreign["title"]);
    let (_, own) = stack.json(stack.get("/api/v1/ledgers", &stranger)).await;
    let units: Vec<&str> = own["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["unit"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(units, [OTHER_VILLAGE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_round_trips_and_oversize_keeps_nothing() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(&village, &ledger, 0, finding_body("公示栏未更新"))
        .await;
    let evidence_path = format!(
        "/api/v1/findings/{}/evidence",
        finding["id"].as_str().unwrap()
    );

    // A photo whose name lies about its type and tries to climb out.
    let mut photo = PNG.to_vec();
    photo.extend(std::iter::repeat_n(0u8, 300 * 1024)); // big enough to take several chunks
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(photo.clone())
            .file_name("../../整改前.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let (status, evidence) = stack
        .json(stack.post(&evidence_path, &village).multipart(form))
        .await;
    assert_eq!(status, 201, "{evidence}");
    assert_eq!(evidence["content_type"], "image/png");
    assert_eq!(evidence["file_name"], "整改前.pdf");
    assert_eq!(evidence["size"].as_u64().unwrap() as usize, photo.len());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &photo);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(evidence["sha256"], hex);

    // Downloaded under the finding's authorization: the township may, byte for byte.
    let response = stack
        .get(
            &format!("{evidence_path}/{}", evidence["id"].as_str().unwrap()),
            &township,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), photo.as_slice());

    // A raw upload of a script is refused by its bytes.
    let (status, problem) = stack
        .json(
            stack
                .post(&format!("{evidence_path}?file_name=a.jpg"), &village)
                .header("content-type", "image/jpeg")
                .body("<script>alert(1)</script>"),
        )
        .await;
    assert_eq!(status, 415, "{problem}");

    // 20 MiB and one byte: 413, nothing kept, declared or streamed.
    let oversize = vec![0xFF_u8; 20 * 1024 * 1024 + 1];
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend_from_slice(&oversize);
    let (status, problem) = stack
        .json(
            stack
                .post(&format!("{evidence_path}?file_name=big.pdf"), &village)
                .body(pdf.clone()),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    let chunked = futures::stream::iter(
        pdf.chunks(1 << 20)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let (status, problem) = stack
        .json(
            stack
                .post(&format!("{evidence_path}?file_name=big.pdf"), &village)
                .body(reqwest::Body::wrap_stream(chunked)),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    let (_, list) = stack.json(stack.get(&evidence_path, &village)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    use sqlx::Row as _;
    let mut db = stack.database("ledger").await;
    let chunks: i64 = sqlx::query("SELECT count(*) AS n FROM file_chunks")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(chunks, 2, "only the photo's chunks are kept");

    // The digest is in the history.
    let (_, history) = history_of(&stack, &village, &finding).await;
    let added = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "evidence_added")
        .expect("evidence_added");
    assert_eq!(added["details"]["sha256"], hex);
    // Others may not add evidence to the village's finding.
    let (status, _) = stack
        .json(
            stack
                .post(&format!("{evidence_path}?file_name=x.png"), &township)
                .body(PNG.to_vec()),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_database_edit_is_caught_by_verify() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(&village, &ledger, 0, finding_body("档案缺失"))
        .await;
    stack.act(&village, &finding, "start", None).await;
    patch(
        &stack,
        &village,
        &finding,
        Some("\"2\""),
        json!({ "result": "已补档" }),
    )
    .await;
    let verify_path = format!("/api/v1/ledgers/{}/verify", ledger["id"].as_str().unwrap());
    let (status, report) = stack.json(stack.get(&verify_path, &village)).await;
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["events"], 3);

    let mut db = stack.database("ledger").await;
    let refused = sqlx::query("UPDATE ledger_events SET reason = 'quiet' WHERE seq = 2")
        .execute(&mut db)
        .await;
    assert!(refused.is_err(), "the history refuses updates");
    assert!(
        sqlx::query("DELETE FROM ledger_events")
            .execute(&mut db)
            .await
            .is_err()
    );
    // Someone with the keys to the database turns the guard off and rewrites event 2.
    for statement in [
        "ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_no_update",
        "UPDATE ledger_events SET actor = 'someone_else' WHERE seq = 2",
        "ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_no_update",
    ] {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    let (_, report) = stack.json(stack.get(&verify_path, &village)).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_bad_seq"], 2, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_with_if_match_lose_no_update() {
    let stack = std::sync::Arc::new(Stack::start().await);
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(&village, &ledger, 0, finding_body("并发"))
        .await;
    let id = finding["id"].as_str().unwrap().to_owned();

    let mut writers = Vec::new();
    for writer in 0..16 {
        let (stack, village, id) = (stack.clone(), village.clone(), id.clone());
        writers.push(tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let response = stack
                    .get(&format!("/api/v1/findings/{id}"), &village)
                    .send()
                    .await
                    .unwrap();
                let etag = response.headers()["etag"].to_str().unwrap().to_owned();
                let current: Value = response.json().await.unwrap();
                let result = format!("{}w{writer};", current["result"].as_str().unwrap());
                let response = stack
                    .patch(&format!("/api/v1/findings/{id}"), &village)
                    .header("if-match", etag)
                    .json(&json!({ "result": result }))
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => return conflicts,
                    412 => conflicts += 1,
                    other => panic!(
                        "writer {writer}: {other} {}",
                        response.text().await.unwrap()
                    ),
                }
            }
        }));
    }
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.unwrap();
    }
    let (_, last) = stack
        .json(stack.get(&format!("/api/v1/findings/{id}"), &village))
        .await;
    let result = last["result"].as_str().unwrap();
    for writer in 0..16 {
        assert!(
            result.contains(&format!("w{writer};")),
            "writer {writer}'s update is lost: {result}"
        );
    }
    assert_eq!(last["version"], 17);
    println!("16 writers: {conflicts} stale writes refused with 412 and retried");
    let (_, report) = stack
        .json(stack.get(
            &format!("/api/v1/ledgers/{}/verify", ledger["id"].as_str().unwrap()),
            &village,
        ))
        .await;
    assert_eq!(report["intact"], true);
    assert_eq!(report["events"], 17);
}

/// The fan-out at province scale: all 河南, over 52,000 villages, fifteen
/// problems each, in one transaction. Called over gRPC as 河南's own office.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_campaign_fans_out_in_one_go() {
    use zhenggai_common::grpc::outgoing;
    use zhenggai_proto::catalogue::v1 as catalogue;
    use zhenggai_proto::ledger::v1 as ledger;
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let csv = zhenggai_system_tests::henan_csv();
    let (status, counts) = stack.import(&admin, csv.clone()).await;
    assert_eq!(status, 200, "{counts}");
    let text = String::from_utf8(csv).unwrap();
    let townships_and_villages = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .filter(|code| matches!(code.len(), 9 | 12))
        .count();

    let office = stack.service_token("henan-office", zhenggai_common::Role::CityAdmin, "41");
    let channel = |address| {
        tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy()
    };
    let mut catalogue_client =
        catalogue::catalogue_service_client::CatalogueServiceClient::new(channel(stack.catalogue));
    let problems = (1..=15)
        .map(|seq| catalogue::NewProblem {
            seq,
            aspect_seq: 1,
            title: format!("问题{seq}"),
            manifestation: format!("表现{seq}"),
            measures: vec![catalogue::Measure {
                seq: 1,
                text: "整改".into(),
            }],
            responsible_units: vec![catalogue::ResponsibleUnitRef {
                code: "41".into(),
                lead: true,
                scope: "unit".into(),
            }],
            responsible_text: "省乡村振兴局".into(),
            deadline: Some(catalogue::Deadline {
                due_on: "2023-07-20".into(),
                continuing: true,
            }),
        })
        .collect();
    let document = catalogue_client
        .publish_document(outgoing(
            catalogue::PublishDocumentRequest {
                doc_number: "豫巩固脱贫组〔2023〕1号".into(),
                title: "全省反馈问题整改".into(),
                issuer: "河南省巩固拓展脱贫攻坚成果领导小组".into(),
                issued_on: "2023-06-20".into(),
                area: "41".into(),
                aspects: vec![catalogue::Aspect {
                    seq: 1,
                    name: "工作落实方面".into(),
                }],
                problems,
                editorial_notes: vec![],
                personal_names: vec![],
            },
            &office,
        ))
        .await
        .expect("publish the province's notice")
        .into_inner();

    let mut ledger_client =
        ledger::ledger_service_client::LedgerServiceClient::new(channel(stack.ledger));
    let started = std::time::Instant::now();
    let campaign = ledger_client
        .create_campaign(outgoing(
            ledger::CreateCampaignRequest {
                document_id: document.id,
                area: "41".into(),
                title: String::new(),
            },
            &office,
        ))
        .await
        .expect("the province's campaign")
        .into_inner();
    let took = started.elapsed();
    println!(
        "fan-out 河南: {} ledgers, {} sections in {} ms (debug build, over gRPC)",
        campaign.ledger_count,
        campaign.section_count,
        took.as_millis()
    );
    assert_eq!(campaign.ledger_count as usize, townships_and_villages + 1);
    assert!(campaign.ledger_count > 52_378);
    assert_eq!(
        campaign.section_count,
        u64::from(campaign.ledger_count) * 15
    );

    // The province's dashboard rolls up by city, in one query over counters.
    let started = std::time::Instant::now();
    let dashboard = ledger_client
        .get_dashboard(outgoing(
            ledger::GetDashboardRequest {
                campaign_id: campaign.id,
                unit: String::new(),
            },
            &office,
        ))
        .await
        .expect("dashboard")
        .into_inner();
    println!(
        "dashboard 河南 by city: {} ms",
        started.elapsed().as_millis()
    );
    let xuchang = dashboard
        .children
        .iter()
        .find(|row| row.unit.as_ref().unwrap().code == "4110")
        .expect("许昌市");
    assert_eq!(xuchang.unit.as_ref().unwrap().name, "许昌市");
    assert_eq!(dashboard.total.unwrap().ledgers, campaign.ledger_count);
}

/// Polls a count in a service's database until it reaches `want` (or 30 s pass).
async fn wait_for_count(stack: &Stack, service: &str, query: &str, want: i64) -> i64 {
    let mut db = stack.database(service).await;
    let mut seen = -1;
    for _ in 0..300 {
        seen = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut db)
            .await
            .unwrap();
        if seen == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_holds_while_a_peer_is_down_and_delivers_when_it_returns() {
    let mut stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let changed = "SELECT count(*) FROM ledger_events_received WHERE topic = 'finding.changed'";
    let created = "SELECT count(*) FROM ledger_events_received WHERE topic = 'campaign.created'";
    assert_eq!(wait_for_count(&stack, "scheduler", created, 1).await, 1);
    assert_eq!(wait_for_count(&stack, "notifier", created, 1).await, 1);

    stack.stop("notifier");
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let mut body = finding_body("低保户识别不准");
    body["result"] = json!("已重新核定");
    let finding = stack.add_finding(&village, &ledger, 1, body).await;
    stack.act(&village, &finding, "start", None).await;
    let (status, _) = stack.act(&village, &finding, "submit", None).await;
    assert_eq!(
        status, 200,
        "the gateway and the ledger serve while the notifier is down"
    );

    // The scheduler hears all three; the notifier's share waits in the outbox.
    assert_eq!(wait_for_count(&stack, "scheduler", changed, 3).await, 3);
    let waiting = "SELECT count(*) FROM outbox WHERE 'notifier' = ANY(pending)";
    assert_eq!(wait_for_count(&stack, "ledger", waiting, 3).await, 3);
    assert_eq!(wait_for_count(&stack, "notifier", changed, 0).await, 0);

    stack.restart("notifier").await;
    assert_eq!(
        wait_for_count(&stack, "notifier", changed, 3).await,
        3,
        "everything arrives when the peer returns"
    );
    assert_eq!(
        wait_for_count(
            &stack,
            "ledger",
            "SELECT count(*) FROM outbox WHERE cardinality(pending) > 0",
            0
        )
        .await,
        0
    );
    // What the notifier got says who must act, and never names a household.
    let mut db = stack.database("notifier").await;
    let submitted: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM ledger_events_received WHERE topic = 'finding.changed' AND payload->>'event' = 'submit'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(submitted["unit"], VILLAGE);
    assert_eq!(submitted["state"], "submitted");
    assert_eq!(submitted["finding_id"], finding["id"]);
    assert_eq!(
        submitted["awaiting"],
        json!({ "unit": TOWNSHIP, "action": "verify" })
    );
}
