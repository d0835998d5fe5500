//! The words of the forms: numerals, deadlines and dates as cadres type them
//! (full-width digits, 7月20日, 2023.7.20), read and written.

use chrono::{Datelike, NaiveDate};

/// 一, 二, … 九十九: the numbering of aspects (方面) on the forms.
pub fn chinese_numeral(n: u32) -> String {
    const DIGITS: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => DIGITS[n as usize].to_owned(),
        10..=19 => format!(
            "十{}",
            if n == 10 {
                ""
            } else {
                DIGITS[(n % 10) as usize]
            }
        ),
        20..=99 => format!(
            "{}十{}",
            DIGITS[(n / 10) as usize],
            if n.is_multiple_of(10) {
                ""
            } else {
                DIGITS[(n % 10) as usize]
            }
        ),
        _ => n.to_string(),
    }
}

/// Full-width digits, letters and punctuation (what Chinese input methods
/// type) as their ASCII forms; the ideographic space as a space.
pub fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// A text reduced to what identifies it: no spaces, no punctuation (either
/// width), no line breaks. Used to match problem titles and fixed phrases.
pub fn fingerprint(text: &str) -> String {
    half_width(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// 经排查，无此类问题: a section answered without findings.
pub const NO_FINDINGS: &str = "经排查，无此类问题";

/// Whether a cell says 经排查，无此类问题 (however punctuated).
pub fn says_no_findings(text: &str) -> bool {
    let print = fingerprint(text);
    print.starts_with("经排查无此类问题") || print == "无此类问题"
}

/// How a date is written on the forms: 2023年7月20日.
pub fn date_text(date: NaiveDate) -> String {
    format!("{}年{}月{}日", date.year(), date.month(), date.day())
}

/// 整改类型 as the 整改时限 column writes it.
pub const IMMEDIATE: &str = "立行立改";
/// 整改时限 of a long-term finding.
pub const LONG_TERM: &str = "长期整改";

/// The 整改时限 cell of a finding: the date (限期整改), or the kind with
/// its date when it has one (立行立改, 长期整改).
pub fn deadline_text(kind: &str, due_on: Option<NaiveDate>) -> String {
    let label = match kind {
        "immediate" => Some(IMMEDIATE),
        "long_term" => Some(LONG_TERM),
        _ => None,
    };
    match (label, due_on) {
        (Some(label), Some(date)) => format!("{label}（{}）", date_text(date)),
        (Some(label), None) => label.to_owned(),
        (None, Some(date)) => date_text(date),
        (None, None) => String::new(),
    }
}

/// A 整改时限 cell read back: the kind (immediate | deadline | long_term)
/// and the date, if one is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// 立行立改, 限期整改 or 长期整改.
    pub kind: &'static str,
    /// The date, when the text names one.
    pub due_on: Option<NaiveDate>,
}

/// Reads a 整改时限 cell. Dates without a year (7月20日) fall on or after
/// `reference` (the notice's date). Errors say what was expected.
pub fn parse_deadline(text: &str, reference: NaiveDate) -> Result<Deadline, String> {
    let text = half_width(text);
    let text = text.trim();
    let kind = if text.contains(IMMEDIATE) {
        "immediate"
    } else if text.contains("长期") || text.contains("持续") {
        "long_term"
    } else {
        "deadline"
    };
    let due_on = find_date(text, reference);
    match (kind, due_on) {
        ("deadline", None) if !text.is_empty() => Err(format!(
            "{text:?} is not a date: write it as 2023年7月20日, 2023.7.20, 2023-07-20 or 7月20日"
        )),
        _ => Ok(Deadline { kind, due_on }),
    }
}

/// The first date written in `text`, in any of the ways cadres write one.
pub fn find_date(text: &str, reference: NaiveDate) -> Option<NaiveDate> {
    let text = half_width(text);
    let numbers = numbers_in(&text);
    // 2023年7月20日, 2023.7.20, 2023-07-20, 2023/7/20
    for window in numbers.windows(3) {
        let [(y, _, after_y), (m, _, after_m), (d, _, _)] = window else {
            continue;
        };
        if (2000..=2100).contains(y)
            && matches!(after_y, '年' | '.' | '-' | '/' | '．')
            && matches!(after_m, '月' | '.' | '-' | '/' | '．')
            && let Some(date) = NaiveDate::from_ymd_opt(*y as i32, *m, *d)
        {
            return Some(date);
        }
    }
    // 7月20日: the first such day on or after the reference.
    for window in numbers.windows(2) {
        let [(m, _, after_m), (d, _, after_d)] = window else {
            continue;
        };
        if *after_m == '月' && matches!(after_d, '日' | '号') {
            for year in [reference.year(), reference.year() + 1] {
                if let Some(date) = NaiveDate::from_ymd_opt(year, *m, *d)
                    && date >= reference
                {
                    return Some(date);
                }
            }
        }
    }
    // 20230720
    numbers.iter().find_map(|(n, digits, _)| {
        (*digits == 8)
            .then(|| NaiveDate::from_ymd_opt((n / 10_000) as i32, (n / 100) % 100, n % 100))
            .flatten()
            .filter(|date| (2000..=2100).contains(&date.year()))
    })
}

/// The runs of ASCII digits in a text: value, digit count, and the
/// character after the run (a space at the end).
fn numbers_in(text: &str) -> Vec<(u32, usize, char)> {
    let mut numbers = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(first) = c.to_digit(10) {
            let mut value = u64::from(first);
            let mut digits = 1;
            while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                value = (value * 10 + u64::from(next)).min(u64::from(u32::MAX));
                digits += 1;
                chars.next();
            }
            let after = chars.peek().copied().unwrap_or(' ');
            numbers.push((value as u32, digits, after));
        }
    }
    numbers
}

/// A whole number typed into a cell (序号2), full-width digits allowed.
pub fn parse_number(text: &str) -> Option<u32> {
    let text = half_width(text);
    let text = text.trim().trim_end_matches('.');
    text.parse().ok()
}

/// 具体问题 as the forms write it: "1. 干部业务能力和责任意识还需加强。".
pub fn problem_text(seq: u32, title: &str) -> String {
    let title = title.trim();
    let ends = title.ends_with(['。', '.', '！', '？']);
    format!("{seq}. {title}{}", if ends { "" } else { "。" })
}

/// Reads 具体问题 back: its number (if the cell starts with one) and the
/// title's fingerprint.
pub fn parse_problem(text: &str) -> (Option<u32>, String) {
    let text = half_width(text);
    let text = text.trim();
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
    let number = digits.parse().ok();
    let rest = &text[digits.len()..];
    (number, fingerprint(rest))
}

/// 是 / 否 of 是否销号.
pub fn yes_no(value: bool) -> &'static str {
    if value { "是" } else { "否" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn numerals_read_like_the_notice() {
        let got: Vec<String> = [1, 4, 10, 12, 20, 35].map(chinese_numeral).to_vec();
        assert_eq!(got, ["一", "四", "十", "十二", "二十", "三十五"]);
    }

    #[test]
    fn dates_are_read_however_they_are_typed() {
        let notice = d(2023, 6, 26);
        for (text, want) in [
            ("2023年7月20日", d(2023, 7, 20)),
            ("２０２３年７月２０日前", d(2023, 7, 20)),
            ("2023.7.20", d(2023, 7, 20)),
            ("2023-07-20", d(2023, 7, 20)),
            ("2023/7/5", d(2023, 7, 5)),
            ("7月20日前取得阶段性成效，持续推进。", d(2023, 7, 20)),
            ("3月1日", d(2024, 3, 1)),
            ("20230720", d(2023, 7, 20)),
        ] {
            assert_eq!(find_date(text, notice), Some(want), "{text}");
        }
        assert_eq!(find_date("2023年2月30日", notice), None);
        assert_eq!(find_date("尽快", notice), None);
    }

    #[test]
    fn deadlines_carry_their_kind() {
        let notice = d(2023, 6, 26);
        let read = |text: &str| parse_deadline(text, notice);
        assert_eq!(
            read("立行立改（2023年7月10日）"),
            Ok(Deadline {
                kind: "immediate",
                due_on: Some(d(2023, 7, 10))
            })
        );
        assert_eq!(
            read("长期整改"),
            Ok(Deadline {
                kind: "long_term",
                due_on: None
            })
        );
        assert_eq!(
            read("7月20日"),
            Ok(Deadline {
                kind: "deadline",
                due_on: Some(d(2023, 7, 20))
            })
        );
        assert!(read("下个月").unwrap_err().contains("not a date"));
        for (kind, due) in [
            ("immediate", Some(d(2023, 7, 10))),
            ("deadline", Some(d(2023, 7, 20))),
            ("long_term", None),
        ] {
            assert_eq!(
                read(&deadline_text(kind, due)),
                Ok(Deadline { kind, due_on: due }),
                "{kind}"
            );
        }
    }

    #[test]
    fn problems_and_phrases_match_whatever_the_punctuation() {
        assert_eq!(
            problem_text(1, "干部业务能力和责任意识还需加强"),
            "1. 干部业务能力和责任意识还需加强。"
        );
        assert_eq!(
            parse_problem("１．干部业务能力和责任 意识还需加强"),
            (Some(1), "干部业务能力和责任意识还需加强".into())
        );
        assert!(says_no_findings("经排查,无此类问题。"));
        assert!(says_no_findings(NO_FINDINGS));
        assert!(!says_no_findings("经排查发现2户"));
        assert_eq!(parse_number("３"), Some(3));
        assert_eq!(half_width("ＡＢ１２，"), "AB12,");
    }
}
