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
use std::os::fd::OwnedFd;
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

struct Input {
    side: Side,
    file: File,
    splitter: FrameSplitter,
    open: bool,
}

impl Input {
    /// One read (the descriptor polled readable, so it does not block), its frames handed on.
    fn read(
        &mut self,
        buf: &mut [u8],
        on: &mut impl FnMut(Seen) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let n = match self.file.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return ControlFlow::Continue(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ControlFlow::Continue(()),
            // A read error is the peer going away, as the end of its stream is.
            Err(_) => 0,
        };
        if n == 0 {
            self.open = false;
            if let Some(last) = self.splitter.finish() {
                on(Seen::Frame(self.side, last))?;
            }
            return on(Seen::Closed(self.side));
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let (used, frame) = self.splitter.feed(chunk);
            chunk = &chunk[used..];
            if let Some(f) = frame {
                on(Seen::Frame(self.side, f))?;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Reads frames of at most `max` bytes from the client and the server until `on` breaks or
/// both streams have ended, polling without sleeping until `eager` has passed.
pub(super) fn pump(
    client: impl Into<OwnedFd>,
    server: impl Into<OwnedFd>,
    max: usize,
    eager: &Deadline,
    mut on: impl FnMut(Seen) -> ControlFlow<()>,
) {
    let input = |side, fd: OwnedFd| Input {
        side,
        file: File::from(fd),
        splitter: FrameSplitter::new(max),
        open: true,
    };
    let mut inputs = [
        input(Side::Client, client.into()),
        input(Side::Server, server.into()),
    ];
    let mut buf = vec![0; 64 * 1024];
    let zero = Timespec::default();
    loop {
        let ready = {
            let [c, s] = &inputs;
            let mut fds = [c, s].map(|i| PollFd::new(&i.file, PollFlags::IN));
            let polled = match (c.open, s.open) {
                (true, true) => &mut fds[..],
                (true, false) => &mut fds[..1],
                (false, true) => &mut fds[1..],
                (false, false) => return,
            };
            let hot = !eager.passed();
            match rustix::event::poll(polled, hot.then_some(&zero)) {
                Ok(0) => {
                    std::thread::yield_now();
                    continue;
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                // Polling two valid descriptors fails only for want of memory: try again soon.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            }
            fds.map(|p| !p.revents().is_empty())
        };
        for (input, ready) in inputs.iter_mut().zip(ready) {
            if ready && input.read(&mut buf, &mut on).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// What the pump saw of each side, in order, until both streams ended.
    fn pumped(window: Duration) -> [Vec<String>; 2] {
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
        let mut seen: [Vec<String>; 2] = Default::default();
        pump(client, server, 1 << 20, &eager, |s| {
            let (side, what) = match s {
                Seen::Frame(side, Frame::Data(d)) => (side, String::from_utf8(d).unwrap()),
                Seen::Frame(side, Frame::Oversize { len, .. }) => (side, format!("oversize {len}")),
                Seen::Closed(side) => (side, "closed".to_owned()),
            };
            seen[usize::from(side == Side::Server)].push(what);
            ControlFlow::Continue(())
        });
        writer.join().unwrap();
        seen
    }

    #[test]
    fn frames_of_both_sides_cross_reads_and_end_with_their_streams() {
        // Sleeping in poll, and polling without sleeping throughout.
        for window in [Duration::ZERO, Duration::from_secs(5)] {
            let [client, server] = pumped(window);
            assert_eq!(
                client,
                ["first", "{\"split\":1}", "last", "closed"],
                "{window:?}"
            );
            assert_eq!(server, ["x", "y", "closed"], "{window:?}");
        }
    }

    #[test]
    fn a_break_stops_the_pump_and_a_frame_over_the_cap_is_one_oversize_frame() {
        let (client, mut to_client) = std::io::pipe().unwrap();
        let (server, _to_server) = std::io::pipe().unwrap();
        to_client.write_all(&[b'a'; 100]).unwrap();
        to_client.write_all(b"\nok\nnever\n").unwrap();
        let mut seen = Vec::new();
        pump(client, server, 10, &Deadline::default(), |s| {
            let Seen::Frame(Side::Client, f) = s else {
                panic!("unexpected {s:?}");
            };
            let stop = f == Frame::Data(b"ok".to_vec());
            seen.push(f);
            if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert!(
            matches!(seen[0], Frame::Oversize { len: 100, .. }),
            "{seen:?}"
        );
        assert_eq!(seen[1..], [Frame::Data(b"ok".to_vec())]);
    }
}
