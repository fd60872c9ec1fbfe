//! `mcpwall run`: one stdio MCP server, wrapped in place.
//!
//! The client starts mcpwall instead of the server; mcpwall starts the server as its child and
//! pumps frames both ways through the [`Inspector`]. The child's standard error passes
//! through. When the client closes its end, the child's standard input is closed and the child
//! gets a grace period to exit before it is killed; when the child exits, mcpwall returns its
//! status. The child runs in a process group of its own: SIGTERM, SIGINT and SIGHUP sent to
//! mcpwall are passed on to that group, which is killed if it is still there after the grace
//! period, so the server (and anything it started) does not outlive mcpwall.

use std::ffi::OsString;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mcpwall_protocol::{Frame, FrameReader};
use rustix::process::{Pid, Signal, kill_process_group};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::GatewayError;
use crate::inspect::{Direction, Inspector, Outcome};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The server's program.
    pub command: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The largest frame accepted from either side, in bytes.
    pub max_frame: usize,
    /// How long the child may take to exit once its input is closed.
    pub grace: Duration,
    /// How long a request may wait for its answer (progress reports restart the clock);
    /// `None`: forever.
    pub call_timeout: Option<Duration>,
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_frame(out: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    // One write per frame: the child's input is unbuffered, and two writes were two syscalls.
    let mut line = Vec::with_capacity(frame.len() + 1);
    line.extend_from_slice(frame);
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Frames queued for one peer and written by a thread of its own, so that a peer that stops
/// reading blocks nobody else: not the other direction, not the timeouts.
struct Outbox {
    tx: Mutex<Option<SyncSender<Vec<u8>>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    /// How long a full queue may stay full before the peer counts as stuck; `None`: wait.
    stall: Option<Duration>,
    /// What to do about a stuck peer (kill the server: everything then winds down).
    on_stall: Box<dyn Fn() + Send + Sync>,
}

/// Frames waiting for a peer, beyond what its pipe holds.
const QUEUE: usize = 256;

impl Outbox {
    fn new(
        mut out: impl Write + Send + 'static,
        stall: Option<Duration>,
        on_stall: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Outbox> {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let writer = thread::spawn(move || {
            for frame in rx {
                // A peer that went away is noticed by its reader; a failed write only loses
                // what that peer could no longer receive.
                if write_frame(&mut out, &frame).is_err() {
                    break;
                }
            }
        });
        Arc::new(Outbox {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            stall,
            on_stall: Box::new(on_stall),
        })
    }

    /// Queues a frame; waits while the queue is full, at most the stall time.
    fn send(&self, frame: Vec<u8>) {
        let Some(tx) = lock(&self.tx).clone() else {
            return;
        };
        let started = Instant::now();
        let mut frame = frame;
        loop {
            match tx.try_send(frame) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => frame = back,
            }
            if self.stall.is_some_and(|s| started.elapsed() >= s) {
                (self.on_stall)();
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Queues a frame if there is room at once (advisory frames: cancellations).
    fn offer(&self, frame: Vec<u8>) {
        if let Some(tx) = lock(&self.tx).as_ref() {
            let _ = tx.try_send(frame);
        }
    }

    /// No more frames: the writer writes what is queued, then closes the peer's stream.
    fn close(&self) {
        lock(&self.tx).take();
    }

    /// [`Outbox::close`], then waits up to `limit` for the queue to be written.
    fn close_and_flush(&self, limit: Duration) {
        self.close();
        let Some(writer) = lock(&self.writer).take() else {
            return;
        };
        let deadline = Instant::now() + limit;
        while !writer.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if writer.is_finished() {
            let _ = writer.join();
        }
    }
}

/// Delivers an outcome: `forward` onward, `reply` back to the sender.
fn deliver(outcome: Outcome<'_>, onward: &Outbox, back: &Outbox) {
    if let Some(f) = outcome.forward {
        onward.send(f.into_owned());
    }
    if let Some(r) = outcome.reply {
        back.send(r);
    }
}

/// Runs the server under inspection, with the client on `client_in` and `client_out` (standard
/// input and output for `mcpwall run`). Returns the child's exit status.
pub fn run<I, O>(
    config: &RunConfig,
    inspector: Arc<Inspector>,
    client_in: I,
    client_out: O,
) -> Result<ExitStatus, GatewayError>
where
    I: Read + Send + 'static,
    O: Write + Send + 'static,
{
    // Registered before the child exists: a signal in between is not lost.
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|source| GatewayError::Io {
            what: "registering signal handlers",
            source,
        })?;
    let mut child = Command::new(&config.command)
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|source| GatewayError::Spawn {
            command: config.command.to_string_lossy().into_owned(),
            source,
        })?;
    let group = Pid::from_child(&child);
    {
        let grace = config.grace;
        thread::spawn(move || {
            let first = signals.forever().next();
            if let Some(sig) = first {
                let forward = match sig {
                    SIGINT => Signal::INT,
                    SIGHUP => Signal::HUP,
                    _ => Signal::TERM,
                };
                let _ = kill_process_group(group, forward);
                // A second signal (a person pressing Ctrl-C again) does not wait out the grace
                // period.
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline && signals.pending().next().is_none() {
                    thread::sleep(Duration::from_millis(20));
                }
                let _ = kill_process_group(group, Signal::KILL);
            }
        });
    }
    let server_out = child.stdout.take();
    // A peer that leaves its queue full for a whole call timeout is stuck: the server is
    // killed, and the session winds down as when it exits.
    let stuck = move || {
        let _ = kill_process_group(group, Signal::KILL);
    };
    let server_in = match child.stdin.take() {
        Some(stdin) => Outbox::new(stdin, config.call_timeout, stuck),
        None => Outbox::new(io::sink(), None, || {}),
    };
    let child: Shared<Child> = Arc::new(Mutex::new(child));
    let client_out = Outbox::new(client_out, config.call_timeout, stuck);

    {
        let inspector = Arc::clone(&inspector);
        let server_in = Arc::clone(&server_in);
        let client_out = Arc::clone(&client_out);
        let child = Arc::clone(&child);
        let (max, grace) = (config.max_frame, config.grace);
        thread::spawn(move || {
            let mut frames = FrameReader::new(BufReader::new(client_in), max);
            // A read error is the client going away, as the end of the stream is.
            while let Ok(Some(frame)) = frames.next_frame() {
                match frame {
                    Frame::Data(bytes) => deliver(
                        inspector.inspect(Direction::ClientToServer, &bytes),
                        &server_in,
                        &client_out,
                    ),
                    Frame::Oversize { len } => deliver(
                        inspector.oversize(Direction::ClientToServer, len, max),
                        &server_in,
                        &client_out,
                    ),
                }
            }
            // The client is gone: closing the server's input asks it to exit.
            server_in.close();
            thread::sleep(grace);
            let mut c = lock(&child);
            if matches!(c.try_wait(), Ok(None)) {
                let _ = kill_process_group(group, Signal::KILL);
            }
        });
    }

    let done = Arc::new(AtomicBool::new(false));
    if let Some(timeout) = config.call_timeout {
        let (inspector, server_in, client_out) = (
            Arc::clone(&inspector),
            Arc::clone(&server_in),
            Arc::clone(&client_out),
        );
        let done = Arc::clone(&done);
        // Checked a few times per timeout period, at least every 100 ms.
        let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(100));
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                thread::sleep(tick);
                for (to_client, to_server) in inspector.expire(timeout) {
                    client_out.send(to_client);
                    if let Some(f) = to_server {
                        server_in.offer(f);
                    }
                }
            }
        });
    }

    if let Some(out) = server_out {
        let mut frames = FrameReader::new(BufReader::new(out), config.max_frame);
        loop {
            match frames.next_frame() {
                Ok(Some(Frame::Data(bytes))) => {
                    let o = inspector.inspect(Direction::ServerToClient, &bytes);
                    deliver(o, &client_out, &server_in);
                }
                Ok(Some(Frame::Oversize { len })) => {
                    let o = inspector.oversize(Direction::ServerToClient, len, config.max_frame);
                    deliver(o, &client_out, &server_in);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    // The server closed its output: it is exiting, or must be made to. What it left
    // unanswered is answered now, so that no client waits for ever.
    done.store(true, Ordering::Relaxed);
    server_in.close();
    for frame in inspector.abandon() {
        client_out.send(frame);
    }
    // What the client is owed is written before mcpwall exits.
    client_out.close_and_flush(config.grace);
    let deadline = Instant::now() + config.grace;
    loop {
        let mut c = lock(&child);
        match c.try_wait() {
            Ok(Some(status)) => {
                // What the server started and left behind goes with it.
                let _ = kill_process_group(group, Signal::KILL);
                return Ok(status);
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = kill_process_group(group, Signal::KILL);
                return c.wait().map_err(|source| GatewayError::Io {
                    what: "waiting for the server",
                    source,
                });
            }
            Ok(None) => {}
            Err(source) => {
                return Err(GatewayError::Io {
                    what: "waiting for the server",
                    source,
                });
            }
        }
        drop(c);
        thread::sleep(Duration::from_millis(10));
    }
}
