//! The wire side of mcpwall: JSON-RPC 2.0 messages as MCP uses them.
//!
//! - [`parse_strict`]: JSON that every component reads the same way (no duplicate keys, valid
//!   UTF-8, bounded depth).
//! - [`Message`]: what a parsed frame is (request, notification, response), checked against
//!   JSON-RPC's rules, so that a malformed message cannot pass as something it is not.
//! - [`FrameReader`]: newline-delimited stdio frames with a size cap.
//! - [`SseReader`]: server-sent events (MCP's HTTP transports), with a size cap.
//! - [`cut_member`]: the id and kind of a frame over the cap, from its kept ends.
//!
//! It makes no policy decisions: that is the gateway's job.

mod cut;
mod error;
mod framing;
mod message;
mod sse;
mod strict;

pub use cut::{Cut, cut_member, needs_tail};
pub use error::ProtocolError;
pub use framing::{
    DEFAULT_MAX_FRAME, Frame, FrameReader, FrameSplitter, OVERSIZE_HEAD, OVERSIZE_TAIL, keep_tail,
};
pub use message::{Id, MAX_BATCH, Message, Parsed, parse_message};
pub use sse::{SseEvent, SseReader};
pub use strict::{MAX_DEPTH, fold_key, parse_strict};

/// HTTP headers a client of MCP's HTTP transports sets itself, or that belong to the
/// connection (lower case): configuration that names one is refused, or it could steer the
/// session (its id, its version, where a stream resumes) or the framing.
pub const TRANSPORT_HEADERS: [&str; 16] = [
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-connection",
];
