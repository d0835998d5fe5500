//! The catalogue's errors, mapped to gRPC statuses in one place.

use zhenggai_common::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
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
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl CatalogueError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(vec![reason.into()])
    }
}

impl From<CatalogueError> for tonic::Status {
    fn from(error: CatalogueError) -> Self {
        match &error {
            CatalogueError::Invalid(faults) => ErrorCode::InvalidArgument.status_listing(faults),
            CatalogueError::NotFound(_) => ErrorCode::NotFound.status(error.to_string()),
            CatalogueError::AlreadyExists(_) => ErrorCode::AlreadyExists.status(error.to_string()),
            CatalogueError::PermissionDenied(_) => {
                ErrorCode::PermissionDenied.status(error.to_string())
            }
            CatalogueError::Database(db) => {
                let code = zhenggai_common::error::database_error(db);
                code.status(code.title())
            }
        }
    }
}

pub type Result<T, E = CatalogueError> = std::result::Result<T, E>;
