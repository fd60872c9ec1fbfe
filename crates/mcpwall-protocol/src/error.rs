use thiserror::Error;

/// Why a frame was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not valid JSON (or not UTF-8, or trailing bytes after the value).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Valid JSON that is not a JSON-RPC 2.0 message.
    #[error("invalid JSON-RPC message: {0}")]
    Invalid(String),
}
