//! Reading a filled 附件2 back: first the archive is checked without
//! trusting it (not a workbook, encrypted, a zip bomb), then the sheet is
//! read cell by cell (never as a dense grid a hostile file could make
//! enormous), the header row is found by its texts, and every row is read
//! the way cadres fill the form: merged cells, spacer rows, full-width
//! digits, dates typed as text.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;

use super::HOUSEHOLDS_PREFIX;
use super::layout::LEDGER_HEADERS;
use super::text::{self, fingerprint};

/// The most bytes a workbook may unpack to (a filled ledger is well under 1 MB).
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// The most entries its archive may hold.
const MAX_ENTRIES: usize = 2_000;
/// The most cells with a value the sheet may hold.
const MAX_CELLS: usize = 200_000;
/// Columns past this one are not the form's and are ignored.
pub const MAX_COLUMN: u32 = 40;
/// Excel's rows: a cell below them is no cell of a workbook Excel or WPS
/// wrote (calamine reads an over-long row number wrapped), and is ignored.
pub const EXCEL_ROWS: u32 = 1_048_576;

/// Why a file cannot be read as a workbook at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Not an .xlsx (another file, an old .xls, a damaged archive).
    NotWorkbook(String),
    /// Password-protected.
    Encrypted,
    /// Unpacks to more than it may.
    TooLarge(String),
}

/// A row the reader understood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilledRow {
    /// The row's number as Excel shows it (1-based).
    pub row: u32,
    /// 序号1 of the problem the row answers.
    pub problem_seq: u32,
    /// 序号2, when the row has one.
    pub finding_seq: Option<u32>,
    /// The row says 经排查，无此类问题.
    pub no_findings: bool,
    /// What was checked, beside a no-findings answer.
    pub note: String,
    /// 对照排查发现具体问题描述.
    pub description: String,
    /// 对照排查发现问题整改措施.
    pub measures: String,
    /// YYYY-MM-DD or empty.
    pub due_on: String,
    /// immediate | deadline | long_term
    pub kind: String,
    /// 责任单位.
    pub responsible: String,
    /// 整改结果.
    pub result: String,
    /// 是否销号 as written: Some(true) for 是, Some(false) for 否.
    pub written_off: Option<bool>,
}

/// A fault of one cell (row 0: the sheet as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellFault {
    /// The row as the spreadsheet numbers it (0: the sheet as a whole).
    pub row: u32,
    /// The column's letter (A–K), empty for the sheet as a whole.
    pub column: String,
    /// Why it cannot be taken.
    pub reason: String,
}

/// The letter of a 0-based column.
pub fn column_letter(col: u32) -> String {
    let mut n = col + 1;
    let mut letters = Vec::new();
    while n > 0 {
        letters.push(char::from(b'A' + ((n - 1) % 26) as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Checks the archive before anything parses it: its signature, its
/// entries, encryption, and what it really unpacks to (counted while
/// unpacking into nothing, so a lying header cannot make us hold it).
pub fn check_archive(bytes: &[u8]) -> Result<(), Unreadable> {
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    if bytes.starts_with(OLE) {
        let marker: Vec<u8> = "EncryptedPackage"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        if bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
            return Err(Unreadable::Encrypted);
        }
        return Err(Unreadable::NotWorkbook(
            "this is an old-format .xls/.et file: save it as an Excel workbook (.xlsx) and upload again".into(),
        ));
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(Unreadable::NotWorkbook(
            "this is not an Excel workbook (.xlsx)".into(),
        ));
    }
    let damaged =
        |_| Unreadable::NotWorkbook("the workbook is damaged: it cannot be unpacked".into());
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    if archive.len() > MAX_ENTRIES {
        return Err(Unreadable::TooLarge(format!(
            "the workbook holds more than {MAX_ENTRIES} parts"
        )));
    }
    let mut has_workbook = false;
    let mut budget = MAX_UNPACKED_BYTES;
    for index in 0..archive.len() {
        {
            let raw = archive.by_index_raw(index).map_err(damaged)?;
            if raw.encrypted() {
                return Err(Unreadable::Encrypted);
            }
            if raw.size() > budget {
                return Err(too_large());
            }
            has_workbook |= raw.name().is_ok_and(|name| name == "xl/workbook.xml");
        }
        let entry = archive.by_index(index).map_err(damaged)?;
        let unpacked =
            std::io::copy(&mut entry.take(budget + 1), &mut std::io::sink()).map_err(|_| {
                Unreadable::NotWorkbook("the workbook is damaged: a part does not unpack".into())
            })?;
        if unpacked > budget {
            return Err(too_large());
        }
        budget -= unpacked;
    }
    if !has_workbook {
        return Err(Unreadable::NotWorkbook(
            "this zip archive is not an Excel workbook (.xlsx)".into(),
        ));
    }
    Ok(())
}

fn too_large() -> Unreadable {
    Unreadable::TooLarge(format!(
        "the workbook unpacks to more than {} MB: a filled ledger is far smaller",
        MAX_UNPACKED_BYTES / (1024 * 1024)
    ))
}

/// A cell's text as the cadre sees it.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(n) => n.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => text::yes_no(*b).to_owned(),
        DataRef::DateTime(dt) => dt
            .as_datetime()
            .map(|at| at.date().format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

/// The cells of the workbook's 附件2 sheet: the first sheet with the
/// form's header row, else the first sheet.
fn cells(bytes: &[u8]) -> Result<BTreeMap<(u32, u32), String>, Unreadable> {
    let damaged =
        |what: String| Unreadable::NotWorkbook(format!("the workbook cannot be read: {what}"));
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| damaged(e.to_string()))?;
    let names = workbook.sheet_names();
    let mut first = None;
    for name in names {
        let mut reader = workbook
            .worksheet_cells_reader(&name)
            .map_err(|e| damaged(e.to_string()))?;
        let mut cells = BTreeMap::new();
        while let Some(cell) = reader.next_cell().map_err(|e| damaged(e.to_string()))? {
            let (row, col) = cell.get_position();
            if col > MAX_COLUMN || row >= EXCEL_ROWS {
                continue;
            }
            let value = cell_text(cell.get_value());
            if value.trim().is_empty() {
                continue;
            }
            if cells.len() >= MAX_CELLS {
                return Err(Unreadable::TooLarge(format!(
                    "the sheet {name:?} holds more than {MAX_CELLS} cells"
                )));
            }
            cells.insert((row, col), value);
        }
        if header_row(&cells).is_some() {
            return Ok(cells);
        }
        first.get_or_insert(cells);
    }
    Ok(first.unwrap_or_default())
}

/// The header row and the column of each of the eleven headers.
fn header_row(cells: &BTreeMap<(u32, u32), String>) -> Option<(u32, [u32; 11])> {
    let key = fingerprint(LEDGER_HEADERS[5]);
    let (&(row, _), _) = cells
        .iter()
        .take_while(|((row, _), _)| *row < 50)
        .find(|(_, value)| fingerprint(value) == key)?;
    let mut columns = [u32::MAX; 11];
    for ((_, col), value) in cells.range((row, 0)..(row + 1, 0)) {
        let print = fingerprint(value);
        if let Some(index) = LEDGER_HEADERS.iter().position(|h| fingerprint(h) == print) {
            columns[index] = *col;
        }
    }
    Some((row, columns))
}

/// A problem of the ledger: its seq and title.
#[derive(Debug, Clone)]
pub struct KnownProblem {
    /// 序号1 in the notice.
    pub seq: u32,
    /// 具体问题, as the notice words it.
    pub title: String,
}

/// What a filled 附件2 says.
#[derive(Debug, Clone, Default)]
pub struct Filled {
    /// The rows that answer problems, in sheet order.
    pub rows: Vec<FilledRow>,
    /// Every cell fault found.
    pub faults: Vec<CellFault>,
    /// Where each of the eleven headers stands (0-based columns), so that a
    /// fault found later can name the column as this sheet has it.
    pub columns: [u32; 11],
}

/// Reads the filled rows of a 附件2 workbook (after [`check_archive`]).
/// `Err` when the file is not a readable workbook.
pub fn read_ledger(
    bytes: &[u8],
    problems: &[KnownProblem],
    issued_on: NaiveDate,
) -> Result<Filled, Unreadable> {
    let cells = cells(bytes)?;
    let mut faults = Vec::new();
    let standard: [u32; 11] = std::array::from_fn(|i| i as u32);
    let Some((header, columns)) = header_row(&cells) else {
        faults.push(CellFault {
            row: 0,
            column: String::new(),
            reason: format!(
                "no header row of 附件2 found: the sheet needs the columns {}",
                LEDGER_HEADERS.join("、")
            ),
        });
        return Ok(Filled {
            rows: Vec::new(),
            faults,
            columns: standard,
        });
    };
    let missing: Vec<&str> = LEDGER_HEADERS
        .iter()
        .zip(columns)
        .filter(|(_, col)| *col == u32::MAX)
        .map(|(header, _)| *header)
        .collect();
    if !missing.is_empty() {
        faults.push(CellFault {
            row: header + 1,
            column: String::new(),
            reason: format!("the header row lacks the columns {}", missing.join("、")),
        });
        return Ok(Filled {
            rows: Vec::new(),
            faults,
            columns: standard,
        });
    }
    let [
        _,
        _,
        problem_col,
        _,
        seq_col,
        description_col,
        measures_col,
        deadline_col,
        responsible_col,
        result_col,
        written_off_col,
    ] = columns;
    // The rows that hold a cell, never every number up to the last: an
    // empty row says nothing, and the file says how far apart rows are.
    let below: BTreeSet<u32> = cells
        .range((header + 1, 0)..)
        .map(|(&(row, _), _)| row)
        .collect();
    let mut rows = Vec::new();
    let mut current: Option<u32> = None;
    for row in below {
        let get = |col: u32| cells.get(&(row, col)).map(|s| s.trim()).unwrap_or_default();
        let shown = row + 1;
        let mut fault = |col: u32, reason: String| {
            faults.push(CellFault {
                row: shown,
                column: column_letter(col),
                reason,
            })
        };
        let problem_cell = get(problem_col);
        if !problem_cell.is_empty() {
            current = match match_problem(problem_cell, problems) {
                Ok(seq) => Some(seq),
                Err(reason) => {
                    fault(problem_col, reason);
                    None
                }
            };
        }
        let filled = [
            description_col,
            measures_col,
            deadline_col,
            responsible_col,
            result_col,
        ];
        if filled.iter().all(|col| get(*col).is_empty()) {
            continue;
        }
        let Some(problem_seq) = current else {
            if problem_cell.is_empty() {
                fault(
                    description_col,
                    "this row belongs to no problem: 具体问题 above it is empty or not one of the notice's".into(),
                );
            }
            continue;
        };
        let mut filled = FilledRow {
            row: shown,
            problem_seq,
            ..FilledRow::default()
        };
        let seq_text = get(seq_col);
        if !seq_text.is_empty() {
            match text::parse_number(seq_text) {
                Some(n) => filled.finding_seq = Some(n),
                None => fault(seq_col, format!("序号2 {seq_text:?} is not a number")),
            }
        }
        let description = get(description_col);
        if text::says_no_findings(description) {
            filled.no_findings = true;
            filled.note = get(measures_col).to_owned();
            rows.push(filled);
            continue;
        }
        filled.description = description
            .split('\n')
            .filter(|line| !line.trim_start().starts_with(HOUSEHOLDS_PREFIX))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned();
        filled.measures = get(measures_col).to_owned();
        match text::parse_deadline(get(deadline_col), issued_on) {
            Ok(deadline) => {
                filled.kind = deadline.kind.to_owned();
                filled.due_on = deadline
                    .due_on
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
            }
            Err(reason) => fault(deadline_col, format!("整改时限: {reason}")),
        }
        filled.responsible = get(responsible_col).to_owned();
        filled.result = get(result_col).to_owned();
        filled.written_off = match fingerprint(get(written_off_col)).as_str() {
            "" => None,
            "是" => Some(true),
            "否" => Some(false),
            other => {
                fault(
                    written_off_col,
                    format!("是否销号 is 是 or 否, not {other:?}"),
                );
                None
            }
        };
        rows.push(filled);
    }
    Ok(Filled {
        rows,
        faults,
        columns,
    })
}

/// The problem a 具体问题 cell names: by its number, checked against its
/// title; by its title when it has no number.
pub fn match_problem(cell: &str, problems: &[KnownProblem]) -> Result<u32, String> {
    let (number, title) = text::parse_problem(cell);
    let titled = |p: &&KnownProblem| {
        let own = fingerprint(&p.title);
        !title.is_empty() && (own == title || own.starts_with(&title) || title.starts_with(&own))
    };
    match number {
        Some(n) => match problems.iter().find(|p| p.seq == n) {
            Some(p) if title.is_empty() || titled(&p) => Ok(n),
            Some(p) => Err(format!(
                "具体问题 {cell:?}: problem {n} of this notice is {:?}",
                text::problem_text(p.seq, &p.title)
            )),
            None => Err(format!("具体问题 {cell:?}: the notice has no problem {n}")),
        },
        None => problems
            .iter()
            .find(titled)
            .map(|p| p.seq)
            .ok_or_else(|| format!("具体问题 {cell:?} is not one of the notice's problems")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_judged_before_they_are_parsed() {
        assert!(matches!(
            check_archive(b"hello"),
            Err(Unreadable::NotWorkbook(_))
        ));
        assert!(matches!(
            check_archive(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 plain old xls"),
            Err(Unreadable::NotWorkbook(reason)) if reason.contains(".xls")
        ));
        let mut encrypted = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1....".to_vec();
        encrypted.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(check_archive(&encrypted), Err(Unreadable::Encrypted));
        assert!(matches!(
            check_archive(b"PK\x03\x04 broken"),
            Err(Unreadable::NotWorkbook(_))
        ));
    }

    /// A workbook of one sheet as a program other than Excel may write it:
    /// the fewest parts calamine reads, inline strings.
    fn workbook(rows: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write as _;
        let cells: String = rows
            .iter()
            .map(|(at, text)| {
                format!(
                    r#"<row r="{row}"><c r="{at}" t="inlineStr"><is><t>{text}</t></is></c></row>"#,
                    row = at.trim_start_matches(|c: char| c.is_ascii_alphabetic())
                )
            })
            .collect();
        let parts = [
            (
                "_rels/.rels",
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
            ),
            (
                "xl/workbook.xml",
                r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="附件2" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned(),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned(),
            ),
            (
                "xl/worksheets/sheet1.xml",
                format!(r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>"#),
            ),
        ];
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in parts {
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_cell_far_below_the_form_costs_nothing() {
        // calamine reads r="G4294967295" as row 4294967294, and a release
        // build wraps a longer number to anything up to that: the reader
        // must not walk every row in between (it did: minutes of CPU for a
        // file of a few hundred bytes).
        let mut rows: Vec<(String, &str)> = LEDGER_HEADERS
            .iter()
            .enumerate()
            .map(|(col, header)| (format!("{}3", column_letter(col as u32)), *header))
            .collect();
        rows.extend([
            ("C4".to_owned(), "1. 干部业务能力和责任意识还需加强。"),
            ("F4".to_owned(), "村干部政策不熟"),
            ("H4".to_owned(), "2023年7月20日"),
            ("F4294967295".to_owned(), "远处的一格"),
        ]);
        let rows: Vec<(&str, &str)> = rows.iter().map(|(at, text)| (at.as_str(), *text)).collect();
        let bytes = workbook(&rows);
        assert_eq!(check_archive(&bytes), Ok(()));
        let problems = vec![KnownProblem {
            seq: 1,
            title: "干部业务能力和责任意识还需加强".into(),
        }];
        let issued_on = NaiveDate::from_ymd_opt(2023, 6, 26).unwrap();
        let (done, read) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(read_ledger(&bytes, &problems, issued_on)));
        let filled = read
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("read within 10 s")
            .unwrap();
        assert_eq!(filled.rows.len(), 1, "{filled:?}");
        assert_eq!(filled.rows[0].due_on, "2023-07-20");
        // Excel has 1,048,576 rows: a cell past them is not the form's.
        assert!(filled.faults.is_empty(), "{:?}", filled.faults);
    }

    #[test]
    fn columns_have_letters() {
        let letters: Vec<String> = [0, 10, 25, 26, 27].map(column_letter).to_vec();
        assert_eq!(letters, ["A", "K", "Z", "AA", "AB"]);
    }

    #[test]
    fn problems_match_by_number_and_title() {
        let problems = vec![
            KnownProblem {
                seq: 1,
                title: "干部业务能力和责任意识还需加强".into(),
            },
            KnownProblem {
                seq: 2,
                title: "个别帮扶人员或部门工作作风不实，存在懈怠问题".into(),
            },
        ];
        assert_eq!(
            match_problem("1. 干部业务能力和责任意识还需加强。", &problems),
            Ok(1)
        );
        assert_eq!(
            match_problem(
                "２．个别帮扶人员或部门工作作风不实，\n存在懈怠问题。",
                &problems
            ),
            Ok(2)
        );
        assert_eq!(
            match_problem("个别帮扶人员或部门工作作风不实", &problems),
            Ok(2)
        );
        assert!(match_problem("1. 个别帮扶人员或部门工作作风不实", &problems).is_err());
        assert!(match_problem("9. 不存在", &problems).is_err());
    }
}
