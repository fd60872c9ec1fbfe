//! Resumable SSE streams (Streamable HTTP). Every event mcpwall sends a client on a session's
//! streams carries an id, `STREAM-SEQ`, and the last ones of each stream are kept a while. A
//! client whose connection broke GETs the session with `Last-Event-ID` and gets what it missed
//! on that stream, then the rest.
//!
//! A POST stream's answers are read into its log by a task of its own, not by the connection
//! that asked: the connection, and any that resume it, follow the log. So a client may come
//! back before mcpwall has noticed that its first connection died. The calls of a stream that
//! nobody follows for [`WINDOW`] are cancelled.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a stream nobody follows may be resumed, and a finished one's last events are kept.
pub(super) const WINDOW: Duration = Duration::from_secs(30);
/// Events kept per stream, at most, and bytes (the last event is kept whatever its size).
const KEPT_EVENTS: usize = 32;
const KEPT_BYTES: usize = 256 << 10;
/// Streams with kept events per session, at most (the oldest go first).
const KEPT_STREAMS: usize = 16;
/// Streams known to be gone for good, remembered so that resuming one fails clearly.
const GONE: usize = 256;

struct Log {
    /// Sequence numbers and frames of the last events.
    events: VecDeque<(u64, Arc<Vec<u8>>)>,
    bytes: usize,
    next: u64,
    standalone: bool,
    /// No more events will come.
    ended: bool,
    /// Connections following it.
    followers: usize,
    /// The last event, follower come or gone.
    active: Instant,
}

impl Log {
    fn new(standalone: bool) -> Self {
        Log {
            events: VecDeque::new(),
            bytes: 0,
            next: 1,
            standalone,
            ended: false,
            followers: 0,
            active: Instant::now(),
        }
    }
}

/// What a `Last-Event-ID` names.
pub(super) enum Resumed {
    /// A POST stream of this session's: follow it from the event after the one named.
    Post,
    /// The session's GET stream: the events after the one named, as `(id, frame)`.
    Standalone(Vec<(String, Vec<u8>)>),
    /// A stream whose events are no longer kept.
    Gone,
    /// No stream of this session's.
    Unknown,
}

/// What a follower gets next.
pub(super) enum Next {
    /// The event asked for.
    Event(Arc<Vec<u8>>),
    /// Nothing yet: wait for the session's notice.
    Wait,
    /// The stream has ended (or what comes next is no longer kept).
    End,
}

/// A session's resumable streams.
#[derive(Default)]
pub(super) struct Streams {
    logs: HashMap<u64, Log>,
    gone: VecDeque<u64>,
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
    fn log(&mut self, serial: u64, standalone: bool) -> &mut Log {
        if !self.logs.contains_key(&serial) {
            self.make_room();
        }
        self.logs
            .entry(serial)
            .or_insert_with(|| Log::new(standalone))
    }

    /// Starts the log of a POST stream (its followers come with [`Streams::follow`]).
    pub(super) fn open(&mut self, serial: u64) {
        self.log(serial, false);
    }

    /// Keeps an event of stream `serial`; returns its id.
    pub(super) fn record(&mut self, serial: u64, standalone: bool, frame: Arc<Vec<u8>>) -> String {
        let log = self.log(serial, standalone);
        let seq = log.next;
        log.next += 1;
        log.active = Instant::now();
        log.bytes += frame.len();
        log.events.push_back((seq, frame));
        while log.events.len() > 1 && (log.events.len() > KEPT_EVENTS || log.bytes > KEPT_BYTES) {
            match log.events.pop_front() {
                Some((_, f)) => log.bytes -= f.len(),
                None => break,
            }
        }
        event_id(serial, seq)
    }

    /// No more events will come on stream `serial`.
    pub(super) fn end(&mut self, serial: u64) {
        if let Some(log) = self.logs.get_mut(&serial) {
            log.ended = true;
            log.active = Instant::now();
        }
    }

    /// The event of stream `serial` numbered `seq` or the next one kept after it.
    pub(super) fn next(&self, serial: u64, seq: u64) -> Next {
        let Some(log) = self.logs.get(&serial) else {
            return Next::End;
        };
        match log.events.iter().find(|(s, _)| *s >= seq) {
            // Events between were dropped (a follower far behind): it cannot go on whole.
            Some((s, _)) if *s > seq => Next::End,
            Some((_, f)) => Next::Event(Arc::clone(f)),
            None if log.ended => Next::End,
            None => Next::Wait,
        }
    }

    /// A connection starts or stops following stream `serial`.
    pub(super) fn follow(&mut self, serial: u64, joined: bool) {
        if let Some(log) = self.logs.get_mut(&serial) {
            match joined {
                true => log.followers += 1,
                false => log.followers = log.followers.saturating_sub(1),
            }
            log.active = Instant::now();
        }
    }

    /// At most [`KEPT_STREAMS`] logs: the least recently active one nobody follows goes.
    fn make_room(&mut self) {
        while self.logs.len() >= KEPT_STREAMS {
            let oldest = self
                .logs
                .iter()
                .filter(|(_, l)| l.followers == 0)
                .min_by_key(|(k, l)| (l.active, **k))
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => self.drop_log(k),
                None => return,
            }
        }
    }

    fn drop_log(&mut self, serial: u64) {
        self.logs.remove(&serial);
        self.gone.push_back(serial);
        while self.gone.len() > GONE {
            self.gone.pop_front();
        }
    }

    /// What resuming after event `seq` of stream `serial` gives.
    pub(super) fn resume(&mut self, serial: u64, seq: u64) -> Resumed {
        let Some(log) = self.logs.get_mut(&serial) else {
            return match self.gone.contains(&serial) {
                true => Resumed::Gone,
                false => Resumed::Unknown,
            };
        };
        log.active = Instant::now();
        if !log.standalone {
            return Resumed::Post;
        }
        let replay = log
            .events
            .iter()
            .filter(|(s, _)| *s > seq)
            .map(|(s, f)| (event_id(serial, *s), f.to_vec()))
            .collect();
        Resumed::Standalone(replay)
    }

    /// Forgets the streams nobody followed for [`WINDOW`]; returns those of them that had not
    /// ended (their calls are to be cancelled).
    pub(super) fn expire(&mut self, now: Instant) -> Vec<u64> {
        let old: Vec<u64> = self
            .logs
            .iter()
            .filter(|(_, l)| l.followers == 0 && now.duration_since(l.active) >= WINDOW)
            .map(|(k, _)| *k)
            .collect();
        let mut abandoned = Vec::new();
        for k in old {
            if self.logs.get(&k).is_some_and(|l| !l.ended && !l.standalone) {
                abandoned.push(k);
            }
            self.drop_log(k);
        }
        abandoned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: Next) -> Option<Vec<u8>> {
        match n {
            Next::Event(f) => Some(f.to_vec()),
            _ => None,
        }
    }

    fn f(bytes: &[u8]) -> Arc<Vec<u8>> {
        Arc::new(bytes.to_vec())
    }

    #[test]
    fn followers_read_the_log_and_resume_where_they_were() {
        let mut s = Streams::default();
        s.open(7);
        assert!(matches!(s.next(7, 1), Next::Wait));
        let id = s.record(7, false, f(b"a"));
        assert_eq!(id, "7-1");
        assert_eq!(parse_event_id(&id), Some((7, 1)));
        assert_eq!(parse_event_id("7-x"), None);
        s.record(7, false, f(b"b"));
        assert_eq!(event(s.next(7, 2)), Some(b"b".to_vec()));
        assert!(matches!(s.next(7, 3), Next::Wait));
        s.end(7);
        assert!(matches!(s.next(7, 3), Next::End));
        // A second connection resumes after event 1, and reads from event 2.
        assert!(matches!(s.resume(7, 1), Resumed::Post));
        assert_eq!(event(s.next(7, 2)), Some(b"b".to_vec()));
        assert!(matches!(s.resume(8, 0), Resumed::Unknown));
    }

    #[test]
    fn logs_are_bounded_and_a_follower_far_behind_is_ended() {
        let mut s = Streams::default();
        s.open(1);
        s.follow(1, true);
        for i in 0..40u8 {
            s.record(1, false, f(&[i]));
        }
        // Events 1 to 8 are no longer kept: a follower that wanted 2 cannot go on whole.
        assert!(matches!(s.next(1, 2), Next::End));
        assert!(event(s.next(1, 9)).is_some());
        // One event larger than the byte bound is still kept: it is the last.
        s.record(1, false, f(&vec![0; KEPT_BYTES + 1]));
        assert!(event(s.next(1, 41)).is_some());
        for serial in 100..120 {
            s.record(serial, true, f(b"x"));
        }
        assert_eq!(s.logs.len(), KEPT_STREAMS);
        // The followed stream stays; the oldest unfollowed went.
        assert!(s.logs.contains_key(&1));
        assert!(matches!(s.resume(100, 0), Resumed::Gone));
    }

    #[test]
    fn a_stream_nobody_follows_is_forgotten_and_its_calls_abandoned() {
        let mut s = Streams::default();
        s.open(3);
        s.open(4);
        s.record(5, true, f(b"x"));
        s.follow(3, true);
        s.follow(4, true);
        s.follow(3, false);
        s.follow(4, false);
        s.end(4);
        assert!(s.expire(Instant::now()).is_empty());
        // Stream 3 had not ended: its calls are to be cancelled. 4 ended; 5 is a GET stream.
        assert_eq!(s.expire(Instant::now() + WINDOW), vec![3]);
        assert!(matches!(s.resume(3, 0), Resumed::Gone));
        match s.resume(5, 0) {
            Resumed::Gone => {}
            _ => panic!("stream 5 is gone"),
        }
    }
}
