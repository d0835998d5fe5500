//! The two tables of the founding notice as printable worksheets: 附件2 (the
//! ledger every township and village fills in) and 附件1 (the city ledger,
//! one row per problem). Built cell by cell, merges included, to print on A3
//! landscape like the paper: borders, wrapping, the header row repeated on
//! every page, fitted to the page width.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Worksheet, XlsxError};

use super::text::{NO_FINDINGS, chinese_numeral, problem_text, yes_no};
use super::{Answer, LedgerSheet, Notice, ProblemRow};

/// The column headers of 附件2, as the notice has them.
pub const LEDGER_HEADERS: [&str; 11] = [
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
/// Column widths of 附件2 (characters).
const LEDGER_WIDTHS: [f64; 11] = [6.0, 8.0, 22.0, 40.0, 6.0, 32.0, 32.0, 14.0, 14.0, 24.0, 8.0];

/// The column headers of 附件1.
pub const SUMMARY_HEADERS: [&str; 8] = [
    "序号",
    "方面",
    "具体问题",
    "问题表现",
    "整改措施简述",
    "整改时限",
    "责任单位",
    "整改结果",
];
const SUMMARY_WIDTHS: [f64; 8] = [6.0, 10.0, 22.0, 36.0, 60.0, 16.0, 22.0, 40.0];

/// The row of the column headers (0-based); data starts below it.
pub const HEADER_ROW: u32 = 2;
/// The template's numbered 序号2 rows per problem.
pub const TEMPLATE_ROWS: u32 = 3;
/// A3 in Excel's paper codes.
const PAPER_A3: u8 = 8;
/// Points per printed line of 11-point text.
const LINE_POINTS: f64 = 14.5;

struct Formats {
    label: Format,
    title: Format,
    header: Format,
    center: Format,
    text: Format,
}

impl Formats {
    fn new() -> Self {
        let base = Format::new().set_font_name("宋体").set_font_size(11);
        let cell = base
            .clone()
            .set_border(FormatBorder::Thin)
            .set_text_wrap()
            .set_align(FormatAlign::VerticalCenter);
        Self {
            label: base.clone().set_font_name("黑体").set_font_size(14),
            title: base
                .clone()
                .set_bold()
                .set_font_size(18)
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            header: cell.clone().set_bold().set_align(FormatAlign::Center),
            center: cell.clone().set_align(FormatAlign::Center),
            text: cell.set_align(FormatAlign::Left),
        }
    }
}

/// Lines a text needs in a column `width` characters wide (a Chinese
/// character takes two).
fn lines(text: &str, width: f64) -> f64 {
    let per_line = (width - 1.0).max(2.0);
    text.split('\n')
        .map(|line| {
            let units: usize = line.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
            (units as f64 / per_line).ceil().max(1.0)
        })
        .sum()
}

/// Writes `text` over rows `first..=last` of `col`, merged when that spans
/// more than one row.
fn block(
    sheet: &mut Worksheet,
    (first, last): (u32, u32),
    col: u16,
    text: &str,
    format: &Format,
) -> Result<(), XlsxError> {
    if first == last {
        sheet.write_string_with_format(first, col, text, format)?;
    } else {
        sheet.merge_range(first, col, last, col, text, format)?;
    }
    Ok(())
}

/// An aspect's (方面) two merged cells beside its problems' rows: its
/// numeral (一, 二, …) and its name, in both forms.
fn aspect_block(
    sheet: &mut Worksheet,
    span: (u32, u32),
    seq: u32,
    name: &str,
    formats: &Formats,
) -> Result<(), XlsxError> {
    block(sheet, span, 0, &chinese_numeral(seq), &formats.center)?;
    block(sheet, span, 1, name, &formats.center)
}

/// Page setup and the title rows shared by both forms.
fn page(
    sheet: &mut Worksheet,
    label: &str,
    title: &str,
    headers: &[&str],
    widths: &[f64],
    formats: &Formats,
) -> Result<(), XlsxError> {
    let last_col = (headers.len() - 1) as u16;
    sheet
        .set_paper_size(PAPER_A3)
        .set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_print_center_horizontally(true)
        .set_margins(0.5, 0.5, 0.6, 0.6, 0.3, 0.3)
        .set_footer("&C第 &P 页，共 &N 页");
    sheet.set_repeat_rows(HEADER_ROW, HEADER_ROW)?;
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, *width)?;
    }
    sheet.write_string_with_format(0, 0, label, &formats.label)?;
    sheet.merge_range(1, 0, 1, last_col, title, &formats.title)?;
    sheet.set_row_height(1, 54)?;
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(HEADER_ROW, col as u16, *header, &formats.header)?;
    }
    sheet.set_row_height(HEADER_ROW, 36)?;
    Ok(())
}

/// The rows of each aspect (方面) in problem order: (aspect seq, name,
/// first problem index, problem count).
fn aspects(problems: &[ProblemRow]) -> Vec<(u32, &str, usize, usize)> {
    let mut groups: Vec<(u32, &str, usize, usize)> = Vec::new();
    for (index, problem) in problems.iter().enumerate() {
        match groups.last_mut() {
            Some(group) if group.0 == problem.aspect_seq => group.3 += 1,
            _ => groups.push((problem.aspect_seq, problem.aspect_short(), index, 1)),
        }
    }
    groups
}

/// Writes 附件2 for one unit: every problem with at least the template's
/// three numbered rows, findings filled in, aspects and problems merged
/// down their rows. An unanswered ledger is the blank template.
pub fn write_ledger(
    sheet: &mut Worksheet,
    notice: &Notice,
    problems: &[ProblemRow],
    ledger: &LedgerSheet,
) -> Result<(), XlsxError> {
    let formats = Formats::new();
    let title = format!("{}关于{}对照整改台账", ledger.unit_title, notice.subject);
    page(
        sheet,
        "附件2",
        &title,
        &LEDGER_HEADERS,
        &LEDGER_WIDTHS,
        &formats,
    )?;
    let mut row = HEADER_ROW + 1;
    for (aspect_seq, aspect_name, first, count) in aspects(problems) {
        let aspect_first = row;
        for problem in &problems[first..first + count] {
            let answer = ledger
                .answers
                .get(&problem.seq)
                .unwrap_or(&Answer::Unanswered);
            let findings = match answer {
                Answer::Findings(findings) => findings.as_slice(),
                _ => &[],
            };
            let rows = (findings.len() as u32).max(TEMPLATE_ROWS);
            let span = (row, row + rows - 1);
            let title = problem_text(problem.seq, &problem.title);
            block(sheet, span, 2, &title, &formats.text)?;
            block(sheet, span, 3, &problem.manifestation, &formats.text)?;
            let merged_lines = lines(&title, LEDGER_WIDTHS[2])
                .max(lines(&problem.manifestation, LEDGER_WIDTHS[3]));
            for slot in 0..rows {
                let r = row + slot;
                let finding = findings.get(slot as usize);
                // Blank slots go on numbering after the last finding.
                let next = findings.last().map(|f| f.seq + 1).unwrap_or(1);
                let seq = finding
                    .map(|f| f.seq)
                    .unwrap_or(next + slot - findings.len() as u32);
                sheet.write_number_with_format(r, 4, f64::from(seq), &formats.center)?;
                let cells: [String; 6] = match (finding, answer) {
                    (Some(f), _) => [
                        f.description.clone(),
                        f.measures.clone(),
                        f.deadline.clone(),
                        f.responsible.clone(),
                        f.result.clone(),
                        yes_no(f.written_off).to_owned(),
                    ],
                    (None, Answer::NoFindings(note)) if slot == 0 => [
                        NO_FINDINGS.to_owned(),
                        note.clone(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ],
                    _ => Default::default(),
                };
                let mut needed: f64 = 1.0;
                for (offset, value) in cells.iter().enumerate() {
                    let col = 5 + offset as u16;
                    let format = if col >= 7 && col != 9 {
                        &formats.center
                    } else {
                        &formats.text
                    };
                    if value.is_empty() {
                        sheet.write_blank(r, col, format)?;
                    } else {
                        sheet.write_string_with_format(r, col, value, format)?;
                        needed = needed.max(lines(value, LEDGER_WIDTHS[col as usize]));
                    }
                }
                let share = merged_lines / f64::from(rows);
                sheet.set_row_height(r, (needed.max(share) * LINE_POINTS).clamp(28.0, 409.0))?;
            }
            row += rows;
        }
        aspect_block(
            sheet,
            (aspect_first, row - 1),
            aspect_seq,
            aspect_name,
            &formats,
        )?;
    }
    Ok(())
}

/// Writes 附件1 for an area: one row per problem, 整改结果 as given.
pub fn write_summary(
    sheet: &mut Worksheet,
    notice: &Notice,
    unit_title: &str,
    problems: &[ProblemRow],
    results: &std::collections::HashMap<u32, String>,
) -> Result<(), XlsxError> {
    let formats = Formats::new();
    let title = format!("{unit_title}关于{}整改台账", notice.subject);
    page(
        sheet,
        "附件1",
        &title,
        &SUMMARY_HEADERS,
        &SUMMARY_WIDTHS,
        &formats,
    )?;
    let mut row = HEADER_ROW + 1;
    for (aspect_seq, _, first, count) in aspects(problems) {
        let aspect_first = row;
        for problem in &problems[first..first + count] {
            let measures = problem.measures.join("\n");
            let result = results
                .get(&problem.seq)
                .map(String::as_str)
                .unwrap_or_default();
            let cells = [
                problem_text(problem.seq, &problem.title),
                problem.manifestation.clone(),
                measures,
                problem.deadline.clone(),
                problem.responsible.clone(),
                result.to_owned(),
            ];
            let mut needed: f64 = 1.0;
            for (offset, value) in cells.iter().enumerate() {
                let col = 2 + offset as u16;
                let format = if col == 5 {
                    &formats.center
                } else {
                    &formats.text
                };
                sheet.write_string_with_format(row, col, value, format)?;
                needed = needed.max(lines(value, SUMMARY_WIDTHS[col as usize]));
            }
            sheet.set_row_height(row, (needed * LINE_POINTS).clamp(28.0, 409.0))?;
            row += 1;
        }
        let aspect_name = &problems[first].aspect_name;
        aspect_block(
            sheet,
            (aspect_first, row - 1),
            aspect_seq,
            aspect_name,
            &formats,
        )?;
    }
    Ok(())
}
