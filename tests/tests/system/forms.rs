//! The official forms through the gateway, read back with a real xlsx
//! reader (calamine): 附件2 as the notice prints it, blank and filled, with
//! households masked as the API masks them; 附件1 summarising the ledgers and
//! a township's workbook with a sheet per village; the import of a workbook
//! typed by hand, the round trip export → edit → import, every kind of bad
//! workbook; and the hand-in (上报) counted on time and late.

use std::collections::HashMap;
use std::io::{Cursor, Read as _, Write as _};
use std::time::Instant;

use calamine::{Data, Reader, Xlsx};
use rust_xlsxwriter::{Format, Workbook};
use serde_json::{Value, json};
use zhenggai_system_tests::{Stack, eventually, tally};

const VILLAGE: &str = "411081114204"; // 土门口村委会
const TOWNSHIP: &str = "411081114"; // 浅井镇
const OTHER_TOWNSHIP: &str = "411081115";
const LEAD_DEPARTMENT: &str = "411081D001"; // 市委组织部, lead of problem 1

const HEADERS: [&str; 11] = [
    "序号1",
    "方面",
    "具体问题",
    "问题表现",
    "序号2",
    "对照排查发现具体问题描述",
    "对照排查发现问题整改措施",
    "整改时限",
    "责任单位",
    "整改结果",
    "是否销号",
];
const SUBJECT: &str = "国家、省2022年度巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题";

/// A merged range: its first and last cell (row, column).
type Region = ((u32, u32), (u32, u32));

/// A workbook as a reader sees it: each sheet's cells as text, its merges.
struct Book {
    names: Vec<String>,
    sheets: HashMap<String, HashMap<(u32, u32), String>>,
    merges: HashMap<String, Vec<Region>>,
    raw: Vec<u8>,
}

impl Book {
    fn open(bytes: Vec<u8>) -> Self {
        let mut workbook: Xlsx<_> =
            Xlsx::new(Cursor::new(bytes.clone())).expect("an xlsx workbook");
        let names = workbook.sheet_names();
        let mut sheets = HashMap::new();
        let mut merges = HashMap::new();
        for name in &names {
            let range = workbook.worksheet_range(name).expect("a sheet");
            let mut cells = HashMap::new();
            for (row, col, value) in range.used_cells() {
                let (row0, col0) = range.start().unwrap_or((0, 0));
                let text = match value {
                    Data::Empty => continue,
                    other => other.to_string(),
                };
                cells.insert((row0 + row as u32, col0 + col as u32), text);
            }
            sheets.insert(name.clone(), cells);
            let regions = workbook
                .merge_cells_by_sheet_name(name)
                .expect("merged cells")
                .into_iter()
                .map(|d| (d.start, d.end))
                .collect();
            merges.insert(name.clone(), regions);
        }
        Self {
            names,
            sheets,
            merges,
            raw: bytes,
        }
    }

    fn cell(&self, sheet: &str, row: u32, col: u32) -> String {
        self.sheets[sheet]
            .get(&(row, col))
            .cloned()
            .unwrap_or_default()
    }

    fn merged(&self, sheet: &str, from: (u32, u32), to: (u32, u32)) -> bool {
        self.merges[sheet].contains(&(from, to))
    }

    /// A part of the package, as text (page setup, print titles).
    fn part(&self, name: &str) -> String {
        let mut archive = zip::ZipArchive::new(Cursor::new(self.raw.clone())).expect("a zip");
        let mut text = String::new();
        archive
            .by_name(name)
            .expect("the part")
            .read_to_string(&mut text)
            .expect("text");
        text
    }
}

async fn download(stack: &Stack, path: &str, token: &str) -> (u16, Vec<u8>) {
    let response = stack.get(path, token).send().await.expect("request");
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(".xlsx")
        );
    }
    (status, response.bytes().await.expect("body").to_vec())
}

async fn export(stack: &Stack, token: &str, ledger: &Value) -> Book {
    let path = format!(
        "/api/v1/ledgers/{}/export.xlsx",
        ledger["id"].as_str().unwrap()
    );
    let (status, bytes) = download(stack, &path, token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    Book::open(bytes)
}

async fn import(stack: &Stack, token: &str, ledger: &Value, bytes: Vec<u8>) -> (u16, Value) {
    let path = format!(
        "/api/v1/ledgers/{}/import?file_name=台账.xlsx",
        ledger["id"].as_str().unwrap()
    );
    stack
        .json(
            stack
                .post(&path, token)
                .header(
                    "content-type",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
                .body(bytes),
        )
        .await
}

fn finding(description: &str, due_on: &str) -> Value {
    json!({
        "description": description,
        "measures": "逐户走访，协助办理",
        "due_on": due_on,
        "kind": "deadline",
        "responsible": "土门口村两委",
    })
}

/// The rows of the data (0-based) where each problem starts, and its rows.
fn problem_rows(book: &Book, sheet: &str) -> Vec<(u32, u32)> {
    let mut starts: Vec<(u32, u32)> = book.merges[sheet]
        .iter()
        .filter(|(from, to)| from.1 == 2 && to.1 == 2)
        .map(|(from, to)| (from.0, to.0 - from.0 + 1))
        .collect();
    starts.sort();
    starts
}

#[tokio::test]
async fn a_ledger_exports_as_the_notice_prints_it() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;

    // Unanswered: the blank template, cell for cell, with the unit in the title.
    let blank = export(&stack, &village, &ledger).await;
    assert_eq!(blank.names.len(), 1);
    let sheet = blank.names[0].clone();
    assert!(sheet.contains("土门口村"), "{sheet}");
    assert_eq!(blank.cell(&sheet, 0, 0), "附件2");
    assert_eq!(
        blank.cell(&sheet, 1, 0),
        format!("浅井镇土门口村委会关于{SUBJECT}对照整改台账")
    );
    assert!(
        blank.merged(&sheet, (1, 0), (1, 10)),
        "the title spans the table"
    );
    let headers: Vec<String> = (0..11).map(|col| blank.cell(&sheet, 2, col)).collect();
    assert_eq!(headers, HEADERS);
    let problems = problem_rows(&blank, &sheet);
    assert_eq!(problems.len(), 15, "{problems:?}");
    assert!(
        problems.iter().all(|(_, rows)| *rows == 3),
        "three 序号2 rows each"
    );
    assert_eq!(problems[0].0, 3, "data starts under the header row");
    // Aspects 一 to 四, merged down their problems: 1–2, 3–6, 7–14, 15.
    let aspect_rows = [(1, 3, 8), (2, 9, 20), (3, 21, 44), (4, 45, 47)];
    for ((numeral, name), (_, from, to)) in [
        ("一", "责任落实"),
        ("二", "政策落实"),
        ("三", "工作落实"),
        ("四", "巩固成效"),
    ]
    .iter()
    .zip(aspect_rows)
    {
        assert_eq!(blank.cell(&sheet, from, 0), *numeral);
        assert_eq!(blank.cell(&sheet, from, 1), *name);
        assert!(
            blank.merged(&sheet, (from, 0), (to, 0)),
            "序号1 {numeral} over rows {from}–{to}"
        );
        assert!(
            blank.merged(&sheet, (from, 1), (to, 1)),
            "方面 {name} over rows {from}–{to}"
        );
    }
    for (seq, (first, rows)) in problems.iter().enumerate() {
        let title = blank.cell(&sheet, *first, 2);
        assert!(title.starts_with(&format!("{}. ", seq + 1)), "{title}");
        assert!(
            blank.merged(&sheet, (*first, 3), (first + rows - 1, 3)),
            "问题表现 merged"
        );
        assert!(!blank.cell(&sheet, *first, 3).is_empty());
        for slot in 0..*rows {
            assert_eq!(blank.cell(&sheet, first + slot, 4), (slot + 1).to_string());
            for col in 5..11 {
                assert_eq!(
                    blank.cell(&sheet, first + slot, col),
                    "",
                    "row {} col {col} blank",
                    first + slot
                );
            }
        }
    }
    assert_eq!(
        blank.cell(&sheet, 3, 2),
        "1. 干部业务能力和责任意识还需加强。"
    );
    // It prints like the paper: A3 landscape, fitted to the width, the
    // header row on every page.
    let setup = blank.part("xl/worksheets/sheet1.xml");
    assert!(
        setup.contains(r#"paperSize="8""#) && setup.contains(r#"orientation="landscape""#),
        "{setup}"
    );
    assert!(
        setup.contains(r#"fitToHeight="0""#) && setup.contains("fitToPage"),
        "{setup}"
    );
    assert!(setup.contains("wrapText") || blank.part("xl/styles.xml").contains(r#"wrapText="1""#));
    assert!(blank.part("xl/workbook.xml").contains("_xlnm.Print_Titles"));

    // Filled: findings in their rows, a fourth row where a problem has four,
    // 经排查，无此类问题, 是否销号 as 否, households masked as the API masks them.
    let mut with_households = finding("脱贫户明白卡未张贴", "2023-07-20");
    with_households["households"] =
        json!([{ "name": "张三有", "id_number": "11010519491231002X", "phone": "13812345678" }]);
    stack
        .add_finding(&village, &ledger, 0, with_households)
        .await;
    for n in 1..=4 {
        stack
            .add_finding(
                &village,
                &ledger,
                2,
                finding(&format!("就业帮扶第{n}项"), "2023-07-15"),
            )
            .await;
    }
    let mut immediate = finding("驻村工作队队员不住村", "2023-07-05");
    immediate["kind"] = json!("immediate");
    stack.add_finding(&village, &ledger, 0, immediate).await;
    let path = format!(
        "/api/v1/ledgers/{}/problems/{}/no-findings",
        ledger["id"].as_str().unwrap(),
        ledger["sections"][1]["problem_id"].as_str().unwrap()
    );
    let (status, body) = stack
        .json(
            stack
                .post(&path, &village)
                .json(&json!({ "note": "逐户核查明白卡张贴情况" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let filled = export(&stack, &village, &ledger).await;
    let problems = problem_rows(&filled, &sheet);
    assert_eq!(problems[2].1, 4, "four findings take four rows");
    assert_eq!(problems[0].1, 3);
    let first = problems[0].0;
    assert_eq!(
        filled.cell(&sheet, first, 5),
        "脱贫户明白卡未张贴\n涉及农户：张*有（1101**********002X，138****5678）"
    );
    assert_eq!(filled.cell(&sheet, first, 6), "逐户走访，协助办理");
    assert_eq!(filled.cell(&sheet, first, 7), "2023年7月20日");
    assert_eq!(filled.cell(&sheet, first, 8), "土门口村两委");
    assert_eq!(filled.cell(&sheet, first, 10), "否");
    assert_eq!(
        filled.cell(&sheet, first + 1, 7),
        "立行立改（2023年7月5日）"
    );
    assert_eq!(
        filled.cell(&sheet, first + 2, 4),
        "3",
        "blank slots go on numbering"
    );
    assert_eq!(filled.cell(&sheet, first + 2, 5), "");
    let second = problems[1].0;
    assert_eq!(filled.cell(&sheet, second, 5), "经排查，无此类问题");
    assert_eq!(filled.cell(&sheet, second, 6), "逐户核查明白卡张贴情况");
    let third = problems[2].0;
    assert_eq!(filled.cell(&sheet, third + 3, 4), "4");
    assert_eq!(filled.cell(&sheet, third + 3, 5), "就业帮扶第4项");
    let text: String = filled.sheets[&sheet].values().cloned().collect();
    assert!(
        !text.contains("张三有") && !text.contains("11010519491231002X"),
        "masked without clearance"
    );

    // A foreign ledger is not found, as in the API.
    let other = stack.user("fangdong", "village", "411081115201").await;
    let path = format!(
        "/api/v1/ledgers/{}/export.xlsx",
        ledger["id"].as_str().unwrap()
    );
    let (status, _) = download(&stack, &path, &other).await;
    assert_eq!(status, 404);
}

/// A 附件2 typed into by hand, as WPS or Excel would save it: merged
/// problem cells, a spacer row, full-width digits, dates as text and as a
/// date cell, headers broken over lines.
fn hand_typed(titles: &[String]) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let plain = Format::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    sheet.write_string(0, 0, "附件 2").unwrap();
    sheet
        .merge_range(1, 0, 1, 10, "浅井镇土门口村委会关于…对照整改台账", &plain)
        .unwrap();
    let headers = [
        "序号 1",
        "方面",
        "具体问题",
        "问题表现",
        "序号 2",
        "对照排查发现\n具体问题描述",
        "对照排查发现问\n题整改措施",
        "整改\n时限",
        "责任单位",
        "整改结果",
        "是否\n销号",
    ];
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string(2, col as u16, *header).unwrap();
    }
    // Problem 1: rows 4–6, merged; two findings, the second with a text date.
    sheet.merge_range(3, 0, 5, 0, "一", &plain).unwrap();
    sheet
        .merge_range(3, 2, 5, 2, &format!("1. {}。", titles[0]), &plain)
        .unwrap();
    sheet
        .merge_range(3, 3, 5, 3, "少数村干部……", &plain)
        .unwrap();
    let rows: [(u32, &str, &str, &str, &str); 2] = [
        (3, "１", "村干部对政策不熟悉", "组织集中学习", "7月20日"),
        (4, "2", "驻村队员不住村", "严格考勤", "2023.7.18"),
    ];
    for (row, seq, description, measures, due) in rows {
        sheet.write_string(row, 4, seq).unwrap();
        sheet.write_string(row, 5, description).unwrap();
        sheet.write_string(row, 6, measures).unwrap();
        sheet.write_string(row, 7, due).unwrap();
        sheet.write_string(row, 8, "村两委").unwrap();
    }
    sheet.write_string(5, 4, "3").unwrap();
    // A spacer row, then problem 2 by its full-width number: no findings.
    sheet
        .merge_range(7, 2, 9, 2, &format!("２．{}", titles[1]), &plain)
        .unwrap();
    sheet.write_string(7, 4, "1").unwrap();
    sheet.write_string(7, 5, "经排查,无此类问题。").unwrap();
    // Problem 4 by number and title; a long-term finding and a date cell.
    sheet
        .merge_range(10, 2, 12, 2, &format!("4.{}", titles[3]), &plain)
        .unwrap();
    sheet.write_string(10, 4, "1").unwrap();
    sheet.write_string(10, 5, "慢性病卡办理不及时").unwrap();
    sheet.write_string(10, 6, "建立动态台账").unwrap();
    sheet.write_string(10, 7, "长期整改").unwrap();
    sheet.write_string(10, 8, "村卫生室").unwrap();
    sheet.write_string(11, 4, "2").unwrap();
    sheet.write_string(11, 5, "签约医生入户少").unwrap();
    sheet.write_string(11, 6, "每月入户一次").unwrap();
    let due = chrono::NaiveDate::from_ymd_opt(2023, 8, 31).unwrap();
    sheet.write_date_with_format(11, 7, due, &date).unwrap();
    sheet.write_string(11, 8, "村卫生室").unwrap();
    sheet.write_string(11, 10, "否").unwrap();
    workbook.save_to_buffer().unwrap()
}

/// Rewrites a workbook's first sheet as plain cells (what a save from
/// another program may leave), with `changes` written over them.
fn rewrite(book: &Book, changes: &[((u32, u32), &str)]) -> Vec<u8> {
    let mut cells = book.sheets[&book.names[0]].clone();
    for (at, value) in changes {
        cells.insert(*at, (*value).to_owned());
    }
    let mut workbook = Workbook::new();
    let out = workbook.add_worksheet();
    for ((row, col), value) in &cells {
        out.write_string(*row, *col as u16, value).unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

#[tokio::test]
async fn a_filled_workbook_imports_once_and_round_trips() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let titles: Vec<String> = ledger["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["problem_title"].as_str().unwrap().to_owned())
        .collect();

    let typed = hand_typed(&titles);
    let (status, report) = import(&stack, &village, &ledger, typed.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows_read"], 5, "{report}");
    assert_eq!(report["created"], 4, "{report}");
    assert_eq!(report["declared_no_findings"], 1, "{report}");
    let after = stack.ledger(&village, &campaign, VILLAGE).await;
    let sections = after["sections"].as_array().unwrap();
    let first = &sections[0]["findings"];
    assert_eq!(first[0]["seq"], 1);
    assert_eq!(
        first[0]["due_on"], "2023-07-20",
        "7月20日 falls after the notice"
    );
    assert_eq!(first[1]["due_on"], "2023-07-18");
    assert_eq!(first[1]["responsible"], "村两委");
    assert_eq!(sections[1]["state"], "no_findings");
    let fourth = &sections[3]["findings"];
    assert_eq!(fourth[0]["kind"], "long_term");
    assert_eq!(fourth[0]["due_on"], Value::Null);
    assert_eq!(fourth[1]["due_on"], "2023-08-31", "a date cell");
    let history_path = format!("/api/v1/ledgers/{}/history", ledger["id"].as_str().unwrap());
    let (_, history) = stack.json(stack.get(&history_path, &village)).await;
    let events = history["items"].as_array().unwrap().len();
    assert_eq!(events, 5);
    assert_eq!(history["items"][0]["details"]["import"]["source"], "import");

    // The same file again changes nothing: no version, no history.
    let (status, again) = import(&stack, &village, &ledger, typed).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(5))
    );
    assert_eq!(again["ledger"]["version"], after["version"]);
    let (_, history) = stack.json(stack.get(&history_path, &village)).await;
    assert_eq!(history["items"].as_array().unwrap().len(), events);

    // Export, write a result into one row, import: one update, the rest as they were.
    let exported = export(&stack, &village, &ledger).await;
    let sheet = exported.names[0].clone();
    let row = problem_rows(&exported, &sheet)[0].0;
    assert_eq!(exported.cell(&sheet, row, 9), "", "no result yet");
    let edited = rewrite(&exported, &[((row, 9), "已组织两次集中学习")]);
    let (status, round) = import(&stack, &village, &ledger, edited.clone()).await;
    assert_eq!(status, 200, "{round}");
    assert_eq!(
        (round["created"].as_u64(), round["updated"].as_u64()),
        (Some(0), Some(1)),
        "{round}"
    );
    let after = stack.ledger(&village, &campaign, VILLAGE).await;
    assert_eq!(
        after["sections"][0]["findings"][0]["result"],
        "已组织两次集中学习"
    );
    let (status, round) = import(&stack, &village, &ledger, edited).await;
    assert_eq!((status, round["updated"].as_u64()), (200, Some(0)));

    // Someone else's ledger cannot be imported into.
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let (status, body) = import(&stack, &township, &ledger, hand_typed(&titles)).await;
    assert_eq!(status, 403, "{body}");
}

/// A zip whose one part unpacks to `size` zero bytes.
fn zip_bomb(size: usize) -> Vec<u8> {
    let mut buffer = Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size > u32::MAX as usize);
    zip.start_file("xl/workbook.xml", options).unwrap();
    zip.write_all(b"<workbook/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let zeros = vec![0_u8; 1024 * 1024];
    for _ in 0..size / zeros.len() {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap();
    buffer.into_inner()
}

#[tokio::test]
async fn bad_workbooks_are_refused_clearly_and_nothing_is_half_imported() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    let titles: Vec<String> = ledger["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["problem_title"].as_str().unwrap().to_owned())
        .collect();

    let ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    let mut encrypted = ole.clone();
    encrypted.extend(vec![0_u8; 512]);
    encrypted.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "a PDF",
            b"%PDF-1.7\n%...".to_vec(),
            415,
            "not an Excel workbook",
        ),
        (
            "an old .xls",
            [ole.clone(), vec![0; 512]].concat(),
            415,
            ".xls",
        ),
        ("an encrypted workbook", encrypted, 415, "encrypted"),
        (
            "a damaged zip",
            b"PK\x03\x04garbage".to_vec(),
            415,
            "damaged",
        ),
        (
            "a zip bomb",
            zip_bomb(100 * 1024 * 1024),
            413,
            "unpacks to more than",
        ),
        ("an empty body", Vec::new(), 415, "not an Excel workbook"),
    ];
    for (what, bytes, want, says) in cases {
        let size = bytes.len();
        let started = Instant::now();
        let (status, problem) = import(&stack, &village, &ledger, bytes).await;
        eprintln!("{what}: {size} bytes → {status} in {:?}", started.elapsed());
        assert_eq!(status, want, "{what}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{what}: {problem}"
        );
        assert!(problem["code"].is_string(), "{what}: a problem document");
    }
    let (status, problem) = import(&stack, &village, &ledger, vec![b'P'; 11 * 1024 * 1024]).await;
    assert_eq!(status, 413, "over the workbook limit: {problem}");

    // Bad rows: every one listed with its row and column, nothing imported.
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in HEADERS.iter().enumerate() {
        sheet.write_string(2, col as u16, *header).unwrap();
    }
    sheet
        .write_string(3, 2, format!("1. {}", titles[0]))
        .unwrap();
    let rows: [[&str; 7]; 4] = [
        [
            "1",
            "村干部对政策不熟悉",
            "组织集中学习",
            "7月20日",
            "村两委",
            "",
            "",
        ], // fine
        ["2", "驻村队员不住村", "", "下个月", "村两委", "", "是"], // G empty, H no date, K 是
        ["x", "第三条", "措施", "2023-07-20", "村两委", "", ""],   // E not a number
        ["4", "第四条", "措施", "2023-07-20", "", "", ""],         // I empty
    ];
    for (offset, cells) in rows.iter().enumerate() {
        for (i, value) in cells.iter().enumerate() {
            sheet
                .write_string(3 + offset as u32, 4 + i as u16, *value)
                .unwrap();
        }
    }
    sheet.write_string(8, 2, "99. 不存在的问题").unwrap();
    sheet.write_string(8, 5, "无主之行").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    let (status, problem) = import(&stack, &village, &ledger, bytes).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "invalid_rows");
    let cells: Vec<(u64, String)> = problem["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [(5, "G"), (5, "H"), (5, "K"), (6, "E"), (7, "I"), (9, "C")] {
        assert!(
            cells.contains(&(want.0, want.1.to_owned())),
            "{want:?} in {problem}"
        );
    }
    assert!(
        problem["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["header"].as_str().unwrap().is_empty()),
        "{problem}"
    );
    assert!(
        problem["errors"][0].as_str().unwrap().starts_with("row "),
        "{problem}"
    );
    let after = stack.ledger(&village, &campaign, VILLAGE).await;
    assert_eq!(after["findings"], 0, "the good row was not imported either");
    assert_eq!(after["version"], ledger["version"]);

    // A sheet that is not the form.
    let mut workbook = Workbook::new();
    workbook.add_worksheet().write_string(0, 0, "姓名").unwrap();
    let (status, problem) = import(
        &stack,
        &village,
        &ledger,
        workbook.save_to_buffer().unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().is_some()
            && problem["errors"][0].as_str().unwrap().contains("header"),
        "{problem}"
    );
}

async fn hand_in(
    stack: &Stack,
    token: &str,
    ledger: &Value,
    body: &[u8],
    milestone: &str,
) -> (u16, Value) {
    let path = format!(
        "/api/v1/ledgers/{}/hand-in?file_name=整改报告.pdf&milestone={milestone}&note=请审阅",
        ledger["id"].as_str().unwrap()
    );
    stack
        .json(stack.post(&path, token).body(body.to_vec()))
        .await
}

#[tokio::test]
async fn a_hand_in_is_recorded_and_counted_on_time_or_late() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    stack.set_clock(&admin, "2023-07-10T10:00:00+08:00").await;
    let campaign = stack.yuzhou_campaign().await;
    stack.scheduled(&admin, &campaign).await;
    let milestones = stack.milestones(&admin, &campaign).await;
    let hand_in_milestone = milestones.iter().find(|m| m["kind"] == "hand_in").unwrap();
    let milestone_id = hand_in_milestone["id"].as_str().unwrap();
    let (owed, ..) = tally(&milestones, "hand_in");
    let report = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n";

    let punctual = stack.user("qianjing", "township", TOWNSHIP).await;
    let ledger = stack.ledger(&punctual, &campaign, TOWNSHIP).await;
    let (status, problem) = hand_in(&stack, &punctual, &ledger, report, milestone_id).await;
    assert_eq!(status, 409, "an incomplete ledger: {problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("0 of 15"),
        "{problem}"
    );
    stack.answer_the_rest(&punctual, &ledger).await;
    let (status, problem) = hand_in(&stack, &punctual, &ledger, b"just words", milestone_id).await;
    assert_eq!(status, 415, "a report is a document: {problem}");
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let (status, _) = hand_in(&stack, &village, &ledger, report, milestone_id).await;
    assert_eq!(status, 404, "a village cannot see its township's ledger");

    stack.set_clock(&admin, "2023-07-14T16:00:00+08:00").await;
    let (status, handed) = hand_in(&stack, &punctual, &ledger, report, milestone_id).await;
    assert_eq!(status, 201, "{handed}");
    assert_eq!(handed["content_type"], "application/pdf");
    assert_eq!(handed["size"], report.len());
    assert_eq!(handed["milestone_id"], milestone_id);
    assert_eq!(handed["note"], "请审阅");
    assert!(
        handed["handed_in_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-07-14"),
        "{handed}"
    );
    let history_path = format!("/api/v1/ledgers/{}/history", ledger["id"].as_str().unwrap());
    let (_, history) = stack.json(stack.get(&history_path, &admin)).await;
    let event = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ledger_handed_in")
        .expect("the hand-in is in the history")
        .clone();
    assert_eq!(event["seq"], handed["history_seq"]);
    assert_eq!(event["details"]["report"]["sha256"], handed["sha256"]);
    let path = format!("/api/v1/ledgers/{}/verify", ledger["id"].as_str().unwrap());
    let (_, verified) = stack.json(stack.get(&path, &admin)).await;
    assert_eq!(verified["intact"], true, "{verified}");

    let tardy = stack.user("fangshan", "township", OTHER_TOWNSHIP).await;
    let late_ledger = stack.ledger(&tardy, &campaign, OTHER_TOWNSHIP).await;
    stack.answer_the_rest(&tardy, &late_ledger).await;
    stack.set_clock(&admin, "2023-07-17T09:30:00+08:00").await;
    let (status, body) = hand_in(&stack, &tardy, &late_ledger, report, "").await;
    assert_eq!(status, 201, "{body}");
    // Handing in again keeps both; the first is what counts.
    let (status, _) = hand_in(&stack, &punctual, &ledger, report, milestone_id).await;
    assert_eq!(status, 201);
    let path = format!(
        "/api/v1/ledgers/{}/hand-ins",
        ledger["id"].as_str().unwrap()
    );
    let (_, list) = stack.json(stack.get(&path, &admin)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");

    let counted = eventually("the scheduler counts both hand-ins", || async {
        let now = stack.milestones(&admin, &campaign).await;
        let (_, on_time, late, ..) = tally(&now, "hand_in");
        (on_time + late == 2).then_some(tally(&now, "hand_in"))
    })
    .await;
    assert_eq!(
        counted,
        (owed, 1, 1, owed - 2, 0),
        "(owed, on time, late, missing, pending)"
    );
}

#[tokio::test]
async fn the_city_ledger_sums_up_and_a_township_gets_a_sheet_per_village() {
    let stack = Stack::start().await;
    let campaign = stack.yuzhou_campaign().await;
    let admin = stack.admin().await;
    let village = stack.user("tumenkou", "village", VILLAGE).await;
    let ledger = stack.ledger(&village, &campaign, VILLAGE).await;
    stack
        .add_finding(
            &village,
            &ledger,
            0,
            finding("村干部对政策不熟悉", "2023-07-20"),
        )
        .await;
    stack.answer_the_rest(&village, &ledger).await;
    let department = stack.user("zuzhibu", "department", LEAD_DEPARTMENT).await;
    let lead = stack.ledger(&department, &campaign, LEAD_DEPARTMENT).await;
    let mut trained = finding("驻村干部培训覆盖不全", "2023-07-20");
    trained["result"] = json!("已完成全员轮训");
    stack.add_finding(&department, &lead, 0, trained).await;

    let path = format!(
        "/api/v1/campaigns/{}/export.xlsx",
        campaign["id"].as_str().unwrap()
    );
    let started = Instant::now();
    let (status, bytes) = download(&stack, &path, &admin).await;
    eprintln!("附件1 of 禹州市: {:?}", started.elapsed());
    assert_eq!(status, 200);
    let city = Book::open(bytes);
    assert_eq!(city.names.len(), 1);
    let sheet = city.names[0].clone();
    assert_eq!(city.cell(&sheet, 0, 0), "附件1");
    assert_eq!(
        city.cell(&sheet, 1, 0),
        format!("禹州市关于{SUBJECT}整改台账")
    );
    let headers: Vec<String> = (0..8).map(|col| city.cell(&sheet, 2, col)).collect();
    assert_eq!(
        headers,
        [
            "序号",
            "方面",
            "具体问题",
            "问题表现",
            "整改措施简述",
            "整改时限",
            "责任单位",
            "整改结果"
        ]
    );
    for (n, row) in (3..18).enumerate() {
        assert!(
            city.cell(&sheet, row, 2)
                .starts_with(&format!("{}. ", n + 1))
        );
    }
    assert!(city.merged(&sheet, (3, 0), (4, 0)), "一 over problems 1–2");
    assert_eq!(
        city.cell(&sheet, 17, 0),
        "四",
        "problem 15 alone in its aspect"
    );
    assert_eq!(
        city.cell(&sheet, 4, 5),
        "7月20日前取得阶段性成效，持续推进。"
    );
    assert!(
        city.cell(&sheet, 3, 4).starts_with("加强干部培训"),
        "{}",
        city.cell(&sheet, 3, 4)
    );
    assert_eq!(
        city.cell(&sheet, 3, 6),
        "市委组织部、市委农办、市农业农村局、市乡村振兴局，各乡镇（褚河街道）"
    );
    let result = city.cell(&sheet, 3, 7);
    let ledgers = campaign["ledger_count"].as_u64().unwrap();
    assert!(
        result.starts_with(&format!("对照排查单位{ledgers}个：发现问题的2个，共2条")),
        "{result}"
    );
    assert!(result.contains("经排查无此类问题的0个"), "{result}");
    assert!(result.ends_with("市委组织部：已完成全员轮训"), "{result}");
    assert!(
        city.cell(&sheet, 4, 7).contains("经排查无此类问题的1个"),
        "{}",
        city.cell(&sheet, 4, 7)
    );

    // The township: a summary of its subtree and a 附件2 sheet per ledger.
    let township = stack.user("qianjing", "township", TOWNSHIP).await;
    let (_, list) = stack
        .json(stack.get(
            &format!(
                "/api/v1/ledgers?campaign={}&unit={TOWNSHIP}&limit=1000",
                campaign["id"].as_str().unwrap()
            ),
            &township,
        ))
        .await;
    let subtree = list["items"].as_array().unwrap().len();
    let started = Instant::now();
    let (status, bytes) = download(&stack, &format!("{path}?unit={TOWNSHIP}"), &township).await;
    eprintln!(
        "浅井镇 as one workbook ({subtree} ledgers): {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    let book = Book::open(bytes);
    assert_eq!(book.names.len(), subtree + 1, "{:?}", book.names);
    assert_eq!(book.names[0], "汇总");
    assert_eq!(
        book.cell("汇总", 1, 0),
        format!("浅井镇关于{SUBJECT}整改台账")
    );
    let summary = book.cell("汇总", 3, 7);
    assert!(
        summary.starts_with(&format!("对照排查单位{subtree}个：发现问题的1个")),
        "{summary}"
    );
    let sheet = book
        .names
        .iter()
        .find(|n| n.contains("土门口村"))
        .expect("a sheet for 土门口村")
        .clone();
    assert_eq!(
        book.cell(&sheet, 1, 0),
        format!("浅井镇土门口村委会关于{SUBJECT}对照整改台账")
    );
    assert_eq!(book.cell(&sheet, 3, 5), "村干部对政策不熟悉");
    assert!(book.names.iter().any(|n| n == "浅井镇"), "{:?}", book.names);

    // A village may not export its township's subtree, nor the city's.
    let (status, _) = download(&stack, &format!("{path}?unit={TOWNSHIP}"), &village).await;
    assert_eq!(status, 404);
    let started = Instant::now();
    let (status, bytes) = download(&stack, &format!("{path}?unit=411081"), &admin).await;
    eprintln!(
        "禹州市 as one workbook ({ledgers} ledgers): {:?}, {} bytes",
        started.elapsed(),
        bytes.len()
    );
    assert_eq!(status, 200);
}
