//! Audit events: one per decision that changed traffic (and, when asked, per message).

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What the gateway did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forwarded unchanged.
    Allow,
    /// Forwarded with secrets or personal data replaced.
    Redact,
    /// Not forwarded; the sender got an error.
    Block,
    /// Forwarded without the parts that were removed (poisoned tools, server instructions).
    Filter,
    /// Not forwarded, and nobody could be told (a response to no pending request, a frame from
    /// the server that cannot be read).
    Drop,
    /// mcpwall answered in the server's place: the call timed out, or the server is gone.
    Fail,
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u128,
    /// Which way the message was going: `client_to_server` or `server_to_client`.
    pub direction: &'static str,
    /// The upstream server's name.
    pub server: String,
    /// The JSON-RPC method (for a response: the method of the request it answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The tool concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// What was done.
    pub verdict: Verdict,
    /// The rules that decided it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// A human sentence.
    pub detail: String,
}

impl Event {
    pub(crate) fn now() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }
}

/// Where events go. Implementations must not block for long: they run on the message path.
pub trait Audit: Send + Sync {
    /// Records one event.
    fn record(&self, event: &Event);
}

/// Writes each event as one JSON line to a writer (a file, or standard error).
#[derive(Debug)]
pub struct JsonLines<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLines<W> {
    /// Events to `out`.
    pub fn new(out: W) -> Self {
        JsonLines {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send> Audit for JsonLines<W> {
    fn record(&self, event: &Event) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        // A poisoned lock still holds a usable writer: the panic was elsewhere.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // TODO(issue 3): a failed audit write should block traffic (fail closed, configurable);
        // for now it is ignored so that a full disk does not kill the session silently.
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}

/// Keeps events in memory (tests, and callers that forward them elsewhere).
#[derive(Debug, Default)]
pub struct Memory {
    events: Mutex<Vec<Event>>,
}

impl Memory {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Audit for Memory {
    fn record(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    }
}
