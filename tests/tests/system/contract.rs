//! The API's contract as a reviewer reads it: snapshots (insta) of the
//! OpenAPI document, of the problem documents clients branch on, and of the
//! header block of 附件2 as the notice prints it. A change to any of them
//! shows in review as a changed `.snap` file under `snapshots/`; accept one
//! that is meant with `INSTA_UPDATE=always deploy/test.sh --test system contract`.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};
use zhenggai_system_tests::{Stack, small_notice};

const VILLAGE: &str = "411081114204"; // 土门口村委会

/// The document every client generates its code from, as served.
#[tokio::test]
async fn the_openapi_document() {
    let stack = Stack::start().await;
    let (status, document) = stack
        .json(stack.client.get(stack.url("/api/v1/openapi.json")))
        .await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("openapi", document);
}

/// The problem documents (RFC 9457) of the errors clients handle: their
/// status, `type`, `title`, `code` and the members beside them. The request
/// id changes with every request and is redacted.
#[tokio::test]
async fn the_problem_documents() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let finding = stack
        .add_finding(
            &village,
            &ledger,
            0,
            json!({ "description": "漏登脱贫户1户", "measures": "补录", "due_on": "2023-07-20",
                    "kind": "deadline", "responsible": "村两委" }),
        )
        .await;
    let finding_path = format!("/api/v1/findings/{}", finding["id"].as_str().unwrap());
    let mut problems = serde_json::Map::new();
    let mut record = |name: &str, (status, body): (u16, Value)| {
        assert!(status >= 400, "{name}: {status} {body}");
        problems.insert(name.to_owned(), body);
    };
    record(
        "unauthenticated",
        stack.json(stack.client.get(stack.url("/api/v1/me"))).await,
    );
    record(
        "invalid_credentials",
        stack.try_login("admin", "not-the-password").await,
    );
    record(
        "not_found",
        stack
            .json(stack.get(
                "/api/v1/findings/00000000-0000-0000-0000-000000000000",
                &admin,
            ))
            .await,
    );
    record(
        "malformed_body",
        stack
            .json(
                stack
                    .post("/api/v1/campaigns", &admin)
                    .header("content-type", "application/json")
                    .body("{not json"),
            )
            .await,
    );
    record(
        "invalid_argument_listing_every_fault",
        stack
            .json(stack.post("/api/v1/documents", &admin).json(&{
                let mut bad = small_notice("禹巩固脱贫组〔2023〕10号");
                bad["issued_on"] = json!("2023-13-01");
                bad["problems"][0]["measures"] = json!([]);
                bad
            }))
            .await,
    );
    record(
        "permission_denied",
        stack
            .json(
                stack
                    .post("/api/v1/campaigns", &village)
                    .json(&json!({ "document_id": campaign["document_id"], "area": VILLAGE })),
            )
            .await,
    );
    record(
        "precondition_required",
        stack
            .json(
                stack
                    .patch(&finding_path, &village)
                    .json(&json!({ "result": "已补录" })),
            )
            .await,
    );
    record(
        "precondition_failed",
        stack
            .json(
                stack
                    .patch(&finding_path, &village)
                    .header("if-match", "\"99\"")
                    .json(&json!({ "result": "已补录" })),
            )
            .await,
    );
    record(
        "unsupported_media_type",
        stack
            .json(
                stack
                    .post(
                        &format!("/api/v1/ledgers/{}/import", ledger["id"].as_str().unwrap()),
                        &village,
                    )
                    .body("这不是一个工作簿"),
            )
            .await,
    );
    record(
        "method_not_allowed",
        stack
            .json(stack.client.delete(stack.url("/api/v1/auth/login")))
            .await,
    );
    insta::assert_json_snapshot!("problems", problems, {
        ".*.request_id" => "[request id]",
    });
}

/// The header block of 附件2 (title, subject line, the eleven column
/// headers) and the merged cells that shape it, as a cadre sees it.
#[tokio::test]
async fn the_header_block_of_annex_2() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let response = stack
        .get(
            &format!(
                "/api/v1/ledgers/{}/export.xlsx",
                ledger["id"].as_str().unwrap()
            ),
            &village,
        )
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.expect("the workbook").to_vec();
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("an xlsx workbook");
    let sheet = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&sheet).expect("the sheet");
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    // Everything above the first problem's row: the header block.
    let mut block = Vec::new();
    for (row, cells) in range.rows().enumerate() {
        let texts: Vec<String> = cells
            .iter()
            .enumerate()
            .filter(|(_, cell)| !matches!(cell, Data::Empty))
            .map(|(col, cell)| {
                format!(
                    "{}{}: {cell}",
                    column(first_col + col as u32),
                    first_row + row as u32 + 1
                )
            })
            .collect();
        if texts.iter().any(|text| text.ends_with(": 一")) {
            break;
        }
        block.push(texts.join(" | "));
    }
    let header_rows = block.len() as u32 + first_row;
    let mut merges: Vec<String> = workbook
        .merge_cells_by_sheet_name(&sheet)
        .expect("merged cells")
        .into_iter()
        .filter(|region| region.start.0 < header_rows)
        .map(|region| {
            format!(
                "{}{}:{}{}",
                column(region.start.1),
                region.start.0 + 1,
                column(region.end.1),
                region.end.0 + 1
            )
        })
        .collect();
    merges.sort();
    insta::assert_snapshot!(
        "annex_2_header_block",
        format!(
            "sheet: {sheet}\n{}\nmerged: {}",
            block.join("\n"),
            merges.join(", ")
        )
    );
}

/// A column's letter (0 → A).
fn column(index: u32) -> String {
    let mut index = index + 1;
    let mut letters = Vec::new();
    while index > 0 {
        let rest = (index - 1) % 26;
        letters.push(b'A' + rest as u8);
        index = (index - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}
