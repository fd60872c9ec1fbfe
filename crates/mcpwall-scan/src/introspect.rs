//! Starting a stdio server to ask what it offers: `initialize`, then every page of
//! `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list`, then the
//! process group is killed. Bounded everywhere: one deadline for the whole session, lines of at
//! most [`MAX_LINE`] bytes, at most [`MAX_PAGES`] pages a list, the last [`STDERR_TAIL`] bytes of
//! its standard error kept for the report.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest line read from a server.
pub const MAX_LINE: usize = 8 << 20;
/// Pages read of one list.
pub const MAX_PAGES: usize = 50;
/// Bytes of standard error kept.
pub const STDERR_TAIL: usize = 2048;
/// Tools, prompts, resources and templates kept of one server, all lists together.
pub const MAX_ITEMS: usize = 5000;
/// Bytes of those (as JSON) kept of one server.
pub const MAX_BYTES: usize = 32 << 20;
/// Messages of the server that are not the answer awaited (notifications, its own requests,
/// other ids) tolerated in one session.
pub const MAX_OTHER_MESSAGES: usize = 10_000;
/// Longest pagination cursor sent back.
const MAX_CURSOR: usize = 4096;

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Variables set for it, over the scanning process's environment.
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
}

/// What a server said it offers.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// `serverInfo.name`.
    pub server: Option<String>,
    pub protocol_version: Option<String>,
    pub instructions: Option<String>,
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
}

/// Why a server could not be listed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub why: String,
    /// The end of what it wrote to standard error.
    pub stderr: String,
}

/// Starts the server, lists what it offers within `timeout`, and stops it.
pub fn introspect(spawn: &Spawn, timeout: Duration) -> Result<Listing, Failure> {
    let deadline = Instant::now() + timeout;
    let mut cmd = Command::new(&spawn.program);
    cmd.args(&spawn.args)
        .envs(&spawn.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &spawn.cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group: `npx` and `uvx` start the server as a grandchild, and all of
        // them go at the end.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| Failure {
        why: format!("cannot start {}: {e}", spawn.program.to_string_lossy()),
        stderr: String::new(),
    })?;
    let mut session = match Session::new(&mut child) {
        Ok(s) => s,
        Err(f) => {
            stop(&mut child);
            return Err(f);
        }
    };
    let result = list_server(&mut session, deadline);
    stop(&mut child);
    result.map_err(|why| Failure {
        why,
        stderr: session.stderr_tail(),
    })
}

/// The pipes to a running server.
struct Session {
    /// To the writer thread: a server that does not read its input blocks that thread, never
    /// the session, which keeps its deadline.
    input: mpsc::SyncSender<Vec<u8>>,
    lines: mpsc::Receiver<Result<Vec<u8>, String>>,
    /// Messages that were not the answer awaited.
    other: usize,
    tail: Arc<Mutex<Vec<u8>>>,
    /// Closed when standard error reaches its end.
    tail_done: mpsc::Receiver<()>,
}

impl Session {
    fn new(child: &mut Child) -> Result<Session, Failure> {
        let fail = |what: &str| Failure {
            why: format!("no {what} pipe"),
            stderr: String::new(),
        };
        let mut stdin = child.stdin.take().ok_or_else(|| fail("input"))?;
        let output = child.stdout.take().ok_or_else(|| fail("output"))?;
        let errors = child.stderr.take().ok_or_else(|| fail("error"))?;
        // Bounded: a server that writes faster than it is read waits for the reader.
        let (tx, lines) = mpsc::sync_channel(4);
        std::thread::spawn(move || read_lines(output, &tx));
        let (input, outgoing) = mpsc::sync_channel::<Vec<u8>>(4);
        std::thread::spawn(move || {
            for msg in outgoing {
                if stdin.write_all(&msg).and_then(|()| stdin.flush()).is_err() {
                    return;
                }
            }
        });
        let tail = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&tail);
        let (done, tail_done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            keep_tail(errors, &keep);
            drop(done);
        });
        Ok(Session {
            input,
            lines,
            other: 0,
            tail,
            tail_done,
        })
    }

    /// What the server wrote to standard error, once it is stopped: waits a little for the
    /// pipe's end (a process that left the group may keep it open).
    fn stderr_tail(&self) -> String {
        let _ = self.tail_done.recv_timeout(Duration::from_millis(500));
        let bytes = self.tail.lock().map(|t| t.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    fn send(&mut self, msg: &Value, deadline: Instant) -> Result<(), String> {
        let mut line = msg.to_string().into_bytes();
        line.push(b'\n');
        // The writer thread's queue is short: wait for room, until the deadline.
        loop {
            match self.input.try_send(line) {
                Ok(()) => return Ok(()),
                Err(mpsc::TrySendError::Disconnected(_)) => {
                    return Err("the server closed its input".into());
                }
                Err(mpsc::TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return Err("the server stopped reading its input".into());
                    }
                    line = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

impl Peer for Session {
    fn exchange(
        &mut self,
        msg: &Value,
        id: Option<u64>,
        method: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, String> {
        self.send(msg, deadline)?;
        let Some(id) = id else { return Ok(None) };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer to {method} in time"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("the server exited before answering {method}"));
                }
            };
            match answer(&line, id) {
                Some(m) => return Ok(Some(m)),
                // Not JSON (a server that logs to its output), or not the answer awaited.
                None => count_other(&mut self.other)?,
            }
        }
    }
}

/// How a session with a server is carried: a child's pipes, or HTTP.
pub(crate) trait Peer {
    /// Sends `msg`; for a request (`id`), waits for the server's answer to it and returns that
    /// whole message. What else the server sends meanwhile (notifications, requests of its
    /// own) is ignored, up to [`MAX_OTHER_MESSAGES`]: answering would echo what it chose, to a
    /// server that may not read. `Err` when the session cannot go on.
    fn exchange(
        &mut self,
        msg: &Value,
        id: Option<u64>,
        method: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, String>;
}

/// `bytes` parsed, if it is the answer to request `id`.
pub(crate) fn answer(bytes: &[u8], id: u64) -> Option<Value> {
    let msg = serde_json::from_slice::<Value>(bytes).ok()?;
    (msg.get("method").is_none() && msg.get("id").and_then(Value::as_u64) == Some(id))
        .then_some(msg)
}

/// Counts a message that answers nothing; too many end the session.
pub(crate) fn count_other(other: &mut usize) -> Result<(), String> {
    *other += 1;
    if *other > MAX_OTHER_MESSAGES {
        return Err(format!(
            "more than {MAX_OTHER_MESSAGES} messages that answer nothing"
        ));
    }
    Ok(())
}

/// `initialize`, then every list the server's capabilities announce.
pub(crate) fn list_server(peer: &mut dyn Peer, deadline: Instant) -> Result<Listing, String> {
    let mut l = Lister {
        peer,
        next_id: 0,
        items: 0,
        bytes: 0,
    };
    l.run(deadline)
}

struct Lister<'a> {
    peer: &'a mut dyn Peer,
    next_id: u64,
    /// Items kept so far (see [`MAX_ITEMS`]).
    items: usize,
    /// Their bytes (see [`MAX_BYTES`]).
    bytes: usize,
}

impl Lister<'_> {
    fn run(&mut self, deadline: Instant) -> Result<Listing, String> {
        let init = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcpwall-scan", "version": env!("CARGO_PKG_VERSION")},
            }),
            deadline,
        )?;
        let init = init.map_err(|(_, e)| format!("initialize failed: {e}"))?;
        self.peer.exchange(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            None,
            "notifications/initialized",
            deadline,
        )?;
        let mut out = Listing {
            server: init["serverInfo"]["name"].as_str().map(str::to_owned),
            protocol_version: init["protocolVersion"].as_str().map(str::to_owned),
            instructions: init["instructions"].as_str().map(str::to_owned),
            ..Listing::default()
        };
        let caps = &init["capabilities"];
        if caps.get("tools").is_some() {
            out.tools = self.list("tools/list", "tools", deadline)?;
        }
        if caps.get("prompts").is_some() {
            out.prompts = self.list("prompts/list", "prompts", deadline)?;
        }
        if caps.get("resources").is_some() {
            out.resources = self.list("resources/list", "resources", deadline)?;
            out.templates = self.list("resources/templates/list", "resourceTemplates", deadline)?;
        }
        Ok(out)
    }

    /// Every page of a list (a method the server does not have lists nothing).
    fn list(&mut self, method: &str, key: &str, deadline: Instant) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = match self.request(method, params, deadline)? {
                Ok(p) => p,
                // A list the server does not have (it advertised the capability anyway).
                Err((-32601, _)) if items.is_empty() => return Ok(Vec::new()),
                // Any other error: what it offers was not seen, and the scan must say so.
                Err((_, e)) => return Err(format!("{method} failed: {e}")),
            };
            if let Some(a) = page[key].as_array() {
                self.items += a.len();
                self.bytes += serde_json::to_string(a).map_or(0, |t| t.len());
                if self.bytes > MAX_BYTES {
                    return Err(format!("more than {MAX_BYTES} bytes of definitions"));
                }
                if self.items > MAX_ITEMS {
                    return Err(format!(
                        "more than {MAX_ITEMS} tools, prompts and resources"
                    ));
                }
                items.extend(a.iter().cloned());
            }
            match page["nextCursor"].as_str() {
                Some(c) if c.len() > MAX_CURSOR => {
                    return Err(format!("{method}: a cursor longer than {MAX_CURSOR} bytes"));
                }
                Some(c) if Some(c) != cursor.as_deref() => cursor = Some(c.to_owned()),
                _ => return Ok(items),
            }
        }
        Err(format!("{method}: more than {MAX_PAGES} pages"))
    }

    /// A request and its response: `Ok(Ok(result))`, `Ok(Err((code, message)))` for a JSON-RPC
    /// error, `Err` when the session cannot go on.
    fn request(
        &mut self,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Result<Value, (i64, String)>, String> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let msg = self
            .peer
            .exchange(&msg, Some(id), method, deadline)?
            .ok_or_else(|| format!("no answer to {method}"))?;
        if let Some(e) = msg.get("error") {
            let code = e["code"].as_i64().unwrap_or(0);
            let text: String = e["message"]
                .as_str()
                .unwrap_or("error")
                .chars()
                .take(300)
                .collect();
            return Ok(Err((code, text)));
        }
        Ok(Ok(msg.get("result").cloned().unwrap_or(Value::Null)))
    }
}

/// Lines of standard output to `tx`, each at most [`MAX_LINE`] bytes.
fn read_lines(output: impl Read, tx: &mpsc::SyncSender<Result<Vec<u8>, String>>) {
    let mut r = BufReader::new(output);
    loop {
        let mut line = Vec::new();
        match (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) if line.len() > MAX_LINE => {
                let _ = tx.send(Err(format!("a line longer than {MAX_LINE} bytes")));
                return;
            }
            Ok(_) => {
                if tx.send(Ok(line)).is_err() {
                    return;
                }
            }
        }
    }
}

/// The last [`STDERR_TAIL`] bytes of standard error.
fn keep_tail(errors: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut r = BufReader::new(errors);
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            return;
        }
        let Ok(mut t) = tail.lock() else { return };
        t.extend_from_slice(&buf[..n]);
        if t.len() > STDERR_TAIL {
            let cut = t.len() - STDERR_TAIL;
            t.drain(..cut);
        }
    }
}

/// Ends the server and everything it started.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = rustix::process::Pid::from_raw(child.id().cast_signed()) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}
