//! The scheduler's errors, mapped to gRPC statuses in one place.

use zhenggai_common::ErrorCode;

use crate::domain::calendar::NotLoaded;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The request fails validation; every fault is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Missing, or outside the caller's subtree (the same answer).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Conflict(String),
    /// The working-day calendar lacks a year the answer needs.
    #[error(transparent)]
    CalendarMissing(#[from] NotLoaded),
    /// A peer service refused or failed; its status passes through.
    #[error("{0}")]
    Peer(#[from] tonic::Status),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl SchedulerError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(vec![reason.into()])
    }
}

impl From<SchedulerError> for tonic::Status {
    fn from(error: SchedulerError) -> Self {
        let code = match &error {
            SchedulerError::Invalid(faults) => {
                return ErrorCode::InvalidArgument.status_listing(faults);
            }
            SchedulerError::Peer(status) => return status.clone(),
            SchedulerError::Database(db) => {
                let code = zhenggai_common::error::database_error(db);
                return code.status(code.title());
            }
            SchedulerError::NotFound(_) => ErrorCode::NotFound,
            SchedulerError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            SchedulerError::Conflict(_) | SchedulerError::CalendarMissing(_) => ErrorCode::Conflict,
        };
        code.status(error.to_string())
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
