//! The one clock every service reads. Dates are days in Asia/Shanghai
//! (UTC+8 all year: China keeps no daylight saving time since 1991).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Asia/Shanghai, the zone of every date in zhenggai (整改时限, milestones).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Where a service reads the time from. Cheap to clone; every clone reads
/// the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    _private: (),
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Today in Asia/Shanghai.
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&shanghai()).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_midnight_in_beijing() {
        let late_utc = DateTime::parse_from_rfc3339("2023-07-19T16:30:00Z")
            .unwrap()
            .with_timezone(&shanghai());
        assert_eq!(late_utc.date_naive().to_string(), "2023-07-20");
    }
}
