//! `mcpwall serve`: a Streamable HTTP gateway in front of stdio MCP servers.
//!
//! Each upstream is served at `/mcp/NAME`. An HTTP session (`Mcp-Session-Id`) is one MCP
//! session: the client's `initialize` starts a process of the upstream's command for that
//! session alone, with an [`Inspector`] of its own. A stdio server is written for one client,
//! so nothing one client does (its roots, its subscriptions, its log level) or is sent
//! reaches another. The price is a process per session; sessions are capped
//! ([`ServeOptions::max_sessions`]) and ended when idle.
//!
//! Transport, per the MCP specification's Streamable HTTP: POST carries client messages (the
//! answer is an SSE stream, or one JSON body for a client that accepts only JSON), GET opens
//! the stream for the server's own requests and notifications, DELETE ends the session.

mod aggregate;
mod child;
mod guard;
mod listen;
mod remote;
pub(crate) mod resource_routes;
mod restart;
mod resume;
mod session;
mod stateless;
mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use mcpwall_detect::Engine;
use mcpwall_policy::{Policy, RateLimits};
use mcpwall_protocol::{Id, Message, Parsed, parse_message};
use mcpwall_sandbox::reaper::Reaper;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use self::aggregate::{Aggregate, Member};
use self::remote::Remote;
pub use self::remote::{RemoteTransport, RemoteUpstream};
use self::resume::{Followed, Resumed};
use self::session::{HttpSession, Link, Out, Refused, STREAM_QUEUE};
use crate::audit::Audit;
use crate::inspect::codes;
use crate::{GatewayError, Inspector, PinStore, Settings};
use futures_util::StreamExt as _;

/// Protocol versions whose Streamable HTTP transport this gateway speaks.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// How the gateway listens and whom it serves.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on (port 0: any free port; [`serve`] reports the one it got).
    pub listen: SocketAddr,
    /// Browser origins allowed besides loopback pages (`https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// `Host` names served besides the loopback names (for a gateway behind a proxy).
    pub allowed_hosts: Vec<String>,
    /// A bearer token every request must carry.
    pub token: Option<String>,
    /// Sessions at once; more are refused (503) until one ends.
    pub max_sessions: usize,
    /// Client connections at once; more wait in the system's accept queue until one closes.
    pub max_connections: usize,
    /// A session without requests or open streams for this long is ended.
    pub idle_timeout: Duration,
    /// How long a request may wait for its answer; `None`: forever.
    pub call_timeout: Option<Duration>,
    /// The largest message accepted either way, in bytes.
    pub max_frame: usize,
    /// How long a server may take to exit once its session ends.
    pub grace: Duration,
    /// How many times in a row a session's stdio server is started again after it exits on
    /// its own (a server that ran a minute starts the count afresh); 0: never, the session
    /// ends with it.
    pub max_restarts: u32,
    /// HTTPS: the certificate chain and private key (PEM files); `None`: plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Environment variables the servers must not inherit (the one holding the token: a
    /// server must not hold the credential for every other server).
    pub scrub_env: Vec<String>,
    /// mcpwall as the parent of what the servers leave behind (see
    /// [`mcpwall_sandbox::reaper`]): orphans handed to it are collected as they end, and
    /// killed when the gateway stops. `None`: left to the system.
    pub reaper: Option<Arc<Reaper>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8750)),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            token: None,
            max_sessions: 64,
            max_connections: 64 * 4 + 64,
            idle_timeout: Duration::from_secs(30 * 60),
            call_timeout: Some(Duration::from_secs(300)),
            max_frame: mcpwall_protocol::DEFAULT_MAX_FRAME,
            grace: Duration::from_secs(3),
            max_restarts: 5,
            tls: None,
            scrub_env: Vec::new(),
            reaper: None,
        }
    }
}

/// One upstream stdio server, started once per session.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Its name: its path is `/mcp/NAME`; its pins and policy rules use it.
    pub name: String,
    /// Its program.
    pub command: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables added to its environment.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: Option<PathBuf>,
    /// A remote server to speak to over Streamable HTTP instead of a command to start (the
    /// command is then not used).
    pub remote: Option<RemoteUpstream>,
}

/// What every session's [`Inspector`] is built from.
#[derive(Clone)]
pub struct InspectorTemplate {
    /// The detection engine, shared.
    pub engine: Arc<Engine>,
    /// The policy, shared (rate limits are counted per session).
    pub policy: Arc<Policy>,
    /// Tool pins; `None`: not pinned.
    pub pins: Option<PinStore>,
    /// Where audit events go.
    pub audit: Arc<dyn Audit>,
    /// Redact secrets and personal data in results.
    pub redact: bool,
    /// Keep forwarding when the audit trail cannot be written.
    pub audit_fail_open: bool,
    /// Where the originals of quarantined parts are kept.
    pub quarantine: Option<Arc<crate::quarantine::QuarantineStore>>,
}

impl std::fmt::Debug for InspectorTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectorTemplate")
            .field("pins", &self.pins)
            .field("redact", &self.redact)
            .finish_non_exhaustive()
    }
}

struct App {
    options: ServeOptions,
    upstreams: HashMap<String, Upstream>,
    /// Upstream names in configuration order (the aggregated endpoint's member order).
    order: Vec<String>,
    template: InspectorTemplate,
    sessions: Mutex<HashMap<String, Arc<HttpSession>>>,
    /// Ended sessions whose servers may still be running: killed after the grace period, or
    /// at shutdown.
    stopped: Mutex<Vec<Arc<HttpSession>>>,
    /// Rate-limit buckets, per upstream: shared by its sessions, so that a new session does not
    /// start with fresh limits.
    limits: HashMap<String, Arc<Mutex<RateLimits>>>,
    /// Sessions of the aggregated endpoint, `/mcp`.
    aggregates: Mutex<HashMap<String, Arc<Aggregate>>>,
    /// The HTTP client of remote upstreams (one connection pool for all sessions).
    client: reqwest::Client,
    /// Per upstream, the server shared by its 2026-07-28 clients, which have no sessions.
    stateless: HashMap<String, stateless::Shared>,
    /// The aggregated endpoint for those clients: an aggregate of those servers.
    stateless_aggregate: tokio::sync::Mutex<Option<Arc<Aggregate>>>,
    /// Those servers' taint, one for all (see [`Serves::Stateless`]).
    stateless_taint: Arc<Mutex<Option<String>>>,
}

/// Whom a session's pipeline serves.
#[derive(Clone, Copy)]
enum Serves<'a> {
    /// One client session.
    One,
    /// One client session with other servers (the aggregated endpoint): taint is shared with
    /// their pipelines.
    Aggregated(&'a Arc<Mutex<Option<String>>>),
    /// Clients without sessions (2026-07-28), many: a person's yes covers one call.
    Stateless,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A JSON-RPC error as an HTTP response.
fn rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": format!("mcpwall: {message}") }
    });
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn too_many() -> Response {
    let mut r = rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::INVALID_REQUEST,
        "too many sessions; try again when one has ended",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// A new session id, or the response that says none could be drawn.
fn new_session_id() -> Result<String, Response> {
    session_id().map_err(|e| {
        rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INVALID_REQUEST,
            &e.to_string(),
        )
    })
}

fn cannot_start(upstream: &Upstream, e: &GatewayError) -> Response {
    rpc_error(
        StatusCode::BAD_GATEWAY,
        codes::SERVER_GONE,
        &format!("the server {} could not be started: {e}", upstream.name),
    )
}

fn session_id() -> Result<String, GatewayError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| GatewayError::Io {
        what: "drawing a session id",
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .any(|v| v.eq_ignore_ascii_case(kind) || v == "*/*")
}

impl App {
    /// Starts a session of `upstream`: its own server process and pipeline.
    fn start_session(self: &Arc<Self>, upstream: &Upstream) -> Result<Arc<HttpSession>, Response> {
        if !self.has_room(1) {
            return Err(too_many());
        }
        let id = new_session_id()?;
        // Started outside the sessions lock: a fork and exec must not hold up every request.
        let session = self
            .spawn_session(upstream, id.clone(), Serves::One)
            .map_err(|e| cannot_start(upstream, &e))?;
        {
            let mut sessions = lock(&self.sessions);
            if sessions.len() + self.aggregated_members() >= self.options.max_sessions {
                // Others were started meanwhile.
                drop(sessions);
                session.close();
                child::kill_group(session.group());
                return Err(too_many());
            }
            sessions.insert(id, Arc::clone(&session));
        }
        Ok(session)
    }

    /// Whether `n` more server processes fit under `max_sessions` (an aggregated session
    /// counts one per upstream).
    fn has_room(&self, n: usize) -> bool {
        let sessions = {
            let mut sessions = lock(&self.sessions);
            sessions.retain(|_, s| !s.is_closed());
            sessions.len()
        };
        sessions + self.aggregated_members() + n <= self.options.max_sessions
    }

    fn aggregated_members(&self) -> usize {
        lock(&self.aggregates).values().map(|a| a.members()).sum()
    }

    /// Starts `upstream`'s server for the session `id`, with its pipeline and tasks. The
    /// session ends when its server does.
    fn spawn_session(
        self: &Arc<Self>,
        upstream: &Upstream,
        id: String,
        serves: Serves<'_>,
    ) -> Result<Arc<HttpSession>, GatewayError> {
        let t = &self.template;
        let settings = Settings {
            server: upstream.name.clone(),
            session: Some(id.clone()),
            redact: t.redact,
            audit_fail_open: t.audit_fail_open,
        };
        let mut inspector = Inspector::new(Arc::clone(&t.engine), settings, Arc::clone(&t.audit))
            .with_policy(Arc::clone(&t.policy))
            .with_protocol_versions(&PROTOCOL_VERSIONS);
        if let Some(limits) = self.limits.get(&upstream.name) {
            inspector = inspector.with_shared_limits(Arc::clone(limits));
        }
        if let Some(pins) = &t.pins {
            inspector = inspector.with_pins(pins.clone());
        }
        match serves {
            Serves::One => {}
            Serves::Aggregated(taint) => {
                inspector = inspector
                    .with_shared_taint(Arc::clone(taint))
                    .remembering_links();
            }
            // One taint for all of them, across upstreams: their aggregate is one server (and
            // routes reads of what their results point to).
            Serves::Stateless => {
                inspector = inspector
                    .shared_by_clients()
                    .with_shared_taint(Arc::clone(&self.stateless_taint))
                    .remembering_links();
            }
        }
        if let Some(store) = &t.quarantine {
            inspector = inspector.with_quarantine_store(Arc::clone(store));
        }
        let stall = self
            .options
            .call_timeout
            .unwrap_or(Duration::from_secs(300));
        let inspector = Arc::new(inspector);
        if let Some(remote) = &upstream.remote {
            // No process: the server is elsewhere, and has a session of its own for this one.
            let (remote, queue) = Remote::start(
                self.client.clone(),
                remote,
                self.options.max_frame,
                matches!(serves, Serves::Stateless),
            );
            let session = Arc::new(HttpSession::new(
                id,
                upstream.name.clone(),
                inspector,
                Link::Remote(Arc::clone(&remote)),
                None,
                stall,
            ));
            session.mark_exited();
            tokio::spawn(remote.run(Arc::clone(&session), queue));
            self.start_timeouts(&session);
            return Ok(session);
        }
        let started = child::start(upstream, &self.options.scrub_env)?;
        let session = Arc::new(HttpSession::new(
            id.clone(),
            upstream.name.clone(),
            inspector,
            Link::stdio(started.stdin),
            started.group,
            stall,
        ));
        {
            // The server is reaped when it exits; what it started goes with it.
            let (mut process, group) = (started.child, started.group);
            let session = Arc::clone(&session);
            tokio::spawn(async move {
                let _ = process.wait().await;
                child::kill_group(group);
                session.reaped(group);
            });
        }
        let out = child::ServerOut::new(started.stdout, self.options.max_frame);
        tokio::spawn(restart::supervise(
            Arc::clone(self),
            Arc::clone(&session),
            upstream.clone(),
            out,
        ));
        self.start_timeouts(&session);
        Ok(session)
    }

    /// Answers the session's requests that outlive the call timeout, and forgets its streams
    /// past the resumption window.
    fn start_timeouts(&self, session: &Arc<HttpSession>) {
        let timeout = self.options.call_timeout;
        let session = Arc::clone(session);
        let tick = timeout.map_or(Duration::from_millis(250), |t| {
            (t / 4).clamp(Duration::from_millis(10), Duration::from_millis(250))
        });
        tokio::spawn(async move {
            let mut clock = tokio::time::interval(tick);
            while !session.is_closed() {
                clock.tick().await;
                if let Some(timeout) = timeout {
                    session.expire(timeout);
                }
                session.expire_streams();
            }
        });
    }

    /// Ends a session: its server's input is closed, and it is killed after the grace period.
    fn end(self: &Arc<Self>, id: &str) {
        let Some(session) = lock(&self.sessions).remove(id) else {
            return;
        };
        self.retire(session);
    }

    /// Closes a session and kills its server after the grace period, if it is still there.
    fn retire(self: &Arc<Self>, session: Arc<HttpSession>) {
        session.close();
        lock(&self.stopped).push(Arc::clone(&session));
        let grace = self.options.grace;
        let app = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // Only a server still running: once it exited and was reaped, its process group
            // was killed then, and the number may belong to another process by now.
            if !session.has_exited() {
                child::kill_group(session.group());
            }
            lock(&app.stopped).retain(|s| !Arc::ptr_eq(s, &session));
        });
    }

    /// Starts an aggregated session: one server of each upstream, in configuration order.
    fn start_aggregate(self: &Arc<Self>) -> Result<Arc<Aggregate>, Response> {
        let n = self.order.len();
        if !self.has_room(n) {
            return Err(too_many());
        }
        let id = new_session_id()?;
        // One taint for the whole session: what one server gave must not leave by another.
        let taint = Arc::default();
        let mut members = Vec::with_capacity(n);
        for name in &self.order {
            let Some(upstream) = self.upstreams.get(name) else {
                continue;
            };
            match self.spawn_session(upstream, format!("{id}/{name}"), Serves::Aggregated(&taint)) {
                Ok(session) => members.push(Member {
                    name: name.clone(),
                    session,
                }),
                Err(e) => {
                    for m in members {
                        self.retire(m.session);
                    }
                    return Err(cannot_start(upstream, &e));
                }
            }
        }
        let call_timeout = self
            .options
            .call_timeout
            .unwrap_or(Duration::from_secs(300));
        let agg = Aggregate::new(
            id.clone(),
            members,
            call_timeout,
            Arc::clone(&self.template.audit),
            None,
        );
        lock(&self.aggregates).insert(id.clone(), Arc::clone(&agg));
        // Others may have been started meanwhile.
        if !self.has_room(0) {
            self.end_aggregate(&id);
            return Err(too_many());
        }
        Ok(agg)
    }

    /// The aggregate of the servers shared by clients without sessions, its tools listed.
    async fn stateless_aggregate_of(&self, members: Vec<Member>) -> Arc<Aggregate> {
        let call_timeout = self
            .options
            .call_timeout
            .unwrap_or(Duration::from_secs(300));
        let id = format!("stateless-{}", new_session_id().unwrap_or_default());
        let agg = Aggregate::new(
            id,
            members,
            call_timeout,
            Arc::clone(&self.template.audit),
            Some(stateless::envelope()),
        );
        // Each server's listing within 30 s: what a slow one did not list by then may not be
        // called or fetched until a client lists it.
        agg.list_everything().await;
        agg
    }

    fn aggregate_of(&self, headers: &HeaderMap) -> Option<Arc<Aggregate>> {
        let id = headers.get(SESSION_HEADER)?.to_str().ok()?;
        lock(&self.aggregates)
            .get(id)
            .filter(|a| !a.is_closed())
            .cloned()
    }

    fn end_aggregate(self: &Arc<Self>, id: &str) {
        let Some(agg) = lock(&self.aggregates).remove(id) else {
            return;
        };
        agg.close();
        for m in &agg.members {
            self.retire(Arc::clone(&m.session));
        }
    }

    /// The session a request names, for `upstream`.
    fn session_of(
        &self,
        upstream: &str,
        headers: &HeaderMap,
    ) -> Result<Arc<HttpSession>, Response> {
        let Some(id) = headers.get(SESSION_HEADER) else {
            return Err(rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "no Mcp-Session-Id header: start a session with an initialize request",
            ));
        };
        let found = id
            .to_str()
            .ok()
            .and_then(|id| lock(&self.sessions).get(id).cloned())
            .filter(|s| s.upstream == upstream && !s.is_closed());
        found.ok_or_else(gone)
    }

    /// Ends idle sessions, and closes the aggregated sessions' GET streams that nobody
    /// followed for the resumption window (checked every 10 s: a member's own streams, more
    /// often, by its session's clock).
    fn reap_idle(self: &Arc<Self>) {
        let idle: Vec<String> = lock(&self.sessions)
            .values()
            .filter(|s| s.idle_for() >= self.options.idle_timeout && !s.has_streams())
            .map(|s| s.id.clone())
            .collect();
        for id in idle {
            self.end(&id);
        }
        let idle: Vec<String> = lock(&self.aggregates)
            .values()
            .filter(|a| a.idle_for() >= self.options.idle_timeout && !a.has_streams())
            .map(|a| a.id.clone())
            .collect();
        for id in idle {
            self.end_aggregate(&id);
        }
        for shared in self.stateless.values() {
            if let Some(s) = shared.take_idle(self.options.idle_timeout) {
                self.retire(s);
            }
        }
        // Clients without sessions have no session whose end clears their taint: it lasts
        // while any of their servers runs.
        if self.stateless.values().all(|s| !s.is_running()) {
            *lock(&self.stateless_taint) = None;
        }
        let aggregates: Vec<Arc<Aggregate>> = lock(&self.aggregates).values().cloned().collect();
        for agg in aggregates {
            agg.expire_streams();
        }
    }
}

/// The requests in a parsed body (their ids) and the progress tokens they carry.
fn requests_of(parsed: &Parsed) -> (Vec<Id>, Vec<Value>, bool) {
    let items: Vec<(&Message, &Value)> = match parsed {
        Parsed::Single(m, v) => vec![(m, v)],
        Parsed::Batch(items) => items.iter().map(|(m, v)| (m, v)).collect(),
    };
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    let mut initialize = false;
    for (m, v) in items {
        if let Message::Request { id, method } = m {
            ids.push(id.clone());
            initialize |= method == "initialize";
            if let Some(t) = v.pointer("/params/_meta/progressToken") {
                tokens.push(t.clone());
            }
        }
    }
    (ids, tokens, initialize)
}

fn check_version(headers: &HeaderMap) -> Result<(), Response> {
    match headers.get(VERSION_HEADER) {
        Some(v)
            if !v
                .to_str()
                .is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v.trim())) =>
        {
            Err(rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                &format!(
                    "unsupported MCP-Protocol-Version {v:?}; supported: {}",
                    PROTOCOL_VERSIONS.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn not_allowed() -> Response {
    let mut r = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::INVALID_REQUEST,
        "use POST, GET or DELETE",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    r
}

async fn handle_aggregate(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if stateless::asked(&headers) {
        // Merging the upstreams (instructions, lists, shadowing) is done per session.
        return match method {
            Method::POST => stateless::post_aggregate(&app, &headers, &body).await,
            _ => stateless::no_session(),
        };
    }
    if let Err(r) = check_version(&headers) {
        return r;
    }
    match method {
        Method::POST => aggregate::post(&app, &headers, &body).await,
        Method::GET => {
            if !accepts(&headers, "text/event-stream") {
                return rpc_error(
                    StatusCode::NOT_ACCEPTABLE,
                    codes::INVALID_REQUEST,
                    "a GET opens an event stream: Accept must include text/event-stream",
                );
            }
            match app.aggregate_of(&headers) {
                Some(a) => aggregate::get(&a, &headers),
                None => gone(),
            }
        }
        Method::DELETE => match app.aggregate_of(&headers) {
            Some(a) => {
                app.end_aggregate(&a.id);
                StatusCode::OK.into_response()
            }
            None => gone(),
        },
        _ => not_allowed(),
    }
}

/// The headers a page may send: the transport's, and the `Mcp-Param-*` ones its preflight
/// asks for (2026-07-28: which arguments a tool mirrors in headers is the tool's to say).
fn allowed_headers(requested: Option<&HeaderValue>) -> HeaderValue {
    const FIXED: &str = "content-type, accept, authorization, mcp-session-id, \
                         mcp-protocol-version, last-event-id, mcp-method, mcp-name";
    let params: Vec<String> = requested
        .and_then(|v| v.to_str().ok())
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| {
            h.strip_prefix("mcp-param-")
                .is_some_and(crate::param_headers::is_token)
        })
        .collect();
    let all = if params.is_empty() {
        FIXED.to_owned()
    } else {
        format!("{FIXED}, {}", params.join(", "))
    };
    HeaderValue::from_str(&all).unwrap_or_else(|_| HeaderValue::from_static(FIXED))
}

/// Host, Origin and token are checked before anything else, the body included: a stranger's
/// request is turned away before it costs a read of up to `max_frame` bytes.
///
/// Browsers get CORS: a page whose origin passed the check may call the gateway and read the
/// `Mcp-Session-Id` it answers with; its preflight is answered here.
async fn guarded(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    if let Err(r) = guard::check(&app.options, request.headers(), preflight) {
        // The connection goes with the refusal: one that never gets past the guard must not
        // keep holding one of the connections mcpwall serves at once.
        let mut refused = rpc_error(r.status, codes::BLOCKED, &r.why);
        refused
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return refused;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let request_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            allowed_headers(request_headers.as_ref()),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("mcp-session-id"),
        );
        h.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

async fn handle(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(upstream) = app.upstreams.get(&name) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            codes::INVALID_REQUEST,
            &format!("no upstream server is named {name:?}"),
        );
    };
    if stateless::asked(&headers) {
        return match method {
            Method::POST => stateless::post(&app, upstream, &headers, &body).await,
            _ => stateless::no_session(),
        };
    }
    if let Err(r) = check_version(&headers) {
        return r;
    }
    match method {
        Method::POST => post(&app, upstream, &headers, &body).await,
        Method::GET => get(&app, &name, &headers),
        Method::DELETE => match app.session_of(&name, &headers) {
            Ok(s) => {
                app.end(&s.id);
                StatusCode::OK.into_response()
            }
            Err(r) => r,
        },
        _ => not_allowed(),
    }
}

/// Checks a POST's `Content-Type` and `Accept`; true when the client takes an SSE stream.
fn post_headers(headers: &HeaderMap) -> Result<bool, Response> {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return Err(rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::INVALID_REQUEST,
            "the body must be Content-Type: application/json",
        ));
    }
    let sse = accepts(headers, "text/event-stream");
    if !sse && !accepts(headers, "application/json") {
        return Err(rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            codes::INVALID_REQUEST,
            "Accept must include application/json or text/event-stream",
        ));
    }
    Ok(sse)
}

/// A POSTed body as one stdio line. Raw line breaks in valid JSON are only ever whitespace
/// between tokens (inside strings they must be escaped), so they become spaces; in invalid JSON
/// the parser refuses the frame either way.
fn one_line(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !body.iter().any(|&b| b == b'\n' || b == b'\r') {
        return std::borrow::Cow::Borrowed(body);
    }
    body.iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect::<Vec<u8>>()
        .into()
}

async fn post(app: &Arc<App>, upstream: &Upstream, headers: &HeaderMap, body: &[u8]) -> Response {
    let sse = match post_headers(headers) {
        Ok(sse) => sse,
        Err(r) => return r,
    };
    let frame = one_line(body);
    let parsed = parse_message(&frame);
    let (ids, tokens, initialize) = parsed.as_ref().map(requests_of).unwrap_or_default();
    let (session, new) = match headers.get(SESSION_HEADER) {
        Some(_) => match app.session_of(&upstream.name, headers) {
            Ok(s) => (s, false),
            Err(r) => return r,
        },
        None if initialize && ids.len() == 1 => match app.start_session(upstream) {
            Ok(s) => (s, true),
            Err(r) => return r,
        },
        None => return initialize_first(),
    };
    session.touch();
    if parsed.is_err() {
        // The pipeline refuses it (and records why); the answer is its error.
        let (tx, mut rx) = mpsc::channel(4);
        session.client_frame(&frame, Some(&tx)).await;
        drop(tx);
        let body = match rx.recv().await {
            Some(Out::Answer(b) | Out::Other(b)) => b,
            None => Vec::new(),
        };
        return json_response(StatusCode::BAD_REQUEST, body);
    }
    if ids.is_empty() {
        // Notifications and responses: nothing to wait for.
        session.client_frame(&frame, None).await;
        return StatusCode::ACCEPTED.into_response();
    }
    let serial = session.next_serial();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    // The stream of an `initialize` has no log (and so no bound on the bytes it holds for a
    // slow reader): it carries the answer only; what the server sends meanwhile waits in the
    // session's bounded backlog for the client's GET stream.
    match session.expect(serial, &ids, &tokens, &tx, !sse || new) {
        Ok(()) => {}
        Err(Refused::Closed) => {
            return app
                .session_of(&upstream.name, headers)
                .err()
                .unwrap_or_else(gone);
        }
        Err(Refused::Duplicate(dup)) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                &format!("request id {dup} is already in flight in this session"),
            );
        }
    }
    session.client_frame(&frame, Some(&tx)).await;
    drop(tx);
    if sse && !new {
        // Resumable: the answers go to the stream's log, which this connection follows (and
        // another may, with `Last-Event-ID`, if this one breaks).
        session.open_stream(serial, false);
        let follower = Follower::new(session.clone(), serial, 1, String::new());
        tokio::spawn(Arc::clone(&session).log_stream(serial, rx, Some(ids.len())));
        return follow_response(follower, true);
    }
    let stream = PostStream {
        app: Arc::clone(app),
        session: Arc::clone(&session),
        serial,
        rx,
        remaining: ids.len(),
        initialize: new,
    };
    let batch = matches!(parsed, Ok(Parsed::Batch(_)));
    let mut response = if sse {
        sse_response(stream)
    } else {
        json_answers(stream, batch).await
    };
    if new && let Ok(v) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

fn initialize_first() -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        codes::INVALID_REQUEST,
        "no Mcp-Session-Id header: only an initialize request starts a session",
    )
}

fn gone() -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        codes::INVALID_REQUEST,
        "unknown or ended session: start a new one with an initialize request",
    )
}

/// A POST's answers: ends when each of its requests has been answered, or when the session
/// ends. Dropped early (the client went away), it cancels what is still unanswered.
struct PostStream {
    app: Arc<App>,
    session: Arc<HttpSession>,
    serial: u64,
    rx: mpsc::Receiver<Out>,
    remaining: usize,
    /// It carries the session's `initialize`: a client that leaves before the answer never
    /// learnt the session's id, so the session (and its server) would only wait to be reaped.
    initialize: bool,
}

impl PostStream {
    async fn next(&mut self) -> Option<Out> {
        if self.remaining == 0 {
            return None;
        }
        let out = self.rx.recv().await?;
        if matches!(out, Out::Answer(_)) {
            self.remaining -= 1;
        }
        Some(out)
    }
}

impl Drop for PostStream {
    fn drop(&mut self) {
        if self.remaining > 0 && self.initialize {
            self.app.end(&self.session.id);
        } else if !self.session.is_closed() {
            self.session.forget(self.serial);
        }
    }
}

fn sse_event(frame: &[u8], id: Option<String>) -> Result<Event, Infallible> {
    // Frames are single-line JSON (the pipeline's, or a server's line).
    let event = Event::default().data(String::from_utf8_lossy(frame));
    Ok(match id {
        Some(id) => event.id(id),
        None => event,
    })
}

/// A POST stream's events, without ids: the stream of an `initialize` (a client that left
/// before its answer never learnt the session).
fn sse_response(stream: PostStream) -> Response {
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        let (Out::Answer(frame) | Out::Other(frame)) = s.next().await?;
        Some((sse_event(&frame, None), s))
    });
    // Comments every 15 s keep a long call's stream open through proxies, and let a client
    // that left be noticed (and its call cancelled) without waiting for the answer.
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

async fn json_answers(mut stream: PostStream, batch: bool) -> Response {
    let mut answers = Vec::new();
    while let Some(out) = stream.next().await {
        match out {
            Out::Answer(f) => answers.push(f),
            // A JSON body carries responses only: a question for the client goes to its GET
            // stream (or waits for one).
            Out::Other(f) => stream.session.route(f),
        }
    }
    if answers.is_empty() {
        return rpc_error(
            StatusCode::BAD_GATEWAY,
            codes::SERVER_GONE,
            "the session ended before the server answered",
        );
    }
    let body = if !batch && answers.len() == 1 {
        answers.pop().unwrap_or_default()
    } else {
        let mut b = b"[".to_vec();
        b.extend(answers.join(&b","[..]));
        b.push(b']');
        b
    };
    json_response(StatusCode::OK, body)
}

fn get(app: &Arc<App>, upstream: &str, headers: &HeaderMap) -> Response {
    if !accepts(headers, "text/event-stream") {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            codes::INVALID_REQUEST,
            "a GET opens an event stream: Accept must include text/event-stream",
        );
    }
    let session = match app.session_of(upstream, headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    session.touch();
    if let Some((serial, seq)) = last_event_id(headers).and_then(resume::parse_event_id) {
        let current = |serial| session.is_standalone(serial);
        if let Some(r) = resume_stream(session.clone(), serial, seq, String::new(), current) {
            return r;
        }
    }
    let serial = session.next_serial();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    session.open_stream(serial, true);
    if !session.open_standalone_logged(serial, tx) {
        return gone();
    }
    tokio::spawn(Arc::clone(&session).log_stream(serial, rx, None));
    follow_response(Follower::new(session, serial, 1, String::new()), true)
}

fn last_event_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("last-event-id")?.to_str().ok()
}

/// A GET whose `Last-Event-ID` names stream `serial` of `owner`: the rest of that stream
/// after event `seq` while its log is kept (a GET stream's only while it is the one in use:
/// `current`); an error for a POST stream whose log is gone; `None` where a new GET stream is
/// the answer (a GET stream replaced or gone, or a stream `owner` does not know).
fn resume_stream(
    owner: Arc<dyn Followed>,
    serial: u64,
    seq: u64,
    prefix: String,
    current: impl Fn(u64) -> bool,
) -> Option<Response> {
    match owner.logs().resume(serial) {
        Resumed::Follow { standalone } if !standalone || current(serial) => {
            // What the client missed of that stream, then the rest as it comes.
            let follower = Follower::new(owner, serial, seq.saturating_add(1), prefix);
            Some(follow_response(follower, false))
        }
        Resumed::Gone { standalone: false } => Some(rpc_error(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "cannot resume: that stream's events are no longer kept (a stream nobody follows \
             is kept for 30 s)",
        )),
        _ => None,
    }
}

/// A connection following a stream's log (see [`resume`]).
struct Follower {
    owner: Arc<dyn Followed>,
    serial: u64,
    /// The sequence number of the next event it sends.
    next: u64,
    /// Before each event id: which log of an aggregated session the stream is in.
    prefix: String,
}

impl Follower {
    fn new(owner: Arc<dyn Followed>, serial: u64, next: u64, prefix: String) -> Self {
        owner.logs().follow(serial, true);
        owner.touch();
        Follower {
            owner,
            serial,
            next,
            prefix,
        }
    }

    fn event_id(&self, seq: u64) -> String {
        format!("{}{}", self.prefix, resume::event_id(self.serial, seq))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // A stream nobody follows for a while has its calls cancelled.
        self.owner.logs().follow(self.serial, false);
        self.owner.touch();
    }
}

/// The SSE response of a follower: a priming event first when asked (an id and no message,
/// so that a client whose connection breaks before any message can still resume), then the
/// stream's events.
fn follow_response(follower: Follower, priming: bool) -> Response {
    let first = priming.then(|| Ok(Event::default().id(follower.event_id(0)).data("")));
    let rest = futures_util::stream::unfold(follower, |mut f| async move {
        let (seq, frame) = f.owner.logs().next_event(f.serial, f.next).await?;
        f.next = seq + 1;
        Some((sse_event(&frame, Some(f.event_id(seq))), f))
    });
    let events = futures_util::stream::iter(first).chain(rest);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long open connections may take to finish once a shutdown has begun.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// Serves until SIGINT or SIGTERM. `ready` is told the address listened on once the socket
/// is bound.
pub fn serve(
    options: ServeOptions,
    upstreams: Vec<Upstream>,
    template: InspectorTemplate,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), GatewayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| GatewayError::Io {
            what: "starting the async runtime",
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| GatewayError::Io {
                what: "binding the listen address",
                source,
            })?;
        let local = listener.local_addr().map_err(|source| GatewayError::Io {
            what: "reading the listen address",
            source,
        })?;
        let acceptor = match &options.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        // Redirects are not followed: a server must not send mcpwall, with the headers it was
        // given for that server, somewhere else.
        for u in &upstreams {
            if let Some(r) = &u.remote {
                r.check()
                    .map_err(|why| GatewayError::Config(format!("upstream {}: {why}", u.name)))?;
            }
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GatewayError::Io {
                what: "starting the HTTP client",
                source: std::io::Error::other(e.to_string()),
            })?;
        let limits = upstreams
            .iter()
            .map(|u| (u.name.clone(), Arc::default()))
            .collect();
        let stateless = upstreams
            .iter()
            .map(|u| (u.name.clone(), stateless::Shared::default()))
            .collect();
        let app = Arc::new(App {
            order: upstreams.iter().map(|u| u.name.clone()).collect(),
            upstreams: upstreams.into_iter().map(|u| (u.name.clone(), u)).collect(),
            template,
            sessions: Mutex::new(HashMap::new()),
            stopped: Mutex::new(Vec::new()),
            limits,
            aggregates: Mutex::new(HashMap::new()),
            stateless,
            stateless_aggregate: tokio::sync::Mutex::new(None),
            stateless_taint: Arc::default(),
            client,
            options: ServeOptions {
                listen: local,
                ..options
            },
        });
        {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let mut clock = tokio::time::interval(Duration::from_secs(10));
                loop {
                    clock.tick().await;
                    app.reap_idle();
                    if let Some(r) = app.options.reaper.clone() {
                        let _ = tokio::task::spawn_blocking(move || child::tend_orphans(&r, false))
                            .await;
                    }
                }
            });
        }
        let connections = listen::Limits::new(app.options.max_connections);
        let router = Router::new()
            .route("/mcp/{name}", axum::routing::any(handle))
            .route("/mcp", axum::routing::any(handle_aggregate))
            .layer(DefaultBodyLimit::max(app.options.max_frame))
            .layer(axum::middleware::from_fn_with_state(
                connections.body,
                listen::body_deadline,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&app),
                guarded,
            ))
            .with_state(Arc::clone(&app));
        ready(local);
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = {
            let app = Arc::clone(&app);
            async move {
                wait_for_signal().await;
                // Open streams end with their sessions, so the server can stop.
                let ended: Vec<Arc<HttpSession>> =
                    lock(&app.sessions).drain().map(|(_, s)| s).collect();
                for s in &ended {
                    s.close();
                }
                lock(&app.stopped).extend(ended);
                let aggregates: Vec<Arc<Aggregate>> =
                    lock(&app.aggregates).drain().map(|(_, a)| a).collect();
                for a in aggregates {
                    a.close();
                    for m in &a.members {
                        m.session.close();
                        lock(&app.stopped).push(Arc::clone(&m.session));
                    }
                }
                for shared in app.stateless.values() {
                    for s in shared.take() {
                        s.close();
                        lock(&app.stopped).push(s);
                    }
                }
                let _ = stopping.send(());
            }
        };
        type Served = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
        let server: Served = match acceptor {
            Some(acceptor) => Box::pin(listen::serve(
                tls::TlsListener::new(listener, acceptor),
                router,
                connections,
                shutdown,
            )),
            // Without TCP_NODELAY, the end of a chunked response waits for the client's
            // delayed ACK: 40 ms per call.
            None => Box::pin(listen::serve(
                listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                router,
                connections,
                shutdown,
            )),
        };
        // A client that never finishes reading its response must not keep mcpwall running:
        // after the first signal, connections get SHUTDOWN_LIMIT to finish, or none after a
        // second signal.
        let forced = async {
            if stopped.await.is_ok() {
                tokio::select! {
                    () = tokio::time::sleep(SHUTDOWN_LIMIT) => {}
                    () = wait_for_signal() => {}
                }
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = server => {}
            () = forced => {}
        }
        // The servers had their input closed; give them the grace period, then kill what is
        // left of them (a server that exited had its group killed as it was reaped).
        let mut left: Vec<Arc<HttpSession>> = lock(&app.stopped).drain(..).collect();
        left.extend(lock(&app.sessions).drain().map(|(_, s)| s));
        let deadline = tokio::time::Instant::now() + app.options.grace;
        while left.iter().any(|s| !s.has_exited()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for s in left.iter().filter(|s| !s.has_exited()) {
            child::kill_group(s.group());
        }
        // Remote servers are told their sessions are over (DELETE), within the same limit as
        // connections.
        let farewells = futures_util::future::join_all(left.iter().map(|s| s.farewell()));
        let _ = tokio::time::timeout(SHUTDOWN_LIMIT, farewells).await;
        // Last, what the servers' descendants left running outside their groups: nothing a
        // server started outlives the gateway.
        if let Some(r) = app.options.reaper.clone() {
            let _ = tokio::task::spawn_blocking(move || child::tend_orphans(&r, true)).await;
        }
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the gateway runs until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
