//! What an independent security review found, each as the attack it was:
//! notification channels pointed inside the deployment (SSRF), redirects
//! that bounce a delivery inside, channel secrets shown to every reader, and
//! a supervisor rewriting the city office's channels.

use serde_json::{Value, json};
use zhenggai_proto::notifier::v1 as pb;
use zhenggai_system_tests::fakes::Receiver;
use zhenggai_system_tests::{Stack, eventually};

const TOWNSHIP: &str = "411081114"; // 浅井镇
const CITY: &str = "411081"; // 禹州市

async fn put_channels(stack: &Stack, token: &str, unit: &str, channels: &Value) -> (u16, Value) {
    stack
        .json(
            stack
                .put(&format!("/api/v1/units/{unit}/channels"), token)
                .json(channels),
        )
        .await
}

/// Asks the notifier to tell `unit` something, as the scheduler does.
async fn notify(stack: &Stack, unit: &str, key: &str) {
    let request = zhenggai_common::grpc::outgoing(
        pb::NotifyRequest {
            notifications: vec![pb::Notification {
                dedupe_key: key.to_owned(),
                event: "overdue".to_owned(),
                unit: unit.to_owned(),
                variables_json: json!({
                    "unit": unit, "unit_name": "浅井镇", "campaign": "巩固脱贫成果整改",
                    "problem_seq": 4, "seq": 1, "kind": "deadline", "due_on": "2023-07-20", "workdays": -1,
                })
                .to_string(),
                quiet_until: String::new(),
                occurred_at: "2023-07-21T09:00:00+08:00".to_owned(),
            }],
        },
        &stack.peer_token("scheduler"),
    );
    pb::notifier_service_client::NotifierServiceClient::connect(format!(
        "http://{}",
        stack.notifier
    ))
    .await
    .expect("connect to the notifier")
    .notify(request)
    .await
    .expect("notify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_cannot_point_inside_the_deployment() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    // The test stack admits 127.0.0.1 alone (its fake receivers listen
    // there), as an operator would admit an intranet SMS gateway.
    let inside = json!({
        "webhooks": [
            { "url": "http://169.254.169.254/latest/meta-data/iam", "secret": "0123456789abcdef" },
            { "url": "http://[::ffff:10.0.0.7]:8080/", "secret": "0123456789abcdef" },
        ],
        "wecom": [{ "url": "http://0x7f000002:5432/cgi-bin/webhook/send?key=x" }],
        "sms": [{
            "url": "http://100.64.1.1/send",
            "body_template": { "to": "{phone}", "content": "{text}" },
            "phones": ["13812345678"],
        }],
    });
    let (status, problem) = put_channels(&stack, &admin, TOWNSHIP, &inside).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "invalid_argument");
    let errors: Vec<&str> = problem["errors"]
        .as_array()
        .expect("every fault listed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in [
        "webhooks[0].url",
        "webhooks[1].url",
        "wecom[0].url",
        "sms[0].url",
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(field) && e.contains("internal address")),
            "{field} refused: {errors:?}"
        );
    }
    let (status, shown) = stack
        .json(stack.get(&format!("/api/v1/units/{TOWNSHIP}/channels"), &admin))
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["webhooks"], json!([]), "nothing was saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_go_only_where_the_policy_admits_and_follow_no_redirects() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let channels = json!({ "webhooks": [
        { "url": receiver.url("/redirect"), "secret": "0123456789abcdef" },
    ]});
    let (status, body) = put_channels(&stack, &admin, TOWNSHIP, &channels).await;
    assert_eq!(status, 200, "{body}");
    // A URL that reached the database past the check of its day (saved
    // before the policy, or edited by hand): the delivery checks again.
    let inside = format!("http://127.0.0.3:{}/inside", receiver.address.port());
    let mut db = stack.database("notifier").await;
    sqlx::query(
        "UPDATE channels SET config = jsonb_set(config, '{webhooks}', config->'webhooks' || \
         jsonb_build_array(jsonb_build_object('url', $2::text, 'secret', '0123456789abcdef'))) \
         WHERE unit = $1",
    )
    .bind(TOWNSHIP)
    .bind(&inside)
    .execute(&mut db)
    .await
    .expect("edit the channels under the notifier");

    notify(&stack, TOWNSHIP, "reminder:egress").await;
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let (_, inbox) = stack.json(stack.get("/api/v1/inbox", &township)).await;
    let id = inbox["items"][0]["id"]
        .as_str()
        .expect("a notification")
        .to_owned();
    let deliveries = eventually("both deliveries end failed", || async {
        let (_, body) = stack
            .json(stack.get(&format!("/api/v1/notifications/{id}/deliveries"), &township))
            .await;
        let failed = body["items"]
            .as_array()
            .is_some_and(|items| items.len() == 2 && items.iter().all(|d| d["state"] == "failed"));
        failed.then_some(body)
    })
    .await;
    let by_target = |end: &str| {
        deliveries["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["target"].as_str().is_some_and(|t| t.ends_with(end)))
            .cloned()
            .unwrap_or_else(|| panic!("a delivery to …{end}: {deliveries}"))
    };
    assert_eq!(by_target("/redirect")["last_error"], "HTTP 302");
    let refused = by_target("/inside");
    assert!(
        refused["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("ZG_CHANNEL_ALLOW")),
        "{refused}"
    );
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().all(|path| path == "/redirect"),
        "nothing followed the redirect or reached inside: {paths:?}"
    );
    assert!(!paths.is_empty(), "the public-looking URL was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_secrets_are_never_shown_and_only_the_unit_or_city_office_sets_them() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let receiver = Receiver::start().await;
    let channels = json!({
        "wecom": [{ "url": receiver.url("/wecom/send?key=robot-key-7f3a") }],
        "sms": [{
            "url": receiver.url("/sms?appid=yz&token=gw-token-91"),
            "body_template": { "account": "yuzhou-gw", "password": "gw-pass-55", "mobile": "{phone}", "content": "{title}{text}" },
            "phones": ["13812345678"],
        }],
    });
    let (status, body) = put_channels(&stack, &admin, TOWNSHIP, &channels).await;
    assert_eq!(status, 200, "{body}");
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    for reader in [&admin, &township] {
        let response = stack
            .get(&format!("/api/v1/units/{TOWNSHIP}/channels"), reader)
            .send()
            .await
            .expect("read the channels");
        let text = response.text().await.expect("a body");
        for secret in ["robot-key-7f3a", "gw-token-91", "yuzhou-gw", "gw-pass-55"] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        assert!(text.contains("key=********"), "{text}");
    }
    // Sent back as shown (a form round trip), every secret is kept.
    let (_, shown) = stack
        .json(stack.get(&format!("/api/v1/units/{TOWNSHIP}/channels"), &township))
        .await;
    let mut back = shown.clone();
    for field in ["unit", "updated_at", "updated_by"] {
        back.as_object_mut().map(|object| object.remove(field));
    }
    let (status, body) = put_channels(&stack, &township, TOWNSHIP, &back).await;
    assert_eq!(status, 200, "{body}");
    let stored: Value = sqlx::query_scalar("SELECT config FROM channels WHERE unit = $1")
        .bind(TOWNSHIP)
        .fetch_one(&mut stack.database("notifier").await)
        .await
        .expect("the stored channels");
    assert!(
        stored["wecom"][0]["url"]
            .as_str()
            .is_some_and(|url| url.ends_with("key=robot-key-7f3a"))
    );
    assert_eq!(stored["sms"][0]["body_template"]["password"], "gw-pass-55");
    assert!(
        stored["sms"][0]["url"]
            .as_str()
            .is_some_and(|url| url.ends_with("token=gw-token-91"))
    );

    // A supervisor sits at the city's level but only reads.
    let supervisor = stack.user("zhidaozu", "supervisor", CITY).await;
    let (status, body) =
        put_channels(&stack, &supervisor, CITY, &json!({ "email": ["x@y.cn"] })).await;
    assert_eq!(status, 403, "{body}");
    let auditor = stack.user("shenji", "auditor", CITY).await;
    let (status, body) =
        put_channels(&stack, &auditor, CITY, &json!({ "email": ["x@y.cn"] })).await;
    assert_eq!(status, 403, "{body}");
}
