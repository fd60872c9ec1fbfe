//! The aggregated endpoint, `/mcp`: one MCP session in front of every upstream.
//!
//! An aggregated session starts one process of each upstream, each behind a pipeline of its
//! own (a member [`HttpSession`]), and answers the client as one server: `initialize` and the
//! lists are asked of every member and merged; tools and prompts are named
//! `UPSTREAM__NAME`, so that no server can take another's names; a call goes to the member its
//! name (or its resource's URI) belongs to. A tool whose definition names another server's
//! tool is withheld (cross-server shadowing). Server requests (sampling, elicitation, roots)
//! reach the client with ids that say which member asked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response, Sse};
use mcpwall_protocol::{Id, Message, Parsed, parse_message};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::resource_routes::{ResourceRoutes, canonical};
use super::resume::{self, Followed, Logs};
use super::session::{Asked, HttpSession, Out, Refused, STREAM_QUEUE};
use super::{
    App, Follower, PostStream, SESSION_HEADER, follow_response, gone, initialize_first,
    json_answers, json_response, last_event_id, one_line, post_headers, resume_stream, rpc_error,
    sse_event,
};
use crate::audit::{Audit, Event, Verdict};
use crate::inspect::codes;

/// Between an upstream's name and a tool's or prompt's: `notes__read_note`.
pub(crate) const SEP: &str = "__";

/// Pages of one list followed per member, at most.
const MAX_PAGES: usize = 100;
/// Entries of one member's listing, at most (as many as a session's tools may be).
const MAX_LISTED: usize = crate::inspect::MAX_TOOLS;
/// Bytes of one member's listing, at most.
const MAX_LISTED_BYTES: usize = 16 << 20;

/// Server messages kept for a GET stream that is not open yet: at most this many, and this many
/// bytes.
const BACKLOG: usize = 256;
const BACKLOG_BYTES: usize = 8 << 20;

/// See [`Aggregate::answer_stateless`].
pub(super) enum Answered {
    Result(Value),
    Error(i64, String),
    /// To member `K`, as this request.
    Forward(usize, Value),
}

pub(super) struct Member {
    pub(super) name: String,
    pub(super) session: Arc<HttpSession>,
}

pub(super) struct Aggregate {
    pub(super) id: String,
    pub(super) members: Vec<Member>,
    state: Mutex<State>,
    last_seen: Mutex<Instant>,
    closed: AtomicBool,
    call_timeout: Duration,
    audit: Arc<dyn Audit>,
    /// The logs of the client's GET streams (see [`super::resume`]); its POST streams are in
    /// the logs of the members that answer them.
    logs: Logs,
    serials: AtomicU64,
    /// The `_meta` every request of the aggregate's own carries (protocol 2026-07-28: the
    /// aggregate of the servers shared by clients without sessions).
    envelope: Option<Value>,
    /// The tools and prompts of the last merged listings (prefixed): for clients without
    /// sessions, only these may be called or fetched (a member whose listing failed had its
    /// definitions checked by nobody).
    listed: Mutex<HashSet<String>>,
    listed_prompts: Mutex<HashSet<String>>,
    /// How many times (from 1) members said their tools, and their prompts, changed; and
    /// the count the last merged listing of each (`listed` and `listed_prompts` hold them;
    /// prompts are checked against the tools) started from (0: none yet). A listing is
    /// current while the two are equal: one during which a member announced a change is not.
    changes: [AtomicU64; 2],
    listed_at: [AtomicU64; 2],
    /// Merged listings started so far, and the last of each kind that was committed: a
    /// listing that finishes after a later one does not replace it.
    listings: AtomicU64,
    committed: Mutex<[u64; 2]>,
    /// Held while a listing made for a call runs: concurrent calls wait for that one rather
    /// than each making its own.
    relisting: tokio::sync::Mutex<()>,
    /// When the last listing of tools, and of prompts, made for a call after a change ended:
    /// a member that announces changes without end gets one every [`RELIST_EVERY`] at most.
    relisted: Mutex<[Option<Instant>; 2]>,
    /// The decisions about listings already on record (hashes of what each event says): a
    /// member with thousands of tools that are withheld, and that makes the aggregate list
    /// again and again, must not write thousands of events each time.
    reported: Mutex<HashSet<u64>>,
}

/// Decisions about listings remembered, at most; then the memory starts again.
const MAX_REPORTED: usize = 16_384;

/// Indices of [`Aggregate::changes`] and its kin.
const TOOLS: usize = 0;
const PROMPTS: usize = 1;

/// A merged listing's place in order, and the change counts it started from.
struct Started {
    seq: u64,
    changes: [u64; 2],
}

/// The least time between listings made for calls after members announced changes: in
/// between, calls go by the last listing.
const RELIST_EVERY: Duration = Duration::from_secs(5);
/// How long a call waits for a listing made for it after a change. A member that announced a
/// change and then answers slowly, or never, must not hold up every call to the others: its
/// tools go by its last listing (the names it had are kept for the shadowing checks).
const RELIST_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// Members that answered `initialize`.
    live: Vec<bool>,
    initialized: bool,
    /// The members were sent `notifications/initialized` by the aggregate itself (to list
    /// their tools before answering `initialize`): the client's is not passed on again.
    announced: bool,
    /// The client's GET stream, and its serial.
    standalone: Option<(u64, mpsc::Sender<Out>)>,
    /// SSE streams of POSTs in progress, as member and stream serial (weak: they end with
    /// their answers): where a server's request during a call goes when no GET stream is read.
    posts: Vec<(usize, u64, mpsc::WeakSender<Out>)>,
    backlog: VecDeque<Vec<u8>>,
    backlog_bytes: usize,
    /// Which member each resource URI goes to, from the last listings.
    routes: ResourceRoutes,
    /// Tools and prompts withheld for naming another server's tools (prefixed names): not
    /// callable, not to be fetched.
    shadowing: HashSet<String>,
    shadowing_prompts: HashSet<String>,
    /// The names of every member's tools at the last listing, as definitions could mention
    /// them (see [`Aggregate::merge_tools`]): prompts are checked against them.
    tool_names: NameLookup,
}

impl State {
    /// The oldest messages waiting for a stream go when more than [`BACKLOG`] (or
    /// [`BACKLOG_BYTES`]) wait.
    fn trim_backlog(&mut self) {
        while self.backlog.len() > BACKLOG || self.backlog_bytes > BACKLOG_BYTES {
            match self.backlog.pop_front() {
                Some(old) => self.backlog_bytes -= old.len(),
                None => break,
            }
        }
    }
}

/// How long the tool listing made to check instructions at `initialize` may take.
const INSTRUCTIONS_LISTING: Duration = Duration::from_secs(30);

/// Each key a text could mention a name by (`mcpwall_detect::names::lookup_keys`), with the
/// members' full names it stands for.
type NameLookup = HashMap<String, Vec<(usize, String)>>;

/// The other members' tools that `text`, of member `k`, names (read as the model would:
/// invisible characters gone, look-alike letters folded).
fn names_of_others(lookup: &NameLookup, k: usize, text: &str) -> Vec<String> {
    let mut named: Vec<String> =
        mcpwall_detect::names::mentions(mcpwall_detect::normalize(text).as_str())
            .iter()
            .filter_map(|word| lookup.get(word))
            .flatten()
            .filter(|(other, _)| *other != k)
            .map(|(_, full)| full.clone())
            .collect();
    named.sort_unstable();
    named.dedup();
    named
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn encode(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn error_body(id: &Id, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.to_value(),
        "error": { "code": code, "message": format!("mcpwall: {message}") }
    })
}

impl Followed for Aggregate {
    fn logs(&self) -> &Logs {
        &self.logs
    }

    fn touch(&self) {
        Aggregate::touch(self);
    }
}

impl Aggregate {
    pub(super) fn new(
        id: String,
        members: Vec<Member>,
        call_timeout: Duration,
        audit: Arc<dyn Audit>,
        envelope: Option<Value>,
    ) -> Arc<Self> {
        let live = vec![true; members.len()];
        let agg = Arc::new(Aggregate {
            id,
            members,
            state: Mutex::new(State {
                live,
                ..State::default()
            }),
            last_seen: Mutex::new(Instant::now()),
            closed: AtomicBool::new(false),
            call_timeout,
            audit,
            logs: Logs::default(),
            serials: AtomicU64::new(1),
            envelope,
            listed: Mutex::default(),
            listed_prompts: Mutex::default(),
            changes: [AtomicU64::new(1), AtomicU64::new(1)],
            listed_at: [AtomicU64::new(0), AtomicU64::new(0)],
            listings: AtomicU64::new(0),
            committed: Mutex::new([0, 0]),
            relisting: tokio::sync::Mutex::new(()),
            relisted: Mutex::new([None, None]),
            reported: Mutex::new(HashSet::new()),
        });
        // What each member's server sends on its own goes to the client's streams, in the
        // order it was sent (a server's message before its answer comes before it). Clients
        // without sessions have no stream for it: their shared servers keep their own sink.
        for (k, m) in agg
            .members
            .iter()
            .enumerate()
            .filter(|_| agg.envelope.is_none())
        {
            let weak = Arc::downgrade(&agg);
            m.session.relay_to(Box::new(move |f| {
                if let Some(agg) = weak.upgrade() {
                    agg.member_message(k, f);
                }
            }));
        }
        agg
    }

    pub(super) fn members(&self) -> usize {
        self.members.len()
    }

    pub(super) fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Since when nothing happened in the session, its members' calls included (a call that
    /// ends long after its POST).
    pub(super) fn idle_for(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.session.idle_for())
            .fold(lock(&self.last_seen).elapsed(), Duration::min)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(super) fn has_streams(&self) -> bool {
        lock(&self.state)
            .standalone
            .as_ref()
            .is_some_and(|(_, tx)| !tx.is_closed())
            || self.members.iter().any(|m| m.session.has_posts())
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let mut s = lock(&self.state);
        s.standalone = None;
        s.posts.clear();
        s.backlog.clear();
        s.backlog_bytes = 0;
    }

    fn event(
        &self,
        method: &str,
        server: &str,
        tool: Option<&str>,
        verdict: Verdict,
        rule: &str,
        detail: String,
    ) {
        {
            use std::hash::BuildHasher as _;
            // Keyed per process: a server cannot craft two sentences that collide.
            static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
                std::sync::OnceLock::new();
            let key = KEYS
                .get_or_init(Default::default)
                .hash_one((method, server, tool, rule, &detail));
            let mut reported = lock(&self.reported);
            if reported.len() >= MAX_REPORTED {
                reported.clear();
            }
            if !reported.insert(key) {
                return;
            }
        }
        let _ = self.audit.record(&Event {
            ts_ms: Event::now(),
            direction: "server_to_client",
            server: server.to_owned(),
            session: Some(self.id.clone()),
            method: Some(method.to_owned()),
            tool: tool.map(str::to_owned),
            verdict,
            rules: vec![rule.to_owned()],
            detail,
        });
    }

    /// A member server's own request or notification, for the client: a request's id says
    /// which member asked (`K/ID`), so that the answer goes back to it.
    fn member_message(&self, k: usize, frame: Vec<u8>) {
        let Ok(mut v) = serde_json::from_slice::<Value>(&frame) else {
            return;
        };
        let method = v.get("method").and_then(Value::as_str).map(str::to_owned);
        if method.is_some()
            && let Some(id) = v.get("id").cloned()
        {
            v["id"] = Value::String(format!("{k}/{id}"));
        }
        match method.as_deref() {
            // Progress for a call of its own went to that call's stream by its token: what
            // comes here names no call of this member's, and would pass for another's.
            Some("notifications/progress") => return,
            // Its tools (or prompts) changed: the next call is checked against a listing made
            // after the change (pins, poisoning), not against the last one, which a client
            // that calls before it lists again would otherwise still be held to.
            Some("notifications/tools/list_changed") => {
                self.changes[TOOLS].fetch_add(1, Ordering::SeqCst);
            }
            Some("notifications/prompts/list_changed") => {
                self.changes[PROMPTS].fetch_add(1, Ordering::SeqCst);
            }
            // An update about a resource that routes to another member would pass for that
            // member's.
            Some("notifications/resources/updated")
                if v.pointer("/params/uri")
                    .and_then(Value::as_str)
                    .is_none_or(|uri| self.owner_of(uri) != Ok(k)) =>
            {
                return;
            }
            // The server cancels its own request: by the id the client knows it by.
            Some("notifications/cancelled") => {
                if let Some(id) = v.pointer("/params/requestId").cloned() {
                    v["params"]["requestId"] = Value::String(format!("{k}/{id}"));
                }
            }
            // A person asked something must know which server asks (and that it is not
            // mcpwall's own question).
            Some("elicitation/create") => {
                if let Some(m) = v.pointer("/params/message").and_then(Value::as_str) {
                    let labelled = format!("[asked by server {}] {m}", self.members[k].name);
                    v["params"]["message"] = Value::String(labelled);
                }
            }
            _ => {}
        }
        self.deliver(Some(k), encode(&v));
    }

    /// A member's own message (`from`, when known) for the client: on a stream the client
    /// reads (the GET stream, else the latest call's stream, the asking member's first); else
    /// on the GET stream nobody reads (its log is kept for the client's return, and what
    /// nobody had of it comes back to the backlog when it expires); else to the backlog. Never
    /// on a call's stream nobody reads: its log goes when it expires.
    fn deliver(&self, from: Option<usize>, frame: Vec<u8>) {
        let mut s = lock(&self.state);
        s.posts
            .retain(|(_, _, w)| w.upgrade().is_some_and(|t| !t.is_closed()));
        let get = s
            .standalone
            .as_ref()
            .filter(|(_, t)| !t.is_closed())
            .map(|(serial, tx)| (*serial, tx.clone()));
        if let Some((serial, tx)) = &get
            && self.logs.is_followed(*serial) != Some(false)
        {
            let _ = tx.try_send(Out::Other(frame));
            return;
        }
        let read = |&&(k, serial, _): &&(usize, u64, mpsc::WeakSender<Out>)| {
            self.members[k].session.logs.is_followed(serial) != Some(false)
        };
        let post = s
            .posts
            .iter()
            .rev()
            .filter(read)
            .find(|(k, _, _)| Some(*k) == from)
            .or_else(|| s.posts.iter().rev().find(read))
            .and_then(|(_, _, w)| w.upgrade());
        if let Some(tx) = post.or(get.map(|(_, tx)| tx)) {
            let _ = tx.try_send(Out::Other(frame));
            return;
        }
        s.backlog_bytes += frame.len();
        s.backlog.push_back(frame);
        s.trim_backlog();
    }

    /// A call's SSE stream (member `k`'s stream `serial`), which can carry the servers'
    /// requests while it is open.
    fn post_open(&self, k: usize, serial: u64, tx: &mpsc::Sender<Out>) {
        let mut s = lock(&self.state);
        s.posts
            .retain(|(_, _, w)| w.upgrade().is_some_and(|t| !t.is_closed()));
        s.posts.push((k, serial, tx.downgrade()));
    }

    /// Opens GET stream `serial`: it starts with what nobody has had of the one it replaces,
    /// then what waited for a stream.
    fn open_standalone(&self, serial: u64, tx: mpsc::Sender<Out>) -> bool {
        let mut s = lock(&self.state);
        if self.is_closed() {
            return false;
        }
        if let Some((previous, _)) = s.standalone {
            for f in self.logs.take_undelivered(previous) {
                let _ = tx.try_send(Out::Other(f));
            }
        }
        while let Some(f) = s.backlog.pop_front() {
            s.backlog_bytes -= f.len();
            if tx.try_send(Out::Other(f)).is_err() {
                break;
            }
        }
        s.standalone = Some((serial, tx));
        true
    }

    fn is_standalone(&self, serial: u64) -> bool {
        lock(&self.state)
            .standalone
            .as_ref()
            .is_some_and(|(s, _)| *s == serial)
    }

    /// Closes a GET stream nobody followed for the resumption window; what nobody had of it
    /// waits for the next.
    pub(super) fn expire_streams(&self) {
        // The state first: nothing is delivered to a GET stream between its expiry and its
        // removal from the state.
        let mut s = lock(&self.state);
        let expired = self.logs.expire();
        for (serial, undelivered) in expired.gets {
            if s.standalone.as_ref().is_some_and(|(k, _)| *k == serial) {
                s.standalone = None;
            }
            for f in undelivered.into_iter().rev() {
                s.backlog_bytes += f.len();
                s.backlog.push_front(f);
            }
        }
        s.trim_backlog();
    }

    fn live(&self) -> Vec<usize> {
        let s = lock(&self.state);
        (0..self.members.len())
            .filter(|&k| s.live[k] && !self.members[k].session.is_closed())
            .collect()
    }

    /// Asks member `k` itself (through its pipeline) and waits for the result.
    async fn ask_member(
        &self,
        k: usize,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, String> {
        let m = &self.members[k];
        let params = match &self.envelope {
            None => params,
            Some(meta) => {
                let mut p = params.unwrap_or_else(|| json!({}));
                if let Some(o) = p.as_object_mut() {
                    o.insert("_meta".to_owned(), meta.clone());
                }
                Some(p)
            }
        };
        m.session
            .ask(method, params, self.call_timeout)
            .await
            .map_err(|e| match e {
                Asked::Gone => format!("the server {} is gone", m.name),
                Asked::Late => format!("the server {} did not answer {method}", m.name),
                Asked::Error(why) => format!("{}: {why}", m.name),
            })
    }

    /// `initialize`, asked of every member; members that fail are left out of the session.
    async fn initialize(&self, params: &Value) -> Result<Value, String> {
        // A version mcpwall does not know would come back from the members that speak it, and
        // leave them out: they are asked for the newest mcpwall knows instead.
        let mut params = params.clone();
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        if asked.is_none_or(|v| !super::PROTOCOL_VERSIONS.contains(&v))
            && let Some(newest) = super::PROTOCOL_VERSIONS.last()
        {
            params["protocolVersion"] = json!(newest);
        }
        self.handshake("initialize", &params).await
    }

    /// `initialize`, or protocol 2026-07-28's `server/discover` (for clients without
    /// sessions): asked of every member, answered as one server.
    async fn handshake(&self, method: &str, params: &Value) -> Result<Value, String> {
        let ks = self.live();
        let answers = futures_util::future::join_all(
            ks.iter()
                .map(|&k| self.ask_member(k, method, Some(params.clone()))),
        )
        .await;
        let mut version: Option<String> = None;
        let mut caps = Map::new();
        let mut instructions = Vec::new();
        // Each member's instructions, checked once every member has answered.
        let mut said: Vec<(usize, String)> = Vec::new();
        let mut failed = Vec::new();
        for (&k, answer) in ks.iter().zip(answers) {
            let r = match answer {
                Ok(r) => r,
                Err(e) => {
                    // A session's member that does not initialize is left out of it; a shared
                    // server's failed `server/discover` only of this answer.
                    if method == "initialize" {
                        lock(&self.state).live[k] = false;
                    }
                    failed.push(e);
                    continue;
                }
            };
            if method == "server/discover" {
                let modern = r
                    .get("supportedVersions")
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().any(|v| v == super::stateless::MODERN));
                if modern {
                    version = Some(super::stateless::MODERN.to_owned());
                } else {
                    failed.push(format!("{} does not speak it", self.members[k].name));
                    continue;
                }
            } else {
                // The session's version is the lowest its members speak; one that answers a
                // version nobody knows (or none) must not set it for everyone: it is left out.
                let v = r.get("protocolVersion").and_then(Value::as_str);
                let Some(v) = v.filter(|v| super::PROTOCOL_VERSIONS.contains(v)) else {
                    lock(&self.state).live[k] = false;
                    failed.push(format!(
                        "{} answered an unknown protocol version",
                        self.members[k].name
                    ));
                    continue;
                };
                if version.as_deref().is_none_or(|cur| v < cur) {
                    version = Some(v.to_owned());
                }
            }
            if let Some(c) = r.get("capabilities").and_then(Value::as_object) {
                for (key, val) in c {
                    if matches!(
                        key.as_str(),
                        "tools" | "prompts" | "resources" | "logging" | "completions"
                    ) {
                        // Flags (`listChanged`, `subscribe`) are on when any server has them.
                        let merged = caps.entry(key.clone()).or_insert_with(|| json!({}));
                        if let (Some(into), Some(from)) = (merged.as_object_mut(), val.as_object())
                        {
                            for (flag, on) in from {
                                let was = into.get(flag).and_then(Value::as_bool).unwrap_or(false);
                                let on = was || on.as_bool().unwrap_or(false);
                                into.insert(flag.clone(), Value::Bool(on));
                            }
                        }
                    }
                }
            }
            if let Some(i) = r.get("instructions").and_then(Value::as_str) {
                said.push((k, i.to_owned()));
            }
        }
        // Instructions that name another server's tools give orders about them. Its prefix
        // (`other__`) is how its tools are named here; its tools' own names (`get_config`) are
        // known once they are listed, which the members allow only once told the session is
        // initialized: the aggregate tells them itself, and lists their tools, before any
        // instructions reach the client.
        let lookup = if said.is_empty() || ks.len() < 2 {
            NameLookup::new()
        } else {
            let live = self.live();
            if method == "initialize" {
                let note =
                    encode(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
                for &k in &live {
                    self.members[k].session.client_frame(&note, None).await;
                }
                lock(&self.state).announced = true;
            }
            // Bounded as a restart's relisting is: instructions of a member that takes longer
            // are checked against what was listed by then.
            let limit = self.call_timeout.min(INSTRUCTIONS_LISTING);
            let started = self.start_listing();
            let per = futures_util::future::join_all(live.iter().map(|&k| async move {
                let tools = tokio::time::timeout(limit, self.list_member(k, "tools/list", "tools"))
                    .await
                    .ok()
                    .flatten();
                (k, tools)
            }))
            .await;
            let missing: Vec<usize> = per
                .iter()
                .filter(|(_, t)| t.is_none())
                .map(|&(k, _)| k)
                .collect();
            let per: Vec<(usize, Vec<Value>)> = per
                .into_iter()
                .map(|(k, t)| (k, t.unwrap_or_default()))
                .collect();
            // The withheld tools are known from now on, before the client lists them, and what
            // may be called is this checked listing until the client lists again.
            self.commit(TOOLS, &started, |fresh| {
                let tools = self.merge_tools(&per, &missing, fresh);
                if fresh {
                    self.remember_listed(&self.listed, &tools, &missing);
                }
            });
            lock(&self.state).tool_names.clone()
        };
        for (k, i) in said {
            let name = &self.members[k].name;
            let mut others = self.prefixes_of_others(k, &i);
            others.extend(names_of_others(&lookup, k, &i));
            if others.is_empty() {
                instructions.push(format!(
                    "Server {name} (its tools are named {name}{SEP}...):\n{i}"
                ));
            } else {
                self.event(
                    "initialize",
                    name,
                    None,
                    Verdict::Filter,
                    "gateway.cross_server_shadowing",
                    format!(
                        "the instructions of {name} were removed: they name the tools of other \
                         servers ({})",
                        others.join(", ")
                    ),
                );
            }
        }
        let Some(version) = version else {
            return Err(format!("no server could be started: {}", failed.join("; ")));
        };
        lock(&self.state).initialized = true;
        let mut result = json!({
            "capabilities": caps,
            "serverInfo": { "name": "mcpwall-aggregate", "version": env!("CARGO_PKG_VERSION") }
        });
        if method == "server/discover" {
            result["supportedVersions"] = json!([version]);
            // No stream carries list changes, resource updates or log messages to these
            // clients here.
            if let Some(caps) = result["capabilities"].as_object_mut() {
                caps.remove("logging");
                for cap in caps.values_mut().filter_map(Value::as_object_mut) {
                    cap.remove("listChanged");
                    cap.remove("subscribe");
                }
            }
        } else {
            result["protocolVersion"] = Value::String(version);
        }
        if !instructions.is_empty() {
            result["instructions"] = Value::String(instructions.join("\n\n"));
        }
        Ok(result)
    }

    /// What a request of a client without a session (2026-07-28) gets: the aggregate's own
    /// answer, or the member and the request as that member must see it.
    pub(super) async fn answer_stateless(&self, method: &str, value: &Value) -> Answered {
        let result = match method {
            "server/discover" => {
                let params = value.get("params").cloned().unwrap_or_else(|| json!({}));
                match self.handshake(method, &params).await {
                    Ok(r) => r,
                    Err(why) => return Answered::Error(codes::SERVER_GONE, why),
                }
            }
            "ping" => json!({}),
            "tools/list" => self.list("tools/list", "tools").await,
            "prompts/list" => self.list("prompts/list", "prompts").await,
            "resources/list" => self.list("resources/list", "resources").await,
            "resources/templates/list" => {
                self.list("resources/templates/list", "resourceTemplates")
                    .await
            }
            // Nothing to deliver them on here.
            "subscriptions/listen"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "logging/setLevel" => {
                let why =
                    format!("{method} is not served on the aggregated endpoint at 2026-07-28");
                return Answered::Error(-32601, why);
            }
            _ => {
                return match self.target(method, value) {
                    Ok((k, rewritten)) => Answered::Forward(k, rewritten),
                    Err((code, why)) => Answered::Error(code, why),
                };
            }
        };
        Answered::Result(modern_result(result))
    }

    /// Keeps the names of a merged listing in `into`: only those may be called or fetched.
    /// (A tool withheld at one listing must not become callable because its server did not
    /// answer the next one in time, which leaves it out of that listing's shadowing check.)
    /// A merged listing starts: its place in order, and the change counts it starts from.
    fn start_listing(&self) -> Started {
        Started {
            seq: self.listings.fetch_add(1, Ordering::SeqCst) + 1,
            changes: [
                self.changes[TOOLS].load(Ordering::SeqCst),
                self.changes[PROMPTS].load(Ordering::SeqCst),
            ],
        }
    }

    /// Merges a finished listing of tools or prompts (`which`) with `merge`, which is told
    /// whether to commit it: not when a listing started later was committed already. One at a
    /// time, so that two listings finishing together cannot each commit half.
    fn commit<T>(&self, which: usize, started: &Started, merge: impl FnOnce(bool) -> T) -> T {
        let mut committed = lock(&self.committed);
        let fresh = started.seq > committed[which];
        if fresh {
            committed[which] = started.seq;
        }
        let out = merge(fresh);
        if fresh {
            self.listed_at[which].fetch_max(started.changes[which], Ordering::SeqCst);
        }
        out
    }

    /// Whether the last merged listing of tools or prompts (`which`) started after every
    /// change announced so far.
    fn is_listed(&self, which: usize) -> bool {
        self.listed_at[which].load(Ordering::SeqCst) == self.changes[which].load(Ordering::SeqCst)
    }

    /// Records what a merged listing offered. The members in `missing`, whose listing did
    /// not come in time (a slow server, one busy with a long call), keep what they had: their
    /// tools must not become uncallable until the next listing because one was slow.
    fn remember_listed(&self, into: &Mutex<HashSet<String>>, items: &[Value], missing: &[usize]) {
        let prefixes: Vec<String> = missing
            .iter()
            .map(|&k| format!("{}{SEP}", self.members[k].name))
            .collect();
        let mut listed = lock(into);
        let kept: Vec<String> = listed
            .drain()
            .filter(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
            .collect();
        listed.extend(
            items
                .iter()
                .filter_map(|i| i.get("name").and_then(Value::as_str))
                .map(str::to_owned),
        );
        listed.extend(kept);
    }

    /// Lists tools (for `tools/call`) or prompts (for `prompts/get` and `completion/complete`)
    /// when this aggregate never did, so that a call is checked against a merged listing.
    async fn listed_before(&self, method: &str) {
        let (which, list, key) = match method {
            "tools/call" => (TOOLS, "tools/list", "tools"),
            "prompts/get" | "completion/complete" => (PROMPTS, "prompts/list", "prompts"),
            _ => return,
        };
        if self.is_listed(which) {
            return;
        }
        let _one = self.relisting.lock().await;
        if self.is_listed(which) {
            return;
        }
        {
            // Only after changes: a first listing is always made.
            let mut at = lock(&self.relisted);
            let once = self.listed_at[which].load(Ordering::SeqCst) != 0;
            if once && at[which].is_some_and(|t| t.elapsed() < RELIST_EVERY) {
                return;
            }
            at[which] = Some(Instant::now());
        }
        let limit = self.listing_limit().min(RELIST_WAIT);
        self.list_within(list, key, limit).await;
        lock(&self.relisted)[which] = Some(Instant::now());
    }

    /// Whether the prompt a request names (`prompts/get`, or `completion/complete` about a
    /// prompt) is in the last merged listing; a completion about a resource needs none.
    fn prompt_listed(&self, method: &str, value: &Value) -> bool {
        let name = if method == "prompts/get" {
            value.pointer("/params/name")
        } else if value.pointer("/params/ref/type").and_then(Value::as_str) == Some("ref/prompt") {
            value.pointer("/params/ref/name")
        } else {
            return true;
        };
        name.and_then(Value::as_str)
            .is_some_and(|n| lock(&self.listed_prompts).contains(n))
    }

    /// Lists the members' tools, prompts, resources and templates once, so that those naming
    /// another server's tools are withheld and URIs routed before any request (a new aggregate
    /// of shared servers, before its first request).
    pub(super) async fn list_everything(&self) {
        self.list("tools/list", "tools").await;
        self.list("prompts/list", "prompts").await;
        self.list("resources/list", "resources").await;
        self.list("resources/templates/list", "resourceTemplates")
            .await;
    }

    /// One deadline for a whole list, pages included: a slow server costs one call timeout
    /// (for clients without sessions, whose aggregate lists before answering, 30 s at most).
    fn listing_limit(&self) -> Duration {
        if self.envelope.is_some() {
            self.call_timeout.min(INSTRUCTIONS_LISTING)
        } else {
            self.call_timeout
        }
    }

    /// One list method asked of every member, pages followed, names prefixed, merged.
    async fn list(&self, method: &str, key: &str) -> Value {
        self.list_within(method, key, self.listing_limit()).await
    }

    /// [`Aggregate::list`], each member given `limit` for its pages.
    async fn list_within(&self, method: &str, key: &str, limit: Duration) -> Value {
        let ks = self.live();
        let started = self.start_listing();
        let lists = futures_util::future::join_all(ks.iter().map(|&k| async move {
            tokio::time::timeout(limit, self.list_member(k, method, key))
                .await
                .ok()
                .flatten()
        }))
        .await;
        let missing: Vec<usize> = ks
            .iter()
            .zip(&lists)
            .filter(|(_, l)| l.is_none())
            .map(|(&k, _)| k)
            .collect();
        let per: Vec<(usize, Vec<Value>)> = ks
            .into_iter()
            .zip(lists.into_iter().map(Option::unwrap_or_default))
            .collect();
        let items = match key {
            "tools" => self.commit(TOOLS, &started, |fresh| {
                let tools = self.merge_tools(&per, &missing, fresh);
                if fresh {
                    self.remember_listed(&self.listed, &tools, &missing);
                }
                tools
            }),
            "prompts" => {
                // Prompts are checked against the members' tool names: a client that lists
                // prompts before tools must not find that check empty.
                if self.listed_at[TOOLS].load(Ordering::SeqCst) == 0 {
                    Box::pin(self.list("tools/list", "tools")).await;
                }
                self.commit(PROMPTS, &started, |fresh| {
                    let prompts = self.merge_prompts(&per, fresh);
                    if fresh {
                        self.remember_listed(&self.listed_prompts, &prompts, &missing);
                    }
                    prompts
                })
            }
            "resources" => self.merge_resources(&per, &missing),
            "resourceTemplates" => self.merge_templates(&per, &missing),
            _ => per.into_iter().flat_map(|(_, items)| items).collect(),
        };
        json!({ key: items })
    }

    /// Resources, each owned by the one server that lists it. A URI two servers list is
    /// withheld: one of them would be answering for the other.
    fn merge_resources(&self, per: &[(usize, Vec<Value>)], missing: &[usize]) -> Vec<Value> {
        // By canonical form: two spellings of one URI are one resource.
        let mut owner: HashMap<String, Option<usize>> = HashMap::new();
        for (k, items) in per {
            for uri in items
                .iter()
                .filter_map(|r| r.get("uri").and_then(Value::as_str))
            {
                owner
                    .entry(canonical(uri))
                    .and_modify(|o| {
                        if *o != Some(*k) {
                            *o = None;
                        }
                    })
                    .or_insert(Some(*k));
            }
        }
        let mut routes = HashMap::new();
        let mut conflicts = HashSet::new();
        let mut out = Vec::new();
        for (k, items) in per {
            for r in items {
                let Some(uri) = r.get("uri").and_then(Value::as_str) else {
                    continue;
                };
                let key = canonical(uri);
                match owner.get(&key) {
                    Some(Some(o)) if o == k && routes.insert(key.clone(), *k).is_none() => {
                        out.push(r.clone());
                    }
                    Some(None) if conflicts.insert(key) => self.event(
                        "resources/list",
                        &self.members[*k].name,
                        None,
                        Verdict::Filter,
                        "gateway.resource_conflict",
                        format!("resource {uri:?} was withheld: more than one server lists it"),
                    ),
                    _ => {}
                }
            }
        }
        // What this listing says replaces what the last one said (of those who answered).
        let listed: HashSet<String> = owner.into_keys().collect();
        lock(&self.state)
            .routes
            .set_resources(routes, missing, &listed);
        out
    }

    /// Resource templates, each owned by the one server that lists it (one two servers list
    /// is withheld, as a resource is); their literal prefixes route the URIs they expand to.
    fn merge_templates(&self, per: &[(usize, Vec<Value>)], missing: &[usize]) -> Vec<Value> {
        let template = |t: &Value| {
            t.get("uriTemplate")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut listers: HashMap<String, HashSet<usize>> = HashMap::new();
        for (k, items) in per {
            for t in items.iter().filter_map(template) {
                listers.entry(t).or_default().insert(*k);
            }
        }
        let mut kept = Vec::new();
        let mut out = Vec::new();
        let mut reported = HashSet::new();
        for (k, items) in per {
            for item in items {
                let Some(t) = template(item) else { continue };
                if listers.get(&t).is_some_and(|l| l.len() > 1) {
                    if reported.insert(t.clone()) {
                        self.event(
                            "resources/templates/list",
                            &self.members[*k].name,
                            None,
                            Verdict::Filter,
                            "gateway.resource_conflict",
                            format!(
                                "resource template {t:?} was withheld: more than one server \
                                 lists it"
                            ),
                        );
                    }
                    continue;
                }
                kept.push((t, *k));
                out.push(item.clone());
            }
        }
        lock(&self.state).routes.set_templates(&kept, missing);
        out
    }

    /// `None` when its first page did not come.
    async fn list_member(&self, k: usize, method: &str, key: &str) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<Value> = None;
        // Hashes of the cursors given: a cursor may be megabytes, and a hundred of them kept
        // whole would be a listing's memory several times over.
        let hasher = std::collections::hash_map::RandomState::new();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut bytes = 0;
        for _ in 0..MAX_PAGES {
            let first = cursor.is_none();
            let params = cursor.take().map(|c| json!({ "cursor": c }));
            let Ok(r) = self.ask_member(k, method, params).await else {
                if first {
                    return None;
                }
                break;
            };
            if let Some(list) = r.get(key).and_then(Value::as_array) {
                // A member's listing is bounded in entries, whatever its pages say: one
                // server must not make every client's listing hold gigabytes.
                for item in list {
                    bytes += encode(item).len();
                    if items.len() >= MAX_LISTED || bytes > MAX_LISTED_BYTES {
                        break;
                    }
                    items.push(item.clone());
                }
            }
            let full = items.len() >= MAX_LISTED || bytes > MAX_LISTED_BYTES;
            match r.get("nextCursor") {
                Some(c) if !c.is_null() && !full && seen.insert(hasher.hash_one(c.to_string())) => {
                    cursor = Some(c.clone());
                }
                _ => break,
            }
        }
        Some(self.once_each(k, method, key, items))
    }

    /// A member's listing with each entry once. A tool or prompt the member's listing defines
    /// two ways (on two pages: which one the server runs nobody can tell) is withheld, as the
    /// member's pipeline withholds tools; the same entry again, and a resource or template
    /// listed again, is kept once.
    fn once_each(&self, k: usize, method: &str, key: &str, items: Vec<Value>) -> Vec<Value> {
        let (field, withhold) = match key {
            "tools" | "prompts" => ("name", true),
            "resources" => ("uri", false),
            "resourceTemplates" => ("uriTemplate", false),
            _ => return items,
        };
        let id = |v: &Value| v.get(field).and_then(Value::as_str).map(str::to_owned);
        // Per name, its first entry and whether another entry differs from it.
        let mut first: HashMap<String, (usize, bool)> = HashMap::new();
        for (k, item) in items.iter().enumerate() {
            if let Some(n) = id(item) {
                let e = first.entry(n).or_insert((k, false));
                e.1 |= items[e.0] != *item;
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some(n) = id(&item) else {
                out.push(item);
                continue;
            };
            // The same entry again (a page asked for again, a set that shifted) is kept once.
            let redefined = first.get(&n).is_some_and(|&(_, differs)| differs);
            if !(withhold && redefined) {
                if seen.insert(n) {
                    out.push(item);
                }
            } else if seen.insert(n.clone()) {
                self.event(
                    method,
                    &self.members[k].name,
                    (key == "tools").then_some(n.as_str()),
                    Verdict::Filter,
                    "gateway.listed_twice",
                    format!("`{n}` was withheld: its server defines it two ways on its pages"),
                );
            }
        }
        out
    }

    /// Each name (lower-cased) a definition could mention, with the full name it stands for:
    /// prefixed names, and the distinctive names (`get_config`, not `search`) as servers gave
    /// them. A definition's identifiers are looked up in it: each definition is read once,
    /// whatever the number of tools.
    fn name_lookup(&self, per: &[(usize, Vec<Value>)]) -> NameLookup {
        let mut lookup: NameLookup = HashMap::new();
        for (k, tools) in per {
            for n in tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
            {
                let full = format!("{}{SEP}{n}", self.members[*k].name);
                let mut keys = mcpwall_detect::names::lookup_keys(&full);
                keys.extend(mcpwall_detect::names::lookup_keys(n));
                keys.dedup();
                for key in keys {
                    lookup.entry(key).or_default().push((*k, full.clone()));
                }
            }
        }
        lookup
    }

    /// Tools, prefixed; a tool whose definition names another server's tool is withheld.
    fn merge_tools(
        &self,
        per: &[(usize, Vec<Value>)],
        missing: &[usize],
        commit: bool,
    ) -> Vec<Value> {
        let mut lookup = self.name_lookup(per);
        // A member whose listing did not come (in time) keeps the names it had: a definition
        // that names them must not pass because that member was slow.
        let before = lock(&self.state).tool_names.clone();
        for (word, owners) in before {
            for (k, full) in owners.into_iter().filter(|(k, _)| missing.contains(k)) {
                lookup.entry(word.clone()).or_default().push((k, full));
            }
        }
        let mut shadowing = HashSet::new();
        let mut out = Vec::new();
        for (k, tools) in per {
            let server = &self.members[*k].name;
            for t in tools {
                let Some(name) = t.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let mut text = String::new();
                for field in [
                    "description",
                    "title",
                    "inputSchema",
                    "outputSchema",
                    "annotations",
                ] {
                    if let Some(v) = t.get(field) {
                        mcpwall_detect::names::strings(v, &mut text);
                    }
                }
                // `send\u{200b}_email`, `ѕend_email` name `send_email` too.
                let named = names_of_others(&lookup, *k, &text);
                if !named.is_empty() {
                    shadowing.insert(format!("{server}{SEP}{name}"));
                    self.event(
                        "tools/list",
                        server,
                        Some(name),
                        Verdict::Filter,
                        "gateway.cross_server_shadowing",
                        format!(
                            "tool `{name}` of {server} was withheld: its definition names another \
                             server's tools ({})",
                            named.join(", ")
                        ),
                    );
                    continue;
                }
                let mut t = t.clone();
                t["name"] = Value::String(format!("{server}{SEP}{name}"));
                out.push(t);
            }
        }
        // What this listing says replaces what the last one said (unless a listing started
        // later said it already).
        if commit {
            let mut state = lock(&self.state);
            state.shadowing = shadowing;
            state.tool_names = lookup;
        }
        out
    }

    /// The other members whose tools' prefix (`NAME__`) `text` holds: orders about them, even
    /// about a tool not listed yet.
    fn prefixes_of_others(&self, k: usize, text: &str) -> Vec<String> {
        let text = mcpwall_detect::normalize(text)
            .as_str()
            .to_ascii_lowercase();
        self.members
            .iter()
            .enumerate()
            .filter(|&(j, m)| {
                j != k && text.contains(&format!("{}{SEP}", m.name.to_ascii_lowercase()))
            })
            .map(|(_, m)| format!("{}{SEP}...", m.name))
            .collect()
    }

    /// Prompts, prefixed; a prompt whose description or arguments name another server's tool
    /// (as the last tool listing named them, or by its prefix) is withheld: it would give
    /// orders about them.
    fn merge_prompts(&self, per: &[(usize, Vec<Value>)], commit: bool) -> Vec<Value> {
        let lookup = lock(&self.state).tool_names.clone();
        let mut withheld = HashSet::new();
        let kept: Vec<(usize, Vec<Value>)> = per
            .iter()
            .map(|(k, prompts)| {
                let server = &self.members[*k].name;
                let fine = prompts.iter().filter(|p| {
                    let mut text = String::new();
                    for field in ["description", "title", "arguments"] {
                        if let Some(v) = p.get(field) {
                            mcpwall_detect::names::strings(v, &mut text);
                        }
                    }
                    let mut named = self.prefixes_of_others(*k, &text);
                    named.extend(names_of_others(&lookup, *k, &text));
                    if named.is_empty() {
                        return true;
                    }
                    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                    withheld.insert(format!("{server}{SEP}{name}"));
                    self.event(
                        "prompts/list",
                        server,
                        None,
                        Verdict::Filter,
                        "gateway.cross_server_shadowing",
                        format!(
                            "prompt `{name}` of {server} was withheld: it names another \
                             server's tools ({})",
                            named.join(", ")
                        ),
                    );
                    false
                });
                let fine: Vec<Value> = fine.cloned().collect();
                (*k, fine)
            })
            .collect();
        // What this listing says replaces what the last one said.
        if commit {
            lock(&self.state).shadowing_prompts = withheld;
        }
        prefixed(&self.members, &kept, "name")
    }

    /// The member a resource URI belongs to: the one that listed it, or whose template it
    /// fits.
    fn owner_of(&self, uri: &str) -> Result<usize, String> {
        let links: Vec<Vec<String>> = self
            .members
            .iter()
            .map(|m| m.session.inspector.take_links())
            .collect();
        let mut state = lock(&self.state);
        for (k, uris) in links.into_iter().enumerate() {
            for uri in uris {
                state.routes.link(&uri, k);
            }
        }
        state.routes.owner_of(uri)
    }

    /// The member a request goes to, and the request as that member must see it.
    fn target(&self, method: &str, value: &Value) -> Result<(usize, Value), (i64, String)> {
        self.target_of(method, value).map_err(|why| {
            let code = if why.contains("was withheld") {
                codes::BLOCKED
            } else if why.contains("is not served") {
                -32601
            } else {
                codes::INVALID_PARAMS
            };
            (code, why)
        })
    }

    fn target_of(&self, method: &str, value: &Value) -> Result<(usize, Value), String> {
        let by_name = |name: &str| -> Result<(usize, String), String> {
            let (server, rest) = name
                .split_once(SEP)
                .ok_or_else(|| format!("`{name}` names no server (names are SERVER{SEP}NAME)"))?;
            let k = self
                .members
                .iter()
                .position(|m| m.name == server)
                .ok_or_else(|| format!("no server is named {server:?}"))?;
            Ok((k, rest.to_owned()))
        };
        let by_uri = |uri: &str| self.owner_of(uri);
        let mut v = value.clone();
        let k = match method {
            "tools/call" | "prompts/get" => {
                let name = value
                    .pointer("/params/name")
                    .and_then(Value::as_str)
                    .ok_or("a name is required")?;
                // A name of no server is the client's mistake, told as such.
                let (k, rest) = by_name(name)?;
                if method == "tools/call" && lock(&self.state).shadowing.contains(name) {
                    return Err(format!(
                        "tool `{name}` was withheld: its definition names another server's tools"
                    ));
                }
                if method == "prompts/get" && lock(&self.state).shadowing_prompts.contains(name) {
                    return Err(format!(
                        "prompt `{name}` was withheld: it names another server's tools"
                    ));
                }
                if method == "tools/call" && !lock(&self.listed).contains(name) {
                    return Err(format!(
                        "tool `{name}` was withheld, or not listed: only the tools of the last \
                         listing of the aggregated endpoint may be called (list the tools)"
                    ));
                }
                if method == "prompts/get" && !self.prompt_listed(method, value) {
                    return Err(format!(
                        "prompt `{name}` was withheld, or not listed: only the prompts of the \
                         last listing of the aggregated endpoint may be fetched (list the prompts)"
                    ));
                }
                v["params"]["name"] = Value::String(rest);
                k
            }
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                let uri = value
                    .pointer("/params/uri")
                    .and_then(Value::as_str)
                    .ok_or("a uri is required")?;
                by_uri(uri)?
            }
            "completion/complete" => {
                match value.pointer("/params/ref/type").and_then(Value::as_str) {
                    Some("ref/prompt") => {
                        let name = value
                            .pointer("/params/ref/name")
                            .and_then(Value::as_str)
                            .ok_or("a prompt name is required")?;
                        if !self.prompt_listed(method, value) {
                            return Err(format!(
                                "prompt `{name}` was withheld, or not listed (list the prompts)"
                            ));
                        }
                        if lock(&self.state).shadowing_prompts.contains(name) {
                            return Err(format!(
                                "prompt `{name}` was withheld: it names another server's tools"
                            ));
                        }
                        let (k, rest) = by_name(name)?;
                        v["params"]["ref"]["name"] = Value::String(rest);
                        k
                    }
                    _ => by_uri(
                        value
                            .pointer("/params/ref/uri")
                            .and_then(Value::as_str)
                            .ok_or("a resource uri is required")?,
                    )?,
                }
            }
            other => {
                return Err(format!(
                    "method {other:?} is not served by the aggregated endpoint"
                ));
            }
        };
        if !lock(&self.state).live[k] {
            return Err(format!(
                "the server {} is not part of this session",
                self.members[k].name
            ));
        }
        Ok((k, v))
    }

    /// The client's answer to a member's request (`K/ID`) or to a member's question (mcpwall's
    /// own ids): to that member, with the member's id.
    async fn client_response(&self, id: &Id, value: &Value) {
        if let Id::String(s) = id
            && let Some((k, orig)) = s.split_once('/')
            && let Ok(k) = k.parse::<usize>()
            && let Some(m) = self.members.get(k)
            && let Ok(orig) = serde_json::from_str::<Value>(orig)
        {
            let mut v = value.clone();
            v["id"] = orig;
            m.session.client_frame(&encode(&v), None).await;
            return;
        }
        if let Some(m) = self
            .members
            .iter()
            .find(|m| m.session.inspector.awaits_client(id))
        {
            m.session.client_frame(&encode(value), None).await;
        }
    }

    /// A client notification: a cancellation to the member that has the request (or that
    /// asked it, for a member's own request `K/ID`), progress to nobody (a client reports
    /// none the members asked for here), anything else to every member.
    async fn notify(&self, method: &str, value: &Value) {
        let frame = encode(value);
        if method == "notifications/progress" {
            return;
        }
        if method == "notifications/cancelled" {
            if let Some(Ok(id)) = value.pointer("/params/requestId").map(Id::from_json)
                && let Some(m) = self
                    .members
                    .iter()
                    .find(|m| m.session.inspector.has_client_request(&id))
            {
                m.session.client_frame(&frame, None).await;
                return;
            }
            if let Some(Value::String(s)) = value.pointer("/params/requestId")
                && let Some((k, orig)) = s.split_once('/')
                && let Ok(k) = k.parse::<usize>()
                && let Some(m) = self.members.get(k)
                && let Ok(orig) = serde_json::from_str::<Value>(orig)
                && let Ok(orig_id) = Id::from_json(&orig)
                && m.session.inspector.awaits_client(&orig_id)
            {
                let mut v = value.clone();
                v["params"]["requestId"] = orig;
                m.session.client_frame(&encode(&v), None).await;
            }
            return;
        }
        if method == "notifications/initialized" && lock(&self.state).announced {
            return;
        }
        for k in self.live() {
            self.members[k].session.client_frame(&frame, None).await;
        }
    }
}

fn prefixed(members: &[Member], per: &[(usize, Vec<Value>)], field: &str) -> Vec<Value> {
    per.iter()
        .flat_map(|(k, items)| {
            items.iter().filter_map(move |item| {
                let name = item.get(field).and_then(Value::as_str)?;
                let mut item = item.clone();
                item[field] = Value::String(format!("{}{SEP}{name}", members[*k].name));
                Some(item)
            })
        })
        .collect()
}

/// A result as protocol 2026-07-28 gives it: complete (not a question), not to be cached
/// (mcpwall's answers follow the servers' current lists), and naming its server in `_meta`.
fn modern_result(mut result: Value) -> Value {
    if let Some(o) = result.as_object_mut() {
        o.remove("serverInfo");
        o.insert("resultType".to_owned(), json!("complete"));
        o.insert("ttlMs".to_owned(), json!(0));
        o.insert("cacheScope".to_owned(), json!("private"));
        o.insert(
            "_meta".to_owned(),
            json!({"io.modelcontextprotocol/serverInfo":
                {"name": "mcpwall-aggregate", "version": env!("CARGO_PKG_VERSION")}}),
        );
    }
    result
}

/// One JSON-RPC answer, as an SSE event or a JSON body.
fn answer(sse: bool, body: &Value) -> Response {
    let frame = encode(body);
    if sse {
        let events = futures_util::stream::iter([sse_event(&frame, None)]);
        Sse::new(events).into_response()
    } else {
        json_response(StatusCode::OK, frame)
    }
}

/// A POST to the aggregated endpoint.
pub(super) async fn post(app: &Arc<App>, headers: &HeaderMap, body: &[u8]) -> Response {
    let sse = match post_headers(headers) {
        Ok(sse) => sse,
        Err(r) => return r,
    };
    let frame = one_line(body);
    let (msg, value) = match parse_message(&frame) {
        Ok(Parsed::Single(m, v)) => (m, v),
        Ok(Parsed::Batch(_)) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "the aggregated endpoint takes one message per POST, not batches",
            );
        }
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::PARSE_ERROR,
                &format!("the message is not strict JSON-RPC: {e}"),
            );
        }
    };
    let (agg, new) = match headers.get(SESSION_HEADER) {
        Some(_) => match app.aggregate_of(headers) {
            Some(a) => (a, false),
            None => return gone(),
        },
        None if matches!(&msg, Message::Request { method, .. } if method == "initialize") => {
            match app.start_aggregate() {
                Ok(a) => (a, true),
                Err(r) => return r,
            }
        }
        None => return initialize_first(),
    };
    agg.touch();
    let mut unanswered = Unanswered {
        app,
        id: new.then(|| agg.id.clone()),
    };
    let (id, method) = match msg {
        Message::Request { id, method } => (id, method),
        Message::Notification { method } => {
            agg.notify(&method, &value).await;
            return StatusCode::ACCEPTED.into_response();
        }
        Message::Response { id: Some(id), .. } => {
            agg.client_response(&id, &value).await;
            return StatusCode::ACCEPTED.into_response();
        }
        Message::Response { id: None, .. } => return StatusCode::ACCEPTED.into_response(),
    };
    let result = match method.as_str() {
        "initialize" if new => match agg
            .initialize(value.get("params").unwrap_or(&Value::Null))
            .await
        {
            Ok(r) => Ok(r),
            Err(e) => {
                app.end_aggregate(&agg.id);
                return rpc_error(StatusCode::BAD_GATEWAY, codes::SERVER_GONE, &e);
            }
        },
        "initialize" => Err((
            codes::INVALID_REQUEST,
            "the session is initialized already".to_owned(),
        )),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(agg.list("tools/list", "tools").await),
        "prompts/list" => Ok(agg.list("prompts/list", "prompts").await),
        "resources/list" => Ok(agg.list("resources/list", "resources").await),
        "resources/templates/list" => Ok(agg
            .list("resources/templates/list", "resourceTemplates")
            .await),
        "logging/setLevel" => {
            let params = value.get("params").cloned();
            let ks = agg.live();
            futures_util::future::join_all(
                ks.iter()
                    .map(|&k| agg.ask_member(k, "logging/setLevel", params.clone())),
            )
            .await;
            Ok(json!({}))
        }
        _ => return forward(app, &agg, &id, &method, &value, sse).await,
    };
    let body = match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id.to_value(), "result": r}),
        Err((code, why)) => error_body(&id, code, &why),
    };
    let mut response = answer(sse, &body);
    if new && let Ok(v) = HeaderValue::from_str(&agg.id) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    unanswered.id = None;
    response
}

/// Ends a new aggregated session whose `initialize` was not answered: its client left before
/// it learnt the session's id, and the servers started for it would only wait to be reaped.
struct Unanswered<'a> {
    app: &'a Arc<App>,
    id: Option<String>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.app.end_aggregate(&id);
        }
    }
}

/// A request for one member: through that member's pipeline, answered on this POST.
async fn forward(
    app: &Arc<App>,
    agg: &Arc<Aggregate>,
    id: &Id,
    method: &str,
    value: &Value,
    sse: bool,
) -> Response {
    // A client that calls before it lists (its tools cached from an earlier session) gets
    // the listing made for it first: what may be called is what a listing merged and checked.
    agg.listed_before(method).await;
    let (k, rewritten) = match agg.target(method, value) {
        Ok(t) => t,
        Err((code, why)) => return answer(sse, &error_body(id, code, &why)),
    };
    let member = &agg.members[k].session;
    let tokens: Vec<Value> = value
        .pointer("/params/_meta/progressToken")
        .cloned()
        .into_iter()
        .collect();
    let serial = member.next_serial();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    match member.expect(serial, std::slice::from_ref(id), &tokens, &tx, !sse) {
        Ok(()) => {}
        Err(Refused::Closed) => {
            let why = format!("the server {} is gone", agg.members[k].name);
            return answer(sse, &error_body(id, codes::SERVER_GONE, &why));
        }
        Err(Refused::Duplicate(dup)) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                &format!("request id {dup} is already in flight in this session"),
            );
        }
    }
    if sse {
        agg.post_open(k, serial, &tx);
    }
    member.client_frame(&encode(&rewritten), Some(&tx)).await;
    drop(tx);
    if sse {
        // Resumable, in the member's logs: its events' ids say which member (`K/STREAM-SEQ`).
        member.open_stream(serial, false);
        let follower = Follower::new(member.clone(), serial, 1, format!("{k}/"));
        tokio::spawn(Arc::clone(member).log_stream(serial, rx, Some(1)));
        return follow_response(follower, true);
    }
    let stream = PostStream {
        app: Arc::clone(app),
        session: Arc::clone(member),
        serial,
        rx,
        remaining: 1,
        initialize: false,
    };
    json_answers(stream, false).await
}

/// A GET on the aggregated endpoint: the stream of every member's own messages, or with
/// `Last-Event-ID` the rest of a stream the client lost: `a/STREAM-SEQ` names a GET stream of
/// the aggregated session's, `K/STREAM-SEQ` a POST stream in member `K`'s logs.
pub(super) fn get(agg: &Arc<Aggregate>, headers: &HeaderMap) -> Response {
    agg.touch();
    if let Some((log, id)) = last_event_id(headers).and_then(|id| id.split_once('/'))
        && let Some((serial, seq)) = resume::parse_event_id(id)
    {
        let resumed = if log == "a" {
            let current = |serial| agg.is_standalone(serial);
            resume_stream(agg.clone(), serial, seq, "a/".to_owned(), current)
        } else {
            // A member's own GET stream is the aggregate's, never the client's.
            log.parse::<usize>()
                .ok()
                .and_then(|k| agg.members.get(k).map(|m| (k, m)))
                .and_then(|(k, m)| {
                    resume_stream(m.session.clone(), serial, seq, format!("{k}/"), |_| false)
                })
        };
        if let Some(r) = resumed {
            return r;
        }
    }
    let serial = agg.serials.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    agg.logs.open(serial, true);
    if !agg.open_standalone(serial, tx) {
        return gone();
    }
    {
        let agg = Arc::clone(agg);
        tokio::spawn(async move {
            agg.logs
                .read(serial, rx, None, |f| agg.deliver(None, f))
                .await;
        });
    }
    follow_response(Follower::new(agg.clone(), serial, 1, "a/".to_owned()), true)
}
