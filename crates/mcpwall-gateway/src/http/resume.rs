//! Resumable SSE streams (Streamable HTTP). Every event mcpwall sends a client on a session's
//! streams carries an id, `STREAM-SEQ`, and the last ones of each stream are kept a while. A
//! client whose connection broke GETs the session with `Last-Event-ID` and gets what it missed
//! on that stream, then the rest.
//!
//! A stream's messages are read into its log by a task of its own as they are routed, not by
//! the connection that shows them: connections *follow* the log. So a client may come back
//! before mcpwall has noticed that its first connection died, and loses nothing that was
//! routed meanwhile. A POST stream nobody follows for [`WINDOW`] has its calls cancelled; the
//! GET stream nobody follows for that long is closed, and what nobody has had of it goes back
//! to the session's backlog for the next GET.
//!
//! On the aggregated endpoint an id also says whose log holds the stream: `a/STREAM-SEQ` for
//! the aggregated session's GET streams, `K/STREAM-SEQ` for a POST stream answered by member
//! `K`, in that member's logs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::session::Out;

/// How long a stream nobody follows may be resumed.
pub(super) const WINDOW: Duration = Duration::from_secs(30);
/// Events kept per stream besides answers, at most, and their bytes. Answers (one per request
/// of the POST) are always kept: a client that resumes must get them.
const KEPT_EVENTS: usize = 32;
const KEPT_BYTES: usize = 256 << 10;
/// Streams whose logs are kept, beyond those still under way or followed.
const KEPT_STREAMS: usize = 16;
/// Streams known to be gone for good, remembered so that resuming one fails clearly.
const GONE: usize = 256;

struct Kept {
    seq: u64,
    frame: Arc<Vec<u8>>,
    answer: bool,
}

struct Log {
    events: VecDeque<Kept>,
    /// Bytes of the kept events that are not answers.
    bytes: usize,
    next: u64,
    standalone: bool,
    /// No more events will come.
    ended: bool,
    /// Connections following it.
    followers: usize,
    /// Since when nobody follows it (`None` while someone does).
    alone_since: Option<Instant>,
    /// The first event recorded while nobody followed: nobody has had it, nor the later ones.
    undelivered_from: Option<u64>,
    /// What nobody had of it went elsewhere (the GET stream was replaced or closed): what is
    /// still recorded is for elsewhere too.
    handed_over: bool,
}

/// What a `Last-Event-ID` names.
pub(super) enum Resumed {
    /// A stream whose log is kept: follow it.
    Follow { standalone: bool },
    /// A stream whose events are no longer kept.
    Gone { standalone: bool },
    /// No stream of this session's.
    Unknown,
}

/// What a follower gets next.
pub(super) enum Next {
    /// The event asked for, or the first kept after it (what was between is no longer kept),
    /// with its sequence number.
    Event(u64, Arc<Vec<u8>>),
    /// Nothing yet: wait for the session's notice.
    Wait,
    /// The stream has ended.
    End,
}

/// Streams nobody followed for [`WINDOW`], still under way.
#[derive(Default, Debug, PartialEq)]
pub(super) struct Expired {
    /// POST streams: their calls are to be cancelled.
    pub(super) posts: Vec<u64>,
    /// GET streams, with what nobody has had of them: they are to be closed, and that kept
    /// for the next one.
    pub(super) gets: Vec<(u64, Vec<Vec<u8>>)>,
}

/// A session's resumable streams.
#[derive(Default)]
pub(super) struct Streams {
    logs: HashMap<u64, Log>,
    gone: VecDeque<(u64, bool)>,
}

/// The id of event `seq` of stream `serial`.
pub(super) fn event_id(serial: u64, seq: u64) -> String {
    format!("{serial}-{seq}")
}

/// `STREAM-SEQ`, as [`event_id`] writes it.
pub(super) fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (serial, seq) = id.trim().split_once('-')?;
    Some((serial.parse().ok()?, seq.parse().ok()?))
}

impl Streams {
    /// Starts the log of stream `serial` (its followers come with [`Streams::follow`]).
    pub(super) fn open(&mut self, serial: u64, standalone: bool) {
        self.make_room();
        self.logs.insert(
            serial,
            Log {
                events: VecDeque::new(),
                bytes: 0,
                next: 1,
                standalone,
                ended: false,
                followers: 0,
                alone_since: Some(Instant::now()),
                undelivered_from: Some(1),
                handed_over: false,
            },
        );
    }

    /// Keeps an event of stream `serial`. False when nobody will have it there: the log is
    /// gone, or what nobody had of it was handed over.
    pub(super) fn record(&mut self, serial: u64, frame: Arc<Vec<u8>>, answer: bool) -> bool {
        let Some(log) = self.logs.get_mut(&serial) else {
            return false;
        };
        if log.handed_over && log.followers == 0 {
            return false;
        }
        let seq = log.next;
        log.next += 1;
        if !answer {
            log.bytes += frame.len();
        }
        log.events.push_back(Kept { seq, frame, answer });
        loop {
            let others = log.events.iter().filter(|k| !k.answer).count();
            if others <= KEPT_EVENTS && log.bytes <= KEPT_BYTES {
                break;
            }
            // The oldest that is not an answer, and not the last event.
            let last = log.events.len() - 1;
            let Some(i) = log
                .events
                .iter()
                .position(|k| !k.answer)
                .filter(|&i| i < last)
            else {
                break;
            };
            if let Some(k) = log.events.remove(i) {
                log.bytes -= k.frame.len();
            }
        }
        true
    }

    /// No more events will come on stream `serial`.
    pub(super) fn end(&mut self, serial: u64) {
        if let Some(log) = self.logs.get_mut(&serial) {
            log.ended = true;
        }
    }

    /// The event of stream `serial` numbered `seq`, or the first kept after it.
    pub(super) fn next(&self, serial: u64, seq: u64) -> Next {
        let Some(log) = self.logs.get(&serial) else {
            return Next::End;
        };
        match log.events.iter().find(|k| k.seq >= seq) {
            Some(k) => Next::Event(k.seq, Arc::clone(&k.frame)),
            None if log.ended => Next::End,
            None => Next::Wait,
        }
    }

    /// A connection starts or stops following stream `serial`.
    pub(super) fn follow(&mut self, serial: u64, joined: bool) {
        let Some(log) = self.logs.get_mut(&serial) else {
            return;
        };
        if joined {
            log.followers += 1;
            log.alone_since = None;
            log.undelivered_from = None;
        } else {
            log.followers = log.followers.saturating_sub(1);
            if log.followers == 0 {
                log.alone_since = Some(Instant::now());
                log.undelivered_from = Some(log.next);
            }
        }
    }

    /// Takes what nobody has had of GET stream `serial` (it is being replaced).
    pub(super) fn take_undelivered(&mut self, serial: u64) -> Vec<Vec<u8>> {
        let Some(log) = self.logs.get_mut(&serial) else {
            return Vec::new();
        };
        let Some(from) = log.undelivered_from.filter(|_| log.followers == 0) else {
            return Vec::new();
        };
        log.undelivered_from = Some(log.next);
        log.handed_over = true;
        log.events
            .iter()
            .filter(|k| k.seq >= from)
            .map(|k| k.frame.to_vec())
            .collect()
    }

    /// Keeps at most [`KEPT_STREAMS`] logs of ended streams nobody follows (the oldest go).
    fn make_room(&mut self) {
        loop {
            let idle: Vec<(u64, Instant)> = self
                .logs
                .iter()
                .filter(|(_, l)| l.ended && l.followers == 0)
                .filter_map(|(k, l)| Some((*k, l.alone_since?)))
                .collect();
            if idle.len() < KEPT_STREAMS {
                return;
            }
            match idle.iter().min_by_key(|(k, t)| (*t, *k)) {
                Some(&(k, _)) => self.drop_log(k),
                None => return,
            }
        }
    }

    fn drop_log(&mut self, serial: u64) {
        if let Some(log) = self.logs.remove(&serial) {
            self.gone.push_back((serial, log.standalone));
            while self.gone.len() > GONE {
                self.gone.pop_front();
            }
        }
    }

    /// What resuming stream `serial` gives.
    pub(super) fn resume(&self, serial: u64) -> Resumed {
        if let Some(log) = self.logs.get(&serial) {
            return Resumed::Follow {
                standalone: log.standalone,
            };
        }
        match self.gone.iter().find(|(k, _)| *k == serial) {
            Some(&(_, standalone)) => Resumed::Gone { standalone },
            None => Resumed::Unknown,
        }
    }

    /// Forgets the streams nobody followed for [`WINDOW`].
    pub(super) fn expire(&mut self, now: Instant) -> Expired {
        let old: Vec<u64> = self
            .logs
            .iter()
            .filter(|(_, l)| {
                l.alone_since
                    .is_some_and(|t| now.duration_since(t) >= WINDOW)
            })
            .map(|(k, _)| *k)
            .collect();
        let mut expired = Expired::default();
        let (posts, gets) = (&mut expired.posts, &mut expired.gets);
        for k in old {
            match self.logs.get(&k) {
                Some(l) if !l.ended && l.standalone => {
                    let undelivered = self.take_undelivered(k);
                    gets.push((k, undelivered));
                }
                Some(l) if !l.ended => posts.push(k),
                _ => {}
            }
            self.drop_log(k);
        }
        expired
    }
}

/// What holds stream logs that connections follow: a session, or an aggregated one.
pub(super) trait Followed: Send + Sync {
    fn logs(&self) -> &Logs;
    /// A follower came or went: the owner is in use.
    fn touch(&self);
}

/// A session's stream logs, and the notice that wakes the connections following them.
#[derive(Default)]
pub(super) struct Logs {
    streams: Mutex<Streams>,
    changed: Notify,
}

impl Logs {
    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// See [`Streams::open`].
    pub(super) fn open(&self, serial: u64, standalone: bool) {
        self.lock().open(serial, standalone);
    }

    /// Reads a stream's messages into its log: a POST stream's until each of its `answers`
    /// has come, a GET stream's until its sender is dropped (it was replaced or closed). A GET
    /// stream's message that nobody will have there (the stream was replaced or closed
    /// meanwhile) goes `elsewhere`.
    pub(super) async fn read(
        &self,
        serial: u64,
        mut rx: mpsc::Receiver<Out>,
        answers: Option<usize>,
        elsewhere: impl Fn(Vec<u8>),
    ) {
        let mut remaining = answers;
        while remaining != Some(0) {
            let Some(out) = rx.recv().await else {
                break;
            };
            let (frame, answer) = match out {
                Out::Answer(f) => (f, true),
                Out::Other(f) => (f, false),
            };
            if answer {
                remaining = remaining.map(|n| n.saturating_sub(1));
            }
            let frame = Arc::new(frame);
            let kept = self.lock().record(serial, Arc::clone(&frame), answer);
            if kept {
                self.changed.notify_waiters();
            } else if answers.is_none() {
                elsewhere(Arc::unwrap_or_clone(frame));
            }
        }
        self.lock().end(serial);
        self.changed.notify_waiters();
    }

    /// Event `seq` of stream `serial` (or the first kept after it), waiting for it if it has
    /// not come yet; `None` when the stream has ended.
    pub(super) async fn next_event(&self, serial: u64, seq: u64) -> Option<(u64, Arc<Vec<u8>>)> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so that an event recorded in between still wakes it.
            changed.as_mut().enable();
            match self.lock().next(serial, seq) {
                Next::Event(seq, frame) => return Some((seq, frame)),
                Next::End => return None,
                Next::Wait => {}
            }
            changed.await;
        }
    }

    /// See [`Streams::follow`].
    pub(super) fn follow(&self, serial: u64, joined: bool) {
        self.lock().follow(serial, joined);
    }

    /// Whether a connection follows stream `serial`; `None` when it has no log.
    pub(super) fn is_followed(&self, serial: u64) -> Option<bool> {
        self.lock().logs.get(&serial).map(|l| l.followers > 0)
    }

    /// See [`Streams::resume`].
    pub(super) fn resume(&self, serial: u64) -> Resumed {
        self.lock().resume(serial)
    }

    /// See [`Streams::take_undelivered`].
    pub(super) fn take_undelivered(&self, serial: u64) -> Vec<Vec<u8>> {
        self.lock().take_undelivered(serial)
    }

    /// See [`Streams::expire`].
    pub(super) fn expire(&self) -> Expired {
        self.lock().expire(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: Next) -> Option<(u64, Vec<u8>)> {
        match n {
            Next::Event(seq, f) => Some((seq, f.to_vec())),
            _ => None,
        }
    }

    fn f(bytes: &[u8]) -> Arc<Vec<u8>> {
        Arc::new(bytes.to_vec())
    }

    #[test]
    fn followers_read_the_log_and_resume_where_they_were() {
        let mut s = Streams::default();
        s.open(7, false);
        s.follow(7, true);
        assert!(matches!(s.next(7, 1), Next::Wait));
        s.record(7, f(b"a"), false);
        s.record(7, f(b"b"), true);
        assert_eq!(event(s.next(7, 2)), Some((2, b"b".to_vec())));
        assert!(matches!(s.next(7, 3), Next::Wait));
        s.end(7);
        assert!(matches!(s.next(7, 3), Next::End));
        assert!(matches!(s.resume(7), Resumed::Follow { standalone: false }));
        assert!(matches!(s.resume(8), Resumed::Unknown));
        assert_eq!(event_id(7, 2), "7-2");
        assert_eq!(parse_event_id("7-2"), Some((7, 2)));
        assert_eq!(parse_event_id("7-x"), None);
    }

    #[test]
    fn answers_are_kept_however_much_else_comes() {
        let mut s = Streams::default();
        s.open(1, false);
        s.record(1, f(b"progress"), false);
        // An answer larger than the byte bound, then many notifications: the answer stays.
        s.record(1, f(&vec![b'x'; KEPT_BYTES + 1]), true);
        for i in 0..40u8 {
            s.record(1, f(&[i]), false);
        }
        // A follower far behind skips what is gone and still gets the answer.
        assert_eq!(event(s.next(1, 1)).map(|e| e.0), Some(2));
        assert_eq!(event(s.next(1, 3)).map(|e| e.0), Some(11));
    }

    #[test]
    fn a_stream_nobody_follows_is_forgotten_by_when_it_was_left() {
        let mut s = Streams::default();
        s.open(3, false);
        s.follow(3, true);
        s.open(4, true);
        s.follow(4, true);
        s.record(4, f(b"seen"), false);
        s.follow(3, false);
        s.follow(4, false);
        s.record(4, f(b"unseen"), false);
        // Events after the last follower left do not keep a stream alive.
        let later = Instant::now() + WINDOW;
        s.record(3, f(b"progress"), false);
        let expired = s.expire(later);
        assert_eq!(expired.posts, vec![3]);
        assert_eq!(expired.gets, vec![(4, vec![b"unseen".to_vec()])]);
        assert!(matches!(s.resume(3), Resumed::Gone { standalone: false }));
        assert!(matches!(s.resume(4), Resumed::Gone { standalone: true }));
    }

    #[test]
    fn what_comes_after_a_get_stream_was_handed_over_goes_elsewhere() {
        let mut s = Streams::default();
        s.open(5, true);
        assert!(s.record(5, f(b"one"), false));
        assert_eq!(s.take_undelivered(5), vec![b"one".to_vec()]);
        // Still in its channel when the stream was replaced: nobody would read it there.
        assert!(!s.record(5, f(b"two"), false));
        // A stream someone follows keeps what comes: the follower has it.
        s.open(6, true);
        s.follow(6, true);
        assert!(s.take_undelivered(6).is_empty());
        assert!(s.record(6, f(b"three"), false));
        // A log that is gone keeps nothing.
        assert!(!s.record(99, f(b"four"), false));
    }

    #[test]
    fn ended_streams_nobody_follows_are_kept_sixteen_at_most() {
        let mut s = Streams::default();
        s.open(100, false);
        s.follow(100, true);
        for serial in 0..20 {
            s.open(serial, false);
            s.end(serial);
        }
        // Under way or followed: kept whatever the count.
        assert!(s.logs.contains_key(&100));
        assert!(s.logs.len() <= KEPT_STREAMS + 1);
        assert!(matches!(s.resume(0), Resumed::Gone { standalone: false }));
    }
}
