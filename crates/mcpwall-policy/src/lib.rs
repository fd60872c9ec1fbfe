//! mcpwall's policy model, without I/O: what a gateway decides from what it knows.
//!
//! - [`pins`]: tool pins. The first time a server is seen, each tool's definition is pinned by
//!   its hash in a lockfile (`mcpwall.lock`); any later change, a tool added or a pinned one
//!   changed, is a rug pull and stays withheld until a person approves it.
//! - [`rules`]: the policy file: which tools may be called, with which arguments, how often;
//!   which resources may be read and prompts fetched.
//! - [`labels`]: tool labels (private, untrusted, sink) and session taint.
//! - [`diff`]: line diffs of definitions, for the person approving.

mod access;
pub mod diff;
mod error;
pub mod labels;
pub mod pins;
pub mod rules;
mod servers;

pub use error::PolicyError;
pub use labels::{Labels, Taint};
pub use pins::{Listing, Lock, PinCheck, ToolStatus, approve_command, sha256_hex, shell_word};
pub use rules::{Decision, Policy, RateLimits, glob};
pub use servers::{DEFAULT_THRESHOLD, SandboxSettings, ServerSettings};
