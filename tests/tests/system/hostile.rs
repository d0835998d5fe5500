//! Hostile input: the authorization matrix (every role × every endpoint that
//! names a unit, ledger, finding, evidence, notification, re-check or
//! account × an object outside the caller's subtree), bodies built to hurt,
//! and a flood of failed logins.
//!
//! The matrix's callers are the roles whose subtree is smaller than the
//! county: village, township, supervisor and auditor. The city office and a
//! department (which leads its problems across the county) see all of
//! 禹州市 by design; nothing in a one-county stack lies outside them.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use zhenggai_system_tests::{PNG, Stack, eventually};

/// The callers' side: 浅井镇 and its village 土门口.
const HOME_TOWNSHIP: &str = "411081114";
const HOME_VILLAGE: &str = "411081114204";
/// Outside every caller's subtree: 方东村委会 of 方山镇.
const FOREIGN_TOWNSHIP: &str = "411081115";
const FOREIGN_VILLAGE: &str = "411081115201";

/// One unit's objects, by the placeholder that names them in a path.
#[derive(Debug, Clone)]
struct Objects(Vec<(&'static str, String)>);

impl Objects {
    fn fill(&self, template: &str) -> String {
        self.0
            .iter()
            .fold(template.to_owned(), |path, (name, value)| {
                path.replace(&format!("{{{name}}}"), value)
            })
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    }
}

/// A body for a request.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn() -> Value),
    Pdf,
    Workbook,
    Evidence,
}

/// Every endpoint that names one of the objects, and how to call it.
fn endpoints() -> Vec<(&'static str, &'static str, Body)> {
    use Body::*;
    let mut list = vec![
        ("GET", "/units/{unit}", None),
        ("GET", "/units?parent={unit}", None),
        ("GET", "/units/{unit}/channels", None),
        (
            "PUT",
            "/units/{unit}/channels",
            Json(|| json!({ "email": ["office@example.org"] })),
        ),
        ("GET", "/ledgers/{ledger}", None),
        ("GET", "/ledgers/{ledger}/history", None),
        ("GET", "/ledgers/{ledger}/verify", None),
        ("GET", "/ledgers/{ledger}/export.xlsx", None),
        ("GET", "/ledgers/{ledger}/hand-ins", None),
        (
            "POST",
            "/ledgers/{ledger}/hand-in?file_name=report.pdf",
            Pdf,
        ),
        ("POST", "/ledgers/{ledger}/import?dry_run=true", Workbook),
        (
            "POST",
            "/ledgers/{ledger}/problems/{problem}/findings",
            Json(|| {
                json!({ "description": "越界", "measures": "x", "due_on": "2023-07-20",
                        "kind": "deadline", "responsible": "x" })
            }),
        ),
        (
            "POST",
            "/ledgers/{ledger}/problems/{problem}/no-findings",
            Json(|| json!({ "note": "经排查，无此类问题" })),
        ),
        (
            "DELETE",
            "/ledgers/{ledger}/problems/{problem}/no-findings",
            None,
        ),
        ("GET", "/ledgers?campaign={campaign}&unit={unit}", None),
        ("GET", "/campaigns/{campaign}/dashboard?unit={unit}", None),
        ("GET", "/campaigns/{campaign}/export.xlsx?unit={unit}", None),
        ("GET", "/deadlines?unit={unit}", None),
        ("GET", "/rechecks?unit={unit}", None),
        ("GET", "/findings/{finding}", None),
        (
            "PATCH",
            "/findings/{finding}",
            Json(|| json!({ "result": "x" })),
        ),
        ("GET", "/findings/{finding}/history", None),
        ("GET", "/findings/{finding}/evidence", None),
        ("POST", "/findings/{finding}/evidence", Evidence),
        ("GET", "/findings/{finding}/evidence/{evidence}", None),
        ("POST", "/inbox/{notification}/read", None),
        ("GET", "/notifications/{notification}/deliveries", None),
        (
            "POST",
            "/rechecks/{recheck}",
            Json(|| json!({ "outcome": "passed" })),
        ),
        (
            "POST",
            "/users/{user}/password",
            Json(|| json!({ "new_password": "Another-pass1" })),
        ),
        (
            "POST",
            "/users/{user}/clearance",
            Json(|| json!({ "clearance": true })),
        ),
    ];
    for path in [
        "/findings/{finding}/start",
        "/findings/{finding}/submit",
        "/findings/{finding}/verify",
        "/findings/{finding}/close",
        "/findings/{finding}/reject",
        "/findings/{finding}/reopen",
    ] {
        list.push(("POST", path, Json(|| json!({ "reason": "越界" }))));
    }
    list
}

/// Paths with parameters that name no unit's object (the whole campaign,
/// the notice, the calendar), which the matrix leaves out on purpose.
const NOT_A_UNITS_OBJECT: [&str; 8] = [
    "/api/v1/documents/{id}",
    "/api/v1/documents/{id}/problems",
    "/api/v1/problems/{id}",
    "/api/v1/campaigns/{id}",
    "/api/v1/campaigns/{id}/milestones",
    "/api/v1/campaigns/{id}/milestones/{milestone_id}",
    "/api/v1/campaigns/{id}/reminder-rules",
    "/api/v1/calendar/{year}",
];

/// A unit's objects in the founding campaign: its ledger, a long-term
/// finding taken through to 销号 (so a re-check exists), one sent back
/// (so the unit has a notification), evidence, its account.
async fn objects_of(
    stack: &Stack,
    admin: &str,
    campaign: &Value,
    village_code: &str,
    township_code: &str,
    name: &str,
) -> (Objects, String, String) {
    let village = stack
        .user(&format!("{name}-village"), "village", village_code)
        .await;
    let township = stack
        .user(&format!("{name}-township"), "township", township_code)
        .await;
    let ledger = stack.ledger(&village, campaign, village_code).await;
    let finding = |kind: &str| {
        json!({ "description": format!("{name} 低保户识别不准"), "measures": "逐户走访",
                "due_on": "2023-07-20", "kind": kind, "responsible": "村两委", "result": "已整改",
                "standing_mechanism": "每季度回访" })
    };
    let closed = stack
        .add_finding(&village, &ledger, 3, finding("long_term"))
        .await;
    let sent_back = stack
        .add_finding(&village, &ledger, 1, finding("deadline"))
        .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(PNG.to_vec())
            .file_name("整改后.png")
            .mime_str("image/png")
            .expect("mime"),
    );
    let (status, evidence) = stack
        .json(
            stack
                .post(
                    &format!(
                        "/api/v1/findings/{}/evidence",
                        sent_back["id"].as_str().expect("id")
                    ),
                    &village,
                )
                .multipart(form),
        )
        .await;
    assert_eq!(status, 201, "{evidence}");
    for (token, action) in [
        (&village, "start"),
        (&village, "submit"),
        (&township, "verify"),
    ] {
        let (status, body) = stack.act(token, &closed, action, None).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    stack.set_clock(admin, "2023-07-20T10:00:00+08:00").await;
    let (status, body) = stack.act(admin, &closed, "close", None).await;
    assert_eq!(status, 200, "close: {body}");
    for (token, action, reason) in [
        (&village, "start", None),
        (&village, "submit", None),
        (&township, "reject", Some("佐证不足")),
    ] {
        let (status, body) = stack.act(token, &sent_back, action, reason).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    let notification = eventually("the village is told its finding came back", || async {
        let (_, inbox) = stack.json(stack.get("/api/v1/inbox", &village)).await;
        inbox["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["event"] == "rejected"))
            .and_then(|item| item["id"].as_str().map(str::to_owned))
    })
    .await;
    let recheck = eventually("a re-check is planned after 销号", || async {
        let (_, list) = stack
            .json(stack.get(&format!("/api/v1/rechecks?unit={village_code}"), admin))
            .await;
        list["items"]
            .as_array()
            .and_then(|items| items.first())
            .and_then(|item| item["id"].as_str().map(str::to_owned))
    })
    .await;
    let (_, me) = stack.json(stack.get("/api/v1/me", &village)).await;
    let objects = Objects(vec![
        ("unit", village_code.to_owned()),
        ("ledger", ledger["id"].as_str().expect("id").to_owned()),
        (
            "problem",
            ledger["sections"][1]["problem_id"]
                .as_str()
                .expect("problem id")
                .to_owned(),
        ),
        ("finding", sent_back["id"].as_str().expect("id").to_owned()),
        ("evidence", evidence["id"].as_str().expect("id").to_owned()),
        ("notification", notification),
        ("recheck", recheck),
        ("user", me["id"].as_str().expect("id").to_owned()),
        ("campaign", campaign["id"].as_str().expect("id").to_owned()),
    ]);
    (objects, village, township)
}

async fn call(
    stack: &Stack,
    token: &str,
    method: &str,
    path: &str,
    body: Body,
    workbook: &[u8],
) -> (u16, Value) {
    let url = stack.url(&format!("/api/v1{path}"));
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = stack
        .client
        .request(method, url)
        .bearer_auth(token)
        .header("if-match", "\"1\"");
    request = match body {
        Body::None => request,
        Body::Json(make) => request.json(&make()),
        Body::Pdf => request
            .header("content-type", "application/pdf")
            .body(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()),
        Body::Workbook => request
            .header(
                "content-type",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            .body(workbook.to_vec()),
        Body::Evidence => request.multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(PNG.to_vec())
                    .file_name("x.png")
                    .mime_str("image/png")
                    .expect("mime"),
            ),
        ),
    };
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Unit codes of 禹州市 named anywhere in a JSON answer.
fn unit_codes(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::String(text)
            if text.starts_with("411081")
                && matches!(text.len(), 9 | 12)
                && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            found.insert(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| unit_codes(item, found)),
        Value::Object(fields) => fields.values().for_each(|item| unit_codes(item, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_role_reaches_an_object_outside_its_subtree() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-10T10:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    let (home, home_village, home_township) = objects_of(
        &stack,
        &admin,
        &campaign,
        HOME_VILLAGE,
        HOME_TOWNSHIP,
        "home",
    )
    .await;
    let (foreign, _, _) = objects_of(
        &stack,
        &admin,
        &campaign,
        FOREIGN_VILLAGE,
        FOREIGN_TOWNSHIP,
        "foreign",
    )
    .await;
    let callers = [
        ("village", HOME_VILLAGE, home_village),
        ("township", HOME_TOWNSHIP, home_township),
        (
            "supervisor",
            HOME_TOWNSHIP,
            stack
                .user("home-supervisor", "supervisor", HOME_TOWNSHIP)
                .await,
        ),
        (
            "auditor",
            HOME_TOWNSHIP,
            stack.user("home-auditor", "auditor", HOME_TOWNSHIP).await,
        ),
    ];
    let workbook = stack
        .client
        .get(stack.url(&home.fill("/api/v1/ledgers/{ledger}/export.xlsx")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export")
        .bytes()
        .await
        .expect("workbook");

    // The matrix covers every path of the API that names a unit's object.
    let (_, spec) = stack
        .json(stack.client.get(stack.url("/api/v1/openapi.json")))
        .await;
    let covered: BTreeSet<String> = endpoints()
        .iter()
        .map(|(_, template, _)| {
            let path = template.split('?').next().unwrap_or(template);
            format!("/api/v1{path}")
        })
        .collect();
    for path in spec["paths"].as_object().expect("paths").keys() {
        if !path.contains('{') || NOT_A_UNITS_OBJECT.contains(&path.as_str()) {
            continue;
        }
        let normal = path
            .replace("{id}/problems/{problem_id}", "{ledger}/problems/{problem}")
            .replace("{evidence_id}", "{evidence}")
            .replace("{action}", "start");
        let known = covered.iter().any(|template| {
            let shape = |p: &str| {
                p.split('/')
                    .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/")
            };
            shape(template) == shape(&normal)
        });
        assert!(known, "{path} is not in the authorization matrix");
    }

    let mut cells = 0;
    let mut leaks = Vec::new();
    for (role, _, token) in &callers {
        for (method, template, body) in endpoints() {
            // The caller's own side, to show the request itself is sound.
            let (own, own_body) =
                call(&stack, token, method, &home.fill(template), body, &workbook).await;
            let (status, problem) = call(
                &stack,
                token,
                method,
                &foreign.fill(template),
                body,
                &workbook,
            )
            .await;
            cells += 1;
            if status != 404 || problem["code"] != "not_found" {
                leaks.push(format!("{role} {method} {template}: {status} {problem}"));
            }
            // The home objects are 土门口's, in every caller's subtree; its
            // notification is the village's own, and its account may be
            // touched only by itself or the city office.
            assert!(
                own != 404 || template.contains("{notification}") || template.contains("{user}"),
                "{role} {method} {template} on its own side: {own} {own_body}"
            );
        }
    }
    println!(
        "authorization matrix: {cells} cells tried, {} leaks",
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");

    // No list names a unit outside the caller's subtree (its ancestors are
    // fine: a village sees its township's name), nor a foreign object.
    let lists = [
        home.fill("/ledgers?campaign={campaign}"),
        home.fill("/campaigns/{campaign}/dashboard"),
        home.fill("/campaigns/{campaign}/milestones"),
        "/deadlines".to_owned(),
        "/rechecks".to_owned(),
        "/inbox".to_owned(),
        "/users".to_owned(),
        format!("/units?parent={HOME_TOWNSHIP}"),
        "/campaigns".to_owned(),
    ];
    let foreign_ids: Vec<&str> = [
        "ledger",
        "finding",
        "evidence",
        "notification",
        "recheck",
        "user",
    ]
    .iter()
    .map(|name| foreign.get(name))
    .collect();
    let mut lists_read = 0;
    for (role, unit, token) in &callers {
        for path in &lists {
            let (status, body) = stack
                .json(stack.get(&format!("/api/v1{path}"), token))
                .await;
            if status != 200 {
                continue;
            }
            lists_read += 1;
            let mut codes = BTreeSet::new();
            unit_codes(&body, &mut codes);
            for code in codes {
                assert!(
                    code.starts_with(unit) || unit.starts_with(code.as_str()),
                    "{role} at {unit} reads {code} in {path}"
                );
            }
            let text = body.to_string();
            for id in &foreign_ids {
                assert!(
                    !text.contains(id),
                    "{role} reads foreign object {id} in {path}"
                );
            }
        }
    }
    println!("lists read without a foreign row: {lists_read}");
    assert!(lists_read >= callers.len() * 4, "most lists answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_built_to_hurt_get_problem_documents_or_are_kept_as_data() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", HOME_VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, HOME_VILLAGE).await;
    let create = format!(
        "/api/v1/ledgers/{}/problems/{}/findings",
        ledger["id"].as_str().expect("id"),
        ledger["sections"][0]["problem_id"]
            .as_str()
            .expect("problem")
    );

    // Deeply nested JSON, invalid UTF-8, wrong types, unknown fields: 400.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let invalid_utf8 = b"{\"description\": \"\xff\xfe\xfd\", \"measures\": \"x\"}".to_vec();
    for (what, bytes) in [
        ("deeply nested", nested.into_bytes()),
        ("invalid UTF-8", invalid_utf8),
        ("a number for text", br#"{"description": 5, "measures": "x", "kind": "deadline", "responsible": "x"}"#.to_vec()),
        ("an unknown field", br#"{"description": "x", "measures": "x", "kind": "deadline", "responsible": "x", "state": "closed"}"#.to_vec()),
    ] {
        let (status, problem) = stack
            .json(
                stack
                    .post(&create, &village)
                    .header("content-type", "application/json")
                    .body(bytes),
            )
            .await;
        assert_eq!(status, 400, "{what}: {problem}");
        assert_eq!(problem["code"], "malformed_body", "{what}: {problem}");
    }

    // Injection strings are data: stored and answered verbatim.
    let hostile = [
        "'; DROP TABLE findings; --",
        "\" OR 1=1 --",
        "<script>alert('整改')</script>",
        "{{7*7}} ${jndi:ldap://x/a} %s%s%n",
        "=HYPERLINK(\"http://x\",\"点我\")",
    ];
    for text in hostile {
        let body = json!({ "description": text, "measures": text, "due_on": "2023-07-20",
                           "kind": "deadline", "responsible": text, "result": text });
        let finding = stack.add_finding(&village, &ledger, 0, body).await;
        let (status, read) = stack
            .json(stack.get(
                &format!("/api/v1/findings/{}", finding["id"].as_str().expect("id")),
                &village,
            ))
            .await;
        assert_eq!(status, 200);
        for field in ["description", "measures", "responsible", "result"] {
            assert_eq!(read[field], text, "{field} kept verbatim");
        }
    }
    let findings = stack.ledger(&village, &campaign, HOME_VILLAGE).await["findings"].clone();
    assert_eq!(findings, hostile.len(), "every table is still there");

    // Evidence names that try to climb out or to split the download's headers.
    let finding = stack
        .add_finding(
            &village,
            &ledger,
            1,
            json!({ "description": "x", "measures": "x", "due_on": "2023-07-20",
                    "kind": "deadline", "responsible": "x" }),
        )
        .await;
    let evidence_path = format!(
        "/api/v1/findings/{}/evidence",
        finding["id"].as_str().expect("id")
    );
    for name in [
        "../../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/absolute/整改.png",
        "a\r\nSet-Cookie: stolen=1.png",
        "\u{202e}gnp.exe",
    ] {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name(name.to_owned())
                .mime_str("image/png")
                .expect("mime"),
        );
        let (status, evidence) = stack
            .json(stack.post(&evidence_path, &village).multipart(form))
            .await;
        if status == 400 {
            // A line break in a part's header breaks the multipart framing.
            assert_eq!(evidence["code"], "malformed_body", "{name:?}: {evidence}");
            continue;
        }
        assert_eq!(status, 201, "{name:?}: {evidence}");
        let kept = evidence["file_name"].as_str().expect("a file name");
        assert!(
            !kept.contains('/')
                && !kept.contains('\\')
                && !kept.contains("..")
                && !kept.chars().any(char::is_control),
            "{name:?} kept as {kept:?}"
        );
        let response = stack
            .get(
                &format!("{evidence_path}/{}", evidence["id"].as_str().expect("id")),
                &village,
            )
            .send()
            .await
            .expect("download");
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{name:?} split the headers"
        );
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .expect("ASCII header");
        assert!(
            disposition.starts_with("attachment"),
            "{name:?}: {disposition}"
        );
        assert_eq!(response.bytes().await.expect("bytes"), PNG);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_failed_logins_lock_out_without_slowing_the_server() {
    use futures::StreamExt as _;
    let stack = Stack::start().await;
    let village = stack.user("target", "village", HOME_VILLAGE).await;
    let me = |token: String| {
        let stack = &stack;
        async move {
            let started = std::time::Instant::now();
            let (status, _) = stack.json(stack.get("/api/v1/me", &token)).await;
            assert_eq!(status, 200);
            started.elapsed()
        }
    };
    let median = |mut times: Vec<std::time::Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let reads = async |count: usize| {
        let mut times = Vec::new();
        for _ in 0..count {
            times.push(me(village.clone()).await);
        }
        times
    };
    // Logins, 32 at a time, while the account's own reads go on: their
    // answers, and how long each read took.
    let flood = async |logins: Vec<(String, String)>, count: usize| {
        let stack = &stack;
        let answers = futures::stream::iter(logins)
            .map(|(name, password)| async move { stack.try_login(&name, &password).await.0 })
            .buffer_unordered(32)
            .collect::<Vec<u16>>();
        tokio::join!(answers, reads(count))
    };
    let before = reads(50).await;

    // 10,000 guesses at one account.
    let guesses = (0..10_000)
        .map(|i| ("target".to_owned(), format!("Guess-number-{i}")))
        .collect();
    let (statuses, during) = flood(guesses, 200).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "10,000 failed logins: {checked} checked (401), {locked} refused as locked (429); \
         GET /me median {:?} before, {:?} during",
        median(before.clone()),
        median(during.clone())
    );
    assert_eq!(
        checked, 4,
        "only the guesses below the threshold are checked"
    );
    assert_eq!(
        checked + locked,
        10_000,
        "every guess is answered 401 or 429"
    );
    assert_eq!(stack.try_login("target", "Village-pass1").await.0, 429);

    // Guesses spread over 400 names the server does not know: each costs a
    // hash, but only one runs at a time and the rest are turned away.
    let sprayed = (0..400)
        .map(|i| (format!("nobody-{i}"), "Guess-password-1".to_owned()))
        .collect();
    let (statuses, during_spray) = flood(sprayed, 100).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let turned_away = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "400 guesses at unknown names: {checked} checked, {turned_away} turned away (429); \
         GET /me median {:?}",
        median(during_spray)
    );
    assert_eq!(checked + turned_away, 400, "{statuses:?}");
    assert!(checked > 0, "one check at a time still runs");
    // The server still serves a right password once the flood is over.
    assert_eq!(
        stack
            .try_login("admin", zhenggai_system_tests::ADMIN_PASSWORD)
            .await
            .0,
        200
    );
}
