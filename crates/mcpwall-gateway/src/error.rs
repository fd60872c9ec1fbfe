use thiserror::Error;

/// Errors of the gateway's transports.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The server command could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command as given.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The lockfile holds something mcpwall cannot use.
    #[error("{}: {source}", path.display())]
    Lockfile {
        /// The lockfile.
        path: std::path::PathBuf,
        /// What is wrong with it.
        source: mcpwall_policy::PolicyError,
    },
    /// The lockfile could not be read or written.
    #[error("{}: {source}", path.display())]
    LockIo {
        /// The lockfile.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
    /// Reading from or writing to a peer failed.
    #[error("{what}: {source}")]
    Io {
        /// Which stream.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}
