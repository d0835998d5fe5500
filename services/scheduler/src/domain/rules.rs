//! Reminder rules (提醒规则) of a campaign, and what a deadline earns on a
//! given working day under them.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use super::calendar::{NotLoaded, WorkdayCalendar};

/// How a campaign reminds, escalates and re-checks. The defaults are the
/// founding notice's practice; the city office may change them per campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReminderRules {
    /// Remind the owner this many working days before the due date.
    pub remind_before: Vec<u32>,
    /// Remind the owner on the due date (or the last working day before it).
    pub remind_on_the_day: bool,
    /// Remind the owner every working day while overdue.
    pub remind_while_overdue: bool,
    /// Tell the unit above once a finding is this many working days overdue (0: never).
    pub escalate_to_parent_after: u32,
    /// Tell the city office once a finding is this many working days overdue (0: never).
    pub escalate_to_city_after: u32,
    /// A deadline is due soon (yellow) within this many working days.
    pub due_soon_within: u32,
    /// The time of day reminders go out on a working day.
    pub remind_at: NaiveTime,
    /// From this time until `quiet_until`, only the inbox hears anything.
    pub quiet_from: NaiveTime,
    pub quiet_until: NaiveTime,
    /// A unit with at least this many reminders in one go gets one digest.
    pub digest_threshold: u32,
    /// Re-check (回头看) a closed long-term finding this many days after 销号.
    pub recheck_after_days: Vec<u32>,
}

impl Default for ReminderRules {
    fn default() -> Self {
        let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("a valid time");
        Self {
            remind_before: vec![3, 1],
            remind_on_the_day: true,
            remind_while_overdue: true,
            escalate_to_parent_after: 3,
            escalate_to_city_after: 10,
            due_soon_within: 3,
            remind_at: time(9, 0),
            quiet_from: time(20, 0),
            quiet_until: time(8, 0),
            digest_threshold: 5,
            recheck_after_days: vec![30, 90],
        }
    }
}

impl ReminderRules {
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut faults = Vec::new();
        if self.remind_before.iter().any(|n| !(1..=60).contains(n)) {
            faults.push("remind_before: each is 1 to 60 working days".to_owned());
        }
        if self.due_soon_within > 60 {
            faults.push("due_soon_within: at most 60 working days".to_owned());
        }
        if self.escalate_to_parent_after > 250 || self.escalate_to_city_after > 250 {
            faults.push("escalate_*_after: at most 250 working days".to_owned());
        }
        if self.digest_threshold < 2 {
            faults.push("digest_threshold: at least 2".to_owned());
        }
        if self.recheck_after_days.is_empty()
            || self.recheck_after_days.len() > 5
            || self
                .recheck_after_days
                .iter()
                .any(|d| !(1..=730).contains(d))
        {
            faults.push("recheck_after_days: one to five, each 1 to 730 days".to_owned());
        }
        if self.in_quiet_hours(self.remind_at) {
            faults.push("remind_at: falls in the quiet hours".to_owned());
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(faults)
        }
    }

    /// Between `quiet_from` and `quiet_until` (over midnight when needed).
    pub fn in_quiet_hours(&self, time: NaiveTime) -> bool {
        if self.quiet_from <= self.quiet_until {
            time >= self.quiet_from && time < self.quiet_until
        } else {
            time >= self.quiet_from || time < self.quiet_until
        }
    }
}

/// The red, yellow and green lights (红黄绿灯) of a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineStatus {
    OnTrack,
    DueSoon,
    Overdue,
    Done,
}

impl DeadlineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
            Self::Done => "done",
        }
    }
}

impl TryFrom<&str> for DeadlineStatus {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        [Self::OnTrack, Self::DueSoon, Self::Overdue, Self::Done]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("status: {text:?} is not on_track, due_soon, overdue or done"))
    }
}

/// Where the lights change on `today`: due dates up to `soon_until` are
/// due soon, earlier than `today` overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lights {
    pub today: NaiveDate,
    pub soon_until: NaiveDate,
}

impl Lights {
    pub fn on(
        calendar: &WorkdayCalendar,
        rules: &ReminderRules,
        today: NaiveDate,
    ) -> Result<Self, NotLoaded> {
        Ok(Self {
            today,
            soon_until: calendar.add_workdays(today, rules.due_soon_within)?,
        })
    }

    pub fn status(&self, due_on: NaiveDate, done: bool) -> DeadlineStatus {
        if done {
            DeadlineStatus::Done
        } else if due_on < self.today {
            DeadlineStatus::Overdue
        } else if due_on <= self.soon_until {
            DeadlineStatus::DueSoon
        } else {
            DeadlineStatus::OnTrack
        }
    }
}

/// A reminder a pending deadline earns on a working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// `n` working days left (临期提醒).
    DueSoon(u32),
    /// Due today, or on a day off before the next working day (到期提醒).
    DueToday,
    /// `n` working days late (逾期提醒), every working day.
    Overdue(u32),
    /// Told to the unit above, once (逾期上报).
    EscalatedToParent(u32),
    /// Told to the city office, once.
    EscalatedToCity(u32),
}

impl Nudge {
    pub fn event(self) -> &'static str {
        match self {
            Self::DueSoon(_) => "due_soon",
            Self::DueToday => "due_today",
            Self::Overdue(_) => "overdue",
            Self::EscalatedToParent(_) | Self::EscalatedToCity(_) => "escalated",
        }
    }

    /// Working days left (positive) or late (negative).
    pub fn workdays(self) -> i64 {
        match self {
            Self::DueSoon(n) => n as i64,
            Self::DueToday => 0,
            Self::Overdue(n) | Self::EscalatedToParent(n) | Self::EscalatedToCity(n) => -(n as i64),
        }
    }
}

/// What a deadline due on `due_on`, still pending, earns on the working
/// day `today`. Escalations are asked for on every day past their
/// threshold; the caller keeps each one once.
pub fn nudges(
    calendar: &WorkdayCalendar,
    rules: &ReminderRules,
    today: NaiveDate,
    due_on: NaiveDate,
) -> Result<Vec<Nudge>, NotLoaded> {
    let mut nudges = Vec::new();
    if due_on >= today {
        let left = calendar.workdays_between(today, due_on)?;
        if left == 0 {
            if rules.remind_on_the_day {
                nudges.push(Nudge::DueToday);
            }
        } else if rules.remind_before.contains(&left) {
            nudges.push(Nudge::DueSoon(left));
        }
    } else {
        let late = calendar.workdays_between(due_on, today)?;
        if rules.remind_while_overdue {
            nudges.push(Nudge::Overdue(late));
        }
        if rules.escalate_to_parent_after > 0 && late >= rules.escalate_to_parent_after {
            nudges.push(Nudge::EscalatedToParent(late));
        }
        if rules.escalate_to_city_after > 0 && late >= rules.escalate_to_city_after {
            nudges.push(Nudge::EscalatedToCity(late));
        }
    }
    Ok(nudges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::shipped;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_deadline_is_reminded_three_and_one_days_before_on_the_day_and_while_late() {
        let calendar = WorkdayCalendar::new(&shipped());
        let rules = ReminderRules::default();
        let due = date("2023-07-20"); // a Thursday
        let on = |day| nudges(&calendar, &rules, date(day), due).unwrap();
        assert_eq!(on("2023-07-14"), vec![]);
        assert_eq!(on("2023-07-17"), vec![Nudge::DueSoon(3)]);
        assert_eq!(on("2023-07-18"), vec![]);
        assert_eq!(on("2023-07-19"), vec![Nudge::DueSoon(1)]);
        assert_eq!(on("2023-07-20"), vec![Nudge::DueToday]);
        assert_eq!(on("2023-07-21"), vec![Nudge::Overdue(1)]);
        assert_eq!(
            on("2023-07-25"),
            vec![Nudge::Overdue(3), Nudge::EscalatedToParent(3)]
        );
        assert_eq!(
            on("2023-08-03"),
            vec![
                Nudge::Overdue(10),
                Nudge::EscalatedToParent(10),
                Nudge::EscalatedToCity(10)
            ]
        );
    }

    #[test]
    fn a_deadline_on_a_day_off_is_due_on_the_working_day_before() {
        let calendar = WorkdayCalendar::new(&shipped());
        let rules = ReminderRules::default();
        // Due on National Day: the last working day before it is 9/28.
        let due = date("2023-10-01");
        assert_eq!(
            nudges(&calendar, &rules, date("2023-09-28"), due).unwrap(),
            vec![Nudge::DueToday]
        );
        assert_eq!(
            nudges(&calendar, &rules, date("2023-10-07"), due).unwrap(),
            vec![Nudge::Overdue(1)]
        );
    }

    #[test]
    fn the_lights() {
        let calendar = WorkdayCalendar::new(&shipped());
        let rules = ReminderRules::default();
        let lights = Lights::on(&calendar, &rules, date("2023-07-14")).unwrap();
        // Friday + 3 working days = Wednesday.
        assert_eq!(lights.soon_until, date("2023-07-19"));
        assert_eq!(
            lights.status(date("2023-07-20"), false),
            DeadlineStatus::OnTrack
        );
        assert_eq!(
            lights.status(date("2023-07-19"), false),
            DeadlineStatus::DueSoon
        );
        assert_eq!(
            lights.status(date("2023-07-14"), false),
            DeadlineStatus::DueSoon
        );
        assert_eq!(
            lights.status(date("2023-07-13"), false),
            DeadlineStatus::Overdue
        );
        assert_eq!(
            lights.status(date("2023-07-13"), true),
            DeadlineStatus::Done
        );
    }

    #[test]
    fn quiet_hours_run_over_midnight() {
        let rules = ReminderRules::default();
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        assert!(rules.in_quiet_hours(t(20)));
        assert!(rules.in_quiet_hours(t(23)));
        assert!(rules.in_quiet_hours(t(7)));
        assert!(!rules.in_quiet_hours(t(8)));
        assert!(!rules.in_quiet_hours(t(19)));
        assert_eq!(rules.validate(), Ok(()));
    }
}
