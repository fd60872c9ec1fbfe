//! A remote upstream: an MCP server at a Streamable HTTP URL (or at a legacy HTTP+SSE one,
//! in [`legacy`]). Each client session of the gateway has an upstream session of its own
//! there; no process is started.
//!
//! Every message for the server is POSTed (after inspection), concurrently; what comes back, a
//! JSON body or an SSE stream, is read as server frames and goes through the same pipeline as
//! a stdio server's output. Once the upstream session exists, a GET stream carries the
//! server's own requests and notifications.

mod legacy;
mod modern;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mcpwall_protocol::{Frame, OVERSIZE_HEAD, SseEvent, SseReader, keep_tail, needs_tail};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::session::HttpSession;
use crate::inspect::codes;

/// How long a request to the server may take to be answered (its body may stream for longer).
const CONNECT: Duration = Duration::from_secs(30);
/// How long `initialize`'s answer may take to arrive whole: the link sends nothing else
/// meanwhile, so a server that opens the stream and never answers must not hold it for ever.
const INITIALIZE: Duration = Duration::from_secs(30);
/// How long the response to a POST that asked nothing (notifications, answers) is read.
const QUIET_RESPONSE: Duration = Duration::from_secs(30);
/// How long past the call timeout a response to requests is read.
const LATE_GRACE: Duration = Duration::from_secs(5);

/// Where a remote upstream is, and how to speak to it.
#[derive(Clone, Debug)]
pub struct RemoteUpstream {
    /// Its Streamable HTTP endpoint.
    pub url: String,
    /// Headers sent with every request (an `Authorization`, for instance).
    pub headers: Vec<(String, String)>,
    /// How the server speaks HTTP.
    pub transport: RemoteTransport,
}

/// The HTTP transports of MCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemoteTransport {
    /// Streamable HTTP (protocol 2025-03-26 and later): one endpoint for POST, GET, DELETE.
    #[default]
    StreamableHttp,
    /// HTTP+SSE (protocol 2024-11-05): a GET stream that names where to POST.
    Sse,
}

/// Messages queued for one remote server, at most: a client that sends faster than the
/// server takes them waits.
const QUEUE: usize = 64;

impl RemoteUpstream {
    /// Checks the configured headers: valid names and values, none that mcpwall sets itself.
    pub fn check(&self) -> Result<(), String> {
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("{:?} is not a valid header name", k))?;
            // `Mcp-*` headers say what a message is (its method, name, mirrored arguments):
            // mcpwall writes them from the body it sends.
            if mcpwall_protocol::TRANSPORT_HEADERS.contains(&name.as_str())
                || name.as_str().starts_with("mcp-")
            {
                return Err(format!("the header {k} is mcpwall's to set"));
            }
            HeaderValue::from_str(v).map_err(|_| {
                format!("the value of header {k} is not valid (a line break in the variable?)")
            })?;
        }
        Ok(())
    }
}

/// One client session's link to a remote server.
pub(super) struct Remote {
    client: reqwest::Client,
    url: String,
    transport: RemoteTransport,
    headers: Vec<(HeaderName, HeaderValue)>,
    max: usize,
    state: Mutex<State>,
    /// To the task that sends messages in order; `None` once closed.
    queue: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    /// The DELETE that tells the server its session is over, once sent.
    farewell: Mutex<Option<JoinHandle<()>>>,
    /// Spoken to in protocol 2026-07-28, without a session: every request alone, with the
    /// version and routing headers it calls for (see [`modern`]).
    modern: bool,
}

#[derive(Default)]
struct State {
    /// The upstream's `Mcp-Session-Id`.
    session: Option<String>,
    /// The protocol version the server chose at `initialize`.
    version: Option<String>,
    closed: bool,
    /// The GET stream's task.
    listener: Option<JoinHandle<()>>,
    /// Tasks reading answers that stream.
    readers: JoinSet<()>,
    /// At 2026-07-28: each request's task, by its id (JSON text), so that cancelling it can
    /// drop its response (what cancels a request at that version).
    in_flight: HashMap<String, tokio::task::AbortHandle>,
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

/// The ids a frame answers (as JSON text).
fn answered(frame: &[u8], into: &mut HashSet<String>) {
    let items = match serde_json::from_slice::<Value>(frame) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(_) => return,
    };
    for m in items.iter().filter(|m| m.get("method").is_none()) {
        if let Some(id) = m.get("id") {
            into.insert(id.to_string());
        }
    }
}

impl Remote {
    /// A link to `upstream` for `session`; its messages are sent in order by a task of its own.
    pub(super) fn start(
        client: reqwest::Client,
        upstream: &RemoteUpstream,
        max: usize,
        modern: bool,
    ) -> (Arc<Self>, mpsc::Receiver<Vec<u8>>) {
        let headers = upstream
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
                let mut value = HeaderValue::from_str(v).ok()?;
                value.set_sensitive(true);
                Some((name, value))
            })
            .collect();
        let (tx, rx) = mpsc::channel(QUEUE);
        let remote = Arc::new(Remote {
            client,
            url: upstream.url.clone(),
            transport: upstream.transport,
            headers,
            max,
            state: Mutex::new(State::default()),
            queue: Mutex::new(Some(tx)),
            farewell: Mutex::new(None),
            modern,
        });
        (remote, rx)
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        self.request_to(method, &self.url)
    }

    fn request_to(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, url);
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        if self.modern {
            return r.header("mcp-protocol-version", modern::VERSION);
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

    /// Queues a frame for the server (waiting while the queue is full).
    pub(super) async fn send(&self, frame: Vec<u8>) {
        let tx = lock(&self.queue).clone();
        if let Some(tx) = tx {
            let _ = tx.send(frame).await;
        }
    }

    /// Sends the queued frames, one after the other, until the link closes. Each answer is
    /// read beside the next sends, as its body may stream for as long as the call takes;
    /// `initialize`'s is read first, so that what follows carries the session and version.
    pub(super) async fn run(
        self: Arc<Self>,
        session: Arc<HttpSession>,
        mut queue: mpsc::Receiver<Vec<u8>>,
    ) {
        if self.transport == RemoteTransport::Sse {
            return self.run_legacy(session, queue).await;
        }
        if self.modern {
            return self.run_modern(session, queue).await;
        }
        while let Some(frame) = queue.recv().await {
            let (ids, init) = requests(&frame);
            let had_session = lock(&self.state).session.is_some();
            let sent = self
                .request(reqwest::Method::POST)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(frame);
            let response = match tokio::time::timeout(CONNECT, sent.send()).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    let why = format!("cannot reach it: {}", e.without_url());
                    fail(&session, &ids, &why).await;
                    continue;
                }
                Err(_) => {
                    fail(&session, &ids, "it did not answer").await;
                    continue;
                }
            };
            let status = response.status();
            if init && status.is_success() {
                let id = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                lock(&self.state).session = id;
            }
            if status == reqwest::StatusCode::NOT_FOUND && had_session {
                // The server ended its session: so does this one.
                fail(&session, &ids, "it ended the session").await;
                session.close();
                return;
            }
            if !status.is_success() {
                fail(&session, &ids, &format!("it answered HTTP {status}")).await;
                continue;
            }
            let asked = ids.clone();
            let reader = {
                let (remote, session) = (Arc::clone(&self), Arc::clone(&session));
                async move {
                    let seen = remote.read(&session, response, &ids, init, false).await;
                    let missing: Vec<Value> = ids
                        .into_iter()
                        .filter(|id| !seen.contains(&id.to_string()))
                        .collect();
                    fail(&session, &missing, "it sent no answer").await;
                }
            };
            if init {
                if tokio::time::timeout(INITIALIZE, reader).await.is_err() {
                    fail(&session, &asked, "it did not answer initialize in time").await;
                }
            } else {
                // Every response is read for a bounded time: a server that keeps a stream
                // open without answering must not hold a connection and a task for each call
                // it was sent for as long as the session lasts. An answer that came after the
                // call timeout is refused by the pipeline anyway.
                let limit = if asked.is_empty() {
                    QUIET_RESPONSE
                } else {
                    session.call_timeout().saturating_add(LATE_GRACE)
                };
                let reader = async move {
                    let _ = tokio::time::timeout(limit, reader).await;
                };
                let mut s = lock(&self.state);
                if s.closed {
                    return;
                }
                while s.readers.try_join_next().is_some() {}
                s.readers.spawn(reader);
            }
        }
    }

    /// Reads a response's messages into the pipeline, until it ends or every one of `ids` is
    /// answered; returns the ids answered. An `initialize` result fixes the protocol version
    /// (and opens the GET stream) before it reaches the client, so that the client's next
    /// message goes out with both. `listening`: it is the GET stream, reopened when it ends.
    async fn read(
        self: &Arc<Self>,
        session: &Arc<HttpSession>,
        mut response: reqwest::Response,
        ids: &[Value],
        init: bool,
        listening: bool,
    ) -> HashSet<String> {
        let sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"));
        let mut seen = HashSet::new();
        let done = |seen: &HashSet<String>| {
            !ids.is_empty() && ids.iter().all(|id| seen.contains(&id.to_string()))
        };
        let mut frames = Vec::new();
        if sse {
            let mut reader = SseReader::default();
            let mut tries = 0;
            loop {
                while let Ok(Some(chunk)) = response.chunk().await {
                    reader.feed(&chunk, self.max, &mut frames);
                    for event in frames.drain(..).filter(SseEvent::is_message) {
                        tries = 0;
                        match event.oversize {
                            Some(len) => {
                                session
                                    .server_frame(cut(len, event.data, event.tail), self.max)
                                    .await
                            }
                            None => {
                                let track = !ids.is_empty();
                                self.deliver(session, event.data, init, &mut seen, track)
                                    .await
                            }
                        }
                    }
                    if done(&seen) {
                        return seen;
                    }
                }
                // The stream ended with answers still to come (the GET stream: at all). A
                // server that gave event ids may be asked for the rest.
                // A POST that asked nothing (notifications, answers) has nothing to resume.
                if !listening && ids.is_empty() {
                    return seen;
                }
                let Some(next) = self.resume_stream(&reader, tries, listening).await else {
                    return seen;
                };
                response = next;
                tries += 1;
                reader = reader.resumed();
            }
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > self.max {
                let frame = drain_oversize(body, &mut response).await;
                session.server_frame(frame, self.max).await;
                return seen;
            }
        }
        if body.iter().any(|b| !b.is_ascii_whitespace()) {
            self.deliver(session, body, init, &mut seen, true).await;
        }
        seen
    }

    /// Reopens a stream that ended early: a GET with `Last-Event-ID` (the server sends what
    /// came after), after the wait the server asked for, or a second, doubling up to 30 s. A
    /// POST's stream is resumed only when the server gave an id, and 5 times at most; the GET
    /// stream for as long as the session lasts.
    async fn resume_stream(
        &self,
        reader: &SseReader,
        mut tries: u32,
        listening: bool,
    ) -> Option<reqwest::Response> {
        // A server may ask for a short wait, not for none: one that closes its stream after
        // every event would otherwise be asked again a hundred times a second.
        let base = Duration::from_millis(reader.retry.unwrap_or(1000).clamp(250, 30_000));
        loop {
            if !listening && (reader.last_id.is_none() || tries >= 5) {
                return None;
            }
            let wait = base
                .saturating_mul(1 << tries.min(5))
                .min(Duration::from_secs(30));
            tokio::time::sleep(wait).await;
            if lock(&self.state).closed {
                return None;
            }
            let mut sent = self
                .request(reqwest::Method::GET)
                .header("accept", "text/event-stream");
            if let Some(id) = &reader.last_id {
                sent = sent.header("last-event-id", id);
            }
            match tokio::time::timeout(CONNECT, sent.send()).await {
                Ok(Ok(r)) if r.status().is_success() => return Some(r),
                // No GET stream (405), the session is gone (404), or mcpwall may not (400,
                // 401, 403): nothing to resume.
                Ok(Ok(r)) if matches!(r.status().as_u16(), 400 | 401 | 403 | 404 | 405) => {
                    return None;
                }
                // Unreachable, busy (409: the old stream not yet gone; 429; 5xx): later.
                _ => tries += 1,
            }
        }
    }

    async fn deliver(
        self: &Arc<Self>,
        session: &Arc<HttpSession>,
        frame: Vec<u8>,
        init: bool,
        seen: &mut HashSet<String>,
        track: bool,
    ) {
        // Only a POST's own requests are tracked (the GET stream's set would only grow).
        if track {
            answered(&frame, seen);
        }
        if init && let Some(v) = version_of(&frame) {
            lock(&self.state).version = Some(v);
            self.listen(session);
        }
        session.server_frame(Frame::Data(frame), self.max).await;
    }

    /// Opens the GET stream for the server's own messages (once; a server without one
    /// answers 405, and that is that).
    fn listen(self: &Arc<Self>, session: &Arc<HttpSession>) {
        let mut s = lock(&self.state);
        if s.closed || s.listener.is_some() {
            return;
        }
        let (remote, session) = (Arc::clone(self), Arc::clone(session));
        s.listener = Some(tokio::spawn(async move {
            let sent = remote
                .request(reqwest::Method::GET)
                .header("accept", "text/event-stream");
            if let Ok(Ok(r)) = tokio::time::timeout(CONNECT, sent.send()).await
                && r.status().is_success()
            {
                remote.read(&session, r, &[], false, true).await;
            }
        }));
    }

    /// Ends the upstream session: nothing more is sent or read, and the server is told
    /// (DELETE).
    pub(super) fn close(self: &Arc<Self>) {
        let id = {
            let mut s = lock(&self.state);
            s.closed = true;
            if let Some(l) = s.listener.take() {
                l.abort();
            }
            s.readers.abort_all();
            s.session.clone()
        };
        lock(&self.queue).take();
        if id.is_some() {
            let remote = Arc::clone(self);
            let task = tokio::spawn(async move {
                let sent = remote.request(reqwest::Method::DELETE);
                let _ = tokio::time::timeout(Duration::from_secs(5), sent.send()).await;
            });
            *lock(&self.farewell) = Some(task);
        }
    }

    /// Waits for the DELETE sent at [`Remote::close`] to be answered (or to give up).
    pub(super) async fn farewell(&self) {
        let task = lock(&self.farewell).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// How much more of a body over the size cap is read, and for how long, to find its end (where
/// a sender that writes the id last put it); past either, only its beginning is looked at.
const DRAIN_BYTES: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A JSON body over the size cap, `body` its first bytes read: when they show what it is but
/// not its id, the rest is read and dropped, within bounds, keeping its last bytes.
async fn drain_oversize(mut body: Vec<u8>, response: &mut reqwest::Response) -> Frame {
    let mut tail = Vec::new();
    keep_tail(&mut tail, &body);
    let mut len = body.len();
    body.truncate(OVERSIZE_HEAD);
    body.shrink_to_fit();
    if !needs_tail(&body) {
        return Frame::Oversize {
            len,
            head: body,
            tail: Vec::new(),
        };
    }
    let (limit, deadline) = (
        len.saturating_add(DRAIN_BYTES),
        tokio::time::Instant::now() + DRAIN_TIME,
    );
    let ended = loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                len += chunk.len();
                keep_tail(&mut tail, &chunk);
                if len > limit {
                    break false;
                }
            }
            Ok(Ok(None)) => break true,
            Ok(Err(_)) | Err(_) => break false,
        }
    };
    Frame::Oversize {
        len,
        head: body,
        tail: if ended { tail } else { Vec::new() },
    }
}

/// What an SSE event over the size cap becomes: its first and last bytes are all that was
/// kept.
fn cut(len: usize, head: Vec<u8>, tail: Vec<u8>) -> Frame {
    Frame::Oversize { len, head, tail }
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
    fn configured_headers_are_checked() {
        let up = |k: &str, v: &str| RemoteUpstream {
            url: "https://x.example/mcp".to_owned(),
            headers: vec![(k.to_owned(), v.to_owned())],
            transport: RemoteTransport::default(),
        };
        assert!(up("Authorization", "Bearer abc").check().is_ok());
        assert!(up("Mcp-Session-Id", "x").check().is_err());
        assert!(up("Mcp-Method", "tools/list").check().is_err());
        assert!(up("Mcp-Param-Region", "eu").check().is_err());
        assert!(up("Accept", "x").check().is_err());
        assert!(up("Bad Name", "x").check().is_err());
        assert!(up("X-Key", "abc\n").check().is_err());
    }

    #[test]
    fn request_ids_are_found() {
        let (ids, init) = requests(br#"[{"jsonrpc":"2.0","id":1,"method":"initialize"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":"r","result":{}}]"#);
        assert_eq!(ids, vec![json!(1)]);
        assert!(init);
    }
}
