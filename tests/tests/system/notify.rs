//! The notifier against a real SMTP sink and a real webhook receiver: each
//! channel's text, the inbox and its read state, retries and failures shown
//! attempt by attempt, dedupe keys, quiet hours, and a notifier killed in
//! the middle of 2,000 notifications.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use zhenggai_proto::notifier::v1 as pb;
use zhenggai_system_tests::fakes::Receiver;
use zhenggai_system_tests::{Stack, eventually};

const VILLAGE: &str = "411081114204"; // 土门口村委会
const OTHER_VILLAGE: &str = "411081115201"; // 方东村委会
const TOWNSHIP: &str = "411081114"; // 浅井镇

async fn notifier(
    stack: &Stack,
) -> pb::notifier_service_client::NotifierServiceClient<tonic::transport::Channel> {
    pb::notifier_service_client::NotifierServiceClient::connect(format!(
        "http://{}",
        stack.notifier
    ))
    .await
    .expect("connect to the notifier")
}

/// Asks the notifier, as the scheduler does.
async fn notify(stack: &Stack, notifications: Vec<pb::Notification>) -> pb::NotifyResponse {
    let request = zhenggai_common::grpc::outgoing(
        pb::NotifyRequest { notifications },
        &stack.peer_token("scheduler"),
    );
    notifier(stack)
        .await
        .notify(request)
        .await
        .expect("notify")
        .into_inner()
}

fn reminder(key: &str, unit: &str, quiet_until: &str) -> pb::Notification {
    pb::Notification {
        dedupe_key: key.to_owned(),
        event: "due_soon".to_owned(),
        unit: unit.to_owned(),
        variables_json: json!({
            "unit": unit, "unit_name": "土门口村委会", "campaign": "巩固脱贫成果整改",
            "problem_seq": 4, "seq": 1, "kind": "deadline", "due_on": "2023-07-20", "workdays": 3,
        })
        .to_string(),
        quiet_until: quiet_until.to_owned(),
        occurred_at: "2023-07-17T09:00:00+08:00".to_owned(),
    }
}

async fn put_channels(stack: &Stack, token: &str, unit: &str, channels: &Value) -> (u16, Value) {
    stack
        .json(
            stack
                .put(&format!("/api/v1/units/{unit}/channels"), token)
                .json(channels),
        )
        .await
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The text of a mail's body, whatever transfer encoding it came in.
fn mail_text(data: &str) -> String {
    let (headers, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    if headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_delivers_the_right_text_and_the_inbox_keeps_read_state() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let secret = "0123456789abcdef-qianjing";
    let channels = json!({
        "email": ["office@qianjing.example"],
        "webhooks": [{ "url": receiver.url("/hook"), "secret": secret }],
        "wecom": [{ "url": receiver.url("/wecom/send?key=robot-key") }],
        "sms": [{
            "url": receiver.url("/sms"),
            "body_template": { "mobile": "{phone}", "content": "{title}{text}" },
            "phones": ["13812345678"],
        }],
    });
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let (status, _) = put_channels(&stack, &village, TOWNSHIP, &channels).await;
    assert_eq!(status, 404, "a village cannot see its township's channels");
    let bad = json!({ "email": ["not an address"], "webhooks": [{ "url": "ftp://x", "secret": "short" }] });
    let (status, problem) = put_channels(&stack, &admin, TOWNSHIP, &bad).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(3),
        "{problem}"
    );
    let (status, shown) = put_channels(&stack, &admin, TOWNSHIP, &channels).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["webhooks"][0]["secret"], "********");
    assert_eq!(shown["sms"][0]["phones"][0], "138****5678");

    // The village hands in a result: its township is asked to review it.
    // The drill clock stands before the finding's due date, so no reminder
    // or escalation (the unit above hears of a finding 3 working days
    // overdue) races the review notification to the township.
    stack.set_clock(&admin, "2023-07-10T10:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let path = format!(
        "/api/v1/ledgers/{}/problems/{}/findings",
        ledger["id"].as_str().unwrap(),
        ledger["sections"][3]["problem_id"].as_str().unwrap()
    );
    let (status, finding) = stack
        .json(stack.post(&path, &village).json(&json!({
            "description": "个别脱贫户未办理慢性病卡", "measures": "逐户走访", "due_on": "2023-07-20",
            "kind": "deadline", "responsible": "村两委", "result": "已办理",
        })))
        .await;
    assert_eq!(status, 201, "{finding}");
    for action in ["start", "submit"] {
        let (status, body) = stack
            .json(stack.post(
                &format!(
                    "/api/v1/findings/{}/{action}",
                    finding["id"].as_str().unwrap()
                ),
                &village,
            ))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let got = eventually("every channel hears", || async {
        let got = receiver.received();
        (got.len() >= 3 && !stack.smtp.mails().is_empty()).then_some(got)
    })
    .await;
    let hook = got.iter().find(|r| r.path == "/hook").unwrap();
    assert_eq!(hook.body["event"], "awaiting_review");
    assert_eq!(hook.body["title"], "【待审核】");
    assert_eq!(hook.body["unit"], TOWNSHIP);
    assert!(
        hook.body["text"]
            .as_str()
            .unwrap()
            .starts_with("土门口村委会已提交"),
        "{}",
        hook.body
    );
    assert_eq!(
        hook.headers["x-zhenggai-signature"],
        format!("sha256={}", hmac_hex(secret.as_bytes(), &hook.raw))
    );
    let wecom = got.iter().find(|r| r.path == "/wecom/send").unwrap();
    assert_eq!(wecom.body["msgtype"], "markdown");
    assert!(
        wecom.body["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("**【待审核】**\n土门口村委会")
    );
    let sms = got.iter().find(|r| r.path == "/sms").unwrap();
    assert_eq!(sms.body["mobile"], "13812345678");
    assert!(
        sms.body["content"]
            .as_str()
            .unwrap()
            .starts_with("【待审核】土门口村委会已提交")
    );
    let mails = stack.smtp.mails();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].to[0].contains("office@qianjing.example"),
        "{:?}",
        mails[0]
    );
    assert!(
        mail_text(&mails[0].data).starts_with("土门口村委会已提交"),
        "{}",
        mails[0].data
    );

    // The inbox: each user's own read state.
    let reviewer = stack.user("qianjing", "township", TOWNSHIP).await;
    let colleague = stack.user("qianjing2", "township", TOWNSHIP).await;
    let (status, inbox) = stack.json(stack.get("/api/v1/inbox", &reviewer)).await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["unread"], 1);
    let item = inbox["items"][0].clone();
    assert_eq!(item["title"], "【待审核】");
    assert_eq!(item["read"], false);
    let id = item["id"].as_str().unwrap();
    let (status, read) = stack
        .json(stack.post(&format!("/api/v1/inbox/{id}/read"), &reviewer))
        .await;
    assert_eq!(
        (status, read["read"].as_bool()),
        (200, Some(true)),
        "{read}"
    );
    let (_, inbox) = stack
        .json(stack.get("/api/v1/inbox?unread=true", &reviewer))
        .await;
    assert_eq!(
        (
            inbox["unread"].as_u64(),
            inbox["items"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let (_, inbox) = stack.json(stack.get("/api/v1/inbox", &colleague)).await;
    assert_eq!(inbox["unread"], 1);
    let (status, _) = stack
        .json(stack.post(&format!("/api/v1/inbox/{id}/read"), &village))
        .await;
    assert_eq!(status, 404, "not the village's notification");

    // Every delivery, attempt by attempt.
    let (status, deliveries) = stack
        .json(stack.get(&format!("/api/v1/notifications/{id}/deliveries"), &reviewer))
        .await;
    assert_eq!(status, 200, "{deliveries}");
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for d in items {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["history"].as_array().map(Vec::len), Some(1), "{d}");
    }
    let targets: Vec<&str> = items
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"138****5678") && !targets.iter().any(|t| t.contains("robot-key")),
        "{targets:?}"
    );
    let other = stack.user("fangdong", "village", OTHER_VILLAGE).await;
    let (status, _) = stack
        .json(stack.get(&format!("/api/v1/notifications/{id}/deliveries"), &other))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_shown_attempt_by_attempt_and_a_dead_endpoint_ends_failed() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let channels = json!({ "webhooks": [
        { "url": receiver.url("/flaky"), "secret": "0123456789abcdef" },
        { "url": receiver.url("/dead"), "secret": "0123456789abcdef" },
    ]});
    let (status, body) = put_channels(&stack, &admin, VILLAGE, &channels).await;
    assert_eq!(status, 200, "{body}");
    let answer = notify(&stack, vec![reminder("reminder:retry", VILLAGE, "")]).await;
    assert_eq!((answer.accepted, answer.duplicates), (1, 0));
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let (_, inbox) = stack.json(stack.get("/api/v1/inbox", &village)).await;
    let id = inbox["items"][0]["id"].as_str().unwrap().to_owned();
    let deliveries = eventually("both deliveries settle", || async {
        let (_, body) = stack
            .json(stack.get(&format!("/api/v1/notifications/{id}/deliveries"), &village))
            .await;
        let settled = body["items"]
            .as_array()
            .is_some_and(|items| items.len() == 2 && items.iter().all(|d| d["state"] != "pending"));
        settled.then_some(body)
    })
    .await;
    let by_target = |path: &str| {
        deliveries["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["target"].as_str().unwrap().ends_with(path))
            .cloned()
            .unwrap()
    };
    let flaky = by_target("/flaky");
    assert_eq!(flaky["state"], "delivered");
    let outcomes: Vec<(&str, &str)> = flaky["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap(), a["error"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("failed", "HTTP 500"),
            ("failed", "HTTP 500"),
            ("delivered", "")
        ]
    );
    let dead = by_target("/dead");
    assert_eq!(dead["state"], "failed");
    assert_eq!(dead["attempts"], 4);
    assert_eq!(dead["last_error"], "HTTP 500");
    assert_eq!(dead["history"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|r| r.path == "/dead")
            .count(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_makes_one_notification_and_quiet_hours_hold_all_but_the_inbox() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let channels =
        json!({ "webhooks": [{ "url": receiver.url("/hook"), "secret": "0123456789abcdef" }] });
    put_channels(&stack, &admin, VILLAGE, &channels).await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;

    let first = notify(&stack, vec![reminder("reminder:once", VILLAGE, "")]).await;
    let again = notify(
        &stack,
        vec![
            reminder("reminder:once", VILLAGE, ""),
            reminder("reminder:once", VILLAGE, ""),
        ],
    )
    .await;
    assert_eq!(
        (first.accepted, again.accepted, again.duplicates),
        (1, 0, 2)
    );
    eventually("delivered", || async {
        (receiver.received().len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        stack
            .scalar(
                "notifier",
                "SELECT repeats::bigint FROM notifications WHERE dedupe_key = 'reminder:once'"
            )
            .await,
        1
    );

    // 21:00: the inbox hears at once, the webhook at 08:00.
    stack.set_clock(&admin, "2023-07-17T21:00:00+08:00").await;
    notify(
        &stack,
        vec![reminder(
            "reminder:night",
            VILLAGE,
            "2023-07-18T08:00:00+08:00",
        )],
    )
    .await;
    let (_, inbox) = stack.json(stack.get("/api/v1/inbox", &village)).await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(2), "{inbox}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing but the inbox in the quiet hours"
    );
    stack.set_clock(&admin, "2023-07-18T08:00:30+08:00").await;
    eventually("delivered after the quiet hours", || async {
        (receiver.received().len() == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_delivery_loses_nothing() {
    let mut stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let channels = json!({
        "email": ["office@tumenkou.example"],
        "webhooks": [{ "url": receiver.url("/slow"), "secret": "0123456789abcdef" }],
        "wecom": [{ "url": receiver.url("/wecom") }],
        "sms": [{ "url": receiver.url("/sms"), "body_template": { "to": "{phone}", "text": "{text}" }, "phones": ["13812345678"] }],
    });
    let (status, body) = put_channels(&stack, &admin, VILLAGE, &channels).await;
    assert_eq!(status, 200, "{body}");
    const N: usize = 2_000;
    for chunk in 0..4 {
        let batch = (0..N / 4)
            .map(|i| reminder(&format!("reminder:{}", chunk * N / 4 + i), VILLAGE, ""))
            .collect();
        assert_eq!(notify(&stack, batch).await.accepted as usize, N / 4);
    }
    // Kill it while it delivers.
    eventually("deliveries under way", || async {
        let done = receiver
            .received()
            .iter()
            .filter(|r| r.path == "/slow")
            .count();
        (done >= 200).then_some(())
    })
    .await;
    stack.kill("notifier");
    let at_kill = receiver.received().len() + stack.smtp.mails().len();
    assert!(at_kill < 4 * N, "killed before the end: {at_kill}");
    stack.restart("notifier").await;

    eventually("every delivery made", || async {
        let pending = stack
            .scalar(
                "notifier",
                "SELECT count(*) FROM deliveries WHERE state <> 'delivered'",
            )
            .await;
        (pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        stack
            .scalar("notifier", "SELECT count(*) FROM notifications")
            .await,
        N as i64
    );
    assert_eq!(
        stack
            .scalar("notifier", "SELECT count(*) FROM deliveries")
            .await,
        4 * N as i64
    );
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let (_, inbox) = stack
        .json(stack.get("/api/v1/inbox?limit=1", &village))
        .await;
    assert_eq!(
        inbox["unread"], N as u64,
        "each notification once in the inbox"
    );
    let received = receiver.received();
    let mut repeated = 0;
    for path in ["/slow", "/wecom", "/sms"] {
        let on_path: Vec<_> = received.iter().filter(|r| r.path == path).collect();
        let mut ids: Vec<String> = on_path
            .iter()
            .map(|r| {
                r.headers
                    .get("x-zhenggai-notification")
                    .cloned()
                    .unwrap_or_else(|| r.body.to_string())
            })
            .collect();
        ids.sort();
        ids.dedup();
        if path == "/slow" {
            assert_eq!(ids.len(), N, "every notification reached the webhook");
        }
        assert!(on_path.len() >= N, "{path}: {} of {N}", on_path.len());
        repeated += on_path.len() - N;
    }
    let mails = stack.smtp.mails().len();
    assert!(mails >= N, "{mails} mails");
    repeated += mails - N;
    // Only what was in flight at the kill went out twice.
    assert!(repeated <= 4 * 200, "{repeated} repeated on the wire");
    println!("killed with {at_kill} sent; {repeated} sent again after the restart");
}
