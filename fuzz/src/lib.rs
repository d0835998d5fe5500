//! What the fuzz targets share: the founding notice as the import handler
//! sees it (its date and its fifteen problems), and workbooks written with
//! the crate's own layout, so that the seeds and the sheet wrapper are real
//! 附件2 files.
//!
//! The targets are in `fuzz_targets/`; `deploy/fuzz.sh` runs them, and
//! `cargo run -p zhenggai-fuzz --example seed_corpus` writes the seeds of
//! `corpus/` again.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::sync::OnceLock;

use chrono::NaiveDate;
use zhenggai_forms::read::KnownProblem;
use zhenggai_forms::{Answer, FindingRow, LedgerSheet, Notice, ProblemRow, layout};

/// The founding notice's date (禹巩固脱贫组〔2023〕5号, 2023-06-26): dates
/// typed without a year fall on or after it.
pub fn issued_on() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 6, 26).expect("a real day")
}

/// The founding notice's problems: seq, aspect seq, aspect, title.
pub const PROBLEMS: [(u32, u32, &str, &str); 15] = [
    (1, 1, "责任落实方面", "干部业务能力和责任意识还需加强"),
    (
        2,
        1,
        "责任落实方面",
        "个别帮扶人员或部门工作作风不实，存在懈怠问题",
    ),
    (3, 2, "政策落实方面", "就业帮扶政策落实不够到位"),
    (4, 2, "政策落实方面", "健康帮扶政策落实不够到位"),
    (5, 2, "政策落实方面", "安全饮水政策落实不够到位"),
    (6, 2, "政策落实方面", "金融帮扶政策落实不够到位"),
    (
        7,
        3,
        "工作落实方面",
        "产业链条较短，农产品精深加工占比和附加值较低",
    ),
    (8, 3, "工作落实方面", "联农带农机制不健全"),
    (9, 3, "工作落实方面", "产业组织化程度较低"),
    (10, 3, "工作落实方面", "项目实施管理存在薄弱环节"),
    (11, 3, "工作落实方面", "项目库管理不规范"),
    (12, 3, "工作落实方面", "村庄人居环境整治有待加强"),
    (13, 3, "工作落实方面", "部分地方农村改厕贪大求快难用停用"),
    (14, 3, "工作落实方面", "防返贫监测帮扶落实不到位"),
    (15, 4, "巩固成效方面", "脱贫人口持续增收仍有压力"),
];

/// The problems as the import handler passes them to `read_ledger`.
pub fn known_problems() -> Vec<KnownProblem> {
    PROBLEMS
        .iter()
        .map(|&(seq, _, _, title)| KnownProblem {
            seq,
            title: title.to_owned(),
        })
        .collect()
}

/// The problems as the export writes them (short texts: the seeds stay small).
pub fn problem_rows() -> Vec<ProblemRow> {
    PROBLEMS
        .iter()
        .map(|&(seq, aspect_seq, aspect, title)| ProblemRow {
            seq,
            aspect_seq,
            aspect_name: aspect.to_owned(),
            title: title.to_owned(),
            manifestation: format!("问题表现{seq}"),
            measures: vec![format!("整改措施{seq}")],
            deadline: "7月20日前取得阶段性成效，持续推进。".to_owned(),
            responsible: "各乡镇（褚河街道）".to_owned(),
        })
        .collect()
}

/// The notice as the forms title it.
pub fn notice() -> Notice {
    Notice::new(
        "关于印发《国家、省2022年度巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题对照整改方案》的通知",
        issued_on(),
    )
}

/// A village's 附件2 with nothing answered: the blank template.
pub fn blank_ledger() -> LedgerSheet {
    LedgerSheet {
        unit_title: "浅井镇土门口村".to_owned(),
        answers: HashMap::new(),
    }
}

/// A village's 附件2 answered the ways cadres answer: findings with every
/// kind of 整改时限, households on a last line, a section without findings.
pub fn filled_ledger() -> LedgerSheet {
    let finding = |seq: u32, description: &str, deadline: &str, written_off: bool| FindingRow {
        seq,
        description: description.to_owned(),
        measures: "入户核实，限期整改".to_owned(),
        deadline: deadline.to_owned(),
        responsible: "村委会".to_owned(),
        result: if written_off { "已整改" } else { "" }.to_owned(),
        written_off,
    };
    let mut answers = HashMap::new();
    answers.insert(
        1,
        Answer::Findings(vec![
            finding(1, "驻村干部对村情了解不全面", "2023年7月20日", true),
            finding(2, "村干部政策不熟悉", "立行立改（2023年7月10日）", false),
        ]),
    );
    answers.insert(
        4,
        Answer::Findings(vec![finding(
            1,
            "脱贫户2户未办理慢性病卡\n涉及农户：潘*有、潘*彦",
            "7月20日",
            false,
        )]),
    );
    answers.insert(
        12,
        Answer::Findings(vec![finding(1, "坑塘沟渠缺乏整治", "长期整改", false)]),
    );
    answers.insert(5, Answer::NoFindings("已逐户核查饮水情况".to_owned()));
    LedgerSheet {
        unit_title: "浅井镇土门口村".to_owned(),
        answers,
    }
}

/// A ledger written as the export writes it: one 附件2 sheet, as .xlsx bytes.
pub fn workbook(ledger: &LedgerSheet) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    // Dated the notice's day, not today: the same seeds every time they are written.
    workbook
        .set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&issued_on()));
    let sheet = workbook.add_worksheet();
    sheet.set_name("附件2").expect("a valid sheet name");
    layout::write_ledger(sheet, &notice(), &problem_rows(), ledger).expect("the layout writes");
    workbook.save_to_buffer().expect("the workbook saves")
}

/// The part of a workbook that holds its (only) sheet.
pub const SHEET_PART: &str = "xl/worksheets/sheet1.xml";

/// The parts of the filled ledger's workbook, in archive order.
fn template() -> &'static [(String, Vec<u8>)] {
    static PARTS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    PARTS.get_or_init(|| {
        let bytes = workbook(&filled_ledger());
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("our own workbook");
        (0..archive.len())
            .map(|index| {
                let mut entry = archive.by_index(index).expect("our own workbook");
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("our own workbook");
                let name = entry.name().expect("our own workbook").into_owned();
                (name, content)
            })
            .collect()
    })
}

/// The filled ledger's workbook with `sheet_xml` as its sheet: a sound
/// archive (right checksums, stored), so what is fuzzed is the sheet itself.
pub fn with_sheet(sheet_xml: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in template() {
        let content = if name == SHEET_PART {
            sheet_xml
        } else {
            content
        };
        writer
            .start_file(name.as_str(), options)
            .expect("in memory");
        writer.write_all(content).expect("in memory");
    }
    writer.finish().expect("in memory").into_inner()
}

/// The sheet part of a workbook written by [`workbook`].
pub fn sheet_of(workbook: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(workbook)).expect("our own workbook");
    let mut entry = archive.by_name(SHEET_PART).expect("one sheet");
    let mut content = Vec::new();
    entry.read_to_end(&mut content).expect("our own workbook");
    content
}

/// What the import handler does with an upload (`api::forms::import_ledger`
/// in the gateway): the archive check, then the reader with the notice's
/// date and problems. Whatever the bytes, it answers; and what it answers
/// holds together.
pub fn import(bytes: &[u8]) {
    use zhenggai_forms::read::{self, Unreadable, column_letter};

    if let Err(unreadable) = read::check_archive(bytes) {
        let reason = match unreadable {
            Unreadable::NotWorkbook(reason) | Unreadable::TooLarge(reason) => reason,
            Unreadable::Encrypted => return,
        };
        assert!(!reason.is_empty());
        return;
    }
    let Ok(filled) = read::read_ledger(bytes, &known_problems(), issued_on()) else {
        return;
    };
    // Columns past the form's (AO) are ignored, so no fault or header can
    // name one.
    let columns: Vec<String> = (0..=read::MAX_COLUMN).map(column_letter).collect();
    assert!(filled.columns.iter().all(|col| *col <= read::MAX_COLUMN));
    for fault in &filled.faults {
        assert!(fault.row <= read::EXCEL_ROWS, "{fault:?}");
        assert!(
            fault.column.is_empty() || columns.contains(&fault.column),
            "{fault:?}"
        );
        assert!(!fault.reason.is_empty());
    }
    let seqs: Vec<u32> = PROBLEMS.iter().map(|p| p.0).collect();
    for row in &filled.rows {
        assert!(seqs.contains(&row.problem_seq), "{row:?}");
        assert!((2..=read::EXCEL_ROWS).contains(&row.row), "{row:?}");
        if row.no_findings {
            continue;
        }
        assert!(
            ["", "immediate", "deadline", "long_term"].contains(&row.kind.as_str()),
            "{row:?}"
        );
        if !row.due_on.is_empty() {
            let due = NaiveDate::parse_from_str(&row.due_on, "%Y-%m-%d");
            assert!(
                due.is_ok_and(|due| due.to_string() == row.due_on),
                "{row:?}"
            );
        }
        assert!(
            !row.description.lines().any(|line| line
                .trim_start()
                .starts_with(zhenggai_forms::HOUSEHOLDS_PREFIX)),
            "{row:?}"
        );
    }
}
