//! The working-day calendar (工作日): weekends, the statutory holidays (法定节假日)
//! and the make-up working days (调休上班) of each year's State Council notice.
//!
//! A year is either loaded or not. Nothing is guessed for a year that is not
//! loaded: its holidays are only known when its notice comes out, so asking
//! through it is an error that names the year.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The years shipped with zhenggai, from the State Council's notices.
const SHIPPED: &[&str] = &[
    include_str!("../../data/calendar/2023.json"),
    include_str!("../../data/calendar/2024.json"),
    include_str!("../../data/calendar/2025.json"),
    include_str!("../../data/calendar/2026.json"),
];

/// The most working days one question may count (about eight years).
pub const MAX_WORKDAYS: u32 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// 放假: a day off, whatever weekday it falls on.
    Holiday,
    /// 调休上班: a Saturday or Sunday worked to make up for a holiday.
    Workday,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holiday => "holiday",
            Self::Workday => "workday",
        }
    }
}

impl TryFrom<&str> for DayKind {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        match text {
            "holiday" => Ok(Self::Holiday),
            "workday" => Ok(Self::Workday),
            other => Err(format!("{other:?} is not holiday or workday")),
        }
    }
}

/// A day that differs from the plain week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// The festival it belongs to, e.g. 春节.
    pub name: String,
}

/// One year's notice: its special days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearCalendar {
    pub year: i32,
    /// The notice it comes from, e.g. 国办发明电〔2022〕16号.
    pub notice: String,
    pub days: Vec<SpecialDay>,
}

impl YearCalendar {
    /// Every fault of a year an operator loads, listed at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut faults = Vec::new();
        if !(2000..=2100).contains(&self.year) {
            faults.push(format!("year: {} is not between 2000 and 2100", self.year));
        }
        if self.notice.trim().is_empty() || self.notice.chars().count() > 200 {
            faults
                .push("notice: name the notice the days come from (at most 200 characters)".into());
        }
        let mut seen = BTreeSet::new();
        for (i, day) in self.days.iter().enumerate() {
            let at = format!("days[{i}] ({})", day.date);
            if day.date.year() != self.year {
                faults.push(format!("{at}: not in {}", self.year));
            }
            if !seen.insert(day.date) {
                faults.push(format!("{at}: listed twice"));
            }
            if day.name.trim().is_empty() || day.name.chars().count() > 40 {
                faults.push(format!("{at}: name the holiday (at most 40 characters)"));
            }
            if day.kind == DayKind::Workday && !is_weekend(day.date) {
                faults.push(format!(
                    "{at}: a make-up working day (调休上班) falls on a Saturday or Sunday; {} is a {}",
                    day.date,
                    day.date.weekday()
                ));
            }
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(faults)
        }
    }

    /// Its working days in all.
    pub fn workdays(&self) -> u32 {
        let special: HashMap<_, _> = self.days.iter().map(|d| (d.date, d.kind)).collect();
        let Some(first) = NaiveDate::from_ymd_opt(self.year, 1, 1) else {
            return 0;
        };
        first
            .iter_days()
            .take_while(|d| d.year() == self.year)
            .filter(|d| workday(*d, special.get(d).copied()))
            .count() as u32
    }
}

/// The years that ship with zhenggai (2023 to 2026).
pub fn shipped() -> Vec<YearCalendar> {
    SHIPPED
        .iter()
        .map(|text| serde_json::from_str(text).expect("shipped calendars are valid JSON"))
        .collect()
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn workday(date: NaiveDate, special: Option<DayKind>) -> bool {
    match special {
        Some(DayKind::Holiday) => false,
        Some(DayKind::Workday) => true,
        None => !is_weekend(date),
    }
}

/// Asking about a year whose notice is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the working-day calendar for {year} is not loaded: load its State Council notice with PUT /api/v1/calendar/{year}"
)]
pub struct NotLoaded {
    pub year: i32,
}

/// The loaded years, as one calendar to count working days on.
#[derive(Debug, Clone, Default)]
pub struct WorkdayCalendar {
    years: BTreeSet<i32>,
    special: HashMap<NaiveDate, DayKind>,
}

impl WorkdayCalendar {
    pub fn new<'a>(years: impl IntoIterator<Item = &'a YearCalendar>) -> Self {
        let mut calendar = Self::default();
        for year in years {
            calendar.years.insert(year.year);
            calendar
                .special
                .extend(year.days.iter().map(|d| (d.date, d.kind)));
        }
        calendar
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn is_workday(&self, date: NaiveDate) -> Result<bool, NotLoaded> {
        if !self.years.contains(&date.year()) {
            return Err(NotLoaded { year: date.year() });
        }
        Ok(workday(date, self.special.get(&date).copied()))
    }

    /// The `n`-th working day strictly after `from` (期间开始之日不计算在内):
    /// 5个工作日内 from a Thursday notice is the next week's Thursday.
    /// `n = 0` is `from` itself.
    pub fn add_workdays(&self, from: NaiveDate, n: u32) -> Result<NaiveDate, NotLoaded> {
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().ok_or(NotLoaded {
                year: day.year() + 1,
            })?;
            if self.is_workday(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// Working days from `today` to `due`: left (positive) or late (negative).
    pub fn signed_workdays(&self, today: NaiveDate, due: NaiveDate) -> Result<i32, NotLoaded> {
        Ok(if due >= today {
            self.workdays_between(today, due)? as i32
        } else {
            -(self.workdays_between(due, today)? as i32)
        })
    }

    /// The working days in (`after`, `until`]: 0 when `until` is not later.
    pub fn workdays_between(&self, after: NaiveDate, until: NaiveDate) -> Result<u32, NotLoaded> {
        let mut count = 0;
        let mut day = after;
        while day < until {
            day = day.succ_opt().ok_or(NotLoaded {
                year: day.year() + 1,
            })?;
            if self.is_workday(day)? {
                count += 1;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn calendar() -> WorkdayCalendar {
        WorkdayCalendar::new(&shipped())
    }

    /// Every day off and every make-up day of the four notices, as the
    /// notices word them, and what the calendar says of each.
    const NOTICES: &[(&str, &str, &[&str])] = &[
        // 国办发明电〔2022〕16号
        ("2023-01-01", "2023-01-02", &[]),
        ("2023-01-21", "2023-01-27", &["2023-01-28", "2023-01-29"]),
        ("2023-04-05", "2023-04-05", &[]),
        ("2023-04-29", "2023-05-03", &["2023-04-23", "2023-05-06"]),
        ("2023-06-22", "2023-06-24", &["2023-06-25"]),
        ("2023-09-29", "2023-10-06", &["2023-10-07", "2023-10-08"]),
        // 国办发明电〔2023〕7号
        ("2024-01-01", "2024-01-01", &[]),
        ("2024-02-10", "2024-02-17", &["2024-02-04", "2024-02-18"]),
        ("2024-04-04", "2024-04-06", &["2024-04-07"]),
        ("2024-05-01", "2024-05-05", &["2024-04-28", "2024-05-11"]),
        ("2024-06-10", "2024-06-10", &[]),
        ("2024-09-15", "2024-09-17", &["2024-09-14"]),
        ("2024-10-01", "2024-10-07", &["2024-09-29", "2024-10-12"]),
        // 国办发明电〔2024〕12号
        ("2025-01-01", "2025-01-01", &[]),
        ("2025-01-28", "2025-02-04", &["2025-01-26", "2025-02-08"]),
        ("2025-04-04", "2025-04-06", &[]),
        ("2025-05-01", "2025-05-05", &["2025-04-27"]),
        ("2025-05-31", "2025-06-02", &[]),
        ("2025-10-01", "2025-10-08", &["2025-09-28", "2025-10-11"]),
        // 国办发明电〔2025〕7号
        ("2026-01-01", "2026-01-03", &["2026-01-04"]),
        ("2026-02-15", "2026-02-23", &["2026-02-14", "2026-02-28"]),
        ("2026-04-04", "2026-04-06", &[]),
        ("2026-05-01", "2026-05-05", &["2026-05-09"]),
        ("2026-06-19", "2026-06-21", &[]),
        ("2026-09-25", "2026-09-27", &[]),
        ("2026-10-01", "2026-10-07", &["2026-09-20", "2026-10-10"]),
    ];

    #[test]
    fn every_holiday_and_make_up_day_of_2023_to_2026() {
        let calendar = calendar();
        let mut holidays = 0;
        let mut make_up = 0;
        for (first, last, worked) in NOTICES {
            for day in date(first).iter_days().take_while(|d| *d <= date(last)) {
                assert_eq!(calendar.is_workday(day), Ok(false), "{day} is a day off");
                holidays += 1;
            }
            for day in *worked {
                assert_eq!(calendar.is_workday(date(day)), Ok(true), "{day} is worked");
                make_up += 1;
            }
        }
        // Nothing else differs from the plain week.
        let listed: usize = shipped().iter().map(|y| y.days.len()).sum();
        assert_eq!(listed, holidays + make_up);
        assert_eq!(make_up, 26);
        for year in shipped() {
            assert_eq!(year.validate(), Ok(()), "{}", year.year);
        }
    }

    #[test]
    fn working_days_per_year_match_the_notices() {
        // 365 days, 104/105 weekend days, then the notices' shifts.
        let counts: Vec<(i32, u32)> = shipped().iter().map(|y| (y.year, y.workdays())).collect();
        assert_eq!(
            counts,
            vec![(2023, 249), (2024, 251), (2025, 248), (2026, 248)]
        );
    }

    #[test]
    fn the_day_a_period_starts_is_not_counted() {
        let calendar = calendar();
        // A Thursday + 5 working days: the next Thursday.
        assert_eq!(
            calendar.add_workdays(date("2023-07-13"), 5),
            Ok(date("2023-07-20"))
        );
        // Over the National Day week to the make-up Saturday.
        assert_eq!(
            calendar.add_workdays(date("2023-09-28"), 1),
            Ok(date("2023-10-07"))
        );
        // From a holiday: the first working day after it.
        assert_eq!(
            calendar.add_workdays(date("2024-02-12"), 1),
            Ok(date("2024-02-18"))
        );
        assert_eq!(
            calendar.add_workdays(date("2023-07-15"), 0),
            Ok(date("2023-07-15"))
        );
        assert_eq!(
            calendar.workdays_between(date("2023-09-28"), date("2023-10-09")),
            Ok(3)
        );
        assert_eq!(
            calendar.workdays_between(date("2023-10-09"), date("2023-09-28")),
            Ok(0)
        );
    }

    #[test]
    fn a_year_not_loaded_is_named_never_guessed() {
        let calendar = calendar();
        assert_eq!(
            calendar.add_workdays(date("2026-12-25"), 10),
            Err(NotLoaded { year: 2027 })
        );
        assert_eq!(
            calendar.is_workday(date("2022-12-30")),
            Err(NotLoaded { year: 2022 })
        );
    }

    #[test]
    fn a_loaded_year_with_faults_lists_them_all() {
        let year = YearCalendar {
            year: 2027,
            notice: "国办发明电〔2026〕X号".into(),
            days: vec![
                SpecialDay {
                    date: date("2027-02-10"),
                    kind: DayKind::Workday,
                    name: "春节".into(),
                },
                SpecialDay {
                    date: date("2026-10-01"),
                    kind: DayKind::Holiday,
                    name: "国庆节".into(),
                },
                SpecialDay {
                    date: date("2027-02-10"),
                    kind: DayKind::Holiday,
                    name: String::new(),
                },
            ],
        };
        let faults = year.validate().unwrap_err();
        assert_eq!(faults.len(), 4, "{faults:?}");
    }
}
