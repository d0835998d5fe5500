//! Every reader of the forms' words over any text: dates however typed
//! (7月20日, 2023.7.20, ２０２３年７月２０日, 20230720), 整改时限 cells
//! (立行立改, 长期整改 and their dates), numbers, 具体问题 cells and their
//! matching to the notice, 经排查，无此类问题, notice titles, sheet names.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use zhenggai_forms::read::match_problem;
use zhenggai_forms::text::{
    self, chinese_numeral, deadline_text, fingerprint, half_width, parse_deadline, parse_number,
    parse_problem, problem_text,
};
use zhenggai_forms::{Notice, sheet_name};

fuzz_target!(|text: &str| {
    let width = half_width(text);
    assert_eq!(half_width(&width), width, "half_width is idempotent");
    let print = fingerprint(text);
    assert!(print.chars().all(char::is_alphanumeric));
    assert_eq!(fingerprint(&print), print);
    text::says_no_findings(text);

    for reference in [
        zhenggai_fuzz::issued_on(),
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2100, 12, 31).unwrap(),
    ] {
        text::find_date(text, reference);
        if let Ok(deadline) = parse_deadline(text, reference) {
            assert!(["immediate", "deadline", "long_term"].contains(&deadline.kind));
            // What is read is written back the same way, and read again the same.
            let written = deadline_text(deadline.kind, deadline.due_on);
            assert_eq!(
                parse_deadline(&written, reference),
                Ok(deadline.clone()),
                "{written:?}"
            );
        }
    }

    if let Some(n) = parse_number(text) {
        assert_eq!(parse_number(&n.to_string()), Some(n));
        assert!(!chinese_numeral(n).is_empty());
    }
    let (number, title) = parse_problem(text);
    assert_eq!(fingerprint(&title), title);
    for n in [1, u32::MAX].into_iter().chain(number) {
        assert_eq!(
            parse_problem(&problem_text(n, text)),
            (Some(n), print.clone())
        );
    }
    if let Ok(seq) = match_problem(text, &zhenggai_fuzz::known_problems()) {
        assert!(zhenggai_fuzz::PROBLEMS.iter().any(|p| p.0 == seq));
    }

    let subject = Notice::new(text, zhenggai_fuzz::issued_on()).subject;
    assert!(text.contains(&subject));

    let mut taken = Default::default();
    let first = sheet_name(text, &mut taken);
    let second = sheet_name(text, &mut taken);
    for name in [&first, &second] {
        assert!((1..=31).contains(&name.chars().count()), "{name:?}");
        assert!(
            !name.contains(['[', ']', ':', '*', '?', '/', '\\']),
            "{name:?}"
        );
    }
    assert_ne!(first.to_lowercase(), second.to_lowercase());
});
