//! Importing a filled 附件2 workbook: which rows create, change or leave a
//! finding, and which declare a problem free of findings. The whole import
//! is planned before anything is written, so a single bad row stops it all.

use std::collections::{HashMap, HashSet};

use super::SectionState;
use super::finding::{self, FindingDraft, FindingFields, FindingKind, FindingState};
use super::household::Household;

/// The highest 序号2 a row may carry.
pub const MAX_FINDING_SEQ: i32 = 9_999;

/// A row of the sheet as the reader understood it.
#[derive(Debug, Clone, Default)]
pub struct ImportRow {
    /// The row's number in the sheet.
    pub row: u32,
    pub problem_seq: i16,
    /// 序号2 as written.
    pub finding_seq: Option<i32>,
    /// The row says 经排查，无此类问题.
    pub no_findings: bool,
    pub note: String,
    /// Everything but the households, which are not on the form.
    pub draft: FindingDraft,
}

/// A fault of one row, in the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFault {
    pub row: u32,
    /// description | measures | due_on | kind | responsible | result |
    /// finding_seq | no_findings | problem
    pub field: &'static str,
    pub reason: String,
}

/// A section as it stands.
#[derive(Debug, Clone)]
pub struct SectionFacts {
    pub problem_seq: i16,
    pub state: SectionState,
}

/// A finding as it stands.
#[derive(Debug, Clone)]
pub struct FindingFacts {
    pub id: uuid::Uuid,
    pub problem_seq: i16,
    pub seq: i32,
    pub state: FindingState,
    pub fields: FindingFields,
}

/// One thing the import does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Create {
        row: u32,
        problem_seq: i16,
        seq: i32,
        fields: FindingFields,
    },
    Update {
        row: u32,
        id: uuid::Uuid,
        fields: FindingFields,
    },
    DeclareNoFindings {
        row: u32,
        problem_seq: i16,
        note: String,
    },
    /// The row says what is stored already.
    Unchanged { row: u32 },
}

/// Validates a row's fields, each fault in its own field.
fn fields_of(
    row: &ImportRow,
    households: Vec<Household>,
    faults: &mut Vec<RowFault>,
) -> Option<FindingFields> {
    let mut any = false;
    let mut field = |name: &'static str, check: &mut dyn FnMut(&mut Vec<String>)| {
        let mut found = Vec::new();
        check(&mut found);
        for reason in found {
            any = true;
            faults.push(RowFault {
                row: row.row,
                field: name,
                reason,
            });
        }
    };
    let draft = &row.draft;
    let mut description = String::new();
    let mut measures = String::new();
    let mut due_on = None;
    let mut kind = FindingKind::Deadline;
    let mut responsible = String::new();
    let mut result = String::new();
    field("description", &mut |f| {
        description = finding::text("对照排查发现具体问题描述", &draft.description, true, f)
    });
    field("measures", &mut |f| {
        measures = finding::text("对照排查发现问题整改措施", &draft.measures, true, f)
    });
    field("kind", &mut |f| kind = finding::kind(&draft.kind, f));
    field("due_on", &mut |f| {
        due_on = finding::date("整改时限", &draft.due_on, f)
    });
    field("responsible", &mut |f| {
        responsible = finding::text("责任单位", &draft.responsible, true, f)
    });
    field("result", &mut |f| {
        result = finding::text("整改结果", &draft.result, false, f)
    });
    if any {
        return None;
    }
    if due_on.is_none() && kind != FindingKind::LongTerm {
        faults.push(RowFault {
            row: row.row,
            field: "due_on",
            reason: "整改时限: a date is needed unless the finding is 长期整改".into(),
        });
        return None;
    }
    Some(FindingFields {
        description,
        measures,
        due_on,
        kind,
        responsible,
        result,
        standing_mechanism: String::new(),
        households,
    })
}

/// Plans the import of `rows` into a ledger whose sections and findings are
/// as given: every step, or every fault.
pub fn plan(
    rows: &[ImportRow],
    sections: &[SectionFacts],
    findings: &[FindingFacts],
) -> Result<Vec<Step>, Vec<RowFault>> {
    let mut faults = Vec::new();
    let section_state: HashMap<i16, SectionState> =
        sections.iter().map(|s| (s.problem_seq, s.state)).collect();
    let mut next_seq: HashMap<i16, i32> = HashMap::new();
    for f in findings {
        let next = next_seq.entry(f.problem_seq).or_insert(1);
        *next = (*next).max(f.seq + 1);
    }
    for row in rows {
        if let Some(seq) = row.finding_seq
            && !row.no_findings
        {
            let next = next_seq.entry(row.problem_seq).or_insert(1);
            *next = (*next).max(seq + 1);
        }
    }
    let by_seq: HashMap<(i16, i32), &FindingFacts> = findings
        .iter()
        .map(|f| ((f.problem_seq, f.seq), f))
        .collect();
    let with_finding_rows: HashSet<i16> = rows
        .iter()
        .filter(|r| !r.no_findings)
        .map(|r| r.problem_seq)
        .collect();
    let mut seen_seq: HashSet<(i16, i32)> = HashSet::new();
    let mut declared: HashSet<i16> = HashSet::new();
    let mut steps = Vec::with_capacity(rows.len());
    for row in rows {
        let fault = |field: &'static str, reason: String| RowFault {
            row: row.row,
            field,
            reason,
        };
        let Some(&state) = section_state.get(&row.problem_seq) else {
            faults.push(fault(
                "problem",
                format!("this ledger has no problem {}", row.problem_seq),
            ));
            continue;
        };
        if row.no_findings {
            if state == SectionState::Findings || with_finding_rows.contains(&row.problem_seq) {
                faults.push(fault(
                    "no_findings",
                    format!(
                        "problem {} has findings: it cannot also be 经排查，无此类问题",
                        row.problem_seq
                    ),
                ));
            } else if state == SectionState::NoFindings || !declared.insert(row.problem_seq) {
                steps.push(Step::Unchanged { row: row.row });
            } else {
                steps.push(Step::DeclareNoFindings {
                    row: row.row,
                    problem_seq: row.problem_seq,
                    note: row.note.trim().to_owned(),
                });
            }
            continue;
        }
        if let Some(seq) = row.finding_seq {
            if !(1..=MAX_FINDING_SEQ).contains(&seq) {
                faults.push(fault(
                    "finding_seq",
                    format!("序号2 {seq} is not between 1 and {MAX_FINDING_SEQ}"),
                ));
                continue;
            }
            if !seen_seq.insert((row.problem_seq, seq)) {
                faults.push(fault(
                    "finding_seq",
                    format!("序号2 {seq} of problem {} appears twice", row.problem_seq),
                ));
                continue;
            }
        }
        let existing = match row.finding_seq {
            Some(seq) => by_seq.get(&(row.problem_seq, seq)).copied(),
            // A row without 序号2 is the finding it repeats word for word.
            None => findings.iter().find(|f| {
                f.problem_seq == row.problem_seq
                    && f.fields.description == row.draft.description.trim()
            }),
        };
        let households = existing
            .map(|f| f.fields.households.clone())
            .unwrap_or_default();
        let Some(mut fields) = fields_of(row, households, &mut faults) else {
            continue;
        };
        match existing {
            Some(f) => {
                fields.standing_mechanism = f.fields.standing_mechanism.clone();
                if fields == f.fields {
                    steps.push(Step::Unchanged { row: row.row });
                } else if !f.state.is_editable() {
                    faults.push(fault(
                        "finding_seq",
                        format!(
                            "finding {} of problem {} is {}: what was submitted stays as it was (a reviewer may reject it back)",
                            f.seq, f.problem_seq, f.state
                        ),
                    ));
                } else {
                    steps.push(Step::Update {
                        row: row.row,
                        id: f.id,
                        fields,
                    });
                }
            }
            None if state == SectionState::NoFindings => faults.push(fault(
                "description",
                format!(
                    "problem {} is declared 经排查，无此类问题: withdraw the declaration before adding findings",
                    row.problem_seq
                ),
            )),
            None => {
                let seq = match row.finding_seq {
                    Some(seq) => seq,
                    None => {
                        let next = next_seq.entry(row.problem_seq).or_insert(1);
                        let seq = *next;
                        *next += 1;
                        seq
                    }
                };
                steps.push(Step::Create {
                    row: row.row,
                    problem_seq: row.problem_seq,
                    seq,
                    fields,
                });
            }
        }
    }
    if faults.is_empty() {
        Ok(steps)
    } else {
        Err(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32, problem: i16, seq: Option<i32>, description: &str) -> ImportRow {
        ImportRow {
            row: n,
            problem_seq: problem,
            finding_seq: seq,
            no_findings: false,
            note: String::new(),
            draft: FindingDraft {
                description: description.into(),
                measures: "入户核实".into(),
                due_on: "2023-07-20".into(),
                kind: "deadline".into(),
                responsible: "村委会".into(),
                ..FindingDraft::default()
            },
        }
    }

    fn sections() -> Vec<SectionFacts> {
        (1..=3)
            .map(|seq| SectionFacts {
                problem_seq: seq,
                state: SectionState::Unanswered,
            })
            .collect()
    }

    fn facts(problem: i16, seq: i32, r: &ImportRow, state: FindingState) -> FindingFacts {
        FindingFacts {
            id: uuid::Uuid::now_v7(),
            problem_seq: problem,
            seq,
            state,
            fields: fields_of(r, Vec::new(), &mut Vec::new()).unwrap(),
        }
    }

    #[test]
    fn new_rows_create_and_the_same_rows_again_change_nothing() {
        let rows = vec![
            row(5, 1, Some(1), "甲"),
            row(6, 1, Some(3), "乙"),
            row(7, 1, None, "丙"),
        ];
        let steps = plan(&rows, &sections(), &[]).unwrap();
        let seqs: Vec<i32> = steps
            .iter()
            .map(|s| match s {
                Step::Create { seq, .. } => *seq,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            seqs,
            [1, 3, 4],
            "written numbers kept, the unnumbered row after them"
        );
        let stored: Vec<FindingFacts> = rows
            .iter()
            .zip(seqs)
            .map(|(r, seq)| facts(1, seq, r, FindingState::Open))
            .collect();
        let again = plan(&rows, &sections(), &stored).unwrap();
        assert!(
            again.iter().all(|s| matches!(s, Step::Unchanged { .. })),
            "{again:?}"
        );
    }

    #[test]
    fn every_bad_row_is_listed_with_its_field() {
        let mut empty = row(4, 1, Some(1), "");
        empty.draft.due_on = String::new();
        let mut long_term = row(5, 2, Some(1), "长期问题");
        long_term.draft.kind = "long_term".into();
        long_term.draft.due_on = String::new();
        let twice = row(6, 2, Some(1), "重复");
        let foreign = row(7, 9, None, "无此问题");
        let faults = plan(&[empty, long_term, twice, foreign], &sections(), &[]).unwrap_err();
        let got: Vec<(u32, &str)> = faults.iter().map(|f| (f.row, f.field)).collect();
        assert_eq!(
            got,
            [(4, "description"), (6, "finding_seq"), (7, "problem")],
            "{faults:?}"
        );
    }

    #[test]
    fn submitted_findings_and_declared_sections_are_guarded() {
        let first = row(4, 1, Some(1), "甲");
        let stored = facts(1, 1, &first, FindingState::Submitted);
        let mut changed = first.clone();
        changed.draft.result = "已整改".into();
        let mut sections = sections();
        sections[0].state = SectionState::Findings;
        sections[1].state = SectionState::NoFindings;
        let unchanged = plan(
            std::slice::from_ref(&first),
            &sections,
            std::slice::from_ref(&stored),
        )
        .unwrap();
        assert_eq!(unchanged, [Step::Unchanged { row: 4 }]);
        let faults = plan(&[changed, row(5, 2, None, "乙")], &sections, &[stored]).unwrap_err();
        assert_eq!(faults.len(), 2, "{faults:?}");
        assert!(faults[0].reason.contains("submitted"));

        let mut none = row(8, 3, None, "");
        none.no_findings = true;
        let mut also = row(9, 3, Some(1), "丙");
        also.no_findings = false;
        let faults = plan(&[none.clone(), also], &sections, &[]).unwrap_err();
        assert_eq!(faults[0].field, "no_findings");
        let declared = plan(&[none], &sections, &[]).unwrap();
        assert!(matches!(
            declared[0],
            Step::DeclareNoFindings { problem_seq: 3, .. }
        ));
    }
}
