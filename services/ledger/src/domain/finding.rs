//! Findings (序号2 rows of 附件2) and the review that writes them off (销号).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use super::household::Household;

/// The longest free text a finding field takes (characters).
pub const MAX_TEXT_CHARS: usize = 4_000;
/// The most households one finding may name.
pub const MAX_HOUSEHOLDS: usize = 200;

/// 整改类型: how the finding is to be put right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// 立行立改
    Immediate,
    /// 限期整改
    Deadline,
    /// 长期整改: closed only with a standing mechanism (长效机制).
    LongTerm,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Deadline => "deadline",
            Self::LongTerm => "long_term",
        }
    }

    /// The words of the notice.
    pub fn label(self) -> &'static str {
        match self {
            Self::Immediate => "立行立改",
            Self::Deadline => "限期整改",
            Self::LongTerm => "长期整改",
        }
    }
}

impl FromStr for FindingKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "immediate" | "立行立改" => Ok(Self::Immediate),
            "deadline" | "限期整改" => Ok(Self::Deadline),
            "long_term" | "长期整改" => Ok(Self::LongTerm),
            other => Err(format!(
                "kind {other:?} is not one of immediate (立行立改), deadline (限期整改), long_term (长期整改)"
            )),
        }
    }
}

/// Where a finding stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingState {
    Open,
    InProgress,
    /// 已提交: the unit reports it put right, with a result.
    Submitted,
    /// 已审核: the unit above checked it.
    Verified,
    /// 已销号: written off by the city office.
    Closed,
}

impl FindingState {
    pub const ALL: [FindingState; 5] = [
        Self::Open,
        Self::InProgress,
        Self::Submitted,
        Self::Verified,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Submitted => "submitted",
            Self::Verified => "verified",
            Self::Closed => "closed",
        }
    }

    /// The unit may still change what it wrote.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }
}

impl FromStr for FindingState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a finding state"))
    }
}

impl fmt::Display for FindingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// 开始整改: open → in_progress, by the unit.
    Start,
    /// 提交: in_progress → submitted, by the unit, with a result.
    Submit,
    /// 审核通过: submitted → verified, by the unit above.
    Verify,
    /// 销号: verified → closed, by the city office.
    Close,
    /// 退回: submitted or verified → in_progress, by its reviewer, with a reason.
    Reject,
    /// 反弹: closed → in_progress, by the city office, with a reason.
    Reopen,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Submit => "submit",
            Self::Verify => "verify",
            Self::Close => "close",
            Self::Reject => "reject",
            Self::Reopen => "reopen",
        }
    }

    /// The history event this action writes.
    pub fn event_kind(self) -> &'static str {
        match self {
            Self::Start => "finding_started",
            Self::Submit => "finding_submitted",
            Self::Verify => "finding_verified",
            Self::Close => "finding_closed",
            Self::Reject => "finding_rejected",
            Self::Reopen => "finding_reopened",
        }
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            Self::Start,
            Self::Submit,
            Self::Verify,
            Self::Close,
            Self::Reject,
            Self::Reopen,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
        .ok_or_else(|| {
            format!("{text:?} is not an action: start, submit, verify, close, reject or reopen")
        })
    }
}

/// How the caller stands to the unit whose finding it is. Decided by the
/// adapter from the caller's identity and the ledger's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The caller speaks for the ledger's own unit.
    pub owner: bool,
    /// The caller is the unit above that verifies (the township for its
    /// villages, the city office for the rest) and not the unit itself.
    pub verifier: bool,
    /// The caller is a city office above the unit (销号, 反弹).
    pub city_office: bool,
}

/// Why a step is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not take this step.
    NotAllowed(String),
    /// The finding is not in a state that allows the step, or lacks what it needs.
    Conflict(String),
    /// The request itself is incomplete (a reason missing).
    Invalid(String),
}

/// What a finding must hold for review steps.
#[derive(Debug, Clone, Copy)]
pub struct ReviewFacts<'a> {
    pub state: FindingState,
    pub kind: FindingKind,
    pub result: &'a str,
    pub standing_mechanism: &'a str,
}

/// The review rules: the state a step leads to, or why it is refused.
pub fn transition(
    facts: ReviewFacts<'_>,
    action: Action,
    standing: Standing,
    reason: &str,
) -> Result<FindingState, Refusal> {
    use FindingState::*;
    let from = facts.state;
    let wrong_state = |expected: &str| {
        Refusal::Conflict(format!(
            "cannot {} a finding that is {from}: it must be {expected}",
            action.as_str()
        ))
    };
    let needs_reason = || {
        if reason.trim().is_empty() {
            Err(Refusal::Invalid(format!(
                "reason: say why you {} the finding",
                action.as_str()
            )))
        } else {
            Ok(())
        }
    };
    match action {
        Action::Start | Action::Submit if !standing.owner => Err(Refusal::NotAllowed(format!(
            "only the unit that owns the ledger may {} its findings",
            action.as_str()
        ))),
        Action::Start => (from == Open)
            .then_some(InProgress)
            .ok_or_else(|| wrong_state("open")),
        Action::Submit => {
            if from != InProgress {
                return Err(wrong_state("in_progress"));
            }
            if facts.result.trim().is_empty() {
                return Err(Refusal::Conflict(
                    "cannot submit without a result (整改结果): set result first".into(),
                ));
            }
            Ok(Submitted)
        }
        Action::Verify => {
            if !standing.verifier {
                return Err(Refusal::NotAllowed(
                    "only the unit above (the township for its villages, the city office for townships and departments) may verify, and never its own work".into(),
                ));
            }
            (from == Submitted)
                .then_some(Verified)
                .ok_or_else(|| wrong_state("submitted"))
        }
        Action::Close => {
            if !standing.city_office {
                return Err(Refusal::NotAllowed(
                    "only the city office above the unit may write a finding off (销号)".into(),
                ));
            }
            if from != Verified {
                return Err(wrong_state("verified"));
            }
            if facts.kind == FindingKind::LongTerm && facts.standing_mechanism.trim().is_empty() {
                return Err(Refusal::Conflict(
                    "a long-term finding (长期整改) is closed only with its standing mechanism (长效机制) described: set standing_mechanism first".into(),
                ));
            }
            Ok(Closed)
        }
        Action::Reject => {
            let allowed = match from {
                Submitted => standing.verifier,
                Verified => standing.city_office,
                _ => return Err(wrong_state("submitted or verified")),
            };
            if !allowed {
                return Err(Refusal::NotAllowed(
                    "only the reviewer of the finding's current step may reject it".into(),
                ));
            }
            needs_reason()?;
            Ok(InProgress)
        }
        Action::Reopen => {
            if !standing.city_office {
                return Err(Refusal::NotAllowed(
                    "only the city office above the unit may reopen a closed finding (反弹)".into(),
                ));
            }
            if from != Closed {
                return Err(wrong_state("closed"));
            }
            needs_reason()?;
            Ok(InProgress)
        }
    }
}

/// The fields a unit writes for a finding, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFields {
    pub description: String,
    pub measures: String,
    pub due_on: Option<NaiveDate>,
    pub kind: FindingKind,
    pub responsible: String,
    pub result: String,
    pub standing_mechanism: String,
    pub households: Vec<Household>,
}

/// The fields as they arrive, unchecked.
#[derive(Debug, Clone, Default)]
pub struct FindingDraft {
    pub description: String,
    pub measures: String,
    pub due_on: String,
    pub kind: String,
    pub responsible: String,
    pub result: String,
    pub standing_mechanism: String,
    pub households: Vec<super::household::HouseholdDraft>,
}

/// Checks a free text field: trimmed, not too long, no control characters.
pub fn text(field: &str, value: &str, required: bool, faults: &mut Vec<String>) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        faults.push(format!("{field}: must not be empty"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        faults.push(format!("{field}: at most {MAX_TEXT_CHARS} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        faults.push(format!("{field}: contains control characters"));
    }
    value.to_owned()
}

/// A date as `YYYY-MM-DD`; empty means none.
pub fn date(field: &str, value: &str, faults: &mut Vec<String>) -> Option<NaiveDate> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) if (2000..=2100).contains(&chrono::Datelike::year(&date)) => Some(date),
        _ => {
            faults.push(format!("{field}: {value:?} is not a date as YYYY-MM-DD"));
            None
        }
    }
}

pub fn kind(value: &str, faults: &mut Vec<String>) -> FindingKind {
    value.trim().parse().unwrap_or_else(|error: String| {
        faults.push(format!("kind: {error}"));
        FindingKind::Deadline
    })
}

pub fn households(
    drafts: Vec<super::household::HouseholdDraft>,
    faults: &mut Vec<String>,
) -> Vec<Household> {
    if drafts.len() > MAX_HOUSEHOLDS {
        faults.push(format!("households: at most {MAX_HOUSEHOLDS}"));
    }
    drafts
        .into_iter()
        .enumerate()
        .filter_map(|(index, draft)| {
            Household::try_from(draft)
                .map_err(|errors| {
                    faults.extend(
                        errors
                            .into_iter()
                            .map(|error| format!("households[{index}].{error}")),
                    )
                })
                .ok()
        })
        .collect()
}

impl TryFrom<FindingDraft> for FindingFields {
    type Error = Vec<String>;

    fn try_from(draft: FindingDraft) -> Result<Self, Self::Error> {
        let mut faults = Vec::new();
        let fields = FindingFields {
            description: text("description", &draft.description, true, &mut faults),
            measures: text("measures", &draft.measures, true, &mut faults),
            due_on: date("due_on", &draft.due_on, &mut faults),
            kind: kind(&draft.kind, &mut faults),
            responsible: text("responsible", &draft.responsible, true, &mut faults),
            result: text("result", &draft.result, false, &mut faults),
            standing_mechanism: text(
                "standing_mechanism",
                &draft.standing_mechanism,
                false,
                &mut faults,
            ),
            households: households(draft.households, &mut faults),
        };
        if fields.due_on.is_none() && fields.kind != FindingKind::LongTerm && faults.is_empty() {
            faults.push(
                "due_on: a finding needs a deadline (整改时限) unless it is long_term (长期整改)"
                    .into(),
            );
        }
        if faults.is_empty() {
            Ok(fields)
        } else {
            Err(faults)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: FindingState) -> ReviewFacts<'static> {
        ReviewFacts {
            state,
            kind: FindingKind::Deadline,
            result: "已整改",
            standing_mechanism: "",
        }
    }

    const OWNER: Standing = Standing {
        owner: true,
        verifier: false,
        city_office: false,
    };
    const TOWNSHIP: Standing = Standing {
        owner: false,
        verifier: true,
        city_office: false,
    };
    const CITY: Standing = Standing {
        owner: false,
        verifier: false,
        city_office: true,
    };

    #[test]
    fn the_happy_path_runs_open_to_closed() {
        use FindingState::*;
        assert_eq!(
            transition(facts(Open), Action::Start, OWNER, ""),
            Ok(InProgress)
        );
        assert_eq!(
            transition(facts(InProgress), Action::Submit, OWNER, ""),
            Ok(Submitted)
        );
        assert_eq!(
            transition(facts(Submitted), Action::Verify, TOWNSHIP, ""),
            Ok(Verified)
        );
        assert_eq!(
            transition(facts(Verified), Action::Close, CITY, ""),
            Ok(Closed)
        );
        assert_eq!(
            transition(facts(Closed), Action::Reopen, CITY, "反弹"),
            Ok(InProgress)
        );
    }

    #[test]
    fn nobody_skips_a_step_or_reviews_without_standing() {
        use FindingState::*;
        assert!(matches!(
            transition(facts(Open), Action::Submit, OWNER, ""),
            Err(Refusal::Conflict(_))
        ));
        assert!(matches!(
            transition(facts(Submitted), Action::Verify, OWNER, ""),
            Err(Refusal::NotAllowed(_))
        ));
        assert!(matches!(
            transition(facts(Submitted), Action::Close, CITY, ""),
            Err(Refusal::Conflict(_))
        ));
        assert!(matches!(
            transition(facts(Verified), Action::Reject, TOWNSHIP, "x"),
            Err(Refusal::NotAllowed(_))
        ));
        assert!(matches!(
            transition(facts(Submitted), Action::Reject, TOWNSHIP, " "),
            Err(Refusal::Invalid(_))
        ));
        let mut no_result = facts(InProgress);
        no_result.result = "";
        assert!(matches!(
            transition(no_result, Action::Submit, OWNER, ""),
            Err(Refusal::Conflict(_))
        ));
    }

    #[test]
    fn a_long_term_finding_closes_only_with_its_mechanism() {
        let mut long = facts(FindingState::Verified);
        long.kind = FindingKind::LongTerm;
        assert!(matches!(
            transition(long, Action::Close, CITY, ""),
            Err(Refusal::Conflict(_))
        ));
        long.standing_mechanism = "每月走访一次";
        assert_eq!(
            transition(long, Action::Close, CITY, ""),
            Ok(FindingState::Closed)
        );
    }

    #[test]
    fn a_draft_lists_every_fault() {
        let draft = FindingDraft {
            description: " ".into(),
            measures: "m".into(),
            due_on: "2023-13-01".into(),
            kind: "someday".into(),
            responsible: "r\u{7}".into(),
            ..Default::default()
        };
        let faults = FindingFields::try_from(draft).unwrap_err();
        assert_eq!(faults.len(), 4, "{faults:?}");
    }
}
