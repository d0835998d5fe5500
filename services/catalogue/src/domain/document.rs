//! Notices (通知), their aspects (方面), problems (具体问题 and 问题表现),
//! measures (整改措施), responsible units (责任单位) and deadlines (整改时限).

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Deserialize;
use zhenggai_common::UnitCode;
use zhenggai_common::personal::mask_names_in;

/// A notice as a publisher sends it: plain text fields, not yet trusted.
/// The founding notice in `seed/founding_notice.json` has this shape, and so
/// has the body of `POST /api/v1/documents`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentDraft {
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    pub issued_on: String,
    pub area: String,
    #[serde(default)]
    pub editorial_notes: Vec<String>,
    /// Names of households the texts mention, masked for readers without clearance.
    #[serde(default)]
    pub personal_names: Vec<String>,
    pub aspects: Vec<AspectDraft>,
    pub problems: Vec<ProblemDraft>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AspectDraft {
    pub seq: u32,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemDraft {
    pub seq: u32,
    pub aspect_seq: u32,
    pub title: String,
    pub manifestation: String,
    pub measures: Vec<MeasureDraft>,
    pub responsible_units: Vec<ResponsibleDraft>,
    #[serde(default)]
    pub responsible_text: String,
    pub deadline: DeadlineDraft,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureDraft {
    pub seq: u32,
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsibleDraft {
    pub code: String,
    #[serde(default)]
    pub lead: bool,
    #[serde(default)]
    pub scope: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineDraft {
    #[serde(default)]
    pub due_on: String,
    #[serde(default)]
    pub continuing: bool,
}

/// A validated notice, ready to be written whole.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    pub issued_on: NaiveDate,
    pub area: UnitCode,
    pub editorial_notes: Vec<String>,
    pub personal_names: Vec<String>,
    pub aspects: Vec<NewAspect>,
    pub problems: Vec<NewProblem>,
}

#[derive(Debug, Clone)]
pub struct NewAspect {
    pub seq: u32,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NewProblem {
    pub seq: u32,
    pub aspect_seq: u32,
    pub title: String,
    pub manifestation: String,
    pub measures: Vec<NewMeasure>,
    pub responsible: Vec<ResponsibleRef>,
    pub responsible_text: String,
    pub due_on: Option<NaiveDate>,
    pub continuing: bool,
}

#[derive(Debug, Clone)]
pub struct NewMeasure {
    pub seq: u32,
    pub text: String,
}

/// How far a named responsible unit reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsibleScope {
    /// The unit itself.
    Unit,
    /// Every township-level unit under it: 各乡镇（街道）.
    Townships,
    /// Every department under it: 领导小组成员单位.
    Departments,
}

/// A responsible unit as the notice names it, before the directory expands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsibleRef {
    pub code: UnitCode,
    /// 牵头单位
    pub lead: bool,
    pub scope: ResponsibleScope,
}

/// The longest text a field takes: a measure runs to a page, not a book.
const MAX_TEXT_CHARS: usize = 20_000;
const MAX_PROBLEMS: usize = 500;

/// Collects every problem of a draft instead of stopping at the first.
struct Problems(Vec<String>);

impl Problems {
    fn text(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.0.push(format!("{field} is empty"));
        } else if value.chars().count() > MAX_TEXT_CHARS {
            self.0.push(format!(
                "{field} is longer than {MAX_TEXT_CHARS} characters"
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.0.push(format!("{field} contains control characters"));
        }
        value.to_owned()
    }

    fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.0
                    .push(format!("{field} {value:?} is not a date YYYY-MM-DD"));
                None
            }
        }
    }

    fn code(&mut self, field: &str, value: &str) -> Option<UnitCode> {
        UnitCode::try_from(value.trim())
            .map_err(|error| self.0.push(format!("{field}: {error}")))
            .ok()
    }

    /// Sequence numbers must run 1, 2, 3, … in order.
    fn sequence(&mut self, field: &str, seqs: impl Iterator<Item = u32>) {
        for (index, seq) in seqs.enumerate() {
            let expected = index as u32 + 1;
            if seq != expected {
                self.0.push(format!(
                    "{field}: seq {seq} where {expected} was expected (numbering runs 1, 2, 3, …)"
                ));
                return;
            }
        }
    }
}

impl TryFrom<DocumentDraft> for NewDocument {
    /// Every problem found, each naming its field.
    type Error = Vec<String>;

    fn try_from(draft: DocumentDraft) -> Result<Self, Self::Error> {
        let mut p = Problems(Vec::new());
        let doc_number = p.text("doc_number", &draft.doc_number);
        let title = p.text("title", &draft.title);
        let issuer = p.text("issuer", &draft.issuer);
        let issued_on = p.date("issued_on", &draft.issued_on);
        let area = p.code("area", &draft.area);
        let editorial_notes: Vec<String> = draft
            .editorial_notes
            .iter()
            .enumerate()
            .map(|(i, note)| p.text(&format!("editorial_notes[{i}]"), note))
            .collect();
        let personal_names: Vec<String> = draft
            .personal_names
            .iter()
            .enumerate()
            .map(|(i, name)| p.text(&format!("personal_names[{i}]"), name))
            .collect();

        if draft.aspects.is_empty() {
            p.0.push("aspects: a notice needs at least one aspect (方面)".to_owned());
        }
        p.sequence("aspects", draft.aspects.iter().map(|aspect| aspect.seq));
        let aspects: Vec<NewAspect> = draft
            .aspects
            .iter()
            .map(|aspect| NewAspect {
                seq: aspect.seq,
                name: p.text(&format!("aspects[{}].name", aspect.seq), &aspect.name),
            })
            .collect();
        let aspect_seqs: HashSet<u32> = aspects.iter().map(|aspect| aspect.seq).collect();

        if draft.problems.is_empty() {
            p.0.push("problems: a notice needs at least one problem".to_owned());
        }
        if draft.problems.len() > MAX_PROBLEMS {
            p.0.push(format!("problems: at most {MAX_PROBLEMS}"));
        }
        p.sequence("problems", draft.problems.iter().map(|problem| problem.seq));
        let mut problems = Vec::with_capacity(draft.problems.len());
        for problem in &draft.problems {
            let at = format!("problems[{}]", problem.seq);
            if !aspect_seqs.contains(&problem.aspect_seq) {
                p.0.push(format!(
                    "{at}.aspect_seq {} names no aspect",
                    problem.aspect_seq
                ));
            }
            let title = p.text(&format!("{at}.title"), &problem.title);
            let manifestation = p.text(&format!("{at}.manifestation"), &problem.manifestation);
            if problem.measures.is_empty() {
                p.0.push(format!(
                    "{at}.measures: a problem needs at least one measure (整改措施)"
                ));
            }
            p.sequence(
                &format!("{at}.measures"),
                problem.measures.iter().map(|measure| measure.seq),
            );
            let measures = problem
                .measures
                .iter()
                .map(|measure| NewMeasure {
                    seq: measure.seq,
                    text: p.text(
                        &format!("{at}.measures[{}].text", measure.seq),
                        &measure.text,
                    ),
                })
                .collect();
            let responsible = responsible_units(&mut p, &at, &problem.responsible_units);
            let due_on = match problem.deadline.due_on.trim() {
                "" => None,
                text => p.date(&format!("{at}.deadline.due_on"), text),
            };
            if due_on.is_none()
                && !problem.deadline.continuing
                && problem.deadline.due_on.trim().is_empty()
            {
                p.0.push(format!(
                    "{at}.deadline: give a due_on date, or mark it continuing (持续推进)"
                ));
            }
            problems.push(NewProblem {
                seq: problem.seq,
                aspect_seq: problem.aspect_seq,
                title,
                manifestation,
                measures,
                responsible,
                responsible_text: problem.responsible_text.trim().to_owned(),
                due_on,
                continuing: problem.deadline.continuing,
            });
        }

        // A notice can make units answerable only inside its own area.
        if let Some(area) = &area {
            for problem in &problems {
                for r in problem
                    .responsible
                    .iter()
                    .filter(|r| !r.code.is_within(area))
                {
                    p.0.push(format!(
                        "problems[{}].responsible_units: {} lies outside the notice's area {area}",
                        problem.seq, r.code
                    ));
                }
            }
        }

        match (issued_on, area, p.0.is_empty()) {
            (Some(issued_on), Some(area), true) => Ok(Self {
                doc_number,
                title,
                issuer,
                issued_on,
                area,
                editorial_notes,
                personal_names,
                aspects,
                problems,
            }),
            _ => Err(p.0),
        }
    }
}

fn responsible_units(
    p: &mut Problems,
    at: &str,
    drafts: &[ResponsibleDraft],
) -> Vec<ResponsibleRef> {
    if drafts.is_empty() {
        p.0.push(format!(
            "{at}.responsible_units: name at least one responsible unit (责任单位)"
        ));
    }
    let leads = drafts.iter().filter(|draft| draft.lead).count();
    if !drafts.is_empty() && leads != 1 {
        p.0.push(format!(
            "{at}.responsible_units: exactly one lead unit (牵头单位) is needed, {leads} given"
        ));
    }
    let mut seen = HashSet::new();
    let mut refs = Vec::with_capacity(drafts.len());
    for (index, draft) in drafts.iter().enumerate() {
        let field = format!("{at}.responsible_units[{index}]");
        let scope = match draft.scope.as_str() {
            "" | "unit" => ResponsibleScope::Unit,
            "townships" => ResponsibleScope::Townships,
            "departments" => ResponsibleScope::Departments,
            other => {
                p.0.push(format!(
                    "{field}.scope {other:?} is not one of unit, townships, departments"
                ));
                continue;
            }
        };
        if draft.lead && scope != ResponsibleScope::Unit {
            p.0.push(format!(
                "{field}: the lead unit must be a single unit, not a group"
            ));
        }
        let Some(code) = p.code(&format!("{field}.code"), &draft.code) else {
            continue;
        };
        if !seen.insert((code.clone(), scope as u8)) {
            p.0.push(format!("{field}: {code} is named twice"));
        }
        refs.push(ResponsibleRef {
            code,
            lead: draft.lead,
            scope,
        });
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn founding() -> DocumentDraft {
        serde_json::from_str(include_str!("../../seed/founding_notice.json")).unwrap()
    }

    #[test]
    fn the_founding_notice_is_valid_and_complete() {
        let notice = NewDocument::try_from(founding()).unwrap();
        assert_eq!(notice.aspects.len(), 4);
        assert_eq!(notice.problems.len(), 15);
        assert!(notice.problems.iter().all(|problem| {
            problem.due_on.map(|d| d.to_string()).as_deref() == Some("2023-07-20")
                && problem.continuing
        }));
        assert!(
            notice.problems.iter().all(|problem| problem
                .responsible
                .iter()
                .filter(|r| r.lead)
                .count()
                == 1)
        );
        assert!(
            notice
                .problems
                .iter()
                .flat_map(|problem| &problem.measures)
                .all(|m| !m.text.starts_with("一是"))
        );
    }

    #[test]
    fn every_fault_is_listed_at_once() {
        let mut draft = founding();
        draft.issued_on = "2023-6-26x".into();
        draft.problems[2].seq = 9;
        draft.problems[0].responsible_units[0].lead = false;
        draft.problems[1].measures.clear();
        draft.problems[3].responsible_units[0].code = "1234567".into();
        let errors = NewDocument::try_from(draft).unwrap_err();
        assert!(
            errors.iter().any(|e| e.starts_with("issued_on")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("seq 9 where 3")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("problems[1].responsible_units: exactly one lead")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("problems[2].measures")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("problems[4].responsible_units[0].code")),
            "{errors:?}"
        );
    }
}

/// A published notice as readers see it.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: uuid::Uuid,
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    pub issued_on: NaiveDate,
    pub area: UnitCode,
    pub aspects: Vec<NewAspect>,
    pub problem_count: u32,
    pub editorial_notes: Vec<String>,
    /// Household names in the texts; never shown, only used to mask.
    pub personal_names: Vec<String>,
    pub published_at: chrono::DateTime<chrono::Utc>,
}

impl Document {
    /// The notice as a reader without clearance sees it.
    pub fn masked(mut self) -> Self {
        let names = std::mem::take(&mut self.personal_names);
        self.title = mask_names_in(&self.title, &names);
        for note in &mut self.editorial_notes {
            *note = mask_names_in(note, &names);
        }
        self
    }
}

/// A problem as readers see it, its responsible units expanded and named.
#[derive(Debug, Clone)]
pub struct Problem {
    pub id: uuid::Uuid,
    pub document_id: uuid::Uuid,
    pub seq: u32,
    pub title: String,
    pub manifestation: String,
    pub aspect: NewAspect,
    pub measures: Vec<NewMeasure>,
    pub responsible_units: Vec<ResponsibleUnit>,
    pub responsible_text: String,
    pub due_on: Option<NaiveDate>,
    pub continuing: bool,
    /// The area of the notice, which decides who may read the problem.
    pub area: UnitCode,
    /// Household names in the texts; never shown, only used to mask.
    pub personal_names: Vec<String>,
}

impl Problem {
    /// The problem as a reader without clearance sees it: household names
    /// in its texts masked (潘振有 → 潘*有).
    pub fn masked(mut self) -> Self {
        let names = std::mem::take(&mut self.personal_names);
        self.title = mask_names_in(&self.title, &names);
        self.manifestation = mask_names_in(&self.manifestation, &names);
        for measure in &mut self.measures {
            measure.text = mask_names_in(&measure.text, &names);
        }
        self
    }
}

#[derive(Debug, Clone)]
pub struct ResponsibleUnit {
    pub code: UnitCode,
    pub name: String,
    pub lead: bool,
}
