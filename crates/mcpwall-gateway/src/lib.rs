//! The gateway: everything between an MCP client and its servers goes through one
//! [`Inspector`], whatever the transport.
//!
//! - [`inspect`]: the pipeline. Each frame is parsed strictly, classified, and checked by the
//!   detection engine according to where it sits in the session (a `tools/list` result, a
//!   `tools/call` request, a sampling request ...). The outcome says what to forward and what to
//!   answer the sender instead.
//! - [`stdio`]: `mcpwall run`, one stdio server wrapped in place.
//! - [`http`]: `mcpwall serve`, a Streamable HTTP gateway in front of stdio servers.
//! - [`PinStore`]: the lockfile of tool pins on disk, shared by every mcpwall process.
//! - [`audit`]: one event per decision; [`quarantine`]: the originals of quarantined parts.

pub mod audit;
mod error;
pub mod http;
pub mod inspect;
mod param_headers;
mod pinstore;
pub mod quarantine;
mod session;
pub mod stdio;

pub use audit::{Audit, Event};
pub use error::GatewayError;
pub use inspect::{Direction, Inspector, Outcome, Settings};
pub use pinstore::PinStore;
