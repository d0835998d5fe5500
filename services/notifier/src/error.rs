//! The notifier's errors, mapped to gRPC statuses in one place.

use zhenggai_common::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The request fails validation; every fault is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Missing, or outside the caller's subtree (the same answer).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl NotifierError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(vec![reason.into()])
    }
}

impl From<NotifierError> for tonic::Status {
    fn from(error: NotifierError) -> Self {
        let code = match &error {
            NotifierError::Invalid(faults) => {
                return ErrorCode::InvalidArgument.status_listing(faults);
            }
            NotifierError::Database(db) => {
                let code = zhenggai_common::error::database_error(db);
                return code.status(code.title());
            }
            NotifierError::NotFound(_) => ErrorCode::NotFound,
            NotifierError::PermissionDenied(_) => ErrorCode::PermissionDenied,
        };
        code.status(error.to_string())
    }
}

pub type Result<T, E = NotifierError> = std::result::Result<T, E>;
