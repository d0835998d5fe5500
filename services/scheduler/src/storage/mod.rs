//! The scheduler's SQL.

mod calendar;
mod campaigns;
mod findings;
mod rechecks;
mod reminders;

pub use calendar::*;
pub use campaigns::*;
pub use findings::*;
pub use rechecks::*;
pub use reminders::*;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The statuses in which a finding's unit still works on it.
pub const PENDING_STATES: [&str; 2] = ["open", "in_progress"];
