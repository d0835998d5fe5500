//! The scheduler through the gateway: the working-day calendar, milestones
//! and their tallies, the lights as the drill clock moves, reminders and
//! escalation reaching the notifier once, quiet hours, re-checks (回头看), and
//! several scheduler instances with one killed mid-batch.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row as _;
use zhenggai_system_tests::{Stack, eventually, tally};

const VILLAGE: &str = "411081114204"; // 土门口村委会
const OTHER_VILLAGE: &str = "411081115201"; // 方东村委会, another township
const TOWNSHIP: &str = "411081114"; // 浅井镇

fn finding_body(due_on: &str, kind: &str) -> Value {
    json!({
        "description": "个别脱贫户未办理慢性病卡",
        "measures": "逐户走访，协助办理",
        "due_on": due_on,
        "kind": kind,
        "responsible": "土门口村两委",
        "standing_mechanism": "每季度走访一次",
    })
}

/// A review step that must succeed.
async fn act(stack: &Stack, token: &str, finding: &Value, action: &str) -> Value {
    let (status, body) = stack.act(token, finding, action, None).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// The unit writes its result, starts and submits (hands in for review).
async fn deliver(stack: &Stack, token: &str, finding: &Value, result: &str) {
    let path = format!("/api/v1/findings/{}", finding["id"].as_str().unwrap());
    let (_, current) = stack.json(stack.get(&path, token)).await;
    let (status, body) = stack
        .json(
            stack
                .patch(&path, token)
                .header("if-match", current["version"].to_string())
                .json(&json!({ "result": result })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    act(stack, token, finding, "start").await;
    act(stack, token, finding, "submit").await;
}

/// Waits until the scheduler has applied every event it received.
async fn caught_up(stack: &Stack) {
    eventually("the scheduler applies the ledger's events", || async {
        let relayed = stack
            .scalar(
                "ledger",
                "SELECT count(*) FROM outbox WHERE 'scheduler' = ANY(pending)",
            )
            .await;
        let unhandled = stack
            .scalar(
                "scheduler",
                "SELECT count(*) FROM ledger_events_received WHERE handled_at IS NULL",
            )
            .await;
        (relayed == 0 && unhandled == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_knows_every_holiday_and_names_a_year_it_lacks() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let next_workday = |from: String| {
        let stack = &stack;
        let village = &village;
        async move {
            let (status, body) = stack
                .json(stack.get(
                    &format!("/api/v1/calendar/add-workdays?from={from}&days=1"),
                    village,
                ))
                .await;
            assert_eq!(status, 200, "{body}");
            body["date"].as_str().unwrap().to_owned()
        }
    };
    let mut checked = 0;
    for (year, workdays) in [(2023, 249), (2024, 251), (2025, 248), (2026, 248)] {
        let (status, calendar) = stack
            .json(stack.get(&format!("/api/v1/calendar/{year}"), &village))
            .await;
        assert_eq!(status, 200, "{calendar}");
        assert_eq!(calendar["workdays"], workdays, "{year}");
        for day in calendar["days"].as_array().unwrap() {
            let date: chrono::NaiveDate = day["date"].as_str().unwrap().parse().unwrap();
            let before = date.pred_opt().unwrap();
            if before.format("%Y").to_string() != year.to_string() {
                continue; // 1 January: the day before is in a year not loaded
            }
            let next = next_workday(before.to_string()).await;
            match day["kind"].as_str().unwrap() {
                // A make-up Saturday or Sunday is worked ...
                "workday" => assert_eq!(next, date.to_string(), "{day}"),
                // ... a holiday is passed over, whatever weekday it is.
                _ => assert!(next > date.to_string(), "{day}: {next}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 130, "{checked} days checked");

    // 5个工作日内 from Thursday 2023-09-28 runs over the National Day week
    // and counts its two make-up days: 10/7, 10/8, 10/9, 10/10, 10/11.
    let (status, body) = stack
        .json(stack.get(
            "/api/v1/calendar/add-workdays?from=2023-09-28&days=5",
            &village,
        ))
        .await;
    assert_eq!(
        (status, body["date"].as_str()),
        (200, Some("2023-10-11")),
        "{body}"
    );

    // Through a year whose notice is not loaded: a clear 4xx that names it.
    let (status, problem) = stack
        .json(stack.get(
            "/api/v1/calendar/add-workdays?from=2026-12-28&days=10",
            &village,
        ))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("2027"),
        "{problem}"
    );
    let (status, _) = stack
        .json(stack.get("/api/v1/calendar/2027", &village))
        .await;
    assert_eq!(status, 404);
    let (status, problem) = stack
        .json(stack.get(
            "/api/v1/calendar/add-workdays?from=2023-07-01&days=many",
            &village,
        ))
        .await;
    assert_eq!(status, 400, "{problem}");

    // Loading 2027: the city office only, every fault listed.
    let year_2027 = json!({
        "notice": "国办发明电〔2026〕示例号",
        "days": [
            { "date": "2027-01-01", "kind": "holiday", "name": "元旦" },
            { "date": "2027-02-06", "kind": "workday", "name": "春节调休上班" },
        ],
    });
    let put = |token: &str, body: &Value| stack.put("/api/v1/calendar/2027", token).json(body);
    let (status, _) = stack.json(put(&village, &year_2027)).await;
    assert_eq!(status, 403);
    let bad = json!({
        "notice": "国办发明电〔2026〕示例号",
        "days": [
            { "date": "2027-01-04", "kind": "workday", "name": "元旦" },
            { "date": "2026-10-01", "kind": "holiday", "name": "国庆节" },
            { "date": "2027-02-30", "kind": "holiday", "name": "春节" },
        ],
    });
    let (status, problem) = stack.json(put(&admin, &bad)).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(3),
        "{problem}"
    );
    let (status, loaded) = stack.json(put(&admin, &year_2027)).await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["loaded_by"], "admin");
    // New Year's Day 2027 is a Friday off: from Thursday 12-31, Monday.
    let (status, body) = stack
        .json(stack.get(
            "/api/v1/calendar/add-workdays?from=2026-12-31&days=1",
            &village,
        ))
        .await;
    assert_eq!(
        (status, body["date"].as_str()),
        (200, Some("2027-01-04")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milestones_tally_on_time_late_and_missing() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-06-30T10:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    stack.scheduled(&admin, &campaign).await;

    let all = stack.milestones(&admin, &campaign).await;
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter().map(|m| m["due_on"].as_str()).collect::<Vec<_>>(),
        vec![
            Some("2023-07-02"),
            Some("2023-07-15"),
            Some("2023-07-20"),
            None
        ]
    );
    let (departments, ..) = tally(&all, "plan");
    let (hand_in_owed, ..) = tally(&all, "hand_in");
    assert!(departments >= 10, "{departments} departments owe plans");
    assert!(hand_in_owed > departments);

    // Two departments answer their ledgers: one by 7/2, one after.
    let (status, ledgers) = stack
        .json(stack.get(
            &format!(
                "/api/v1/ledgers?campaign={}&limit=1000",
                campaign["id"].as_str().unwrap()
            ),
            &admin,
        ))
        .await;
    assert_eq!(status, 200);
    let department_codes: Vec<String> = ledgers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["unit"]["level"] == "department")
        .map(|l| l["unit"]["code"].as_str().unwrap().to_owned())
        .collect();
    let punctual = stack
        .user("dept1", "department", &department_codes[0])
        .await;
    let tardy = stack
        .user("dept2", "department", &department_codes[1])
        .await;
    let ledger = stack
        .ledger(&punctual, &campaign, &department_codes[0])
        .await;
    stack.answer_the_rest(&punctual, &ledger).await;
    stack.set_clock(&admin, "2023-07-05T10:00:00+08:00").await;
    let ledger = stack.ledger(&tardy, &campaign, &department_codes[1]).await;
    stack.answer_the_rest(&tardy, &ledger).await;

    // The village: a finding handed in by 7/20; the other village's is late.
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(&village, &ledger, 3, finding_body("2023-07-20", "deadline"))
        .await;
    stack.answer_the_rest(&village, &ledger).await;
    let other = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let other_ledger = stack.ledger(&other, &campaign, OTHER_VILLAGE).await;
    let late_finding = stack
        .add_finding(
            &other,
            &other_ledger,
            3,
            finding_body("2023-07-20", "deadline"),
        )
        .await;
    stack.answer_the_rest(&other, &other_ledger).await;
    caught_up(&stack).await;
    let now = stack.milestones(&admin, &campaign).await;
    assert_eq!(tally(&now, "plan"), (departments, 1, 1, departments - 2, 0));
    let (owed, on_time, late, missing, pending) = tally(&now, "rectified");
    // The departments answered without findings: rectified already.
    assert_eq!((on_time, late, missing, pending), (2, 0, 0, owed - 2));

    stack.set_clock(&admin, "2023-07-18T10:00:00+08:00").await;
    deliver(&stack, &village, &finding, "已协助两户办理慢性病卡").await;
    stack.set_clock(&admin, "2023-07-24T10:00:00+08:00").await;
    caught_up(&stack).await;
    let now = stack.milestones(&admin, &campaign).await;
    let (owed, on_time, late, missing, pending) = tally(&now, "rectified");
    assert_eq!((on_time, late, missing, pending), (3, 0, owed - 3, 0));
    // Nobody handed in ledger and report (上报) by 7/15.
    assert_eq!(
        tally(&now, "hand_in"),
        (hand_in_owed, 0, 0, hand_in_owed, 0)
    );

    deliver(&stack, &other, &late_finding, "已办理").await;
    caught_up(&stack).await;
    let now = stack.milestones(&admin, &campaign).await;
    let (owed, on_time, late, missing, _) = tally(&now, "rectified");
    assert_eq!((on_time, late, missing), (3, 1, owed - 4));
    // A township's view tallies its own subtree.
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let (status, body) = stack
        .json(stack.get(
            &format!(
                "/api/v1/campaigns/{}/milestones?unit={TOWNSHIP}",
                campaign["id"].as_str().unwrap()
            ),
            &township,
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, on_time, late, ..) = tally(body["items"].as_array().unwrap(), "rectified");
    assert_eq!((on_time, late), (1, 0));

    // The city office moves the plan milestone: the tardy department is on time.
    let plan = now.iter().find(|m| m["kind"] == "plan").unwrap();
    let path = format!(
        "/api/v1/campaigns/{}/milestones/{}",
        campaign["id"].as_str().unwrap(),
        plan["id"].as_str().unwrap()
    );
    let (status, _) = stack
        .json(
            stack
                .patch(&path, &village)
                .json(&json!({ "due_on": "2023-07-06" })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, moved) = stack
        .json(
            stack
                .patch(&path, &admin)
                .json(&json!({ "due_on": "2023-07-06" })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["tally"]["on_time"], 2);
    assert_eq!(moved["tally"]["late"], 0);
}

async fn deadlines(stack: &Stack, token: &str, query: &str) -> Value {
    let (status, body) = stack
        .json(stack.get(&format!("/api/v1/deadlines?{query}"), token))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn light_of(page: &Value, finding: &Value) -> (String, i64) {
    let item = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["finding_id"] == finding["id"])
        .unwrap_or_else(|| panic!("{finding} not in {page}"));
    (
        item["status"].as_str().unwrap().to_owned(),
        item["workdays"].as_i64().unwrap_or(i64::MIN),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lights_move_with_the_drill_clock() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-10T09:30:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let by_20th = stack
        .add_finding(&village, &ledger, 3, finding_body("2023-07-20", "deadline"))
        .await;
    let by_14th = stack
        .add_finding(
            &village,
            &ledger,
            4,
            finding_body("2023-07-14", "immediate"),
        )
        .await;
    caught_up(&stack).await;

    let page = deadlines(&stack, &village, "").await;
    assert_eq!(page["today"], "2023-07-10");
    assert_eq!(light_of(&page, &by_20th), ("on_track".into(), 8));
    assert_eq!(light_of(&page, &by_14th), ("on_track".into(), 4));

    stack.set_clock(&admin, "2023-07-17T09:30:00+08:00").await;
    let page = deadlines(&stack, &village, "").await;
    assert_eq!(light_of(&page, &by_20th), ("due_soon".into(), 3));
    assert_eq!(light_of(&page, &by_14th), ("overdue".into(), -1));
    let overdue = deadlines(&stack, &village, "status=overdue").await;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 1);

    // Handed in: done, whatever the date.
    deliver(&stack, &village, &by_14th, "已整改").await;
    caught_up(&stack).await;
    let page = deadlines(&stack, &village, "").await;
    assert_eq!(light_of(&page, &by_14th).0, "done");
    stack.set_clock(&admin, "2023-07-21T09:30:00+08:00").await;
    let page = deadlines(&stack, &village, "status=overdue").await;
    assert_eq!(light_of(&page, &by_20th), ("overdue".into(), -1));

    // The township sees its village's; another village sees nothing of it.
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let page = deadlines(&stack, &township, &format!("unit={VILLAGE}")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let other = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let (status, _) = stack
        .json(stack.get(&format!("/api/v1/deadlines?unit={VILLAGE}"), &other))
        .await;
    assert_eq!(status, 404);
    assert!(
        deadlines(&stack, &other, "").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, problem) = stack
        .json(stack.get("/api/v1/deadlines?status=purple", &village))
        .await;
    assert_eq!(status, 400, "{problem}");
}

/// The reminders the notifier holds for one finding: (event, unit,
/// quiet_until set, repeats), oldest first.
async fn notified(stack: &Stack, finding: &Value) -> Vec<(String, String, bool, i32)> {
    let mut db = stack.database("notifier").await;
    sqlx::query(
        "SELECT event, unit, quiet_until IS NOT NULL AS quiet, repeats FROM notifications
          WHERE variables->>'finding_id' = $1 AND dedupe_key LIKE 'reminder:%'
          ORDER BY occurred_at, event, unit",
    )
    .bind(finding["id"].as_str().unwrap())
    .fetch_all(&mut db)
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.get("event"),
            row.get("unit"),
            row.get("quiet"),
            row.get("repeats"),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_and_escalations_reach_the_notifier_once_and_respect_quiet_hours() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-12T08:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(&village, &ledger, 3, finding_body("2023-07-20", "deadline"))
        .await;
    // Another village with five findings due a day later: digests.
    let other = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let other_ledger = stack.ledger(&other, &campaign, OTHER_VILLAGE).await;
    for section in 0..5 {
        stack
            .add_finding(
                &other,
                &other_ledger,
                section,
                finding_body("2023-07-21", "immediate"),
            )
            .await;
    }
    caught_up(&stack).await;

    let expect = |steps: Vec<(&'static str, &'static str, bool)>| {
        steps
            .into_iter()
            .map(|(event, unit, quiet)| (event.to_owned(), unit.to_owned(), quiet, 0))
            .collect::<Vec<_>>()
    };
    let mut expected = Vec::new();
    // Monday 7/17 at 21:00: three working days left, planned in the quiet
    // hours: the inbox now, the other channels at 08:00.
    for (now, new) in [
        (
            "2023-07-17T21:00:00+08:00",
            vec![("due_soon", VILLAGE, true)],
        ),
        ("2023-07-18T10:00:00+08:00", vec![]),
        (
            "2023-07-19T10:00:00+08:00",
            vec![("due_soon", VILLAGE, false)],
        ),
        (
            "2023-07-20T10:00:00+08:00",
            vec![("due_today", VILLAGE, false)],
        ),
        (
            "2023-07-21T10:00:00+08:00",
            vec![("overdue", VILLAGE, false)],
        ),
        // A Saturday: nothing.
        ("2023-07-22T10:00:00+08:00", vec![]),
        (
            "2023-07-24T10:00:00+08:00",
            vec![("overdue", VILLAGE, false)],
        ),
        // Three working days late: the township is told, once.
        (
            "2023-07-25T10:00:00+08:00",
            vec![("escalated", TOWNSHIP, false), ("overdue", VILLAGE, false)],
        ),
        (
            "2023-07-26T10:00:00+08:00",
            vec![("overdue", VILLAGE, false)],
        ),
        // Ten working days late: the city office too.
        (
            "2023-08-03T10:00:00+08:00",
            vec![("escalated", "411081", false), ("overdue", VILLAGE, false)],
        ),
    ] {
        stack.set_clock(&admin, now).await;
        expected.extend(expect(new));
        let want = expected.len();
        let got = eventually(&format!("reminders at {now}"), || async {
            let got = notified(&stack, &finding).await;
            (got.len() >= want).then_some(got)
        })
        .await;
        // Give a second plan a chance to repeat anything (it must not).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = notified(&stack, &finding).await;
        assert_eq!(again.len(), want, "at {now}: {again:?}");
        let mut sorted = got.clone();
        sorted.sort();
        let mut wanted = expected.clone();
        wanted.sort();
        assert_eq!(sorted, wanted, "at {now}");
    }
    // Each went to the notifier once: no request was repeated.
    let mut scheduler = stack.database("scheduler").await;
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM reminders WHERE sent_at IS NULL")
        .fetch_one(&mut scheduler)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    let mut notifier = stack.database("notifier").await;
    let repeats: i64 = sqlx::query_scalar("SELECT coalesce(sum(repeats), 0) FROM notifications")
        .fetch_one(&mut notifier)
        .await
        .unwrap();
    assert_eq!(repeats, 0);
    // Units that owe a milestone heard of it too: the rectification ends
    // 7/20; reminded 3 and 1 working days before, on the day, and told once
    // the day after that it was missed.
    let owed: Vec<(String, String)> = sqlx::query_as(
        "SELECT variables->>'due_on', variables->>'workdays' FROM notifications
          WHERE event = 'milestone_owed' AND unit = $1 ORDER BY occurred_at",
    )
    .bind(VILLAGE)
    .fetch_all(&mut notifier)
    .await
    .unwrap();
    let owed: Vec<(&str, &str)> = owed.iter().map(|(d, w)| (d.as_str(), w.as_str())).collect();
    assert_eq!(
        owed,
        vec![
            ("2023-07-20", "3"),
            ("2023-07-20", "1"),
            ("2023-07-20", "0"),
            ("2023-07-20", "-1")
        ]
    );
    // The busy village heard of its many items in digests, not a flood.
    let events: Vec<(String, i64, i32)> = sqlx::query_as(
        "SELECT event, count(*), max(coalesce((variables->>'count')::int, 1))
           FROM notifications WHERE unit = $1 GROUP BY event ORDER BY event",
    )
    .bind(OTHER_VILLAGE)
    .fetch_all(&mut notifier)
    .await
    .unwrap();
    let names: Vec<&str> = events.iter().map(|(e, ..)| e.as_str()).collect();
    assert_eq!(names, vec!["digest", "milestone_owed"], "{events:?}");
    // On 7/20: five findings due in a day, and the milestone due that day.
    assert_eq!(events[0].2, 6, "{events:?}");

    // Submitted: no more reminders.
    deliver(&stack, &village, &finding, "已整改").await;
    caught_up(&stack).await;
    stack.set_clock(&admin, "2023-08-04T10:00:00+08:00").await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(notified(&stack, &finding).await.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_recheck_reopens_the_finding() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-10T10:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let mut body = finding_body("2023-07-20", "long_term");
    body["result"] = json!("建立常态化走访机制");
    let finding = stack.add_finding(&village, &ledger, 3, body).await;
    act(&stack, &village, &finding, "start").await;
    act(&stack, &village, &finding, "submit").await;
    act(&stack, &township, &finding, "verify").await;
    stack.set_clock(&admin, "2023-07-20T10:00:00+08:00").await;
    act(&stack, &admin, &finding, "close").await;
    caught_up(&stack).await;

    let (status, list) = stack
        .json(stack.get(&format!("/api/v1/rechecks?unit={VILLAGE}"), &village))
        .await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|r| (
                r["round"].as_i64(),
                r["due_on"].as_str(),
                r["status"].as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            (Some(1), Some("2023-08-19"), Some("scheduled")),
            (Some(2), Some("2023-10-18"), Some("scheduled")),
        ]
    );
    let first = items[0].clone();
    let record = |token: &str, body: Value| {
        stack
            .post(
                &format!("/api/v1/rechecks/{}", first["id"].as_str().unwrap()),
                token,
            )
            .json(&body)
    };
    let (status, problem) = stack
        .json(record(&village, json!({ "outcome": "passed" })))
        .await;
    assert_eq!(status, 409, "not due yet: {problem}");

    // 8/21 (a Monday): due; its unit is reminded.
    stack.set_clock(&admin, "2023-08-21T10:00:00+08:00").await;
    let (_, list) = stack
        .json(stack.get(
            &format!("/api/v1/rechecks?unit={VILLAGE}&status=due"),
            &village,
        ))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    eventually("the re-check reminder", || async {
        let sql = format!(
            "SELECT count(*) FROM notifications WHERE event = 'recheck_due' AND unit = '{VILLAGE}'"
        );
        (stack.scalar("notifier", &sql).await == 1).then_some(())
    })
    .await;

    let (status, problem) = stack
        .json(record(&village, json!({ "outcome": "failed" })))
        .await;
    assert_eq!(status, 400, "a failure says what was found: {problem}");
    let other = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let (status, _) = stack
        .json(record(&other, json!({ "outcome": "failed", "note": "x" })))
        .await;
    assert_eq!(status, 404);
    let (status, recorded) = stack
        .json(record(
            &village,
            json!({ "outcome": "failed", "note": "两户慢性病卡再次失效" }),
        ))
        .await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["status"], "failed");
    assert_eq!(recorded["recorded_by"], "tumenkou");

    let (_, reopened) = stack
        .json(stack.get(
            &format!("/api/v1/findings/{}", finding["id"].as_str().unwrap()),
            &village,
        ))
        .await;
    assert_eq!(reopened["state"], "in_progress");
    assert_eq!(reopened["written_off"], false);
    let (_, history) = stack
        .json(stack.get(
            &format!(
                "/api/v1/findings/{}/history",
                finding["id"].as_str().unwrap()
            ),
            &village,
        ))
        .await;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "finding_reopened", "{last}");
    assert!(
        last["reason"].as_str().unwrap().contains("回头看"),
        "{last}"
    );
    assert_eq!(last["actor"], "tumenkou");
    // The second re-check is moot until the finding is closed again.
    caught_up(&stack).await;
    let (_, list) = stack
        .json(stack.get(&format!("/api/v1/rechecks?unit={VILLAGE}"), &village))
        .await;
    let statuses: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("failed"), json!("cancelled")]);
    let (status, _) = stack
        .json(record(&village, json!({ "outcome": "passed" })))
        .await;
    assert_eq!(status, 409);
}

/// A TCP listener that accepts and never answers: a notifier that hangs.
async fn black_hole() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_fire_each_reminder_once_even_when_one_dies_mid_batch() {
    let mut stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-17T08:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    stack.scheduled(&admin, &campaign).await;
    // The stack's own scheduler stops; three instances share its database.
    stack.stop("scheduler");
    let mut db = stack.database("scheduler").await;

    // One instance whose notifier hangs: it plans the day's reminders, which
    // it holds (claimed by it) to send, and is killed holding them all.
    let (hole, _hole) = black_hole().await;
    let doomed = stack
        .scheduler_replica(
            "doomed",
            &[
                "--batch",
                "50",
                "--senders",
                "1",
                "--notifier-url",
                &format!("http://{hole}"),
            ],
        )
        .await;
    // 10:00 on the replicas' clock (they follow the one in their database).
    sqlx::query(
        "UPDATE drill_clock SET offset_ms =
            (extract(epoch FROM ('2023-07-17T10:00:00+08:00'::timestamptz - clock_timestamp())) * 1000)::bigint",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let held = eventually(
        "the doomed instance plans and holds the reminders",
        || async {
            let n = stack.scalar("scheduler",
            "SELECT count(*) FROM reminders WHERE claimed_by = 'doomed' AND sent_at IS NULL",
        )
        .await;
            (n > 0).then_some(n)
        },
    )
    .await;
    assert!(held > 500, "{held} held");
    let steady = stack.scheduler_replica("steady", &["--batch", "40"]).await;
    let brisk = stack.scheduler_replica("brisk", &["--batch", "40"]).await;
    doomed.abort();

    let total = eventually("every reminder sent", || async {
        let total = stack
            .scalar("scheduler", "SELECT count(*) FROM reminders")
            .await;
        let unsent = stack
            .scalar(
                "scheduler",
                "SELECT count(*) FROM reminders WHERE sent_at IS NULL",
            )
            .await;
        (total > 0 && unsent == 0).then_some(total)
    })
    .await;
    assert!(total > 500, "{total} reminders");
    let by: Vec<(String, i64)> = sqlx::query_as(
        "SELECT claimed_by, count(*) FROM reminders GROUP BY claimed_by ORDER BY claimed_by",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        by.iter().all(|(instance, _)| instance != "doomed"),
        "{by:?}"
    );
    assert_eq!(by.len(), 2, "both live instances sent: {by:?}");
    let taken_over: i64 = sqlx::query_scalar("SELECT count(*) FROM reminders WHERE attempts > 1")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(total, held, "the live instances planned nothing twice");
    assert_eq!(
        taken_over, held,
        "what the dead instance held was taken over"
    );

    let mut notifier = stack.database("notifier").await;
    let row = sqlx::query(
        "SELECT count(*) AS notifications, count(DISTINCT dedupe_key) AS keys,
                coalesce(sum(repeats), 0) AS repeats
           FROM notifications WHERE dedupe_key LIKE 'reminder:%'",
    )
    .fetch_one(&mut notifier)
    .await
    .unwrap();
    let (notifications, keys, repeats): (i64, i64, i64) = (
        row.get("notifications"),
        row.get("keys"),
        row.get("repeats"),
    );
    assert_eq!((notifications, keys, repeats), (total, total, 0));
    steady.abort();
    brisk.abort();
}
