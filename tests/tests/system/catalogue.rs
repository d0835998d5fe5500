//! The catalogue through the gateway: the founding notice, the directory,
//! publishing and importing.

use serde_json::{Value, json};
use zhenggai_system_tests::{Stack, henan_csv, small_notice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_founding_notice_is_seeded_whole() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let doc = stack.founding_notice(&admin).await;
    assert_eq!(doc["issued_on"], "2023-06-26");
    assert_eq!(doc["area"], "411081");
    assert_eq!(doc["problem_count"], 15);
    let aspects: Vec<&str> = doc["aspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        aspects,
        [
            "责任落实方面",
            "政策落实方面",
            "工作落实方面",
            "巩固成效方面"
        ]
    );

    let id = doc["id"].as_str().unwrap();
    let (status, problems) = stack
        .json(stack.get(&format!("/api/v1/documents/{id}/problems"), &admin))
        .await;
    assert_eq!(status, 200);
    let problems = problems["items"].as_array().unwrap();
    assert_eq!(problems.len(), 15);
    let seqs: Vec<u64> = problems
        .iter()
        .map(|p| p["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
    let measures: usize = problems
        .iter()
        .map(|p| p["measures"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        measures, 52,
        "every 一是/二是/… of the notice is its own measure"
    );

    let first = &problems[0];
    assert_eq!(first["title"], "干部业务能力和责任意识还需加强");
    assert!(
        first["manifestation"]
            .as_str()
            .unwrap()
            .starts_with("少数村干部、驻村干部")
    );
    assert_eq!(first["aspect"]["seq"], 1);
    assert_eq!(
        first["deadline"],
        json!({ "due_on": "2023-07-20", "continuing": true })
    );
    assert!(
        first["measures"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("加强干部培训")
    );
    let units = first["responsible_units"].as_array().unwrap();
    assert_eq!(
        units[0],
        json!({ "code": "411081D001", "name": "市委组织部", "lead": true })
    );
    let townships = units
        .iter()
        .filter(|u| u["code"].as_str().unwrap().len() == 9)
        .count();
    assert_eq!(
        townships, 26,
        "各乡镇（褚河街道） is every township of 禹州市"
    );
    assert_eq!(units.len(), 4 + 26);

    // The OCR slip of the body (茌庄镇) is fixed to the township the codes give.
    let tenth = &problems[9];
    assert!(
        tenth["manifestation"]
            .as_str()
            .unwrap()
            .contains("苌庄镇梨园沟村")
    );
    assert!(!tenth["manifestation"].as_str().unwrap().contains("茌庄镇"));

    // Households named by the notice are masked for every reader without clearance.
    let fourth = problems[3]["manifestation"].as_str().unwrap();
    assert!(
        fourth.contains("潘*有") && fourth.contains("潘*彦"),
        "{fourth}"
    );
    assert!(!fourth.contains("潘振有"), "{fourth}");
    let body = serde_json::to_string(&problems).unwrap() + &doc.to_string();
    for name in ["潘振有", "张保鑫", "郭四新", "顾同仁", "刘双全", "赵秀芹"] {
        assert!(!body.contains(name), "{name} is shown in clear");
    }

    // Problem 15 is owed by the leading group's member units as well.
    let last = problems[14]["responsible_units"].as_array().unwrap();
    assert!(last.iter().any(|u| u["name"] == "市财政局"));

    let (status, one) = stack
        .json(stack.get(
            &format!("/api/v1/problems/{}", first["id"].as_str().unwrap()),
            &admin,
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["title"], first["title"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_answers_children_subtree_and_ancestors() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let (status, townships) = stack
        .json(stack.get("/api/v1/units?parent=411081&level=township", &admin))
        .await;
    assert_eq!(status, 200, "{townships}");
    assert_eq!(townships["items"].as_array().unwrap().len(), 26);
    assert!(
        townships["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "褚河街道")
    );

    let (_, departments) = stack
        .json(stack.get("/api/v1/units?parent=411081&level=department", &admin))
        .await;
    assert_eq!(departments["items"].as_array().unwrap().len(), 19);

    let (status, village) = stack
        .json(stack.get("/api/v1/units/411081114204", &admin))
        .await;
    assert_eq!(status, 200);
    assert_eq!(village["name"], "土门口村委会");
    assert_eq!(village["level"], "village");
    assert_eq!(village["parent_code"], "411081114");
    let chain: Vec<&str> = village["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    // The nation (全国) stands above every province.
    assert_eq!(chain, ["全国", "河南省", "许昌市", "禹州市", "浅井镇"]);
    let (status, henan) = stack.json(stack.get("/api/v1/units/41", &admin)).await;
    assert_eq!(status, 200);
    assert_eq!(henan["parent_code"], "00");

    // The whole subtree of 禹州市, paged.
    let mut codes = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = stack
            .json(stack.get(
                &format!("/api/v1/units?parent=411081&subtree=true&limit=300&cursor={cursor}"),
                &admin,
            ))
            .await;
        codes.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["code"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        codes.len(),
        26 + 678 + 19,
        "townships, villages and departments of 禹州市"
    );

    let (status, problem) = stack.json(stack.get("/api/v1/units/999999", &admin)).await;
    assert_eq!(status, 404);
    assert_eq!(problem["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_village_sees_only_its_own_subtree() {
    let stack = Stack::start().await;
    let village = stack.user("tumenkou", "village", "411081114204").await;

    let (status, me) = stack.json(stack.get("/api/v1/me", &village)).await;
    assert_eq!(status, 200);
    assert_eq!(me["unit"]["name"], "土门口村委会");
    assert_eq!(me["role"], "village");

    // Its own unit and the chain above it, yes; a neighbour or a sibling list, no.
    assert_eq!(
        stack
            .json(stack.get("/api/v1/units/411081114204", &village))
            .await
            .0,
        200
    );
    assert_eq!(
        stack
            .json(stack.get("/api/v1/units/411081114", &village))
            .await
            .0,
        200
    );
    let (status, problem) = stack
        .json(stack.get("/api/v1/units/411081114205", &village))
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(
        stack
            .json(stack.get("/api/v1/units?parent=411081114", &village))
            .await
            .0,
        404
    );
    assert_eq!(
        stack
            .json(stack.get("/api/v1/units/411003", &village))
            .await
            .0,
        404
    );

    // The notice of its county is its to read; publishing and importing are not.
    let doc = stack.founding_notice(&village).await;
    assert_eq!(doc["problem_count"], 15);
    let (status, problem) = stack
        .import(&village, "code,name,level,parent_code\n")
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["code"], "permission_denied");

    // A village account cannot make accounts, nor list them.
    let (status, _) = stack
        .json(stack.post("/api/v1/users", &village).json(&json!({"username": "x1", "password": "Abcdefg1!", "role": "village", "unit": "411081114204"})))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        stack.json(stack.get("/api/v1/users", &village)).await.0,
        403
    );

    // Accounts are listed within the reader's subtree, their units named.
    let township = stack.user("qianjing-admin", "township", "411081114").await;
    let (status, users) = stack.json(stack.get("/api/v1/users", &township)).await;
    assert_eq!(status, 200, "{users}");
    let names: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["qianjing-admin", "tumenkou"]);
    assert_eq!(users["items"][1]["unit"]["name"], "土门口村委会");
    let admin = stack.admin().await;
    let (_, first) = stack.json(stack.get("/api/v1/users?limit=1", &admin)).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, rest) = stack
        .json(stack.get(&format!("/api/v1/users?cursor={cursor}"), &admin))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
    assert!(rest["next_cursor"].is_null());

    // The admin of 禹州市 cannot place an account outside its subtree.
    let (status, problem) = stack
        .json(stack.post("/api/v1/users", &admin).json(&json!({"username": "jianan", "password": "Abcdefg1!", "role": "township", "unit": "411003100"})))
        .await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_is_validated_and_all_or_nothing() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;

    let (status, doc) = stack
        .json(
            stack
                .post("/api/v1/documents", &admin)
                .json(&small_notice("禹巩固脱贫组〔2023〕9号")),
        )
        .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["problem_count"], 1);
    let (_, problems) = stack
        .json(stack.get(
            &format!("/api/v1/documents/{}/problems", doc["id"].as_str().unwrap()),
            &admin,
        ))
        .await;
    assert_eq!(
        problems["items"][0]["responsible_units"]
            .as_array()
            .unwrap()
            .len(),
        27
    );
    assert_eq!(
        problems["items"][0]["deadline"],
        json!({ "due_on": "2023-10-31", "continuing": false })
    );

    let (status, problem) = stack
        .json(
            stack
                .post("/api/v1/documents", &admin)
                .json(&small_notice("禹巩固脱贫组〔2023〕9号")),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "already_exists");

    // Several faults at once, all reported; nothing is written.
    let mut bad = small_notice("禹巩固脱贫组〔2023〕10号");
    bad["issued_on"] = json!("2023-13-01");
    bad["problems"][0]["measures"] = json!([]);
    bad["problems"][0]["responsible_units"][0]["code"] = json!("411081D099");
    let (status, problem) = stack
        .json(stack.post("/api/v1/documents", &admin).json(&bad))
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "invalid_argument");
    let errors = problem["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("issued_on")),
        "{problem}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("measures")),
        "{problem}"
    );

    // A notice makes units answerable only inside its own area.
    let mut foreign = small_notice("禹巩固脱贫组〔2023〕12号");
    foreign["problems"][0]["responsible_units"][1] = json!({ "code": "411003" });
    let (status, problem) = stack
        .json(stack.post("/api/v1/documents", &admin).json(&foreign))
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("outside the notice's area"),
        "{problem}"
    );

    // An unknown unit only shows when the rest is valid: still nothing written.
    let mut unknown = small_notice("禹巩固脱贫组〔2023〕11号");
    unknown["problems"][0]["responsible_units"][0]["code"] = json!("411081D099");
    let (status, problem) = stack
        .json(stack.post("/api/v1/documents", &admin).json(&unknown))
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("411081D099"));
    let (_, docs) = stack.json(stack.get("/api/v1/documents", &admin)).await;
    assert_eq!(
        docs["items"].as_array().unwrap().len(),
        2,
        "only the founding notice and the valid one"
    );

    // Only the city office publishes.
    let township = stack.user("qianjing", "township", "411081114").await;
    let (status, _) = stack
        .json(
            stack
                .post("/api/v1/documents", &township)
                .json(&small_notice("x号")),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_of_henan_imports_in_one_go() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let csv = henan_csv();

    let started = std::time::Instant::now();
    let (status, counts) = stack.import(&admin, csv.clone()).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{counts}");
    let total = counts["inserted"].as_u64().unwrap()
        + counts["updated"].as_u64().unwrap()
        + counts["unchanged"].as_u64().unwrap();
    assert_eq!(total, 55_164);
    assert_eq!(
        counts["unchanged"].as_u64().unwrap(),
        2_619,
        "许昌 was there already, unchanged"
    );
    println!("imported {total} rows of 河南 in {took:?}");

    // Again: nothing changes.
    let (_, again) = stack.import(&admin, csv).await;
    assert_eq!(again["unchanged"].as_u64().unwrap(), 55_164);

    // Another region's units can be added but not rewritten from here; the
    // area's own units can.
    let (status, problem) = stack
        .import(&admin, "code,name,level,parent_code\n4101,改名市,city,41\n")
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("outside your area"),
        "{problem}"
    );
    let (status, counts) = stack
        .import(
            &admin,
            "code,name,level,parent_code\n411081114204,土门口村,village,411081114\n",
        )
        .await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["updated"], 1);
    let (_, village) = stack
        .json(stack.get("/api/v1/units/411081114204", &admin))
        .await;
    assert_eq!(village["name"], "土门口村");

    // A bad file names its bad rows and writes nothing.
    let (status, problem) = stack.import(&admin, "code,name,level,parent_code\n411081999999,新村,village,411081999\n411081999998,,village,411081114\n").await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("row 3:")),
        "{problem}"
    );
    assert_eq!(
        stack
            .json(stack.get("/api/v1/units/411081999999", &admin))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_finishes_the_requests_in_flight() {
    let mut stack = Stack::start().await;
    let admin = stack.admin().await;
    let csv = henan_csv();

    let import = stack.post("/api/v1/units/import", &admin).body(csv).send();
    let in_flight = tokio::spawn(import);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stack.stop("gateway");
    stack.stop("catalogue");
    let response = in_flight
        .await
        .unwrap()
        .expect("the accepted request is answered");
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );

    // Once the gateway has stopped, it takes no new requests.
    let mut refused = false;
    for _ in 0..50 {
        if stack
            .client
            .get(stack.url("/healthz"))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "the stopped gateway still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_answer() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let notice = small_notice("禹巩固脱贫组〔2023〕20号");
    let send = |body: &Value| {
        stack
            .post("/api/v1/documents", &admin)
            .header("idempotency-key", "publish-20")
            .json(body)
            .send()
    };
    let first = send(&notice).await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();

    let again = send(&notice).await.unwrap();
    assert_eq!(again.status().as_u16(), 201, "replayed, not a 409");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let mut other = notice.clone();
    other["title"] = json!("另一个通知");
    let (status, problem) = stack
        .json(
            stack
                .post("/api/v1/documents", &admin)
                .header("idempotency-key", "publish-20")
                .json(&other),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "idempotency_mismatch");

    // Another caller's key space is its own; reads are never replayed.
    let (_, docs) = stack
        .json(
            stack
                .get("/api/v1/documents", &admin)
                .header("idempotency-key", "publish-20"),
        )
        .await;
    assert_eq!(docs["items"].as_array().unwrap().len(), 2);
    let listed = stack
        .get("/api/v1/documents", &admin)
        .header("idempotency-key", "publish-20")
        .send()
        .await
        .unwrap();
    assert!(!listed.headers().contains_key("idempotent-replayed"));
}
