//! One error vocabulary over gRPC and HTTP.
//!
//! Every service maps its own error enum to an [`ErrorCode`] and sends it as a
//! `tonic::Status` whose `zg-error-code` metadata names the code. The gateway
//! reads the code back (never the message text) and answers with the HTTP
//! status and problem document that the code stands for.

use std::fmt;
use std::str::FromStr;

/// The metadata key that carries the stable code of a gRPC error.
pub const ERROR_CODE_METADATA: &str = "zg-error-code";
/// The metadata key that carries every fault of a validation error, as a
/// JSON array of strings.
pub const ERROR_LIST_METADATA: &str = "zg-errors-bin";

/// A stable, machine-readable error code shared by every service and the
/// REST API (`code` member of a problem document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed or a field fails validation.
    InvalidArgument,
    /// The body is not valid JSON or does not match the schema.
    MalformedBody,
    /// No identity, or an identity that is not valid (any more).
    Unauthenticated,
    /// Wrong username or password.
    InvalidCredentials,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The thing does not exist, or lies outside the caller's subtree.
    NotFound,
    /// Something with the same key exists already.
    AlreadyExists,
    /// The request conflicts with the current state.
    Conflict,
    /// An update without `If-Match`.
    PreconditionRequired,
    /// An update against a stale version.
    PreconditionFailed,
    /// The same idempotency key was used with another body.
    IdempotencyMismatch,
    /// The body is larger than this endpoint accepts.
    PayloadTooLarge,
    /// The file is not of a kind this endpoint accepts (judged by its bytes).
    UnsupportedMediaType,
    /// A file was read, but some of its rows cannot be taken (every bad row
    /// listed, nothing taken).
    InvalidRows,
    /// Too many attempts, or the account is locked for a while.
    TooManyRequests,
    /// A dependency (database, peer service) is not reachable right now.
    Unavailable,
    /// The request took longer than its deadline.
    Timeout,
    /// A bug or an unexpected failure; details are only in the logs.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and for parsing.
    pub const ALL: [ErrorCode; 18] = [
        Self::InvalidArgument,
        Self::MalformedBody,
        Self::Unauthenticated,
        Self::InvalidCredentials,
        Self::PermissionDenied,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Conflict,
        Self::PreconditionRequired,
        Self::PreconditionFailed,
        Self::IdempotencyMismatch,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::InvalidRows,
        Self::TooManyRequests,
        Self::Unavailable,
        Self::Timeout,
        Self::Internal,
    ];

    /// The code as it travels: in `zg-error-code` metadata and the `code` member of a problem document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::MalformedBody => "malformed_body",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::PreconditionRequired => "precondition_required",
            Self::PreconditionFailed => "precondition_failed",
            Self::IdempotencyMismatch => "idempotency_mismatch",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidRows => "invalid_rows",
            Self::TooManyRequests => "too_many_requests",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }

    /// A short human title for problem documents.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidArgument => "Invalid request",
            Self::MalformedBody => "Malformed request body",
            Self::Unauthenticated => "Authentication required",
            Self::InvalidCredentials => "Invalid username or password",
            Self::PermissionDenied => "Not allowed",
            Self::NotFound => "Not found",
            Self::AlreadyExists => "Already exists",
            Self::Conflict => "Conflict",
            Self::PreconditionRequired => "If-Match required",
            Self::PreconditionFailed => "Version is stale",
            Self::IdempotencyMismatch => "Idempotency key reused with another request",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported file type",
            Self::InvalidRows => "Rows cannot be imported",
            Self::TooManyRequests => "Too many requests",
            Self::Unavailable => "Service unavailable",
            Self::Timeout => "Request timed out",
            Self::Internal => "Internal error",
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument | Self::MalformedBody => 400,
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyMismatch | Self::InvalidRows => 422,
            Self::PreconditionRequired => 428,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// The gRPC status code the services answer with.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::InvalidArgument | Self::MalformedBody => Code::InvalidArgument,
            Self::Unauthenticated | Self::InvalidCredentials => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::Conflict | Self::PreconditionRequired | Self::PreconditionFailed => {
                Code::FailedPrecondition
            }
            Self::IdempotencyMismatch | Self::UnsupportedMediaType | Self::InvalidRows => {
                Code::InvalidArgument
            }
            Self::PayloadTooLarge | Self::TooManyRequests => Code::ResourceExhausted,
            Self::Unavailable => Code::Unavailable,
            Self::Timeout => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The code for a status that carries no `zg-error-code` (from a peer
    /// that is down, a proxy, or tonic itself).
    pub fn from_grpc_code(code: tonic::Code) -> Self {
        use tonic::Code;
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::FailedPrecondition | Code::Aborted => Self::Conflict,
            Code::ResourceExhausted => Self::TooManyRequests,
            Code::Unavailable | Code::Cancelled => Self::Unavailable,
            Code::DeadlineExceeded => Self::Timeout,
            Code::Ok | Code::Unknown | Code::Unimplemented | Code::Internal | Code::DataLoss => {
                Self::Internal
            }
        }
    }

    /// Builds the status a service answers with.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        let mut status = tonic::Status::new(self.grpc_code(), message);
        status.metadata_mut().insert(
            ERROR_CODE_METADATA,
            tonic::metadata::MetadataValue::from_static(self.as_str()),
        );
        status
    }

    /// A status that lists every fault found (validation), each on its own.
    pub fn status_listing(self, faults: &[String]) -> tonic::Status {
        let mut status = self.status(faults.join("; "));
        if let Ok(json) = serde_json::to_vec(faults) {
            status.metadata_mut().insert_bin(
                ERROR_LIST_METADATA,
                tonic::metadata::MetadataValue::from_bytes(&json),
            );
        }
        status
    }

    /// The faults a status lists, if it lists any.
    pub fn faults_of(status: &tonic::Status) -> Vec<String> {
        status
            .metadata()
            .get_bin(ERROR_LIST_METADATA)
            .and_then(|value| value.to_bytes().ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Reads the stable code back from a status.
    pub fn of(status: &tonic::Status) -> Self {
        let ours = status
            .metadata()
            .get(ERROR_CODE_METADATA)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok());
        match ours {
            Some(code) => code,
            // Not a service's answer but the connection failing under the
            // call (the peer died mid-request): tonic says Unknown and
            // keeps the transport error as the source. Retrying will work.
            None if matches!(status.code(), tonic::Code::Unknown | tonic::Code::Internal)
                && std::error::Error::source(status).is_some() =>
            {
                Self::Unavailable
            }
            None => Self::from_grpc_code(status.code()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `zg-error-code` value that names no code of this vocabulary.
#[derive(Debug, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| UnknownErrorCode(text.to_owned()))
    }
}

/// Maps a database error to the shared vocabulary. The database's own text
/// stays in the log; the client learns only that the store is unavailable or
/// that something failed.
pub fn database_error(error: &sqlx::Error) -> ErrorCode {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => {
            tracing::warn!(%error, "database unavailable");
            ErrorCode::Unavailable
        }
        // The server is shutting down, restarting or starting (class 57P),
        // or the connection broke (class 08): retrying later will work.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")) =>
        {
            tracing::warn!(%error, "database unavailable");
            ErrorCode::Unavailable
        }
        sqlx::Error::RowNotFound => ErrorCode::NotFound,
        // Data the database refuses (class 22: e.g. a NUL byte in text) is the
        // client's fault; a unique key taken by a concurrent writer is a conflict.
        sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("22")) => {
            tracing::info!(%error, "database refused the data");
            ErrorCode::InvalidArgument
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            ErrorCode::AlreadyExists
        }
        _ => {
            tracing::error!(%error, "database error");
            ErrorCode::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_a_status() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::of(&code.status("x")), code);
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), code);
        }
    }

    #[test]
    fn a_connection_failing_under_a_call_is_unavailable_not_internal() {
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let status = tonic::Status::from_error(Box::new(broken));
        assert_eq!(ErrorCode::of(&status), ErrorCode::Unavailable);
        // An answer without our code and without a transport error under it
        // keeps the plain mapping.
        let plain = tonic::Status::unknown("something odd");
        assert_eq!(
            ErrorCode::of(&plain),
            ErrorCode::from_grpc_code(tonic::Code::Unknown)
        );
        assert_ne!(ErrorCode::of(&plain), ErrorCode::Unavailable);
    }

    #[test]
    fn faults_travel_one_by_one() {
        let faults = vec![
            "row 3: name is empty".to_owned(),
            "row 4: 名称; with a semicolon".to_owned(),
        ];
        let status = ErrorCode::InvalidArgument.status_listing(&faults);
        assert_eq!(ErrorCode::faults_of(&status), faults);
        assert!(ErrorCode::faults_of(&ErrorCode::NotFound.status("x")).is_empty());
    }

    #[test]
    fn a_status_without_metadata_maps_by_grpc_code() {
        assert_eq!(
            ErrorCode::of(&tonic::Status::unavailable("down")),
            ErrorCode::Unavailable
        );
        assert_eq!(
            ErrorCode::of(&tonic::Status::unknown("?")),
            ErrorCode::Internal
        );
    }
}
