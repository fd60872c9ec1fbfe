//! A remote upstream: an MCP server at a Streamable HTTP URL. Each client session of the
//! gateway has an upstream session of its own there; no process is started.
//!
//! Every message for the server is POSTed (after inspection), concurrently; what comes back, a
//! JSON body or an SSE stream, is read as server frames and goes through the same pipeline as
//! a stdio server's output. Once the upstream session exists, a GET stream carries the
//! server's own requests and notifications.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mcpwall_protocol::Frame;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::session::HttpSession;
use crate::inspect::codes;

/// How long a request to the server may take to be answered (its body may stream for longer).
const CONNECT: Duration = Duration::from_secs(30);

/// Where a remote upstream is, and how to speak to it.
#[derive(Clone, Debug)]
pub struct RemoteUpstream {
    /// Its Streamable HTTP endpoint.
    pub url: String,
    /// Headers sent with every request (an `Authorization`, for instance).
    pub headers: Vec<(String, String)>,
}

/// One client session's link to a remote server.
pub(super) struct Remote {
    client: reqwest::Client,
    upstream: RemoteUpstream,
    max: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The upstream's `Mcp-Session-Id`.
    session: Option<String>,
    /// The protocol version the server chose at `initialize`.
    version: Option<String>,
    /// The GET stream's task.
    listener: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ids of the requests in a frame, and whether one is `initialize`.
fn requests(frame: &[u8]) -> (Vec<Value>, bool) {
    let items = match serde_json::from_slice::<Value>(frame) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(_) => Vec::new(),
    };
    let mut init = false;
    let ids = items
        .iter()
        .filter(|m| m.get("method").is_some())
        .filter_map(|m| {
            init |= m.get("method").and_then(Value::as_str) == Some("initialize");
            m.get("id").cloned()
        })
        .collect();
    (ids, init)
}

/// Events of a `text/event-stream`, from chunks as they arrive: each event's data, its lines
/// joined. An event larger than `max` is dropped whole.
#[derive(Default)]
struct SseReader {
    line: Vec<u8>,
    data: Vec<u8>,
    over: bool,
}

impl SseReader {
    fn feed(&mut self, chunk: &[u8], max: usize, out: &mut Vec<Vec<u8>>) {
        for &b in chunk {
            if b != b'\n' {
                // A line longer than any event may be is not kept: its event is dropped.
                if self.line.len() > max.saturating_add(16) {
                    self.over = true;
                } else {
                    self.line.push(b);
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                if !std::mem::take(&mut self.over) && !data.is_empty() {
                    out.push(data);
                }
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(rest);
                if self.data.len() > max {
                    self.over = true;
                    self.data.clear();
                }
            }
            // `event:`, `id:`, `retry:` and comments carry nothing to inspect.
        }
    }
}

impl Remote {
    pub(super) fn new(client: reqwest::Client, upstream: RemoteUpstream, max: usize) -> Self {
        Remote {
            client,
            upstream,
            max,
            state: Mutex::new(State::default()),
        }
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, &self.upstream.url);
        for (k, v) in &self.upstream.headers {
            r = r.header(k, v);
        }
        let s = lock(&self.state);
        if let Some(id) = &s.session {
            r = r.header("mcp-session-id", id);
        }
        if let Some(v) = &s.version {
            r = r.header("mcp-protocol-version", v);
        }
        r
    }

    /// POSTs a frame for the server; what comes back goes through `session`'s pipeline.
    pub(super) fn send(self: &Arc<Self>, session: &Arc<HttpSession>, frame: Vec<u8>) {
        let (ids, init) = requests(&frame);
        let (remote, session) = (Arc::clone(self), Arc::clone(session));
        tokio::spawn(async move {
            let sent = remote
                .request(reqwest::Method::POST)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(frame);
            let response = match tokio::time::timeout(CONNECT, sent.send()).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return fail(&session, &ids, &format!("cannot reach it: {e}")).await,
                Err(_) => return fail(&session, &ids, "it did not answer").await,
            };
            if let Some(id) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
            {
                let mut s = lock(&remote.state);
                if s.session.is_none() {
                    s.session = Some(id.to_owned());
                }
            }
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND && lock(&remote.state).session.is_some() {
                // The server ended its session: so does this one.
                fail(&session, &ids, "it ended the session").await;
                session.close();
                return;
            }
            if !status.is_success() {
                return fail(&session, &ids, &format!("it answered HTTP {status}")).await;
            }
            let versions = remote.read(&session, response).await;
            if init && let Some(v) = versions {
                lock(&remote.state).version = Some(v);
                remote.listen(&session);
            }
        });
    }

    /// Reads a response's messages into the pipeline; returns the protocol version an
    /// `initialize` result names, if one came.
    async fn read(
        &self,
        session: &Arc<HttpSession>,
        mut response: reqwest::Response,
    ) -> Option<String> {
        let sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        let mut version = None;
        if sse {
            let mut reader = SseReader::default();
            while let Ok(Some(chunk)) = response.chunk().await {
                let mut events = Vec::new();
                reader.feed(&chunk, self.max, &mut events);
                for e in events {
                    version = version.or_else(|| version_of(&e));
                    session.server_frame(Frame::Data(e), self.max).await;
                }
            }
            return version;
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > self.max {
                let len = body.len();
                session
                    .server_frame(Frame::Oversize { len }, self.max)
                    .await;
                return None;
            }
        }
        if body.iter().any(|b| !b.is_ascii_whitespace()) {
            version = version_of(&body);
            session.server_frame(Frame::Data(body), self.max).await;
        }
        version
    }

    /// Opens the GET stream for the server's own messages (once; a server without one
    /// answers 405, and that is that).
    fn listen(self: &Arc<Self>, session: &Arc<HttpSession>) {
        let (remote, session) = (Arc::clone(self), Arc::clone(session));
        let task = tokio::spawn(async move {
            let sent = remote
                .request(reqwest::Method::GET)
                .header("accept", "text/event-stream");
            if let Ok(Ok(r)) = tokio::time::timeout(CONNECT, sent.send()).await
                && r.status().is_success()
            {
                remote.read(&session, r).await;
            }
        });
        if let Some(old) = lock(&self.state).listener.replace(task) {
            old.abort();
        }
    }

    /// Ends the upstream session: the GET stream stops, and the server is told (DELETE).
    pub(super) fn close(self: &Arc<Self>) {
        let (listener, id) = {
            let mut s = lock(&self.state);
            (s.listener.take(), s.session.clone())
        };
        if let Some(l) = listener {
            l.abort();
        }
        if id.is_some() {
            let remote = Arc::clone(self);
            tokio::spawn(async move {
                let sent = remote.request(reqwest::Method::DELETE);
                let _ = tokio::time::timeout(Duration::from_secs(5), sent.send()).await;
            });
        }
    }
}

/// The protocol version an `initialize` result names.
fn version_of(frame: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(frame).ok()?;
    Some(v.pointer("/result/protocolVersion")?.as_str()?.to_owned())
}

/// Answers `ids` with errors in the server's place: it could not be asked, or did not answer.
/// They go through the pipeline, which then forgets the requests.
async fn fail(session: &Arc<HttpSession>, ids: &[Value], why: &str) {
    for id in ids {
        let error = json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": codes::SERVER_GONE,
                "message": format!("mcpwall: the upstream server could not answer: {why}")
            }
        });
        let frame = serde_json::to_vec(&error).unwrap_or_default();
        session.server_frame(Frame::Data(frame), usize::MAX).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_across_chunks() {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        let stream = b": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: x\n\ndata: 0123456789\n\n";
        for chunk in stream.chunks(3) {
            r.feed(chunk, 8, &mut out);
        }
        assert_eq!(out, vec![b"{\"a\":\n1}".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn request_ids_are_found() {
        let (ids, init) = requests(br#"[{"jsonrpc":"2.0","id":1,"method":"initialize"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"r","result":{}}]"#);
        assert_eq!(ids, vec![json!(1)]);
        assert!(init);
    }
}
