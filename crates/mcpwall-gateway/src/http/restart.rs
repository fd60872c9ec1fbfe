//! Keeping a session's stdio server running. A server that exits on its own (a crash) has its
//! calls in flight answered with errors, and is started again after a pause that doubles with
//! each quick crash; the client keeps its session.
//!
//! The new process gets the client's `initialize` again (with an id of mcpwall's; its answer
//! stays here: the client has had one) and `notifications/initialized`. Then mcpwall lists the
//! tools itself, through the pipeline, so that the tools the session may call are the new
//! server's, checked against the pins: a server that comes back different has its changed
//! tools withheld, as at any listing. Messages the client sends meanwhile wait until that
//! listing is done (none crosses a restart: one inspected before it was sent to the old
//! process, and answered with an error), then go to the new process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcpwall_protocol::{Frame, Id};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

use super::child::{self, ServerOut};
use super::session::{HttpSession, Link, Out};
use super::{App, Upstream};

/// A server that ran this long before it exited crashed "once", not again.
const STABLE: Duration = Duration::from_secs(60);
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(8);
/// How long a restarted server may take to answer `initialize`, and to list its tools.
const INITIALIZE: Duration = Duration::from_secs(30);
/// Pages of tools listed after a restart; a server that pages on has the rest of its tools
/// withheld until the client lists them.
const MAX_PAGES: usize = 64;
/// How often a relisting checks that its server and session are still there.
const WATCH: Duration = Duration::from_millis(100);

/// Pumps the session's server output through the pipeline for as long as the session lasts,
/// restarting the server when it exits on its own; then ends the session.
pub(super) async fn supervise(
    app: Arc<App>,
    session: Arc<HttpSession>,
    upstream: Upstream,
    mut out: ServerOut,
) {
    let max = app.options.max_frame;
    let mut quick = 0u32;
    let mut attempts = 0u32;
    loop {
        let since = Instant::now();
        session.pump_server(&mut out, max).await;
        if session.is_closed() {
            break;
        }
        // Without an `initialize` to replay, a new process would be a server nobody set up.
        let Some(init) = session.initialize_frame() else {
            break;
        };
        if since.elapsed() >= STABLE {
            quick = 0;
        }
        quick += 1;
        attempts += 1;
        if quick > app.options.max_restarts {
            session.inspector.restarted(format!(
                "the server exited on its own {} time(s) in a row; the session ends",
                quick
            ));
            break;
        }
        let pause = FIRST_PAUSE
            .saturating_mul(1 << (quick - 1).min(10))
            .min(LONGEST_PAUSE);
        // A server that closed its output may still run: it is not left to take more input
        // (client messages under way would wait on its full pipe, or run after their error).
        if !session.has_exited() {
            child::kill_group(session.group());
        }
        // What the dead server had in flight is answered now (a listing of mcpwall's that
        // holds the gate among it). Client messages under way are sent (to the dead server:
        // they fail, and are answered in `restart`); the next ones wait for the new server.
        abandon(&session);
        let gate = session.close_gate().await;
        match restart(&app, &session, &upstream, &init, pause, attempts).await {
            Ok(next) => {
                out = next;
                session.inspector.restarted(format!(
                    "the server exited on its own; started again after {} ms (restart {attempts})",
                    pause.as_millis()
                ));
                // The listing's answer comes through the pump, which goes on meanwhile.
                let session = Arc::clone(&session);
                tokio::spawn(async move {
                    relist(&session, attempts).await;
                    // The new process's tools need not be the old one's: the client (or the
                    // aggregated endpoint, which then lists its members again before a call)
                    // is told to list them again.
                    session.route(TOOLS_CHANGED.to_vec());
                    drop(gate);
                });
            }
            Err(why) => {
                session.inspector.restarted(format!(
                    "the server exited and could not be restarted: {why}"
                ));
                break;
            }
        }
    }
    session.close();
    app.end(&session.id);
}

/// Answers what the dead server left open, waits `pause`, and starts and sets up a new
/// server. The server's input stays locked throughout: the client's messages wait for the new
/// process instead of going to the old one's closed pipe.
async fn restart(
    app: &Arc<App>,
    session: &Arc<HttpSession>,
    upstream: &Upstream,
    init: &[u8],
    pause: Duration,
    attempt: u32,
) -> Result<ServerOut, String> {
    let Link::Stdio(stdin) = &session.link else {
        return Err("not a stdio server".to_owned());
    };
    let mut stdin = stdin.lock().await;
    *stdin = None;
    abandon(session);
    tokio::time::sleep(pause).await;
    if session.is_closed() {
        return Err("the session ended".to_owned());
    }
    let started = child::start(upstream, &app.options.scrub_env).map_err(|e| e.to_string())?;
    session.set_process(started.group);
    {
        let (mut process, group, session) = (started.child, started.group, Arc::clone(session));
        tokio::spawn(async move {
            let _ = process.wait().await;
            child::kill_group(group);
            session.reaped(group);
        });
    }
    let mut pipe = started.stdin;
    let mut out = ServerOut::new(started.stdout, app.options.max_frame);
    let setup = initialize(&mut pipe, &mut out, init, attempt);
    match tokio::time::timeout(INITIALIZE, setup).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            child::kill_group(started.group);
            return Err(why);
        }
        Err(_) => {
            child::kill_group(started.group);
            return Err("it did not answer initialize".to_owned());
        }
    }
    *stdin = Some(pipe);
    Ok(out)
}

/// What the client is told once a restarted server's tools are listed again.
const TOOLS_CHANGED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

/// Answers, with errors, what the session's server left unanswered, and withdraws the
/// questions it had put to the client.
fn abandon(session: &HttpSession) {
    let inspector = &session.inspector;
    for frame in inspector
        .abandon()
        .into_iter()
        .chain(inspector.abandon_server_requests())
    {
        session.route(frame);
    }
}

/// Replays the client's `initialize` under an id of mcpwall's, waits for its answer (what
/// the server says before it goes nowhere: nobody asked), and says `initialized`.
async fn initialize(
    pipe: &mut ChildStdin,
    out: &mut ServerOut,
    init: &[u8],
    attempt: u32,
) -> Result<(), String> {
    let id = format!("mcpwall-restart-{attempt}");
    let mut request: Value =
        serde_json::from_slice(init).map_err(|_| "the initialize kept is not JSON".to_owned())?;
    request["id"] = Value::String(id.clone());
    let write = |v: &Value| {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        line
    };
    let io = |e: std::io::Error| format!("cannot write to it: {e}");
    pipe.write_all(&write(&request)).await.map_err(io)?;
    pipe.flush().await.map_err(io)?;
    loop {
        let Some(frame) = out.next().await else {
            return Err("it exited before answering initialize".to_owned());
        };
        let Frame::Data(bytes) = frame else { continue };
        let Ok(answer) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if answer.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            continue;
        }
        if answer.get("result").is_none_or(|r| !r.is_object()) {
            return Err("it refused initialize".to_owned());
        }
        break;
    }
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    pipe.write_all(&write(&initialized)).await.map_err(io)?;
    pipe.flush().await.map_err(io)
}

/// Lists the restarted server's tools through the pipeline, in the session's place, every page
/// of them, and waits (a while) for the answers: the session may then call what the new server
/// offers and the pins allow, and nothing else. The tools of the old process are forgotten
/// first: one the new process no longer lists, or lists on a page past [`MAX_PAGES`] or after
/// the time is up, may not be called until a listing of the client's offers it.
async fn relist(session: &Arc<HttpSession>, attempt: u32) {
    session.inspector.forget_tools();
    let serial = session.next_serial();
    let (tx, mut rx) = mpsc::channel(4);
    let deadline = tokio::time::Instant::now() + INITIALIZE;
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let id = format!("mcpwall-relist-{attempt}-{page}");
        let mut list = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        if let Some(c) = cursor.take() {
            list["params"] = json!({ "cursor": c });
        }
        if session
            .expect(serial, &[Id::String(id.clone())], &[], &tx, true)
            .is_err()
        {
            return;
        }
        let frame = serde_json::to_vec(&list).unwrap_or_default();
        session.client_frame_ungated(&frame, Some(&tx)).await;
        // Until the answer comes, the time is up, or the server is gone (a page sent after
        // it exited is answered by nobody, and the restart that follows waits for this).
        let answer = loop {
            let tick = (tokio::time::Instant::now() + WATCH).min(deadline);
            match tokio::time::timeout_at(tick, rx.recv()).await {
                Ok(Some(Out::Answer(a))) => break Some(a),
                Ok(Some(Out::Other(_))) => {}
                Ok(None) => break None,
                Err(_) if tick >= deadline || session.has_exited() || session.is_closed() => {
                    break None;
                }
                Err(_) => {}
            }
        };
        let Some(answer) = answer else {
            // The listing is cancelled at the server, if it is still there.
            session.forget(serial);
            return;
        };
        cursor = serde_json::from_slice::<Value>(&answer).ok().and_then(|v| {
            v.pointer("/result/nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if cursor.is_none() {
            return;
        }
    }
}
