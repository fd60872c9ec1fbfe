//! The thread that reads both of `mcpwall run`'s peers: the client's requests on standard
//! input and the server's output.
//!
//! A thread asleep in `read` is woken through the scheduler when data comes; on a virtual
//! machine whose other CPU is idle that costs tens of microseconds, more than mcpwall's
//! inspection of a small frame, and `run` puts two such wake-ups in every round trip (client to
//! mcpwall, server to mcpwall). So one thread polls both pipes, and for a short window after
//! each frame written to either peer (an answer or a next request is then due) it polls
//! without sleeping. One thread, so that at most one CPU is spent so, and only while messages
//! flow: the window bounds the CPU a message costs when no answer follows it.

use std::fs::File;
use std::io::{self, Read as _};
use std::ops::ControlFlow;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpwall_protocol::{Frame, FrameSplitter};
use rustix::event::{PollFd, PollFlags, Timespec};

/// Until when the pump polls without sleeping; moved on by every frame written to a peer.
#[derive(Debug, Default)]
pub(super) struct Deadline(AtomicU64);

/// Nanoseconds since the first call in this process (an `Instant` cannot be stored atomically).
fn now() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Deadline {
    /// Polls without sleeping for `window` from now (a later deadline already set is kept).
    pub(super) fn extend(&self, window: Duration) {
        let window = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        self.0
            .fetch_max(now().saturating_add(window), Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        now() >= self.0.load(Ordering::Relaxed)
    }
}

/// Which peer a frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Client,
    Server,
}

/// What the pump saw.
#[derive(Debug)]
pub(super) enum Seen {
    Frame(Side, Frame),
    /// The peer's stream ended (or could no longer be read); nothing more comes from it.
    Closed(Side),
}

/// What the pump hands its frames to.
pub(super) trait Handler {
    /// A frame, or the end of a stream; `Break` stops the pump.
    fn seen(&mut self, seen: Seen) -> ControlFlow<()>;
    /// Whether more may be taken from `side` now: false while what came from it before waits
    /// for room on the way onward. The pump then reads nothing more from that side (its peer
    /// waits, as it would for a slow reader), keeps reading the other, and asks again.
    fn ready(&mut self, side: Side) -> bool;
}

/// How often a side held back is asked again whether it may go on.
const HELD_RETRY: Duration = Duration::from_millis(2);

/// The size of each side's read buffer.
const READ_BUF: usize = 64 * 1024;

struct Input {
    side: Side,
    file: File,
    splitter: FrameSplitter,
    /// Bytes read and not yet split into frames: `buf[at..]`.
    buf: Vec<u8>,
    at: usize,
    /// Still being read (its end not yet seen).
    open: bool,
    /// Its end was handed on (after everything that came before it).
    ended: bool,
}

impl Input {
    fn new(side: Side, fd: OwnedFd, max: usize) -> Self {
        Input {
            side,
            file: File::from(fd),
            splitter: FrameSplitter::new(max),
            buf: Vec::with_capacity(READ_BUF),
            at: 0,
            open: true,
            ended: false,
        }
    }

    /// Hands on the frames of what was read, while the handler takes them.
    fn split(&mut self, h: &mut impl Handler) -> ControlFlow<()> {
        while self.at < self.buf.len() {
            if !h.ready(self.side) {
                return ControlFlow::Continue(());
            }
            let (used, frame) = self.splitter.feed(&self.buf[self.at..]);
            self.at += used;
            if let Some(f) = frame {
                h.seen(Seen::Frame(self.side, f))?;
            }
        }
        self.buf.clear();
        self.at = 0;
        ControlFlow::Continue(())
    }

    /// Everything read was handed on, and the handler takes more: time to read again.
    fn wants_reading(&self, h: &mut impl Handler) -> bool {
        self.open && self.at == self.buf.len() && h.ready(self.side)
    }

    /// One read (the descriptor polled readable, so it does not block), its frames handed on.
    fn read(&mut self, h: &mut impl Handler) -> ControlFlow<()> {
        self.buf.resize(READ_BUF, 0);
        let n = match self.file.read(&mut self.buf) {
            Ok(n) => n,
            // A signal, or a descriptor another process also reads: poll again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                self.buf.clear();
                return ControlFlow::Continue(());
            }
            // A read error is the peer going away, as the end of its stream is.
            Err(_) => 0,
        };
        self.buf.truncate(n);
        if n == 0 {
            self.open = false;
            return self.finish(h);
        }
        self.split(h)
    }

    fn finish(&mut self, h: &mut impl Handler) -> ControlFlow<()> {
        match self.splitter.finish() {
            Some(last) => h.seen(Seen::Frame(self.side, last)),
            None => ControlFlow::Continue(()),
        }
    }
}

/// Reads frames of at most `max` bytes from the client and the server until the handler
/// breaks, both streams have ended, or `stop` becomes readable (or its writer goes), polling
/// without sleeping until `eager` has passed.
pub(super) fn pump(
    client: impl Into<OwnedFd>,
    server: impl Into<OwnedFd>,
    stop: impl AsFd,
    max: usize,
    eager: &Deadline,
    h: &mut impl Handler,
) {
    let mut inputs = [
        Input::new(Side::Client, client.into(), max),
        Input::new(Side::Server, server.into(), max),
    ];
    let zero = Timespec::default();
    let retry = Timespec::try_from(HELD_RETRY).unwrap_or_default();
    loop {
        let mut waiting = false;
        let mut wanted = [false; 2];
        for (input, wanted) in inputs.iter_mut().zip(&mut wanted) {
            // What was read and held back goes on first; an end goes on after it.
            if input.split(h).is_break() {
                return;
            }
            if !input.open && !input.ended && input.at == input.buf.len() && h.ready(input.side) {
                input.ended = true;
                if h.seen(Seen::Closed(input.side)).is_break() {
                    return;
                }
            }
            *wanted = input.wants_reading(h);
            waiting |= !input.ended && !*wanted;
        }
        if inputs.iter().all(|i| i.ended) {
            return;
        }
        let ready = {
            let [c, s] = &inputs;
            // The stop first, then the sides wanted (a side not wanted is not polled: its
            // data waits where it is).
            let mut fds = vec![PollFd::new(&stop, PollFlags::IN)];
            let mut at = [None; 2];
            for (k, (input, wanted)) in [c, s].into_iter().zip(wanted).enumerate() {
                if wanted {
                    at[k] = Some(fds.len());
                    fds.push(PollFd::new(&input.file, PollFlags::IN));
                }
            }
            let polled = &mut fds[..];
            let hot = !eager.passed();
            let timeout = if hot {
                Some(&zero)
            } else if waiting {
                Some(&retry)
            } else {
                None
            };
            match rustix::event::poll(polled, timeout) {
                Ok(0) => {
                    if hot {
                        std::thread::yield_now();
                    }
                    continue;
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                // Polling two valid descriptors fails only for want of memory: try again soon.
                Err(_) => {
                    std::thread::sleep(HELD_RETRY);
                    continue;
                }
            }
            if !fds[0].revents().is_empty() {
                return;
            }
            at.map(|k| k.is_some_and(|k| !fds[k].revents().is_empty()))
        };
        for (input, ready) in inputs.iter_mut().zip(ready) {
            if ready && input.read(h).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// Records what it sees; holds back the sides marked in `closed_to`.
    #[derive(Default)]
    struct Record {
        seen: [Vec<String>; 2],
        stop_at: Option<&'static str>,
        closed_to: [bool; 2],
        asked: [usize; 2],
    }

    impl Handler for Record {
        fn seen(&mut self, s: Seen) -> ControlFlow<()> {
            let (side, what) = match s {
                Seen::Frame(side, Frame::Data(d)) => (side, String::from_utf8(d).unwrap()),
                Seen::Frame(side, Frame::Oversize { len, .. }) => (side, format!("oversize {len}")),
                Seen::Closed(side) => (side, "closed".to_owned()),
            };
            let stop = self.stop_at == Some(what.as_str());
            self.seen[usize::from(side == Side::Server)].push(what);
            if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }

        fn ready(&mut self, side: Side) -> bool {
            let k = usize::from(side == Side::Server);
            self.asked[k] += 1;
            !self.closed_to[k]
        }
    }

    #[test]
    fn frames_of_both_sides_cross_reads_and_end_with_their_streams() {
        // Sleeping in poll, and polling without sleeping throughout.
        for window in [Duration::ZERO, Duration::from_secs(5)] {
            let (client, mut to_client) = std::io::pipe().unwrap();
            let (server, mut to_server) = std::io::pipe().unwrap();
            let writer = std::thread::spawn(move || {
                to_client.write_all(b"first\n{\"split").unwrap();
                to_server.write_all(b"x\n\ny").unwrap();
                drop(to_server);
                std::thread::sleep(Duration::from_millis(20));
                to_client.write_all(b"\":1}\r\nlast").unwrap();
            });
            let eager = Deadline::default();
            eager.extend(window);
            let mut r = Record::default();
            pump(client, server, &never_stop().0, 1 << 20, &eager, &mut r);
            writer.join().unwrap();
            let [client, server] = r.seen;
            assert_eq!(
                client,
                ["first", "{\"split\":1}", "last", "closed"],
                "{window:?}"
            );
            assert_eq!(server, ["x", "y", "closed"], "{window:?}");
        }
    }

    /// A stop that never comes (its writer lives as long as the pair).
    fn never_stop() -> (std::io::PipeReader, std::io::PipeWriter) {
        std::io::pipe().unwrap()
    }

    /// The stop ends the pump though both peers' streams are still open (a server that
    /// exited, leaving something that holds its output).
    #[test]
    fn the_stop_ends_the_pump_while_the_streams_stay_open() {
        let (client, _to_client) = std::io::pipe().unwrap();
        let (server, mut to_server) = std::io::pipe().unwrap();
        let (stop, mut stop_writer) = std::io::pipe().unwrap();
        to_server.write_all(b"s1\n").unwrap();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stop_writer.write_all(b"x").unwrap();
            stop_writer
        });
        let mut r = Record::default();
        pump(client, server, &stop, 1 << 20, &Deadline::default(), &mut r);
        // What came before the stop was read.
        assert_eq!(r.seen[1], ["s1"]);
        drop(stopper.join().unwrap());
    }

    #[test]
    fn a_break_stops_the_pump_and_a_frame_over_the_cap_is_one_oversize_frame() {
        let (client, mut to_client) = std::io::pipe().unwrap();
        let (server, _to_server) = std::io::pipe().unwrap();
        to_client.write_all(&[b'a'; 100]).unwrap();
        to_client.write_all(b"\nok\nnever\n").unwrap();
        let mut r = Record {
            stop_at: Some("ok"),
            ..Record::default()
        };
        pump(
            client,
            server,
            &never_stop().0,
            10,
            &Deadline::default(),
            &mut r,
        );
        assert_eq!(r.seen[0], ["oversize 100", "ok"]);
    }

    #[test]
    fn a_side_held_back_is_not_read_while_the_other_flows() {
        let (client, mut to_client) = std::io::pipe().unwrap();
        let (server, mut to_server) = std::io::pipe().unwrap();
        // The client's frames cannot go on; the server's can, and its end stops the pump.
        to_client.write_all(b"c1\nc2\n").unwrap();
        drop(to_client);
        to_server.write_all(b"s1\ns2\n").unwrap();
        drop(to_server);
        let mut r = Record {
            stop_at: Some("closed"),
            closed_to: [true, false],
            ..Record::default()
        };
        pump(
            client,
            server,
            &never_stop().0,
            1 << 20,
            &Deadline::default(),
            &mut r,
        );
        assert_eq!(r.seen[1], ["s1", "s2", "closed"]);
        // Nothing of the client's was taken, not even its end.
        assert!(r.seen[0].is_empty(), "{:?}", r.seen[0]);
        assert!(r.asked[0] > 0);
    }
}
