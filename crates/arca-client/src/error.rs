//! What can go wrong talking to an S3 endpoint, with a short stable code per
//! failure so that callers (the load generator) can count errors by kind.

use http::StatusCode;

/// An error from the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint URL cannot be used.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    /// The request cannot be built (a header value that is not valid HTTP, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No connection could be made.
    #[error("cannot connect to {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    /// The connection failed while sending the request or reading the answer.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("{}", s3_message(*.status, code, message))]
    S3 {
        status: StatusCode,
        /// The S3 error code from the XML body (`NoSuchKey`, ...), or
        /// `HTTP <status>` when the answer had none (HEAD, a proxy's page).
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The server answered something this client cannot read.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl Error {
    /// A short stable name for the failure, for counting errors by kind:
    /// the S3 error code, or `Connect`, `Transport`, `Protocol`, ...
    pub fn code(&self) -> &str {
        match self {
            Error::InvalidEndpoint { .. } => "InvalidEndpoint",
            Error::InvalidRequest(_) => "InvalidRequest",
            Error::Connect { .. } => "Connect",
            Error::Transport(_) => "Transport",
            Error::S3 { code, .. } => code,
            Error::Protocol(_) => "Protocol",
        }
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::S3 { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn s3_message(status: StatusCode, code: &str, message: &str) -> String {
    if message.is_empty() {
        format!("{code} (HTTP {})", status.as_u16())
    } else {
        format!("{code} (HTTP {}): {message}", status.as_u16())
    }
}

/// The code used for an error answer without an S3 error body.
pub(crate) fn status_code_name(status: StatusCode) -> String {
    format!("HTTP {}", status.as_u16())
}
