//! The CLI's error: a kind QA scripts can match on, a one-line message, and the documented
//! exit code. Everything a subcommand can fail with is mapped here, in one place.

use std::fmt;

use gridworker_core::Error as CoreError;

/// What went wrong, as scripts see it (`{"error": {"kind": ...}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Wrong flags, malformed values, unknown ids, missing files: nothing was written.
    InvalidInput,
    /// An id the device does not know (also exit 2: it is bad input).
    NotFound,
    /// The server could not be reached or the connection failed; work stays queued.
    Network,
    /// The server refused the credentials.
    Authentication,
    /// The store is encrypted and the key is missing or wrong; nothing was changed.
    Locked,
    /// The server needs a newer protocol than this build speaks (426): the app must be
    /// updated; retrying changes nothing. Work stays queued.
    UpdateRequired,
    /// A scenario replay ran but its expectations were not met.
    ExpectationFailed,
    /// Anything else (storage, server errors, bugs).
    Internal,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::InvalidInput => "invalid_input",
            Kind::NotFound => "not_found",
            Kind::Network => "network",
            Kind::Authentication => "authentication",
            Kind::Locked => "locked",
            Kind::UpdateRequired => "update_required",
            Kind::ExpectationFailed => "expectation_failed",
            Kind::Internal => "internal",
        }
    }

    /// The documented exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::InvalidInput | Kind::NotFound => 2,
            Kind::Network => 3,
            Kind::Authentication => 4,
            Kind::Locked => 5,
            Kind::UpdateRequired => 6,
            Kind::ExpectationFailed | Kind::Internal => 1,
        }
    }
}

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    pub kind: Kind,
    pub message: String,
}

impl CliError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: one_line(&message.into()),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CliError::new(Kind::InvalidInput, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        CliError::new(Kind::Internal, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Collapses a possibly multi-line message (clap, nested errors) into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let kind = match &e {
            CoreError::InvalidInput { .. } | CoreError::InvalidState { .. } => Kind::InvalidInput,
            CoreError::NotFound { .. } => Kind::NotFound,
            CoreError::Network { .. } => Kind::Network,
            CoreError::Authentication { .. } => Kind::Authentication,
            CoreError::Locked { .. } => Kind::Locked,
            CoreError::ClientTooOld { .. } => Kind::UpdateRequired,
            _ => Kind::Internal,
        };
        CliError::new(kind, e.to_string())
    }
}

impl From<gridworker_fixtures::FixtureError> for CliError {
    fn from(e: gridworker_fixtures::FixtureError) -> Self {
        CliError::invalid(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::internal(format!("I/O error: {e}"))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::internal(format!("JSON error: {e}"))
    }
}

/// Result of a subcommand.
pub type CliResult<T> = Result<T, CliError>;
