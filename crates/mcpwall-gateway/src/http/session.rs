//! One HTTP session: one client, one upstream server process, one [`Inspector`], and the
//! streams that carry the server's messages back to the client.
//!
//! A response goes to the POST that carried its request. Progress goes to the POST whose
//! request named its token. Everything else the server sends (its own requests, other
//! notifications) goes to the client's GET stream, or, when there is none, to a POST stream
//! still open (the server is most likely asking about that call), or waits, bounded, until a
//! GET stream opens.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mcpwall_protocol::{Frame, Id};
use rustix::process::Pid;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

use super::child::{ServerOut, kill_group};
use super::remote::Remote;
use super::resume::{Followed, Logs};
use crate::inspect::{Direction, Inspector, Outcome};

/// What a client stream receives.
#[derive(Debug)]
pub(super) enum Out {
    /// The response to one of the stream's requests.
    Answer(Vec<u8>),
    /// Anything else: a server request or notification.
    Other(Vec<u8>),
}

/// Frames waiting for one client stream. A client that leaves this many unread is not
/// reading; what does not fit is dropped rather than held.
pub(super) const STREAM_QUEUE: usize = 1024;

/// Server messages kept for a GET stream that is not open yet: at most this many, and this
/// many bytes (a hostile server must not make the gateway hold gigabytes for an absent client).
const BACKLOG: usize = 256;
const BACKLOG_BYTES: usize = 8 << 20;

/// Frames larger than this are inspected off the async runtime's scheduling.
const BLOCKING_FRAME: usize = 64 << 10;

/// A client stream's end of the routing table.
#[derive(Clone)]
struct Sink {
    /// Which POST (or GET) it is.
    serial: u64,
    tx: mpsc::Sender<Out>,
    /// A POST answered as plain JSON can carry only its responses.
    answers_only: bool,
}

#[derive(Default)]
struct Routes {
    /// Requests in flight, by id: the stream that waits for each answer.
    waiting: HashMap<Id, Sink>,
    /// Progress tokens of requests in flight (as JSON text): the stream that gets the reports.
    progress: HashMap<String, Sink>,
    /// The client's GET stream.
    standalone: Option<Sink>,
    backlog: VecDeque<Vec<u8>>,
    backlog_bytes: usize,
}

/// Why a POST's requests could not be registered.
#[derive(Debug)]
pub(super) enum Refused {
    /// The session has ended.
    Closed,
    /// This id is already in flight.
    Duplicate(Id),
}

/// Only what routing needs of a message: serde skips the rest without building it.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<PeekParams>,
}

#[derive(Deserialize)]
struct PeekParams {
    #[serde(rename = "progressToken", default)]
    progress_token: Option<Value>,
    #[serde(rename = "_meta", default)]
    meta: Option<PeekMeta>,
}

#[derive(Deserialize)]
struct PeekMeta {
    /// Protocol 2026-07-28: a notification of a subscription names the `subscriptions/listen`
    /// request it belongs to.
    #[serde(rename = "io.modelcontextprotocol/subscriptionId", default)]
    subscription: Option<Value>,
}

/// Why [`HttpSession::ask`] got no result.
#[derive(Debug)]
pub(super) enum Asked {
    /// The session ended, or the server went away, before it answered.
    Gone,
    /// No answer in time.
    Late,
    /// An error answer (its message), or an answer that is not one.
    Error(String),
}

/// See [`HttpSession::relay_to`].
pub(super) type Relay = Box<dyn Fn(Vec<u8>) + Send + Sync>;

pub(super) struct HttpSession {
    pub(super) id: String,
    /// The upstream's name (its path).
    pub(super) upstream: String,
    pub(super) inspector: Arc<Inspector>,
    /// The way to the server.
    pub(super) link: Link,
    /// The server process now (a crashed one is started again).
    process: Mutex<Process>,
    /// The client's `initialize` as the server got it: replayed to a restarted server.
    init: std::sync::OnceLock<Vec<u8>>,
    /// The client streams' last events (see [`super::resume`]).
    pub(super) logs: Logs,
    /// Where the server's own messages go instead of the client's streams (a member of an
    /// aggregated session: to the aggregate), in the order the server sent them.
    relay: std::sync::OnceLock<Relay>,
    /// Held for reading while a client message is inspected and sent; for writing while the
    /// server is restarted and its tools listed again, so that no message crosses a restart.
    gate: Arc<tokio::sync::RwLock<()>>,
    routes: Mutex<Routes>,
    serials: AtomicU64,
    last_seen: Mutex<Instant>,
    closed: AtomicBool,
    /// How long a full queue to the server may stay full before the server counts as stuck
    /// (the call timeout).
    stall: Duration,
}

/// A server process: its group, and whether it has exited (and was reaped: from then on the
/// group's number may be another process's, and is not to be signalled).
#[derive(Clone, Copy, Default)]
struct Process {
    group: Option<Pid>,
    exited: bool,
}

/// How frames reach the server.
pub(super) enum Link {
    /// A stdio server's input, written by whoever has a frame for it (one at a time, in the
    /// order they asked); `None` once closed.
    Stdio(tokio::sync::Mutex<Option<ChildStdin>>),
    /// A remote server, over Streamable HTTP.
    Remote(Arc<Remote>),
}

impl Link {
    pub(super) fn stdio(stdin: ChildStdin) -> Link {
        Link::Stdio(tokio::sync::Mutex::new(Some(stdin)))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The messages in a frame, one frame each (a batch is split).
fn messages(frame: Vec<u8>) -> Vec<Vec<u8>> {
    if frame.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return vec![frame];
    }
    match serde_json::from_slice::<Vec<Value>>(&frame) {
        Ok(items) => items
            .iter()
            .filter_map(|v| serde_json::to_vec(v).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Followed for HttpSession {
    fn logs(&self) -> &Logs {
        &self.logs
    }

    fn touch(&self) {
        HttpSession::touch(self);
    }
}

impl HttpSession {
    pub(super) fn new(
        id: String,
        upstream: String,
        inspector: Arc<Inspector>,
        link: Link,
        group: Option<Pid>,
        stall: Duration,
    ) -> Self {
        HttpSession {
            id,
            upstream,
            inspector,
            link,
            process: Mutex::new(Process {
                group,
                exited: false,
            }),
            init: std::sync::OnceLock::new(),
            gate: Arc::default(),
            logs: Logs::default(),
            relay: std::sync::OnceLock::new(),
            routes: Mutex::new(Routes::default()),
            serials: AtomicU64::new(1),
            last_seen: Mutex::new(Instant::now()),
            closed: AtomicBool::new(false),
            stall,
        }
    }

    pub(super) fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    pub(super) fn idle_for(&self) -> Duration {
        lock(&self.last_seen).elapsed()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Whether a client stream is open (a session with one is not idle).
    pub(super) fn has_streams(&self) -> bool {
        let r = lock(&self.routes);
        r.standalone.as_ref().is_some_and(|s| !s.tx.is_closed())
            || r.waiting.values().any(|s| !s.tx.is_closed())
    }

    /// Whether a POST stream waits for an answer here.
    pub(super) fn has_posts(&self) -> bool {
        lock(&self.routes)
            .waiting
            .values()
            .any(|s| !s.tx.is_closed())
    }

    /// The call timeout (300 s when there is none).
    pub(super) fn call_timeout(&self) -> Duration {
        self.stall
    }

    pub(super) fn next_serial(&self) -> u64 {
        self.serials.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a POST's requests: their answers (and progress) go to `tx`. Fails, changing
    /// nothing, when the session has ended or one of the ids is already in flight (in this
    /// session, or twice in the POST).
    pub(super) fn expect(
        &self,
        serial: u64,
        ids: &[Id],
        tokens: &[Value],
        tx: &mpsc::Sender<Out>,
        answers_only: bool,
    ) -> Result<(), Refused> {
        // Checked under the routes lock, which `close` takes to set the flag: a POST either
        // registers before the session's requests are abandoned, or sees it closed.
        let mut r = lock(&self.routes);
        if self.is_closed() {
            return Err(Refused::Closed);
        }
        for (i, id) in ids.iter().enumerate() {
            if r.waiting.contains_key(id) || ids[..i].contains(id) {
                return Err(Refused::Duplicate(id.clone()));
            }
        }
        let sink = Sink {
            serial,
            tx: tx.clone(),
            answers_only,
        };
        for id in ids {
            r.waiting.insert(id.clone(), sink.clone());
        }
        for t in tokens {
            r.progress.insert(t.to_string(), sink.clone());
        }
        Ok(())
    }

    /// A POST stream ended: its routes are removed, and its requests still unanswered are
    /// cancelled at the server (the client went away). The session counts as active now: a
    /// call that outlasted the idle timeout does not get its session reaped as it ends.
    pub(super) fn forget(self: &Arc<Self>, serial: u64) {
        self.touch();
        let unanswered: Vec<Id> = {
            let mut r = lock(&self.routes);
            let ids = r
                .waiting
                .iter()
                .filter(|(_, s)| s.serial == serial)
                .map(|(id, _)| id.clone())
                .collect::<Vec<_>>();
            for id in &ids {
                r.waiting.remove(id);
            }
            r.progress.retain(|_, s| s.serial != serial);
            ids
        };
        for id in unanswered {
            let cancel = serde_json::json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {
                    "requestId": id.to_value(),
                    "reason": "the client disconnected before the answer"
                }
            });
            let frame = serde_json::to_vec(&cancel).unwrap_or_default();
            // Through the pipeline, so that the request is forgotten there too.
            let o = self.inspector.inspect(Direction::ClientToServer, &frame);
            if let Some(f) = o.forward {
                self.offer_to_server(f.into_owned());
            }
        }
    }

    /// Asks the server itself, through the pipeline, and waits up to `timeout` for the
    /// result (its id is mcpwall's own: `mcpwall-own-N`).
    pub(super) async fn ask(
        self: &Arc<Self>,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, Asked> {
        let serial = self.next_serial();
        let id = Id::String(format!("mcpwall-own-{serial}"));
        let mut request =
            serde_json::json!({"jsonrpc": "2.0", "id": id.to_value(), "method": method});
        if let Some(p) = params {
            request["params"] = p;
        }
        let (tx, mut rx) = mpsc::channel(8);
        if self
            .expect(serial, std::slice::from_ref(&id), &[], &tx, true)
            .is_err()
        {
            return Err(Asked::Gone);
        }
        self.client_frame(&serde_json::to_vec(&request).unwrap_or_default(), Some(&tx))
            .await;
        drop(tx);
        let answer = tokio::time::timeout(timeout, async {
            while let Some(out) = rx.recv().await {
                if let Out::Answer(f) = out {
                    return Some(f);
                }
            }
            None
        })
        .await;
        self.forget(serial);
        let frame = match answer {
            Ok(Some(f)) => f,
            Ok(None) => return Err(Asked::Gone),
            Err(_) => return Err(Asked::Late),
        };
        let v: Value = serde_json::from_slice(&frame).map_err(|e| Asked::Error(e.to_string()))?;
        match (v.get("result"), v.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (_, Some(e)) => Err(Asked::Error(
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_owned(),
            )),
            _ => Err(Asked::Error("no result".to_owned())),
        }
    }

    /// Sends the server's own messages (those no request's stream claims: not its answers,
    /// progress or subscription events) to `relay`, at once and in order, instead of the
    /// client's streams: a member of an aggregated session hands them to the aggregate, so
    /// that what a server says before an answer reaches the client before it.
    pub(super) fn relay_to(&self, relay: Relay) {
        // What the server said before the relay was there (it started first) goes first.
        let waiting: Vec<Vec<u8>> = {
            let mut r = lock(&self.routes);
            let _ = self.relay.set(relay);
            r.backlog_bytes = 0;
            r.backlog.drain(..).collect()
        };
        if let Some(relay) = self.relay.get() {
            for f in waiting {
                relay(f);
            }
        }
    }

    /// Opens the client's GET stream (replacing an earlier one) and gives it what waited.
    /// False when the session has ended.
    pub(super) fn open_standalone(&self, serial: u64, tx: mpsc::Sender<Out>) -> bool {
        let mut r = lock(&self.routes);
        if self.is_closed() {
            return false;
        }
        while let Some(f) = r.backlog.pop_front() {
            r.backlog_bytes -= f.len();
            if tx.try_send(Out::Other(f)).is_err() {
                break;
            }
        }
        r.standalone = Some(Sink {
            serial,
            tx,
            answers_only: false,
        });
        true
    }

    /// A frame from the client, inspected; what passes goes to the server, and the
    /// pipeline's own answers go to `answers` (or are routed like server messages).
    pub(super) async fn client_frame(
        self: &Arc<Self>,
        frame: &[u8],
        answers: Option<&mpsc::Sender<Out>>,
    ) {
        let _gate = self.gate.read().await;
        // Ended (DELETE, reaped) while the request waited: it must not reach the server, whose
        // answer nobody would take (the client is told the session ended, and may try again).
        if self.is_closed() {
            return;
        }
        self.client_frame_ungated(frame, answers).await;
    }

    /// Closes the gate to client messages: those under way are sent first.
    pub(super) async fn close_gate(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.gate).write_owned().await
    }

    /// [`HttpSession::client_frame`] while the gate is closed: mcpwall's own messages.
    pub(super) async fn client_frame_ungated(
        self: &Arc<Self>,
        frame: &[u8],
        answers: Option<&mpsc::Sender<Out>>,
    ) {
        let (forward, reply) = self.inspect(Direction::ClientToServer, frame);
        if let Some(reply) = reply {
            for m in messages(reply) {
                // A request (mcpwall asking the client's user about a call) is no answer.
                let question = serde_json::from_slice::<Peek>(&m).is_ok_and(|p| p.method.is_some());
                match answers {
                    Some(tx) if question => {
                        // On the POST that carries the call it is about, when that stream can
                        // carry requests.
                        let _ = tx.try_send(Out::Other(m));
                    }
                    Some(tx) => {
                        // The answer is the pipeline's: the request is no longer in flight.
                        if let Some(id) = peek_id(&m) {
                            lock(&self.routes).waiting.remove(&id);
                        }
                        let _ = tx.try_send(Out::Answer(m));
                    }
                    None => self.route(m),
                }
            }
        }
        // A batch goes on as its messages, one line each: servers on protocol versions after
        // 2025-03-26 no longer read batches, and the answers are gathered per POST anyway.
        if let Some(f) = forward {
            for m in messages(f) {
                if self.init.get().is_none()
                    && serde_json::from_slice::<Peek>(&m)
                        .is_ok_and(|p| p.method.as_deref() == Some("initialize"))
                {
                    let _ = self.init.set(m.clone());
                }
                self.send_to_server(m).await;
            }
        }
    }

    /// Starts the log of client stream `serial` (a POST's, or the GET stream's).
    pub(super) fn open_stream(&self, serial: u64, standalone: bool) {
        self.logs.open(serial, standalone);
    }

    /// Reads a stream's messages into its log, for the connections that follow it (see
    /// [`Logs::read`]).
    pub(super) async fn log_stream(
        self: Arc<Self>,
        serial: u64,
        rx: mpsc::Receiver<Out>,
        answers: Option<usize>,
    ) {
        self.logs.read(serial, rx, answers, |f| self.route(f)).await;
        // The stream's progress routes go with it; the session was active until now.
        lock(&self.routes)
            .progress
            .retain(|_, s| s.serial != serial);
        self.touch();
    }

    /// Whether `serial` is the session's GET stream now.
    pub(super) fn is_standalone(&self, serial: u64) -> bool {
        lock(&self.routes)
            .standalone
            .as_ref()
            .is_some_and(|s| s.serial == serial)
    }

    /// Opens a new GET stream (see [`HttpSession::open_standalone`]), logged: it starts with
    /// what nobody has had of the one it replaces.
    pub(super) fn open_standalone_logged(&self, serial: u64, tx: mpsc::Sender<Out>) -> bool {
        let previous = lock(&self.routes).standalone.as_ref().map(|s| s.serial);
        if let Some(p) = previous {
            for f in self.logs.take_undelivered(p) {
                let _ = tx.try_send(Out::Other(f));
            }
        }
        self.open_standalone(serial, tx)
    }

    /// Forgets streams nobody followed for the resumption window. A POST stream's calls are
    /// cancelled; a GET stream is closed, and what nobody had of it waits for the next.
    pub(super) fn expire_streams(self: &Arc<Self>) {
        let posts = {
            // The routes first: nothing is routed to a GET stream between its expiry and its
            // removal from the routes.
            let mut r = lock(&self.routes);
            let expired = self.logs.expire();
            for (serial, undelivered) in expired.gets {
                if r.standalone.as_ref().is_some_and(|s| s.serial == serial) {
                    r.standalone = None;
                }
                for f in undelivered.into_iter().rev() {
                    r.backlog_bytes += f.len();
                    r.backlog.push_front(f);
                }
            }
            while r.backlog.len() > BACKLOG || r.backlog_bytes > BACKLOG_BYTES {
                match r.backlog.pop_front() {
                    Some(f) => r.backlog_bytes -= f.len(),
                    None => break,
                }
            }
            expired.posts
        };
        for serial in posts {
            self.forget(serial);
        }
    }

    /// The client's `initialize`, once it was sent on.
    pub(super) fn initialize_frame(&self) -> Option<Vec<u8>> {
        self.init.get().cloned()
    }

    /// Writes a frame to the server. A server that leaves its input full for the stall time
    /// is stuck: it is killed, and the session winds down as when it exits.
    pub(super) async fn send_to_server(self: &Arc<Self>, frame: Vec<u8>) {
        if let Link::Remote(remote) = &self.link {
            if !self.is_closed() {
                remote.send(frame).await;
            }
            return;
        }
        // A stdio write runs to its end apart from whoever asked for it: one cut short (its
        // client gone, its handler dropped) would leave part of a frame in the pipe, and the
        // next frame, another client's perhaps, would be glued to it and lost.
        let session = Arc::clone(self);
        let _ = tokio::spawn(async move { session.write_to_stdio(frame).await }).await;
    }

    async fn write_to_stdio(&self, mut frame: Vec<u8>) {
        let Link::Stdio(stdin) = &self.link else {
            return;
        };
        let mut stdin = stdin.lock().await;
        let Some(pipe) = stdin.as_mut().filter(|_| !self.is_closed()) else {
            return;
        };
        frame.push(b'\n');
        let write = async {
            pipe.write_all(&frame).await?;
            pipe.flush().await
        };
        match tokio::time::timeout(self.stall, write).await {
            Ok(Ok(())) => {}
            // The server closed its input: it is exiting, which its output will show.
            Ok(Err(_)) => *stdin = None,
            Err(_) => {
                *stdin = None;
                kill_group(self.group());
            }
        }
    }

    /// Sends a frame to the server without waiting for it (cancellations).
    fn offer_to_server(self: &Arc<Self>, frame: Vec<u8>) {
        let session = Arc::clone(self);
        tokio::spawn(async move { session.send_to_server(frame).await });
    }

    /// Reads and inspects the server's frames until it closes its output.
    pub(super) async fn pump_server(self: &Arc<Self>, out: &mut ServerOut, max: usize) {
        while let Some(frame) = out.next().await {
            self.server_frame(frame, max).await;
        }
    }

    /// One frame from the server, through the pipeline: what passes goes to the client's
    /// streams, the pipeline's answers back to the server.
    pub(super) async fn server_frame(self: &Arc<Self>, frame: Frame, max: usize) {
        let (forward, reply) = match &frame {
            Frame::Data(bytes) => self.inspect(Direction::ServerToClient, bytes),
            Frame::Oversize { len, head, tail } => {
                let o = self
                    .inspector
                    .oversize(Direction::ServerToClient, *len, max, head, tail);
                (o.forward.map(Cow::into_owned), o.reply)
            }
        };
        if let Some(r) = reply {
            self.send_to_server(r).await;
        }
        if let Some(f) = forward {
            for m in messages(f) {
                self.route(m);
            }
        }
    }

    /// Answers, with errors, the requests that waited longer than `timeout`, and cancels them
    /// at the server.
    pub(super) fn expire(self: &Arc<Self>, timeout: Duration) {
        for (to_client, to_server) in self.inspector.expire(timeout) {
            self.route(to_client);
            if let Some(f) = to_server {
                self.offer_to_server(f);
            }
        }
    }

    /// Runs a frame through the pipeline. A large frame takes the engine a while (about 10 ms
    /// a megabyte): the runtime is told, so that other sessions' tasks move to another thread
    /// meanwhile.
    fn inspect(&self, dir: Direction, frame: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let run = || {
            let Outcome { forward, reply } = self.inspector.inspect(dir, frame);
            (forward.map(Cow::into_owned), reply)
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if frame.len() > BLOCKING_FRAME && multi_thread {
            tokio::task::block_in_place(run)
        } else {
            run()
        }
    }

    /// Delivers one message from the server side to the stream it belongs to.
    pub(super) fn route(&self, frame: Vec<u8>) {
        let Ok(peek) = serde_json::from_slice::<Peek>(&frame) else {
            return;
        };
        let mut r = lock(&self.routes);
        let Some(method) = peek.method else {
            // A response: to the POST that waits for it, or to nobody (that client left).
            let waiter = peek
                .id
                .as_ref()
                .and_then(|v| Id::from_json(v).ok())
                .and_then(|id| r.waiting.remove(&id));
            if let Some(s) = waiter {
                let _ = s.tx.try_send(Out::Answer(frame));
            }
            return;
        };
        let params = peek.params.unwrap_or(PeekParams {
            progress_token: None,
            meta: None,
        });
        if method == "notifications/progress"
            && let Some(token) = params.progress_token
            && let Some(s) = r.progress.get(&token.to_string())
            && !s.answers_only
            && s.tx.try_send(Out::Other(frame.clone())).is_ok()
        {
            return;
        }
        // A notification of a subscription (2026-07-28) goes to the stream of the request it
        // names. Never a server's request (the protocol sends none that way), and never in a
        // member of an aggregate: there the key would let a server's messages past the
        // aggregate's checks (ids marked with the asking member, updates about another
        // member's resources dropped, questions labelled with the asking server).
        if peek.id.is_none()
            && self.relay.get().is_none()
            && let Some(listen) = params.meta.and_then(|m| m.subscription)
            && let Ok(id) = Id::from_json(&listen)
            && let Some(s) = r.waiting.get(&id)
            && !s.answers_only
            && s.tx.try_send(Out::Other(frame.clone())).is_ok()
        {
            return;
        }
        if let Some(relay) = self.relay.get() {
            drop(r);
            relay(frame);
            return;
        }
        // A stream someone reads first (one without a log is read while it is open), the GET
        // stream before the latest POST's; then the GET stream nobody reads (its log is kept
        // for the client's return, and what nobody had of it comes back here when it expires).
        // Never a POST stream nobody reads: its log goes when it expires.
        let read = |serial| self.logs.is_followed(serial) != Some(false);
        let get = r.standalone.as_ref().filter(|s| !s.tx.is_closed());
        let post = r
            .waiting
            .values()
            .filter(|s| !s.answers_only && !s.tx.is_closed() && read(s.serial))
            .max_by_key(|s| s.serial);
        let to = match (get, post) {
            (Some(g), _) if read(g.serial) => Some(g),
            (_, Some(p)) => Some(p),
            (g, None) => g,
        };
        if let Some(s) = to {
            let _ = s.tx.try_send(Out::Other(frame));
            return;
        }
        r.backlog_bytes += frame.len();
        r.backlog.push_back(frame);
        while r.backlog.len() > BACKLOG || r.backlog_bytes > BACKLOG_BYTES {
            match r.backlog.pop_front() {
                Some(old) => r.backlog_bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Ends the session: the server's input is closed (it should exit), what it left
    /// unanswered is answered with errors, and every client stream ends.
    pub(super) fn close(self: &Arc<Self>) {
        {
            let _routes = lock(&self.routes);
            if self.closed.swap(true, Ordering::Relaxed) {
                return;
            }
        }
        match &self.link {
            // Closing the server's input asks it to exit; a write in progress finishes first
            // (or gives up after the stall time).
            Link::Stdio(_) => {
                let session = Arc::clone(self);
                tokio::spawn(async move {
                    if let Link::Stdio(stdin) = &session.link {
                        stdin.lock().await.take();
                    }
                });
            }
            Link::Remote(remote) => remote.close(),
        }
        // Nobody waits for ever: what the server left unanswered is answered now.
        for frame in self.inspector.abandon() {
            self.route(frame);
        }
        {
            let mut r = lock(&self.routes);
            r.waiting.clear();
            r.progress.clear();
            r.standalone = None;
            r.backlog.clear();
            r.backlog_bytes = 0;
        }
    }

    /// For a remote server: waits for it to have been told that the session is over.
    pub(super) async fn farewell(&self) {
        if let Link::Remote(remote) = &self.link {
            remote.farewell().await;
        }
    }

    /// There is no server process (any more).
    pub(super) fn mark_exited(&self) {
        lock(&self.process).exited = true;
    }

    /// The process of `group` was reaped: if it is still the session's, the session has no
    /// server process now.
    pub(super) fn reaped(&self, group: Option<Pid>) {
        let mut p = lock(&self.process);
        if p.group == group {
            p.exited = true;
        }
    }

    /// A new server process for the session.
    pub(super) fn set_process(&self, group: Option<Pid>) {
        *lock(&self.process) = Process {
            group,
            exited: false,
        };
    }

    pub(super) fn has_exited(&self) -> bool {
        lock(&self.process).exited
    }

    pub(super) fn group(&self) -> Option<Pid> {
        lock(&self.process).group
    }
}

fn peek_id(frame: &[u8]) -> Option<Id> {
    let peek: Peek = serde_json::from_slice(frame).ok()?;
    Id::from_json(&peek.id?).ok()
}
