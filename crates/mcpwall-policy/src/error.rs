use thiserror::Error;

/// Errors of the policy model.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The lockfile is not valid TOML, or not a lockfile.
    #[error("the lockfile is invalid: {0}")]
    Lockfile(String),
    /// The lockfile was written by a newer mcpwall.
    #[error("the lockfile has version {0}; this mcpwall reads version 1")]
    Version(u32),
    /// The policy file is invalid (the message names the line).
    #[error("the policy is invalid: {0}")]
    Policy(String),
    /// An approval named something that has nothing pending.
    #[error("{0}")]
    NothingPending(String),
}
