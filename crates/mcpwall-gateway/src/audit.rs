//! Audit events: one per decision that changed traffic, and one per tool call forwarded.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read as _, Seek as _, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What the gateway did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forwarded unchanged.
    Allow,
    /// Forwarded with secrets or personal data replaced.
    Redact,
    /// Not forwarded; the sender got an error.
    Block,
    /// Forwarded without the parts that were removed (poisoned tools, server instructions).
    Filter,
    /// Not forwarded, and nobody could be told (a response to no pending request, a frame from
    /// the server that cannot be read).
    Drop,
    /// mcpwall answered in the server's place: the call timed out, or the server is gone.
    Fail,
    /// Held while a person is asked, through the client, whether the call may go on.
    Ask,
    /// The server exited on its own and was started again (`mcpwall serve`).
    Restart,
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u128,
    /// Which way the message was going: `client_to_server` or `server_to_client`.
    pub direction: &'static str,
    /// The upstream server's name.
    pub server: String,
    /// The session (`mcpwall serve`'s `Mcp-Session-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The JSON-RPC method (for a response: the method of the request it answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The tool concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// What was done.
    pub verdict: Verdict,
    /// The rules that decided it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// A human sentence.
    pub detail: String,
}

impl Event {
    pub(crate) fn now() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }
}

/// Where events go. Implementations must not block for long: they run on the message path.
pub trait Audit: Send + Sync {
    /// Records one event. An error means the event was not recorded: the gateway then stops
    /// forwarding (unless told to fail open), since traffic it cannot account for is traffic
    /// it must not pass.
    fn record(&self, event: &Event) -> io::Result<()>;
}

/// Writes each event as one JSON line to standard error: a log for people. Its write errors
/// are ignored (a client that closed our standard error must not stop the traffic); the audit
/// trail that counts is [`ChainedFile`].
#[derive(Debug, Default)]
pub struct Stderr;

impl Audit for Stderr {
    fn record(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let _ = io::stderr().lock().write_all(&line);
        Ok(())
    }
}

/// An event as the chained file holds it: the hash of the line before it first.
#[derive(Serialize)]
struct Chained<'a> {
    /// SHA-256 (hex) of the previous line's bytes; 64 zeros for the first line.
    prev: &'a str,
    #[serde(flatten)]
    event: &'a Event,
}

/// The `prev` of a file's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An append-only JSON-lines file in which each record carries the SHA-256 of the line before
/// it, so that a record removed, changed or inserted later breaks the chain
/// ([`verify`], `mcpwall audit verify`). Several processes may append to one file: each append
/// is made under an exclusive lock, and picks up the chain where the file ends.
#[derive(Debug)]
pub struct ChainedFile {
    state: Mutex<ChainState>,
}

#[derive(Debug)]
struct ChainState {
    file: File,
    /// The file's length after our last append, and the hash of its last line then.
    len: u64,
    prev: String,
    /// The file was emptied while we wrote to it (rotated by copying and truncating, or
    /// wiped): the head of the chain it held, for the record that starts the new one.
    emptied: Option<String>,
}

impl ChainedFile {
    /// Opens (or creates) the file for appending and reads where its chain ends.
    pub fn open(path: &Path) -> io::Result<ChainedFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Not through a symbolic link (one planted where the file is expected would have the
        // records appended to whatever it names), and readable by its owner only: records
        // name tools, arguments' rules and sessions.
        let nofollow = i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .custom_flags(nofollow)
            .open(path)?;
        let mut state = ChainState {
            file,
            len: u64::MAX,
            prev: String::new(),
            emptied: None,
        };
        state.file.lock()?;
        let caught_up = state.catch_up();
        state.file.unlock()?;
        caught_up?;
        Ok(ChainedFile {
            state: Mutex::new(state),
        })
    }
}

impl ChainState {
    /// Re-reads the end of the file if someone else appended since our last write. A file
    /// shorter than our last write left it was cut (records removed from its end): the chain
    /// goes on from our last record, not from what is left, so that the cut shows as a break
    /// where the next record is written. An emptied file (a rotation that copies and
    /// truncates) starts a new chain, whose first record says where the old one ended.
    fn catch_up(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if len == self.len {
            return Ok(());
        }
        let cut = self.len != u64::MAX && len < self.len;
        let ours = std::mem::replace(&mut self.prev, GENESIS.to_owned());
        if len > 0 {
            // The last line: records are short, so the tail holds it.
            let tail = len.min(1 << 20);
            self.file.seek(SeekFrom::Start(len - tail))?;
            let mut buf = Vec::with_capacity(usize::try_from(tail).unwrap_or(0));
            (&self.file).take(tail).read_to_end(&mut buf)?;
            if buf.last() != Some(&b'\n') {
                // A torn last write: end it, so that the next record starts a line of its own
                // (verification will name the torn one).
                self.file.write_all(b"\n")?;
                buf.push(b'\n');
            }
            let body = &buf[..buf.len() - 1];
            let last = body
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(body, |k| &body[k + 1..]);
            self.prev = sha256_hex(last);
        }
        if cut && len == 0 {
            self.emptied = Some(ours);
        } else if cut {
            self.prev = ours;
        }
        self.len = self.file.metadata()?.len();
        Ok(())
    }
}

impl ChainState {
    fn append(&mut self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(&Chained {
            prev: &self.prev,
            event,
        })
        .map_err(io::Error::other)?;
        let hash = sha256_hex(&line);
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.prev = hash;
        // Appended under the lock, to the length `catch_up` just read: no need to ask again
        // (a writer that ignores the lock shows as a length the next `catch_up` does not
        // expect).
        self.len = self.len.saturating_add(line.len() as u64);
        Ok(())
    }
}

impl Audit for ChainedFile {
    fn record(&self, event: &Event) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.file.lock()?;
        let result = (|| {
            st.catch_up()?;
            if let Some(head) = st.emptied.take() {
                let note = Event {
                    verdict: Verdict::Fail,
                    rules: Vec::new(),
                    method: None,
                    tool: None,
                    detail: format!(
                        "the audit file was emptied while mcpwall wrote to it (rotated, or \
                         wiped): its chain ended at head {head}"
                    ),
                    ..event.clone()
                };
                st.append(&note)?;
            }
            st.append(event)
        })();
        let unlocked = st.file.unlock();
        result.and(unlocked)
    }
}

/// What [`verify`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verification {
    /// Records read.
    pub records: usize,
    /// The first break: its line number (from 1) and what is wrong.
    pub broken: Option<(usize, String)>,
    /// The hash of the last intact record ([`GENESIS`] when there is none): kept elsewhere,
    /// it lets a later check notice records cut from the end, which the chain alone cannot.
    pub head: String,
    /// Lines that break the chain, in the whole file (the chain is followed on past each).
    pub breaks: usize,
}

/// Checks a chained audit file: every line a JSON object whose `prev` is the hash of the line
/// before it. Reports the first break, and counts every one.
pub fn verify(input: impl BufRead) -> io::Result<Verification> {
    let mut prev = GENESIS.to_owned();
    let mut records = 0;
    let mut broken: Option<(usize, String)> = None;
    let mut breaks = 0;
    let mut head = prev.clone();
    for (k, line) in input.split(b'\n').enumerate() {
        let line = line?;
        let why = match serde_json::from_slice::<serde_json::Value>(&line) {
            Err(e) => Some(format!("not a JSON record ({e})")),
            Ok(value) => match value.get("prev").and_then(serde_json::Value::as_str) {
                Some(p) if p == prev => None,
                Some(_) => Some(
                    "its `prev` is not the hash of the line before it: a record was removed, \
                     changed or inserted"
                        .to_owned(),
                ),
                None => Some("no `prev` hash".to_owned()),
            },
        };
        // After a break the chain is followed on from the breaking line, so that a later
        // break (a record removed after a torn line that was let pass) still shows.
        prev = sha256_hex(&line);
        match why {
            Some(why) => {
                breaks += 1;
                broken.get_or_insert((k + 1, why));
            }
            None if broken.is_none() => {
                records += 1;
                head.clone_from(&prev);
            }
            None => {}
        }
    }
    Ok(Verification {
        records,
        broken,
        head,
        breaks,
    })
}

/// Whether the record whose hash is `head` is in the chain (the first `records` lines of the
/// file verified): a head noted earlier that is no longer there means the file was cut.
pub fn holds(input: impl BufRead, head: &str, records: usize) -> io::Result<bool> {
    if head == GENESIS {
        return Ok(true);
    }
    for line in input.split(b'\n').take(records) {
        if sha256_hex(&line?) == head {
            return Ok(true);
        }
    }
    Ok(false)
}

fn sha256_hex(bytes: &[u8]) -> String {
    mcpwall_policy::sha256_hex(bytes)
}

/// Keeps events in memory (tests, and callers that forward them elsewhere).
#[derive(Debug, Default)]
pub struct Memory {
    events: Mutex<Vec<Event>>,
}

impl Memory {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Audit for Memory {
    fn record(&self, event: &Event) -> io::Result<()> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str) -> Event {
        Event {
            ts_ms: 1,
            direction: "client_to_server",
            server: "s".to_owned(),
            session: None,
            method: Some("tools/call".to_owned()),
            tool: Some("t".to_owned()),
            verdict: Verdict::Allow,
            rules: Vec::new(),
            detail: detail.to_owned(),
        }
    }

    fn check(path: &Path) -> Verification {
        verify(io::BufReader::new(File::open(path).expect("open"))).expect("read")
    }

    #[test]
    fn the_chain_holds_across_writers_and_breaks_on_any_edit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.jsonl");
        let a = ChainedFile::open(&path).expect("open");
        a.record(&event("one")).expect("write");
        // A second process appending to the same file, then the first again.
        let b = ChainedFile::open(&path).expect("open");
        b.record(&event("two")).expect("write");
        a.record(&event("three")).expect("write");
        let v = check(&path);
        assert_eq!((v.records, v.broken), (3, None));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with(&format!("{{\"prev\":\"{GENESIS}\"")),
            "{text}"
        );

        let lines: Vec<&str> = text.lines().collect();
        let write = |ls: &[String]| std::fs::write(&path, ls.join("\n") + "\n").expect("write");
        let owned = |ls: &[&str]| ls.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
        // A record changed.
        let mut changed = owned(&lines);
        changed[1] = changed[1].replace("two", "TWO");
        write(&changed);
        assert_eq!(check(&path).broken.map(|b| b.0), Some(3));
        // A record removed.
        write(&owned(&[lines[0], lines[2]]));
        assert_eq!(check(&path).broken.map(|b| b.0), Some(2));
        // A record inserted.
        write(&owned(&[lines[0], lines[0], lines[1], lines[2]]));
        assert_eq!(check(&path).broken.map(|b| b.0), Some(2));
    }

    #[test]
    fn the_file_is_its_owners_and_never_reached_through_a_link() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.jsonl");
        ChainedFile::open(&path).expect("opens");
        let mode = std::fs::metadata(&path)
            .expect("created")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let target = dir.path().join("bashrc");
        std::fs::write(&target, "# the user's file\n").expect("write");
        let link = dir.path().join("planted.jsonl");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(ChainedFile::open(&link).is_err());
        let kept = std::fs::read_to_string(&target).expect("read");
        assert_eq!(kept, "# the user's file\n");
    }

    #[test]
    fn records_cut_from_the_end_show() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.jsonl");
        let a = ChainedFile::open(&path).expect("open");
        for d in ["one", "two", "three"] {
            a.record(&event(d)).expect("write");
        }
        let v = check(&path);
        assert_eq!((v.records, v.broken.clone()), (3, None));
        let head = v.head;
        let text = std::fs::read_to_string(&path).expect("read");
        let holds_head = || {
            let v = check(&path);
            let f = io::BufReader::new(File::open(&path).expect("open"));
            holds(f, &head, v.records).expect("read")
        };
        assert!(holds_head());
        // The last record cut: the chain alone is intact, the head noted before is gone.
        let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &cut).expect("write");
        assert_eq!(check(&path).broken, None);
        assert!(!holds_head());
        // mcpwall, still writing, goes on from its own last record: the cut shows.
        a.record(&event("four")).expect("write");
        assert_eq!(check(&path).broken.map(|b| b.0), Some(3));
        // Emptied (a rotation by copy and truncate): a new chain, whose first record names the
        // old one's head.
        let old_head = {
            let text = std::fs::read_to_string(&path).expect("read");
            sha256_hex(text.lines().last().expect("a record").as_bytes())
        };
        std::fs::write(&path, "").expect("write");
        a.record(&event("five")).expect("write");
        let v = check(&path);
        assert_eq!((v.records, v.broken), (2, None));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines().next().is_some_and(|l| l.contains(&old_head)),
            "{text}"
        );
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.jsonl");
        ChainedFile::open(&path)
            .and_then(|a| a.record(&event("one")))
            .expect("write");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"prev\":\"tor").expect("write");
        ChainedFile::open(&path)
            .and_then(|a| a.record(&event("two")))
            .expect("write");
        let v = check(&path);
        assert_eq!((v.records, v.breaks), (1, 1));
        assert!(
            v.broken
                .is_some_and(|(line, why)| line == 2 && why.contains("JSON"))
        );
        // A record removed after the torn line is a second break, not hidden by the first.
        ChainedFile::open(&path)
            .and_then(|a| a.record(&event("three")))
            .expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let without = [lines[0], lines[1], lines[3]].join("\n") + "\n";
        std::fs::write(&path, without).expect("write");
        assert_eq!(check(&path).breaks, 2);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
