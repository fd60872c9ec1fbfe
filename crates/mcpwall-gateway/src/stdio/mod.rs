//! `mcpwall run`: one stdio MCP server, wrapped in place.
//!
//! The client starts mcpwall instead of the server; mcpwall starts the server as its child and
//! pumps frames both ways through the [`Inspector`]. The child's standard error passes
//! through. When the client closes its end, the child's standard input is closed and the child
//! gets a grace period to exit before it is killed; when the child exits, mcpwall returns its
//! status. The child runs in a process group of its own: SIGTERM, SIGINT and SIGHUP sent to
//! mcpwall are passed on to that group, which is killed if it is still there after the grace
//! period, so the server (and anything it started) does not outlive mcpwall.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mcpwall_protocol::Frame;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Signal, kill_process_group};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::GatewayError;
use crate::inspect::{Direction, Inspector};
use mcpwall_sandbox::reaper::Reaper;
use pump::{Deadline, Seen, Side, pump};

mod pump;

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
    /// mcpwall as the parent of what the server leaves behind (see
    /// [`mcpwall_sandbox::reaper`]): orphans handed to it are collected as they end, and
    /// killed once the server's exit is collected. `None`: left to the system.
    pub reaper: Option<Arc<Reaper>>,
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_frame(out: &mut (impl Write + ?Sized), frame: &[u8]) -> io::Result<()> {
    // One write per frame: the child's input is unbuffered, and two writes were two syscalls.
    let mut line = Vec::with_capacity(frame.len() + 1);
    line.extend_from_slice(frame);
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// Frames queued for one peer and written by a thread of its own, so that a peer that stops
/// reading blocks nobody else: not the other direction, not the timeouts.
///
/// A small frame, when nothing waits before it and the peer's pipe has room, is written by
/// the thread that has it instead: a write of at most `PIPE_BUF` bytes to a pipe with room does
/// not block, and a hop through the writer thread is a thread wake-up on every message.
struct Outbox {
    tx: Mutex<Option<SyncSender<Vec<u8>>>>,
    /// The peer's stream, written by the writer thread and by the direct path, one frame at a
    /// time; `None` once closed (the writer thread drops it after the last queued frame, so
    /// that the peer sees the end of its input).
    out: Arc<Mutex<Option<Stream>>>,
    /// Frames handed to the writer thread and not yet written, and their bytes.
    queued: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicUsize>,
    /// Set once the peer was found stuck: what is sent to it from then on is dropped at once
    /// (each frame would otherwise wait out the stall time again).
    stuck: AtomicBool,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    /// How long a full queue may stay full before the peer counts as stuck; `None`: wait.
    stall: Option<Duration>,
    /// What to do about a stuck peer (kill the server: everything then winds down).
    on_stall: Box<dyn Fn() + Send + Sync>,
    /// The pump's deadline for polling without sleeping, moved on by each frame sent, and by
    /// how much.
    eager: Option<(Arc<Deadline>, Duration)>,
}

/// Frames waiting for a peer, beyond what its pipe holds.
const QUEUE: usize = 256;

/// Bytes waiting for a peer, at most (a frame larger than that alone is let in): 256 frames
/// of up to `--max-frame` each would be a gigabyte per peer.
const QUEUE_BYTES: usize = 16 << 20;

/// What a pipe takes in one write without splitting it, or blocking when it has room (POSIX).
const PIPE_BUF: usize = 4096;
/// How long, after a frame is written to either peer, the pump polls without sleeping (see
/// [`pump`]): a quick server answers, and a client in a hurry sends its next request, within
/// it; a peer that takes longer costs this much CPU per message.
const EAGER_WINDOW: Duration = Duration::from_micros(200);

/// How often mcpwall looks whether the server has exited.
const EXIT_POLL: Duration = Duration::from_millis(100);
/// Every how many [`EXIT_POLL`]s the exits of orphans handed to mcpwall are collected (a look
/// through `/proc`).
const COLLECT_EVERY: u32 = 50;

#[derive(Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Exited, its exit not yet collected: its number (and its group's) is still reserved.
    Exited,
    /// Collected (by the thread that waits for it, as mcpwall ends): the number may be
    /// anyone's by now.
    Reaped,
}

/// The server's state, looked at without collecting its exit.
fn server_state(pid: Pid) -> State {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let peek = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(pid), peek) {
        Ok(None) => State::Running,
        Ok(Some(_)) => State::Exited,
        Err(_) => State::Reaped,
    }
}

/// Kills the server's process group, unless the server's exit was collected (then its group
/// was killed as it was, and the number must not be reused against another process's group).
fn kill_unless_reaped(group: Pid) {
    if server_state(group) != State::Reaped {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

/// A peer's stream, and a duplicate of its descriptor to ask whether its pipe has room.
struct Stream {
    out: Box<dyn Write + Send>,
    fd: Option<OwnedFd>,
}

impl Outbox {
    fn new(
        out: impl Write + AsFd + Send + 'static,
        stall: Option<Duration>,
        on_stall: impl Fn() + Send + Sync + 'static,
        eager: (Arc<Deadline>, Duration),
    ) -> Arc<Outbox> {
        let fd = out.as_fd().try_clone_to_owned().ok();
        Self::with_stream(Box::new(out), fd, stall, on_stall, Some(eager))
    }

    /// An outbox to a stream that is not a descriptor (always through the writer thread).
    fn unfiled(
        out: impl Write + Send + 'static,
        stall: Option<Duration>,
        on_stall: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Outbox> {
        Self::with_stream(Box::new(out), None, stall, on_stall, None)
    }

    fn with_stream(
        out: Box<dyn Write + Send>,
        fd: Option<OwnedFd>,
        stall: Option<Duration>,
        on_stall: impl Fn() + Send + Sync + 'static,
        eager: Option<(Arc<Deadline>, Duration)>,
    ) -> Arc<Outbox> {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let out = Arc::new(Mutex::new(Some(Stream { out, fd })));
        let queued = Arc::new(AtomicUsize::new(0));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (out, queued, queued_bytes) = (
                Arc::clone(&out),
                Arc::clone(&queued),
                Arc::clone(&queued_bytes),
            );
            thread::spawn(move || {
                for frame in rx {
                    // A peer that went away is noticed by its reader; a failed write only
                    // loses what that peer could no longer receive.
                    let written = match lock(&out).as_mut() {
                        Some(s) => write_frame(&mut *s.out, &frame),
                        None => Ok(()),
                    };
                    queued_bytes.fetch_sub(frame.len(), Ordering::AcqRel);
                    queued.fetch_sub(1, Ordering::AcqRel);
                    if written.is_err() {
                        break;
                    }
                }
                // Closed (or gone): the peer's input ends here.
                lock(&out).take();
            })
        };
        Arc::new(Outbox {
            out,
            queued,
            queued_bytes,
            stuck: AtomicBool::new(false),
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            stall,
            on_stall: Box::new(on_stall),
            eager,
        })
    }

    /// Writes a small frame at once if nothing waits before it and the pipe has room;
    /// otherwise queues it, waiting while the queue is full, at most the stall time.
    fn send(&self, frame: Vec<u8>) {
        self.send_until(frame, None);
    }

    /// [`Outbox::send`], giving up (the peer then counts as stuck) at `deadline` too.
    fn send_until(&self, frame: Vec<u8>, deadline: Option<Instant>) {
        let started = Instant::now();
        let mut frame = frame;
        while let Err(back) = self.try_send(frame) {
            if self.stuck.load(Ordering::Relaxed) || self.stalled(started) {
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.stuck.store(true, Ordering::Relaxed);
                return;
            }
            frame = back;
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// [`Outbox::send`] without waiting: a frame the full queue has no room for comes back.
    fn try_send(&self, frame: Vec<u8>) -> Result<(), Vec<u8>> {
        let Some(tx) = lock(&self.tx).clone() else {
            return Ok(());
        };
        if !self.write_now(&frame) {
            let len = frame.len();
            let waiting = self.queued_bytes.load(Ordering::Acquire);
            if waiting > 0 && waiting.saturating_add(len) > QUEUE_BYTES {
                return Err(frame);
            }
            self.queued.fetch_add(1, Ordering::AcqRel);
            self.queued_bytes.fetch_add(len, Ordering::AcqRel);
            match tx.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Disconnected(_)) => {
                    self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(back);
                }
            }
        }
        // An answer (or the next request) is due: the pump polls for it without sleeping.
        if let Some((eager, window)) = &self.eager {
            eager.extend(*window);
        }
        Ok(())
    }

    /// Whether a queue full since `since` has been full for the stall time; if so, the stall
    /// is dealt with (the server killed).
    fn stalled(&self, since: Instant) -> bool {
        let stalled = self.stall.is_some_and(|s| since.elapsed() >= s);
        if stalled {
            self.stuck.store(true, Ordering::Relaxed);
            (self.on_stall)();
        }
        stalled
    }

    /// The direct path: true when the frame was written (or its peer is gone).
    fn write_now(&self, frame: &[u8]) -> bool {
        // Linux: a pipe polls writable with a page free, so a write under PIPE_BUF does not
        // block (elsewhere POLLOUT may mean as little as 512 bytes).
        if !cfg!(target_os = "linux")
            || frame.len() >= PIPE_BUF
            || self.queued.load(Ordering::Acquire) > 0
        {
            return false;
        }
        let Ok(mut stream) = self.out.try_lock() else {
            return false;
        };
        // Under the lock: a frame queued meanwhile goes first.
        if self.queued.load(Ordering::Acquire) > 0 {
            return false;
        }
        let Some(Stream { out, fd: Some(fd) }) = stream.as_mut() else {
            return false;
        };
        let mut polled = [PollFd::new(fd, PollFlags::OUT)];
        let ready = rustix::event::poll(&mut polled, Some(&Timespec::default())).is_ok()
            && polled[0].revents().contains(PollFlags::OUT);
        if !ready {
            return false;
        }
        // A peer that went away is noticed by its reader, as for the writer thread.
        let _ = write_frame(&mut **out, frame);
        true
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

/// Frames that came from one side and wait for room on their way (to the other side, or back).
#[derive(Default)]
struct Held {
    /// Where each goes, the frame, and whether it already found its way full once.
    frames: VecDeque<(Side, Vec<u8>, bool)>,
    /// Since when the first of them has waited.
    since: Option<Instant>,
}

/// The pump's handler: each frame through the inspector, its outcome to the outboxes. A frame
/// that finds its outbox full is held, and its side is read no further until it went: the
/// pump never waits on one peer, so that the other keeps flowing (a server answering while
/// the client sends more than its input holds).
struct Relay<'a> {
    inspector: &'a Inspector,
    /// See `order` in [`run`].
    order: &'a Mutex<()>,
    /// By the side they write to.
    outboxes: [&'a Outbox; 2],
    /// By the side the frames came from.
    held: [Held; 2],
    max: usize,
    grace: Duration,
    group: Pid,
}

fn index(side: Side) -> usize {
    usize::from(side == Side::Server)
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

impl pump::Handler for Relay<'_> {
    fn seen(&mut self, seen: Seen) -> ControlFlow<()> {
        let (side, frame) = match seen {
            Seen::Frame(side, frame) => (side, frame),
            Seen::Closed(Side::Client) => {
                // The client is gone: closing the server's input asks it to exit. After the
                // grace period the group goes, whether the server is still running or exited
                // and left something behind that holds its output (which mcpwall would read
                // for ever).
                self.outboxes[index(Side::Server)].close();
                let (grace, group) = (self.grace, self.group);
                thread::spawn(move || {
                    thread::sleep(grace);
                    kill_unless_reaped(group);
                });
                return ControlFlow::Continue(());
            }
            Seen::Closed(Side::Server) => return ControlFlow::Break(()),
        };
        let dir = match side {
            Side::Client => Direction::ClientToServer,
            Side::Server => Direction::ServerToClient,
        };
        let outcome = match &frame {
            Frame::Data(bytes) => self.inspector.inspect(dir, bytes),
            Frame::Oversize { len, head, tail } => {
                self.inspector.oversize(dir, *len, self.max, head, tail)
            }
        };
        let held = &mut self.held[index(side)].frames;
        if let Some(f) = outcome.forward {
            held.push_back((other(side), f.into_owned(), false));
        }
        if let Some(r) = outcome.reply {
            held.push_back((side, r, false));
        }
        self.ready(side);
        ControlFlow::Continue(())
    }

    fn ready(&mut self, side: Side) -> bool {
        let held = &mut self.held[index(side)];
        while let Some((to, frame, waited)) = held.frames.pop_front() {
            let outbox = self.outboxes[index(to)];
            // A request that waited may have timed out meanwhile (its client answered that it
            // was cancelled): it must not reach the server after all. Checked and sent under
            // the order lock, so that a timeout's cancellation cannot slip in before it.
            let order = (waited && to == Side::Server).then(|| lock(self.order));
            let frame = if order.is_some() {
                match still_due(self.inspector, frame) {
                    Some(f) => f,
                    None => {
                        held.since = None;
                        continue;
                    }
                }
            } else {
                frame
            };
            let sent = outbox.try_send(frame);
            drop(order);
            if let Err(back) = sent {
                let since = *held.since.get_or_insert_with(Instant::now);
                if outbox.stalled(since) {
                    // The server was killed: what waited for it is dropped, as it was.
                    held.frames.clear();
                    held.since = None;
                    return true;
                }
                held.frames.push_front((to, back, true));
                return false;
            }
            held.since = None;
        }
        true
    }
}

/// `frame` (from the client) without the requests its client was answered for while it
/// waited (timed out, or cancelled by the client), or `None` when nothing of it is left.
fn still_due(inspector: &Inspector, frame: Vec<u8>) -> Option<Vec<u8>> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&frame) else {
        // mcpwall's own encoding of what it inspected: parses. Sent as it is otherwise.
        return Some(frame);
    };
    let due = |m: &serde_json::Value| {
        let request = m.get("method").is_some();
        match m
            .get("id")
            .and_then(|id| mcpwall_protocol::Id::from_json(id).ok())
        {
            Some(id) if request => inspector.awaits_answer(&id),
            _ => true,
        }
    };
    match value {
        serde_json::Value::Array(items) => {
            let n = items.len();
            let kept: Vec<serde_json::Value> = items.into_iter().filter(|m| due(m)).collect();
            match kept.len() {
                0 => None,
                k if k == n => Some(frame),
                _ => serde_json::to_vec(&serde_json::Value::Array(kept)).ok(),
            }
        }
        m => due(&m).then_some(frame),
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
    I: AsFd,
    O: Write + AsFd + Send + 'static,
{
    let client_in = client_in
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| GatewayError::Io {
            what: "duplicating the client's input",
            source,
        })?;
    // Registered before the child exists: a signal in between is not lost.
    let signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|source| GatewayError::Io {
        what: "registering signal handlers",
        source,
    })?;
    let mut command = Command::new(&config.command);
    command
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    // Killed with mcpwall even by SIGKILL. This thread waits for the server's end below, so
    // it outlives the server, as the parent-death signal needs.
    mcpwall_sandbox::dies_with_parent(&mut command);
    let mut child = command.spawn().map_err(|source| GatewayError::Spawn {
        command: config.command.to_string_lossy().into_owned(),
        source,
    })?;
    let group = Pid::from_child(&child);
    {
        let grace = config.grace;
        thread::spawn(move || {
            let mut signals = signals;
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
                kill_unless_reaped(group);
            }
            // Still here after that: the session is winding down. A signal more means now,
            // as it would for a program without handlers (the handlers stay installed, so
            // doing nothing here would leave only SIGKILL to stop mcpwall).
            for sig in signals.forever() {
                kill_unless_reaped(group);
                let _ = signal_hook::low_level::emulate_default_handler(sig);
            }
        });
    }
    let Some(server_out) = child.stdout.take() else {
        let _ = kill_process_group(group, Signal::KILL);
        let _ = child.wait();
        return Err(GatewayError::Io {
            what: "reading the server's output",
            source: io::Error::other("the server's output is not a pipe"),
        });
    };
    // A peer that leaves its queue full for a whole call timeout is stuck: the server is
    // killed, and the session winds down as when it exits.
    let stuck = move || {
        let _ = kill_process_group(group, Signal::KILL);
    };
    let eager = Arc::<Deadline>::default();
    // With one CPU (an affinity mask, a container's quota) polling would take it from the
    // very server whose answer is awaited.
    let cpus = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let window = if cpus >= 2 {
        EAGER_WINDOW
    } else {
        Duration::ZERO
    };
    let server_in = match child.stdin.take() {
        Some(stdin) => Outbox::new(
            stdin,
            config.call_timeout,
            stuck,
            (Arc::clone(&eager), window),
        ),
        None => Outbox::unfiled(io::sink(), None, || {}),
    };
    let child: Shared<Child> = Arc::new(Mutex::new(child));
    let client_out = Outbox::new(
        client_out,
        config.call_timeout,
        stuck,
        (Arc::clone(&eager), window),
    );

    // Ends the pump when the server has exited and its output still has not: something it
    // started holds the output open (one that left its process group, with `setsid`, is out of
    // the kill's reach), and the session would otherwise never end.
    let (stop, stop_writer) = io::pipe().map_err(|source| GatewayError::Io {
        what: "starting the session",
        source,
    })?;
    {
        // The server may exit while something it started keeps its output open: its output
        // never ends, and the calls it left would wait for the call timeout. Once it exited
        // (and had the grace period to finish writing), its group is killed, which ends the
        // output and the session; if the output still does not end, the pump is stopped.
        let grace = config.grace;
        let reaper = config.reaper.clone();
        thread::spawn(move || {
            let mut stop_writer = stop_writer;
            let server = group.as_raw_nonzero().get();
            let mut tick = 0u32;
            loop {
                thread::sleep(EXIT_POLL);
                tick = tick.wrapping_add(1);
                match server_state(group) {
                    State::Running => {}
                    State::Exited => break,
                    State::Reaped => return,
                }
                // Orphans the server's descendants left, once they end: not kept as zombies.
                if let Some(r) = reaper
                    .as_ref()
                    .filter(|_| tick.is_multiple_of(COLLECT_EVERY))
                {
                    r.collect_ended(|pid| pid == server);
                }
            }
            thread::sleep(grace);
            kill_unless_reaped(group);
            // The output's end, if the kill brought it, is read first.
            thread::sleep(EXIT_POLL);
            let _ = stop_writer.write_all(b"x");
        });
    }

    let done = Arc::new(AtomicBool::new(false));
    // Taken by whoever puts a request, or a timeout's cancellation of one, on the way to the
    // server: a cancellation goes after its request, never before.
    let order = Arc::new(Mutex::new(()));
    if let Some(timeout) = config.call_timeout {
        let (inspector, server_in, client_out) = (
            Arc::clone(&inspector),
            Arc::clone(&server_in),
            Arc::clone(&client_out),
        );
        let (done, order) = (Arc::clone(&done), Arc::clone(&order));
        // Checked a few times per timeout period, at least every 100 ms.
        let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(100));
        thread::spawn(move || {
            // Cancellations the server's full queue had no room for yet, oldest first: each
            // follows a request already on its way, and must reach the server after it.
            let mut cancels: VecDeque<Vec<u8>> = VecDeque::new();
            while !done.load(Ordering::Relaxed) {
                thread::sleep(tick);
                let expired = {
                    let _order = lock(&order);
                    let expired = inspector.expire(timeout);
                    cancels.extend(expired.iter().filter_map(|(_, c)| c.clone()));
                    while let Some(c) = cancels.pop_front() {
                        if let Err(back) = server_in.try_send(c) {
                            cancels.push_front(back);
                            break;
                        }
                    }
                    // One per request in flight at most; past that the oldest go.
                    while cancels.len() > crate::session::MAX_PENDING {
                        cancels.pop_front();
                    }
                    expired
                };
                for (to_client, _) in expired {
                    client_out.send(to_client);
                }
            }
        });
    }

    let mut relay = Relay {
        inspector: &inspector,
        order: &order,
        outboxes: [&client_out, &server_in],
        held: Default::default(),
        max: config.max_frame,
        grace: config.grace,
        group,
    };
    pump(
        client_in,
        server_out,
        &stop,
        config.max_frame,
        &eager,
        &mut relay,
    );
    // The server closed its output: it is exiting, or must be made to. What it left
    // unanswered is answered now, so that no client waits for ever.
    done.store(true, Ordering::Relaxed);
    server_in.close();
    // Within the grace period in all: a client that stopped reading must not keep mcpwall
    // here for a call timeout per request it left.
    let deadline = Instant::now() + config.grace;
    for frame in inspector.abandon() {
        client_out.send_until(frame, Some(deadline));
    }
    // What the client is owed is written before mcpwall exits.
    client_out.close_and_flush(config.grace);
    let deadline = Instant::now() + config.grace;
    let status = collect_server(&child, group, deadline);
    // Last, what the server's descendants left running outside its group: nothing the
    // server started outlives the session.
    if let Some(r) = &config.reaper {
        r.sweep();
    }
    status
}

/// Waits for the server until `deadline`, then kills its group; its exit status.
fn collect_server(
    child: &Shared<Child>,
    group: Pid,
    deadline: Instant,
) -> Result<ExitStatus, GatewayError> {
    let failed = |source| GatewayError::Io {
        what: "waiting for the server",
        source,
    };
    loop {
        let mut c = lock(child);
        match server_state(group) {
            // What the server started and left behind goes with it, killed while the server's
            // exit is not yet collected: until then its group's number is nobody else's.
            State::Exited => {
                let _ = kill_process_group(group, Signal::KILL);
                return c.wait().map_err(failed);
            }
            State::Running if Instant::now() >= deadline => {
                let _ = kill_process_group(group, Signal::KILL);
                return c.wait().map_err(failed);
            }
            State::Running => {}
            // Collected already (only this thread collects it): its status is kept.
            State::Reaped => return c.wait().map_err(failed),
        }
        drop(c);
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that reads nothing: its queue takes no more than [`QUEUE_BYTES`] of frames
    /// (though far fewer than [`QUEUE`]); one frame larger than that alone is let in.
    #[test]
    fn a_queue_is_bounded_by_bytes_as_well_as_frames() {
        let (_reader, writer) = io::pipe().expect("pipe");
        let outbox = Outbox::unfiled(writer, None, || {});
        let mib = vec![b'x'; 1 << 20];
        let mut taken = 0;
        while outbox.try_send(mib.clone()).is_ok() {
            taken += 1;
            assert!(taken < QUEUE, "no bound");
        }
        // The pipe's 64 KiB and the frame the writer thread holds aside, at most.
        assert!(
            (QUEUE_BYTES >> 20..=(QUEUE_BYTES >> 20) + 2).contains(&taken),
            "{taken}"
        );
        let (_reader, writer) = io::pipe().expect("pipe");
        let outbox = Outbox::unfiled(writer, None, || {});
        assert!(outbox.try_send(vec![b'y'; QUEUE_BYTES * 2]).is_ok());
        // A peer found stuck: what follows is dropped at once (without a stall time, a send
        // would otherwise wait for room for ever).
        while outbox.try_send(mib.clone()).is_ok() {}
        outbox.stuck.store(true, Ordering::Relaxed);
        let (done, finished) = std::sync::mpsc::channel();
        thread::spawn(move || {
            outbox.send(mib);
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(10)).is_ok(),
            "send waits"
        );
    }
}
