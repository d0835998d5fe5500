//! Conversions between the scheduler's domain and its gRPC messages.

use chrono::{NaiveDate, NaiveTime};
use zhenggai_common::clock::shanghai;
use zhenggai_proto::ledger::v1::UnitRef;
use zhenggai_proto::scheduler::v1 as pb;

use crate::domain::calendar::{DayKind, SpecialDay, YearCalendar};
use crate::domain::rules::DeadlineStatus;
use crate::domain::rules::ReminderRules;
use crate::error::{Result, SchedulerError};
use crate::storage::{DeadlineRow, MilestoneRow, RecheckRow, StoredYear};

pub(super) fn date(field: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        SchedulerError::invalid(format!("{field}: {text:?} is not a date (YYYY-MM-DD)"))
    })
}

fn time(field: &str, text: &str, faults: &mut Vec<String>) -> NaiveTime {
    NaiveTime::parse_from_str(text, "%H:%M").unwrap_or_else(|_| {
        faults.push(format!("{field}: {text:?} is not a time of day (HH:MM)"));
        NaiveTime::MIN
    })
}

pub(super) fn calendar_year(stored: StoredYear) -> pb::CalendarYear {
    pb::CalendarYear {
        year: stored.year.year,
        workdays: stored.year.workdays(),
        notice: stored.year.notice,
        days: stored
            .year
            .days
            .into_iter()
            .map(|d| pb::SpecialDay {
                date: d.date.to_string(),
                kind: d.kind.as_str().to_owned(),
                name: d.name,
            })
            .collect(),
        loaded_at: stored
            .loaded_at
            .map(|t| t.with_timezone(&shanghai()).to_rfc3339())
            .unwrap_or_default(),
        loaded_by: stored.loaded_by.unwrap_or_default(),
    }
}

/// A year as an operator sends it, every fault listed.
pub(super) fn year_calendar(message: pb::CalendarYear) -> Result<YearCalendar> {
    let mut faults = Vec::new();
    let mut days = Vec::with_capacity(message.days.len());
    for (i, day) in message.days.into_iter().enumerate() {
        let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d");
        let kind = DayKind::try_from(day.kind.as_str());
        match (date, kind) {
            (Ok(date), Ok(kind)) => days.push(SpecialDay {
                date,
                kind,
                name: day.name.trim().to_owned(),
            }),
            (Err(_), _) => faults.push(format!("days[{i}].date: {:?} is not YYYY-MM-DD", day.date)),
            (_, Err(reason)) => faults.push(format!("days[{i}].kind: {reason}")),
        }
    }
    let year = YearCalendar {
        year: message.year,
        notice: message.notice.trim().to_owned(),
        days,
    };
    if let Err(more) = year.validate() {
        faults.extend(more);
    }
    if faults.is_empty() {
        Ok(year)
    } else {
        Err(SchedulerError::Invalid(faults))
    }
}

pub(super) fn rules(rules: &ReminderRules) -> pb::ReminderRules {
    let hm = |t: NaiveTime| t.format("%H:%M").to_string();
    pb::ReminderRules {
        remind_before: rules.remind_before.clone(),
        remind_on_the_day: rules.remind_on_the_day,
        remind_while_overdue: rules.remind_while_overdue,
        escalate_to_parent_after: rules.escalate_to_parent_after,
        escalate_to_city_after: rules.escalate_to_city_after,
        due_soon_within: rules.due_soon_within,
        remind_at: hm(rules.remind_at),
        quiet_from: hm(rules.quiet_from),
        quiet_until: hm(rules.quiet_until),
        digest_threshold: rules.digest_threshold,
        recheck_after_days: rules.recheck_after_days.clone(),
    }
}

pub(super) fn reminder_rules(message: pb::ReminderRules) -> Result<ReminderRules> {
    let mut faults = Vec::new();
    let rules = ReminderRules {
        remind_before: message.remind_before,
        remind_on_the_day: message.remind_on_the_day,
        remind_while_overdue: message.remind_while_overdue,
        escalate_to_parent_after: message.escalate_to_parent_after,
        escalate_to_city_after: message.escalate_to_city_after,
        due_soon_within: message.due_soon_within,
        remind_at: time("remind_at", &message.remind_at, &mut faults),
        quiet_from: time("quiet_from", &message.quiet_from, &mut faults),
        quiet_until: time("quiet_until", &message.quiet_until, &mut faults),
        digest_threshold: message.digest_threshold,
        recheck_after_days: message.recheck_after_days,
    };
    if faults.is_empty()
        && let Err(more) = rules.validate()
    {
        faults.extend(more);
    }
    if faults.is_empty() {
        Ok(rules)
    } else {
        Err(SchedulerError::Invalid(faults))
    }
}

pub(super) fn milestone(row: MilestoneRow) -> pb::Milestone {
    let count = |n: i64| n as u32;
    pb::Milestone {
        id: row.id.to_string(),
        campaign_id: row.campaign_id.to_string(),
        seq: i32::from(row.seq),
        kind: row.kind.as_str().to_owned(),
        title: row.title,
        due_on: row.due_on.map(|d| d.to_string()).unwrap_or_default(),
        owed_by: row.owed_by,
        tally: Some(pb::MilestoneTally {
            owed: count(row.tally.owed),
            on_time: count(row.tally.on_time),
            late: count(row.tally.late),
            missing: count(row.tally.missing),
            pending: count(row.tally.pending),
        }),
    }
}

fn unit(code: String, name: String, level: String) -> Option<UnitRef> {
    Some(UnitRef { code, name, level })
}

/// A finding's deadline with its light and working days left (negative: late).
pub(super) fn deadline(
    row: DeadlineRow,
    status: DeadlineStatus,
    workdays: Option<i32>,
) -> pb::Deadline {
    pb::Deadline {
        finding_id: row.id.to_string(),
        ledger_id: row.ledger_id.to_string(),
        campaign_id: row.campaign_id.to_string(),
        unit: unit(row.unit_code, row.unit_name, row.unit_level),
        problem_seq: i32::from(row.problem_seq),
        seq: row.seq,
        kind: row.kind,
        state: row.state,
        due_on: row.due_on.to_string(),
        status: status.as_str().to_owned(),
        workdays,
    }
}

pub(super) fn recheck(row: RecheckRow, today: NaiveDate) -> pb::Recheck {
    let status = if row.status == "scheduled" && row.due_on <= today {
        "due".to_owned()
    } else {
        row.status
    };
    pb::Recheck {
        id: row.id.to_string(),
        finding_id: row.finding_id.to_string(),
        ledger_id: row.ledger_id.to_string(),
        campaign_id: row.campaign_id.to_string(),
        unit: unit(row.unit_code, row.unit_name, row.unit_level),
        problem_seq: i32::from(row.problem_seq),
        seq: row.seq,
        round: i32::from(row.round),
        due_on: row.due_on.to_string(),
        status,
        note: row.note,
        recorded_by: row.recorded_by.unwrap_or_default(),
        recorded_at: row
            .recorded_at
            .map(|t| t.with_timezone(&shanghai()).to_rfc3339())
            .unwrap_or_default(),
    }
}
