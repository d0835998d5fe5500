//! Campaign milestones (时间节点): who owes what by when.

use chrono::NaiveDate;

/// What a milestone asks of the units that owe it, and so what fulfils it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilestoneKind {
    /// 制定整改方案: a department's plan is its answered ledger (every
    /// problem answered with findings and measures, or 经排查无此类问题).
    Plan,
    /// 上报整改台账和整改报告: the ledger and the report handed in (上报).
    HandIn,
    /// 集中整改结束 (阶段性成效): every finding that is not long-term handed in
    /// for review, on a complete ledger.
    Rectified,
    /// 持续推进: no date; nothing is tallied.
    Continuing,
}

impl MilestoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::HandIn => "hand_in",
            Self::Rectified => "rectified",
            Self::Continuing => "continuing",
        }
    }

    /// The ledger column that records when a unit fulfilled it.
    pub fn fulfilled_column(self) -> Option<&'static str> {
        match self {
            Self::Plan => Some("completed_at"),
            Self::HandIn => Some("handed_in_at"),
            Self::Rectified => Some("rectified_at"),
            Self::Continuing => None,
        }
    }
}

impl TryFrom<&str> for MilestoneKind {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        [Self::Plan, Self::HandIn, Self::Rectified, Self::Continuing]
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a milestone kind"))
    }
}

/// A milestone as a campaign starts with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneDraft {
    pub seq: i16,
    pub kind: MilestoneKind,
    pub title: &'static str,
    pub due_on: Option<NaiveDate>,
    /// The unit levels that owe it.
    pub owed_by: &'static [&'static str],
}

/// The founding notice's milestones (禹巩固脱贫组〔2023〕5号 三、时间安排).
pub fn founding_notice() -> Vec<MilestoneDraft> {
    let date = |m, d| NaiveDate::from_ymd_opt(2023, m, d);
    vec![
        MilestoneDraft {
            seq: 1,
            kind: MilestoneKind::Plan,
            title: "各行业部门制定整改方案",
            due_on: date(7, 2),
            owed_by: &["department"],
        },
        MilestoneDraft {
            seq: 2,
            kind: MilestoneKind::HandIn,
            title: "各乡镇（街道）、各行业部门报送整改台账和整改报告",
            due_on: date(7, 15),
            owed_by: &["township", "department"],
        },
        MilestoneDraft {
            seq: 3,
            kind: MilestoneKind::Rectified,
            title: "集中整改结束，取得阶段性成效",
            due_on: date(7, 20),
            owed_by: &["county", "township", "village", "department"],
        },
        MilestoneDraft {
            seq: 4,
            kind: MilestoneKind::Continuing,
            title: "持续推进，巩固整改成果",
            due_on: None,
            owed_by: &[],
        },
    ]
}
