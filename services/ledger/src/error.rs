//! The ledger's errors, mapped to gRPC statuses in one place.

use zhenggai_common::ErrorCode;

use crate::domain::finding::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The request fails validation; every fault is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Missing, or outside the caller's subtree (the same answer, so that
    /// nobody learns what exists elsewhere).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The thing is not in a state that allows the request.
    #[error("{0}")]
    Conflict(String),
    #[error("an update needs the version it was read at (If-Match)")]
    VersionRequired,
    #[error("the finding is at version {current}, not {expected}: read it again")]
    StaleVersion { expected: u64, current: u64 },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedType(String),
    /// A peer service refused or failed; its status passes through.
    #[error("{0}")]
    Peer(#[from] tonic::Status),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl LedgerError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(vec![reason.into()])
    }
}

impl From<Refusal> for LedgerError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotAllowed(reason) => Self::PermissionDenied(reason),
            Refusal::Conflict(reason) => Self::Conflict(reason),
            Refusal::Invalid(reason) => Self::invalid(reason),
        }
    }
}

impl From<LedgerError> for tonic::Status {
    fn from(error: LedgerError) -> Self {
        let code = match &error {
            LedgerError::Invalid(faults) => {
                return ErrorCode::InvalidArgument.status_listing(faults);
            }
            LedgerError::Peer(status) => return status.clone(),
            LedgerError::Database(db) => {
                let code = zhenggai_common::error::database_error(db);
                return code.status(code.title());
            }
            LedgerError::NotFound(_) => ErrorCode::NotFound,
            LedgerError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            LedgerError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            LedgerError::Conflict(_) => ErrorCode::Conflict,
            LedgerError::VersionRequired => ErrorCode::PreconditionRequired,
            LedgerError::StaleVersion { .. } => ErrorCode::PreconditionFailed,
            LedgerError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            LedgerError::UnsupportedType(_) => ErrorCode::UnsupportedMediaType,
        };
        code.status(error.to_string())
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
