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
    /// Reading from or writing to a peer failed.
    #[error("{what}: {source}")]
    Io {
        /// Which stream.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}
