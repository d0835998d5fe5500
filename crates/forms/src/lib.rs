//! Excel exchange (表格交换): the founding notice's two tables as workbooks,
//! both ways. [`layout`] writes 附件2 (a unit's ledger) and 附件1 (the city
//! ledger); [`read`] takes a filled 附件2 back, however it was typed; [`text`]
//! holds the words both share. No axum, tonic or database here, only these
//! plain types: the gateway's handlers (`api::forms`) convert the services'
//! answers into them and back, and the fuzz targets (`fuzz/`) feed the
//! readers hostile input directly.

#![warn(missing_docs)]

pub mod layout;
pub mod read;
pub mod text;

use std::collections::HashMap;

use chrono::NaiveDate;

/// What the notice contributes to every form.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The subject in the titles: 国家、省2022年度…考核评估反馈问题.
    pub subject: String,
    /// The notice's date: dates typed without a year fall on or after it.
    pub issued_on: NaiveDate,
}

impl Notice {
    /// The subject is what the notice's title quotes (《…》), without its
    /// closing 对照整改方案 / 整改方案; the whole title when it quotes
    /// nothing.
    pub fn new(title: &str, issued_on: NaiveDate) -> Self {
        let quoted = title
            .split_once('《')
            .and_then(|(_, rest)| rest.split_once('》'))
            .map(|(inner, _)| inner)
            .unwrap_or(title);
        let subject = ["对照整改方案", "整改方案", "方案"]
            .iter()
            .find_map(|suffix| quoted.strip_suffix(suffix))
            .unwrap_or(quoted)
            .trim()
            .to_owned();
        Self { subject, issued_on }
    }
}

/// A problem of the notice as the forms show it.
#[derive(Debug, Clone)]
pub struct ProblemRow {
    /// 序号1: the problem's number in the notice.
    pub seq: u32,
    /// The number of its aspect (方面).
    pub aspect_seq: u32,
    /// As the notice names it (责任落实方面).
    pub aspect_name: String,
    /// 具体问题.
    pub title: String,
    /// 问题表现 (household names masked as the catalogue masks them).
    pub manifestation: String,
    /// 整改措施, one entry per measure.
    pub measures: Vec<String>,
    /// 整改时限 as 附件1 words it.
    pub deadline: String,
    /// 责任单位 as the notice words it.
    pub responsible: String,
}

impl ProblemRow {
    /// The aspect as 附件2 prints it: 责任落实, without 方面.
    pub fn aspect_short(&self) -> &str {
        self.aspect_name
            .strip_suffix("方面")
            .unwrap_or(&self.aspect_name)
    }
}

/// A finding as a 序号2 row of 附件2.
#[derive(Debug, Clone, Default)]
pub struct FindingRow {
    /// 序号2: the finding's number within its problem.
    pub seq: u32,
    /// 对照排查发现具体问题描述, with the households it names on a last line.
    pub description: String,
    /// 对照排查发现问题整改措施.
    pub measures: String,
    /// 整改时限: a date, or 立行立改 / 长期整改 with its date.
    pub deadline: String,
    /// 责任单位.
    pub responsible: String,
    /// 整改结果.
    pub result: String,
    /// 是否销号
    pub written_off: bool,
}

/// How a unit answered one problem.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Not answered yet: the template's blank rows.
    Unanswered,
    /// 经排查，无此类问题, with what was checked.
    NoFindings(String),
    /// Its findings, in 序号2 order.
    Findings(Vec<FindingRow>),
}

/// One unit's 附件2.
#[derive(Debug, Clone)]
pub struct LedgerSheet {
    /// The unit as the title names it: 浅井镇土门口村, 浅井镇, 市农业农村局.
    pub unit_title: String,
    /// By problem seq.
    pub answers: HashMap<u32, Answer>,
}

/// The line that names a finding's households under its description
/// (涉及农户：…); an import leaves it out, since households are kept
/// through the API, not the form.
pub const HOUSEHOLDS_PREFIX: &str = "涉及农户：";

/// A sheet name Excel accepts: at most 31 characters, none of []:*?/\,
/// unique in the workbook (a suffix （2）, （3）… when taken).
pub fn sheet_name(wanted: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let clean: String = wanted
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .collect();
    let clean = clean.trim_matches('\'').trim();
    let clean = if clean.is_empty() { "Sheet" } else { clean };
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("（{n}）")
        };
        let room = 31 - suffix.chars().count();
        let name: String = clean.chars().take(room).collect::<String>() + &suffix;
        if taken.insert(name.to_lowercase()) {
            return name;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_comes_from_the_notice_title() {
        let notice = Notice::new(
            "关于印发《国家、省2022年度巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题对照整改方案》的通知",
            NaiveDate::from_ymd_opt(2023, 6, 26).unwrap(),
        );
        assert_eq!(
            notice.subject,
            "国家、省2022年度巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题"
        );
    }

    #[test]
    fn sheet_names_are_short_clean_and_unique() {
        let mut taken = Default::default();
        assert_eq!(sheet_name("土门口村", &mut taken), "土门口村");
        assert_eq!(sheet_name("土门口村", &mut taken), "土门口村（2）");
        assert_eq!(sheet_name("a/b:c", &mut taken), "abc");
        let long = "长".repeat(40);
        assert_eq!(sheet_name(&long, &mut taken).chars().count(), 31);
    }
}
