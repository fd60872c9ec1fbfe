//! Protocol 2026-07-28 clients of an upstream's endpoint (`/mcp/NAME`) and of the aggregated
//! one (`/mcp`): no `initialize` and no session. Every POST is one request that carries its protocol version and its client's
//! capabilities in `_meta`, and the same version, method and name again in headers
//! (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`), which must agree with the body: a proxy
//! or load balancer in front may act on the headers while mcpwall inspects the body.
//!
//! The requests of an upstream's stateless clients share one server process (a remote
//! server: one link without a session, see `remote::modern`), spoken to in 2026-07-28, behind
//! one pipeline. It is started at the first such request, asked
//! `server/discover` (a server that does not speak 2026-07-28 sends the clients back to
//! `initialize`), and its tools are listed at once, so that they are pinned and checked before
//! any call. What the pipeline keeps for a session (taint, approvals, the questions it asked in
//! place of results) is kept for those clients together: taint then errs on the safe side. Each
//! request reaches the server under an id and progress token of mcpwall's, so that clients
//! cannot collide or see each other's answers; a server message that belongs to no request in
//! flight (the protocol has none) is dropped, never put on another client's stream. On `/mcp`
//! an aggregate of those shared servers answers as one server (see `aggregate`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use mcpwall_protocol::{Id, Message, Parsed, parse_message};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::aggregate::{Aggregate, Answered, Member};
use super::remote::RemoteTransport;
use super::session::{Asked, HttpSession, Out, Refused, STREAM_QUEUE};
use super::{
    App, KEEP_ALIVE, PROTOCOL_VERSIONS, PostStream, SESSION_HEADER, Serves, Upstream,
    VERSION_HEADER, cannot_start, json_response, lock, new_session_id, one_line, post_headers,
    rpc_error, sse_event, too_many,
};
use crate::inspect::codes;
use crate::param_headers::{self, ParamHeader};

/// The initialize-free protocol revision.
pub(super) const MODERN: &str = "2026-07-28";

const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
/// Before the token of a mirrored argument's header (names are lower-case in a `HeaderMap`).
const PARAM_PREFIX: &str = "mcp-param-";
const PROTOCOL_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
const SUBSCRIPTION_KEY: &str = "io.modelcontextprotocol/subscriptionId";

/// The routing headers disagree with the body (2026-07-28).
const HEADER_MISMATCH: i64 = -32020;
/// The protocol version is not one the server speaks; `data.supported` names those it does.
const UNSUPPORTED_VERSION: i64 = -32022;

/// How long a server that did not speak 2026-07-28 is not asked again.
const REFUSED_FOR: Duration = Duration::from_secs(60);
/// How long starting the shared server may take: `server/discover`, then every page of tools.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Pages of tools listed at the start, at most.
const MAX_PAGES: usize = 100;

/// Whether a request is a stateless one: protocol 2026-07-28, and no session.
pub(super) fn asked(headers: &HeaderMap) -> bool {
    headers.get(SESSION_HEADER).is_none()
        && headers
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == MODERN)
}

/// The shared server of one upstream's stateless clients.
#[derive(Default)]
pub(super) struct Shared {
    slots: Mutex<Slots>,
    /// Held while one is started: the requests that come meanwhile wait for it.
    start: tokio::sync::Mutex<()>,
    /// Until when the upstream's server is known not to speak 2026-07-28.
    refused_until: Mutex<Option<Instant>>,
    /// mcpwall's ids and progress tokens for the requests it sends on.
    next: AtomicU64,
}

/// One lock for both, so that a shutdown sees a session being started or running, never
/// neither.
#[derive(Default)]
struct Slots {
    /// The running one, once started and listed.
    running: Option<Arc<HttpSession>>,
    /// One being started.
    starting: Option<Arc<HttpSession>>,
    /// mcpwall is stopping: nothing more is started.
    stopping: bool,
}

enum Start {
    /// The server does not speak 2026-07-28: the client should use `initialize`.
    Unsupported,
    Failed(Response),
}

impl Shared {
    /// The sessions to stop (the running one and one being started); none is started after.
    pub(super) fn take(&self) -> Vec<Arc<HttpSession>> {
        let mut s = lock(&self.slots);
        s.stopping = true;
        [s.running.take(), s.starting.take()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The running session, when it has been idle for `idle` with no request in flight.
    pub(super) fn take_idle(&self, idle: Duration) -> Option<Arc<HttpSession>> {
        let mut s = lock(&self.slots);
        // Its GET stream is mcpwall's own sink, always open: only requests count.
        if s.running
            .as_ref()
            .is_some_and(|r| r.idle_for() >= idle && !r.has_posts())
        {
            return s.running.take();
        }
        None
    }

    /// Whether a shared server runs (or is being started).
    pub(super) fn is_running(&self) -> bool {
        let s = lock(&self.slots);
        s.running.as_ref().is_some_and(|r| !r.is_closed()) || s.starting.is_some()
    }

    /// The running session, touched under the lock so that it is not taken as idle before
    /// its request is registered.
    fn running(&self) -> Option<Arc<HttpSession>> {
        let s = lock(&self.slots);
        let running = s.running.as_ref().filter(|r| !r.is_closed())?;
        running.touch();
        Some(Arc::clone(running))
    }

    async fn session(
        &self,
        app: &Arc<App>,
        upstream: &Upstream,
    ) -> Result<Arc<HttpSession>, Start> {
        if let Some(s) = self.running() {
            return Ok(s);
        }
        let _start = self.start.lock().await;
        if let Some(s) = self.running() {
            return Ok(s);
        }
        if lock(&self.refused_until).is_some_and(|t| Instant::now() < t) {
            return Err(Start::Unsupported);
        }
        let ended = {
            let mut s = lock(&self.slots);
            if s.stopping {
                return Err(Start::Failed(stopping()));
            }
            s.running.take()
        };
        if let Some(old) = ended {
            app.retire(old);
        }
        if !app.has_room(1) {
            return Err(Start::Failed(too_many()));
        }
        let id = new_session_id().map_err(Start::Failed)?;
        let session = app
            .spawn_session(upstream, format!("stateless-{id}"), Serves::Stateless)
            .map_err(|e| Start::Failed(cannot_start(upstream, &e)))?;
        {
            let mut s = lock(&self.slots);
            if s.stopping {
                drop(s);
                app.retire(session);
                return Err(Start::Failed(stopping()));
            }
            s.starting = Some(Arc::clone(&session));
        }
        // The client may go away while the server starts (its request future is dropped):
        // the half-started server is then retired and its slot freed, not left "starting".
        let mut abandoned = Abandoned {
            shared: self,
            app,
            session: Some(Arc::clone(&session)),
        };
        // What the server sends apart from any request has nowhere to go.
        let (tx, mut rx) = mpsc::channel::<Out>(STREAM_QUEUE);
        if session.open_standalone(session.next_serial(), tx) {
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
        }
        let started = tokio::time::timeout(START_LIMIT, prepare(&session))
            .await
            .unwrap_or_else(|_| {
                Err(start_failed(
                    &session,
                    "it did not answer server/discover and list its tools within 30 s",
                ))
            });
        abandoned.session = None;
        let outcome = {
            let mut s = lock(&self.slots);
            s.starting = None;
            match started {
                Ok(()) if s.stopping => Err(Start::Failed(stopping())),
                Ok(()) => {
                    s.running = Some(Arc::clone(&session));
                    return Ok(session);
                }
                Err(e) => Err(e),
            }
        };
        app.retire(session);
        if matches!(outcome, Err(Start::Unsupported)) {
            *lock(&self.refused_until) = Some(Instant::now() + REFUSED_FOR);
        }
        outcome
    }
}

/// Retires a server whose start was abandoned half-way, unless defused.
struct Abandoned<'a> {
    shared: &'a Shared,
    app: &'a Arc<App>,
    session: Option<Arc<HttpSession>>,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        // When it is no longer in the slot, a shutdown took it and retires it.
        let ours = {
            let mut s = lock(&self.shared.slots);
            let ours = s
                .starting
                .as_ref()
                .is_some_and(|x| Arc::ptr_eq(x, &session));
            if ours {
                s.starting = None;
            }
            ours
        };
        if ours && tokio::runtime::Handle::try_current().is_ok() {
            self.app.retire(session);
        }
    }
}

fn stopping() -> Response {
    rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::SERVER_GONE,
        "mcpwall is stopping",
    )
}

fn start_failed(session: &HttpSession, why: &str) -> Start {
    Start::Failed(rpc_error(
        StatusCode::BAD_GATEWAY,
        codes::SERVER_GONE,
        &format!(
            "the server of {} could not be started: {why}",
            session.upstream
        ),
    ))
}

/// mcpwall's own `_meta` for what it asks the shared server.
pub(super) fn envelope() -> Value {
    json!({
        PROTOCOL_KEY: MODERN,
        CAPABILITIES_KEY: {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcpwall", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// Asks a new shared server `server/discover`, then lists its tools (every page) through the
/// pipeline, which pins and checks them. [`START_LIMIT`] bounds the whole.
async fn prepare(session: &Arc<HttpSession>) -> Result<(), Start> {
    let failed = |why: String| start_failed(session, &why);
    let discover = session
        .ask(
            "server/discover",
            Some(json!({"_meta": envelope()})),
            START_LIMIT,
        )
        .await;
    let speaks = |r: &Value| {
        r.get("supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|v| v == MODERN))
    };
    match discover {
        Ok(r) if speaks(&r) => {}
        // An error answer, or versions without this one: a server of the handshake era.
        Ok(_) | Err(Asked::Error(_)) => return Err(Start::Unsupported),
        Err(Asked::Gone) => return Err(failed("it exited".to_owned())),
        Err(Asked::Late) => return Err(failed("it did not answer server/discover".to_owned())),
    }
    let mut cursor: Option<Value> = None;
    for _ in 0..MAX_PAGES {
        let mut params = json!({"_meta": envelope()});
        if let Some(c) = cursor.take() {
            params["cursor"] = c;
        }
        let page = session
            .ask("tools/list", Some(params), START_LIMIT)
            .await
            .map_err(|e| failed(format!("listing its tools: {e:?}")))?;
        match page.get("nextCursor") {
            Some(c) if !c.is_null() => cursor = Some(c.clone()),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// An error answer for request `id`, with its HTTP status.
fn refuse(
    status: StatusCode,
    id: Option<&Id>,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    let mut error = json!({"code": code, "message": format!("mcpwall: {message}")});
    if let Some(d) = data {
        error["data"] = d;
    }
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.map_or(Value::Null, Id::to_value),
        "error": error,
    });
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// `-32022`, naming the versions of `initialize`: a client that gets it falls back to a session.
pub(super) fn unsupported(id: Option<&Id>, why: &str) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        id,
        UNSUPPORTED_VERSION,
        &format!("protocol {MODERN} is not served here ({why}): start a session with initialize"),
        Some(json!({"supported": PROTOCOL_VERSIONS, "requested": MODERN})),
    )
}

/// The one value of a header that must not come twice.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("the {name} header comes more than once"));
    }
    first
        .map(|v| {
            v.to_str()
                .map_err(|_| format!("the {name} header is not text"))
        })
        .transpose()
}

/// Checks a request's envelope (`_meta`) and that the routing headers say what the body says.
fn check_envelope(headers: &HeaderMap, method: &str, value: &Value) -> Result<(), (i64, String)> {
    let mismatch = |why: String| (HEADER_MISMATCH, why);
    let Some(meta) = value.pointer("/params/_meta").and_then(Value::as_object) else {
        return Err((
            codes::INVALID_PARAMS,
            format!(
                "a {MODERN} request carries params._meta with {PROTOCOL_KEY} and {CAPABILITIES_KEY}"
            ),
        ));
    };
    if !meta.contains_key(CAPABILITIES_KEY) {
        return Err((
            codes::INVALID_PARAMS,
            format!("params._meta has no {CAPABILITIES_KEY}"),
        ));
    }
    let version = single(headers, VERSION_HEADER).map_err(mismatch)?;
    if version.map(str::trim) != meta.get(PROTOCOL_KEY).and_then(Value::as_str) {
        return Err(mismatch(format!(
            "the MCP-Protocol-Version header does not match params._meta's {PROTOCOL_KEY}"
        )));
    }
    if single(headers, METHOD_HEADER).map_err(mismatch)? != Some(method) {
        return Err(mismatch(
            "the Mcp-Method header does not match the method".to_owned(),
        ));
    }
    let name_key = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    let name_header = single(headers, NAME_HEADER).map_err(mismatch)?;
    if let Some(key) = name_key {
        let Some(body) = value
            .pointer(&format!("/params/{key}"))
            .and_then(Value::as_str)
        else {
            return Err((
                codes::INVALID_PARAMS,
                format!("{method} names what it is about in params.{key}, a string"),
            ));
        };
        if name_header.and_then(param_headers::from_header).as_deref() != Some(body) {
            return Err(mismatch(format!(
                "the Mcp-Name header does not match params.{key}"
            )));
        }
    }
    Ok(())
}

/// Checks a call's `Mcp-Param-*` headers against its arguments, as the tool's schema mirrors
/// them (`declared`; `None` when the tool is not offered, which the pipeline refuses anyway):
/// present together and equal, or absent together; none that the schema does not declare.
fn check_param_headers(
    headers: &HeaderMap,
    declared: Option<Vec<ParamHeader>>,
    call: &Value,
) -> Result<(), String> {
    let Some(declared) = declared else {
        return Ok(());
    };
    let tool = call
        .pointer("/params/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let arguments = call.pointer("/params/arguments");
    for name in headers.keys() {
        let Some(token) = name.as_str().strip_prefix(PARAM_PREFIX) else {
            continue;
        };
        if !declared.iter().any(|d| d.token == token) {
            return Err(format!("the {name} header names no argument of `{tool}`"));
        }
    }
    for d in &declared {
        let name = format!("{PARAM_PREFIX}{}", d.token);
        let raw = single(headers, &name)?;
        let value = param_headers::argument(arguments, &d.path);
        let argument = d.path.join(".");
        match (raw, value.filter(|v| param_headers::rendered(v).is_some())) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(format!(
                    "the {name} header comes without a `{argument}` argument it can be"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "the `{argument}` argument comes without its {name} header"
                ));
            }
            (Some(raw), Some(v)) => {
                if !param_headers::from_header(raw)
                    .is_some_and(|h| param_headers::matches(d, v, &h))
                {
                    return Err(format!(
                        "the {name} header does not match the `{argument}` argument"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What mcpwall changed in a request, to change back in what answers it.
struct Renamed {
    /// The client's id; mcpwall's went to the server.
    id: Value,
    internal: Id,
    /// The client's progress token and mcpwall's, if the request had one.
    token: Option<(Value, Value)>,
}

impl Renamed {
    /// A message for the client: its answer under the client's id, its progress under the
    /// client's token, its subscription's notifications naming the client's request.
    fn restore(&self, frame: Vec<u8>) -> Vec<u8> {
        let Ok(mut v) = serde_json::from_slice::<Value>(&frame) else {
            return frame;
        };
        if v.get("method").is_none() {
            v["id"] = self.id.clone();
        } else {
            if let Some((client, internal)) = &self.token
                && v.pointer("/params/progressToken") == Some(internal)
            {
                v["params"]["progressToken"] = client.clone();
            }
            if let Some(meta) = v
                .pointer_mut("/params/_meta")
                .and_then(Value::as_object_mut)
                && meta.get(SUBSCRIPTION_KEY) == Some(&self.internal.to_value())
            {
                meta.insert(SUBSCRIPTION_KEY.to_owned(), self.id.clone());
            }
        }
        serde_json::to_vec(&v).unwrap_or(frame)
    }
}

/// A POSTed request of a client without a session, read and checked: its id, method and
/// body, and whether the client takes SSE. `Err`: the answer it gets instead.
fn read_request(headers: &HeaderMap, body: &[u8]) -> Result<(Id, String, Value, bool), Response> {
    let sse = post_headers(headers)?;
    let frame = one_line(body);
    let (id, method, value) = match parse_message(&frame) {
        Ok(Parsed::Single(Message::Request { id, method }, v)) => (id, method, v),
        // The protocol has no notifications from client to server here (a client cancels by
        // closing its stream): taken, and dropped.
        Ok(Parsed::Single(Message::Notification { .. }, _)) => {
            return Err(StatusCode::ACCEPTED.into_response());
        }
        Ok(_) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                None,
                codes::INVALID_REQUEST,
                &format!("a {MODERN} POST carries one request: no batches, no responses"),
                None,
            ));
        }
        Err(e) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                None,
                codes::PARSE_ERROR,
                &format!("the message is not strict JSON-RPC: {e}"),
                None,
            ));
        }
    };
    if let Err((code, why)) = check_envelope(headers, &method, &value) {
        return Err(refuse(StatusCode::BAD_REQUEST, Some(&id), code, &why, None));
    }
    if method == "initialize" {
        // The shared server was set up for clients without sessions; one client's handshake
        // would change it for all of them.
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            Some(&id),
            codes::INVALID_REQUEST,
            &format!("initialize starts a session: send it without MCP-Protocol-Version {MODERN}"),
            None,
        ));
    }
    Ok((id, method, value, sse))
}

fn speaks_modern(upstream: &Upstream) -> bool {
    !upstream
        .remote
        .as_ref()
        .is_some_and(|r| r.transport == RemoteTransport::Sse)
}

/// A stateless POST to an upstream's endpoint.
pub(super) async fn post(
    app: &Arc<App>,
    upstream: &Upstream,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (id, _, value, sse) = match read_request(headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !speaks_modern(upstream) {
        return unsupported(Some(&id), "an HTTP+SSE server speaks protocol 2024-11-05");
    }
    send(app, To::Upstream(upstream), headers, &id, value, sse)
        .await
        .unwrap_or_else(gone_server)
}

fn gone_server() -> Response {
    rpc_error(
        StatusCode::BAD_GATEWAY,
        codes::SERVER_GONE,
        "the server is gone",
    )
}

/// The shared server a request goes to.
enum To<'a> {
    /// An upstream's: started if need be, and again if it ends before the request is in.
    Upstream(&'a Upstream),
    /// This one (of the aggregated endpoint's), named.
    Member(&'a str, Arc<HttpSession>),
}

/// Sends a request to a shared server under an id and progress token of mcpwall's, and
/// answers the client with what comes back, under its own. `None`: the aggregated endpoint's
/// member had ended before the request was in (its aggregate is to be built again).
async fn send(
    app: &Arc<App>,
    to: To<'_>,
    headers: &HeaderMap,
    id: &Id,
    mut value: Value,
    sse: bool,
) -> Option<Response> {
    let name = match &to {
        To::Upstream(u) => u.name.as_str(),
        To::Member(name, _) => name,
    };
    let shared = &app.stateless[name];
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    let internal = Id::Number(n.to_string());
    let renamed = Renamed {
        id: value["id"].clone(),
        internal: internal.clone(),
        token: value
            .pointer("/params/_meta/progressToken")
            .cloned()
            .map(|t| (t, json!(format!("mcpwall-{n}")))),
    };
    value["id"] = internal.to_value();
    if let Some((_, token)) = &renamed.token {
        value["params"]["_meta"]["progressToken"] = token.clone();
    }
    let tokens: Vec<Value> = renamed.token.iter().map(|(_, t)| t.clone()).collect();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    // An upstream's twice at most: its shared server may end (idle, crashed) between being
    // found and the request's registration; then another is started.
    let mut tries = 0;
    let (session, serial) = loop {
        let session = match &to {
            To::Member(_, s) => Arc::clone(s),
            To::Upstream(upstream) => match shared.session(app, upstream).await {
                Ok(s) => s,
                Err(Start::Unsupported) => {
                    return Some(unsupported(Some(id), "the server does not speak it"));
                }
                Err(Start::Failed(r)) => return Some(r),
            },
        };
        if value.get("method").and_then(Value::as_str) == Some("tools/call") {
            let tool = value.pointer("/params/name").and_then(Value::as_str);
            let declared = tool.and_then(|t| session.inspector.param_headers(t));
            if let Err(why) = check_param_headers(headers, declared, &value) {
                let r = refuse(
                    StatusCode::BAD_REQUEST,
                    Some(id),
                    HEADER_MISMATCH,
                    &why,
                    None,
                );
                return Some(r);
            }
        }
        let serial = session.next_serial();
        match session.expect(serial, std::slice::from_ref(&internal), &tokens, &tx, !sse) {
            Ok(()) => break (session, serial),
            Err(Refused::Closed) if tries == 0 && matches!(to, To::Upstream(_)) => tries += 1,
            Err(Refused::Closed) if matches!(to, To::Member(..)) => return None,
            Err(e) => {
                let why = match e {
                    Refused::Closed => "the server is gone",
                    Refused::Duplicate(_) => "mcpwall's request id is in flight already",
                };
                return Some(refuse(
                    StatusCode::BAD_GATEWAY,
                    Some(id),
                    codes::SERVER_GONE,
                    why,
                    None,
                ));
            }
        }
    };
    session
        .client_frame(&serde_json::to_vec(&value).unwrap_or_default(), Some(&tx))
        .await;
    drop(tx);
    let stream = PostStream {
        app: Arc::clone(app),
        session,
        serial,
        rx,
        remaining: 1,
        initialize: false,
    };
    if sse {
        let events = futures_util::stream::unfold((stream, renamed), |(mut s, r)| async move {
            let (Out::Answer(frame) | Out::Other(frame)) = s.next().await?;
            Some((sse_event(&r.restore(frame), None), (s, r)))
        });
        return Some(
            Sse::new(events)
                .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
                .into_response(),
        );
    }
    let mut stream = stream;
    while let Some(out) = stream.next().await {
        if let Out::Answer(frame) = out {
            return Some(json_response(StatusCode::OK, renamed.restore(frame)));
        }
    }
    Some(refuse(
        StatusCode::BAD_GATEWAY,
        Some(id),
        codes::SERVER_GONE,
        "the server ended before it answered",
        None,
    ))
}

/// A stateless POST to the aggregated endpoint: answered by the aggregate of the upstreams'
/// shared servers (built again when one of them was replaced), which merges lists and
/// `server/discover` as for a session and sends calls on to the server whose prefix they
/// carry.
pub(super) async fn post_aggregate(app: &Arc<App>, headers: &HeaderMap, body: &[u8]) -> Response {
    let (id, method, value, sse) = match read_request(headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    // Twice at most: a server may end (idle, crashed) between the aggregate's answer and the
    // call's registration; then the aggregate is built again with its successor.
    let mut tries = 0;
    let result = loop {
        let agg = match stateless_aggregate(app, &id).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        match agg.answer_stateless(&method, &value).await {
            Answered::Result(r) => {
                break json!({"jsonrpc": "2.0", "id": id.to_value(), "result": r});
            }
            Answered::Error(code, why) => {
                break json!({"jsonrpc": "2.0", "id": id.to_value(),
                    "error": {"code": code, "message": format!("mcpwall: {why}")}});
            }
            Answered::Forward(k, rewritten) => {
                let m = &agg.members[k];
                let to = To::Member(&m.name, Arc::clone(&m.session));
                match send(app, to, headers, &id, rewritten, sse).await {
                    Some(r) => return r,
                    None if tries == 0 => tries += 1,
                    None => return gone_server(),
                }
            }
        }
    };
    let frame = serde_json::to_vec(&result).unwrap_or_default();
    if sse {
        let events = futures_util::stream::iter([sse_event(&frame, None)]);
        return Sse::new(events).into_response();
    }
    json_response(StatusCode::OK, frame)
}

/// The aggregate of the upstreams' shared servers (each started if need be), built again
/// when one of them was replaced; under one lock, so that concurrent requests build it once.
async fn stateless_aggregate(app: &Arc<App>, id: &Id) -> Result<Arc<Aggregate>, Response> {
    let mut slot = app.stateless_aggregate.lock().await;
    let mut members = Vec::with_capacity(app.order.len());
    for name in &app.order {
        let Some(upstream) = app.upstreams.get(name) else {
            continue;
        };
        if !speaks_modern(upstream) {
            let why = format!("the upstream {name} speaks protocol 2024-11-05");
            return Err(unsupported(Some(id), &why));
        }
        match app.stateless[name].session(app, upstream).await {
            Ok(s) => members.push(Member {
                name: name.clone(),
                session: s,
            }),
            Err(Start::Unsupported) => {
                let why = format!("the upstream {name} does not speak it");
                return Err(unsupported(Some(id), &why));
            }
            Err(Start::Failed(r)) => return Err(r),
        }
    }
    let current = slot.as_ref().filter(|a| {
        a.members.len() == members.len()
            && a.members
                .iter()
                .zip(&members)
                .all(|(m, n)| Arc::ptr_eq(&m.session, &n.session))
    });
    if let Some(a) = current {
        return Ok(Arc::clone(a));
    }
    let a = app.stateless_aggregate_of(members).await;
    *slot = Some(Arc::clone(&a));
    Ok(a)
}

/// A GET or DELETE without a session at 2026-07-28: there are no streams or sessions to have.
pub(super) fn no_session() -> Response {
    let mut r = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::INVALID_REQUEST,
        &format!("a {MODERN} client only POSTs requests: there is no session to open or end"),
    );
    r.headers_mut()
        .insert(header::ALLOW, axum::http::HeaderValue::from_static("POST"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    fn call(name: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": name, "arguments": {},
                          "_meta": {PROTOCOL_KEY: MODERN, CAPABILITIES_KEY: {}}}})
    }

    #[test]
    fn routing_headers_must_say_what_the_body_says() {
        let ok = [
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
        ];
        assert!(check_envelope(&headers(&ok), "tools/call", &call("add")).is_ok());
        // A name that is not printable ASCII comes base64-encoded.
        let encoded = [
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?w6ljaG8=?="),
        ];
        assert!(check_envelope(&headers(&encoded), "tools/call", &call("écho")).is_ok());
        let code = |h: &[(&'static str, &str)], v: &Value| {
            check_envelope(&headers(h), "tools/call", v)
                .err()
                .map(|e| e.0)
        };
        // Another tool named in the header than in the body (what a router in front acts on).
        let other = [ok[0], ok[1], ("mcp-name", "delete_all")];
        assert_eq!(code(&other, &call("add")), Some(HEADER_MISMATCH));
        // Twice the same routing header: which one a router reads is anyone's guess.
        let twice = [ok[0], ok[1], ok[2], ("mcp-method", "tools/list")];
        assert_eq!(code(&twice, &call("add")), Some(HEADER_MISMATCH));
        // No name header, another method, another version.
        assert_eq!(code(&ok[..2], &call("add")), Some(HEADER_MISMATCH));
        let method = [ok[0], ("mcp-method", "tools/list"), ok[2]];
        assert_eq!(code(&method, &call("add")), Some(HEADER_MISMATCH));
        let mut old = call("add");
        old["params"]["_meta"][PROTOCOL_KEY] = json!("2025-11-25");
        assert_eq!(code(&ok, &old), Some(HEADER_MISMATCH));
        // A malformed or non-canonical base64 name matches nothing.
        let bad = [ok[0], ok[1], ("mcp-name", "=?base64?w6lj aG8=?=")];
        assert_eq!(code(&bad, &call("écho")), Some(HEADER_MISMATCH));
        // A printable name may come encoded too; another spelling of the same bytes may not.
        let encoded = [ok[0], ok[1], ("mcp-name", "=?base64?YWRk?=")];
        assert!(check_envelope(&headers(&encoded), "tools/call", &call("add")).is_ok());
        let noncanonical = [ok[0], ok[1], ("mcp-name", "=?base64?YWR=?=")];
        assert_eq!(param_headers::from_header("=?base64?YWR=?="), None);
        assert_eq!(code(&noncanonical, &call("ad")), Some(HEADER_MISMATCH));
        // What a name-bearing method is about must be a string, and named.
        let mut numbered = call("add");
        numbered["params"]["name"] = json!(7);
        assert_eq!(code(&ok, &numbered), Some(codes::INVALID_PARAMS));
        let mut unnamed = call("add");
        unnamed["params"]
            .as_object_mut()
            .expect("params")
            .remove("name");
        assert_eq!(code(&ok[..2], &unnamed), Some(codes::INVALID_PARAMS));
        // No envelope, or one without the client's capabilities.
        let mut bare = call("add");
        bare["params"]
            .as_object_mut()
            .expect("params")
            .remove("_meta");
        assert_eq!(code(&ok, &bare), Some(codes::INVALID_PARAMS));
    }

    #[test]
    fn mirrored_arguments_must_match_their_headers() {
        let declared = param_headers::declared(&json!({"properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"}
        }}));
        let mut c = call("deploy");
        c["params"]["arguments"] = json!({"region": "eu-west-1", "count": 3});
        let check = |pairs: &[(&'static str, &str)], c: &Value| {
            check_param_headers(&headers(pairs), Some(declared.clone()), c)
        };
        let both = [("mcp-param-region", "eu-west-1"), ("mcp-param-count", "3")];
        assert!(check(&both, &c).is_ok());
        // What a router in front reads must be what the server is asked.
        assert!(check(&[both[1], ("mcp-param-region", "us-east-1")], &c).is_err());
        assert!(check(&both[1..], &c).is_err());
        assert!(check(&[both[0], both[1], ("mcp-param-region", "eu-west-1")], &c).is_err());
        assert!(check(&[both[0], both[1], ("mcp-param-tenant", "a")], &c).is_err());
        // Absent together is fine; a header for an absent argument is not.
        c["params"]["arguments"] = json!({"count": 3});
        assert!(check(&both[1..], &c).is_ok());
        assert!(check(&both, &c).is_err());
        // A tool the pipeline does not offer: it refuses the call itself.
        assert!(check_param_headers(&headers(&both), None, &c).is_ok());
    }

    #[test]
    fn answers_go_back_under_the_clients_id_and_token() {
        let r = Renamed {
            id: json!("client-7"),
            internal: Id::Number("41".to_owned()),
            token: Some((json!(7), json!("mcpwall-41"))),
        };
        let answer = br#"{"jsonrpc":"2.0","id":41,"result":{}}"#.to_vec();
        let back: Value = serde_json::from_slice(&r.restore(answer)).expect("json");
        assert_eq!(back["id"], "client-7");
        let progress =
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"mcpwall-41","progress":1}}"#;
        let back: Value = serde_json::from_slice(&r.restore(progress.to_vec())).expect("json");
        assert_eq!(back["params"]["progressToken"], 7);
        let event = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                           "params": {"_meta": {SUBSCRIPTION_KEY: 41}}});
        let back: Value =
            serde_json::from_slice(&r.restore(serde_json::to_vec(&event).expect("json")))
                .expect("json");
        assert_eq!(back["params"]["_meta"][SUBSCRIPTION_KEY], "client-7");
    }
}
