//! Server-sent events (`text/event-stream`) read chunk by chunk, with a size cap: how MCP's
//! HTTP transports carry messages from a server.

use std::collections::VecDeque;

use crate::framing::{OVERSIZE_HEAD, OVERSIZE_TAIL, keep_tail};

/// One event: its type (empty for the default, `message`) and its data, lines joined.
#[derive(Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub kind: Vec<u8>,
    /// The `data:` lines, joined with `\n` (of an oversize event, its first bytes only).
    pub data: Vec<u8>,
    /// Set when the event was larger than the cap: its data was dropped but for its first
    /// bytes (where its id may be read), and this says how many bytes of its lines were seen.
    pub oversize: Option<usize>,
    /// Of an oversize event, the last bytes of its data (at most [`OVERSIZE_TAIL`]), where a
    /// sender that writes the id last put it; otherwise empty.
    pub tail: Vec<u8>,
}

impl SseEvent {
    /// Whether the event carries a JSON-RPC message: the default type, or `message` by name.
    pub fn is_message(&self) -> bool {
        self.kind.is_empty() || self.kind == b"message"
    }
}

/// Events of a stream, from chunks as they arrive. An event larger than `max` comes without
/// its data (`oversize`); one without data is skipped.
#[derive(Debug, Default)]
pub struct SseReader {
    line: Vec<u8>,
    kind: Vec<u8>,
    data: Vec<u8>,
    over: bool,
    /// Bytes of the current event's lines.
    seen: usize,
    /// The id of the current event, if it has one.
    id: Option<String>,
    /// The first bytes of the current event's data, once it is over the cap.
    head: Vec<u8>,
    /// The last bytes of the current event's data.
    tail: Vec<u8>,
    /// The last bytes of the current line past what `line` holds (a line over the cap).
    line_end: VecDeque<u8>,
    /// Whether the current event had a data line.
    has_data: bool,
    /// The last event id the stream gave (events without data count: a priming event is
    /// how a server makes a stream resumable), to resume it with `Last-Event-ID`.
    pub last_id: Option<String>,
    /// How long the server asked a client to wait before reconnecting, in milliseconds.
    pub retry: Option<u64>,
}

/// An event type longer than this is not one mcpwall knows: the event is dropped.
const MAX_KIND: usize = 64;
/// An event id longer than this is not kept (it would go back to the server as a header).
const MAX_ID: usize = 256;

impl SseReader {
    /// A reader for the same stream reopened: it starts afresh, but remembers where the stream
    /// was and what wait the server asked for.
    pub fn resumed(&self) -> SseReader {
        SseReader {
            last_id: self.last_id.clone(),
            retry: self.retry,
            ..SseReader::default()
        }
    }

    /// Takes a chunk of the stream; the events it completes go to `out`. `max`: the largest
    /// event's data kept.
    pub fn feed(&mut self, chunk: &[u8], max: usize, out: &mut Vec<SseEvent>) {
        for &b in chunk {
            self.seen = self.seen.saturating_add(1);
            if b != b'\n' {
                // A line longer than any event may be is not kept: its event is dropped.
                if self.line.len() > max.saturating_add(16) {
                    self.over = true;
                    if self.line_end.len() == OVERSIZE_TAIL {
                        self.line_end.pop_front();
                    }
                    self.line_end.push_back(b);
                } else {
                    self.line.push(b);
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            let mut line_end = Vec::from(std::mem::take(&mut self.line_end));
            if line_end.last() == Some(&b'\r') {
                line_end.pop();
            } else if line_end.is_empty() && line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                let kind = std::mem::take(&mut self.kind);
                let seen = std::mem::take(&mut self.seen);
                if let Some(id) = self.id.take() {
                    self.last_id = Some(id);
                }
                let head = std::mem::take(&mut self.head);
                let tail = std::mem::take(&mut self.tail);
                self.has_data = false;
                if std::mem::take(&mut self.over) {
                    out.push(SseEvent {
                        kind,
                        data: head,
                        oversize: Some(seen),
                        tail,
                    });
                } else if !data.is_empty() {
                    out.push(SseEvent {
                        kind,
                        data,
                        oversize: None,
                        tail: Vec::new(),
                    });
                }
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                if std::mem::replace(&mut self.has_data, true) {
                    keep_tail(&mut self.tail, b"\n");
                }
                keep_tail(&mut self.tail, rest);
                keep_tail(&mut self.tail, &line_end);
                self.data.extend_from_slice(rest);
                if self.data.len() > max {
                    if self.head.is_empty() {
                        // Where the message's id may still be read.
                        let keep = self.data.len().min(OVERSIZE_HEAD);
                        self.head = self.data[..keep].to_vec();
                    }
                    self.over = true;
                    self.data.clear();
                }
            } else if let Some(rest) = line.strip_prefix(b"id:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                // A value that could not be sent back as a header is not an id mcpwall keeps.
                self.id = std::str::from_utf8(rest)
                    .ok()
                    .filter(|v| v.len() <= MAX_ID && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
                    .map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix(b"retry:") {
                self.retry = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            } else if let Some(rest) = line.strip_prefix(b"event:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if rest.len() > MAX_KIND {
                    self.over = true;
                }
                self.kind = rest.iter().copied().take(MAX_KIND).collect();
            }
            // Comments carry nothing.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks() {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        let stream = b": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nevent:endpoint\ndata: x\n\ndata: 0123456789\n\ndata: y\n\n";
        for chunk in stream.chunks(3) {
            r.feed(chunk, 8, &mut out);
        }
        let data: Vec<&[u8]> = out.iter().map(|e| e.data.as_slice()).collect();
        assert_eq!(data, vec![&b"{\"a\":\n1}"[..], b"x", b"0123456789", b"y"]);
        assert!(out[0].is_message());
        assert_eq!(out[1].kind, b"endpoint");
        assert!(!out[1].is_message());
        // Too large: said, with only its first bytes.
        assert_eq!(out[2].oversize, Some(18));
        // The type belongs to one event only.
        assert!(out[3].is_message());
        assert_eq!(out[3].oversize, None);
        // The last id given, to resume with.
        assert_eq!(r.last_id.as_deref(), Some("1"));
        r.feed(b"id: 7-0\nretry: 500\ndata:\n\n", 8, &mut out);
        assert_eq!(out.len(), 4, "a priming event carries no message");
        assert_eq!((r.last_id.as_deref(), r.retry), (Some("7-0"), Some(500)));
        r.feed(b"id: bad\x01\ndata: z\n\n", 8, &mut out);
        assert_eq!(r.last_id.as_deref(), Some("7-0"));
        // A line far over the cap: its event still shows its first bytes (the message's id).
        let mut r = SseReader::default();
        let mut out = Vec::new();
        r.feed(
            b"data: {\"id\":5,\"result\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n\n",
            8,
            &mut out,
        );
        assert!(out[0].oversize.is_some());
        assert!(out[0].data.starts_with(b"{\"id\":5"), "{:?}", out[0]);
        assert!(out[0].tail.ends_with(b"aaa\"}"), "{:?}", out[0]);
    }

    #[test]
    fn an_oversize_event_keeps_the_end_of_its_data() {
        // One long line (the id last, as the TypeScript SDK writes it), and data over two
        // lines whose end is in the second; CRLF endings; fed a byte, and 1 KB, at a time.
        let body = "x".repeat(5000);
        let one = format!("data: {{\"result\":\"{body}\",\"jsonrpc\":\"2.0\",\"id\":42}}\r\n\r\n");
        let two = format!("data: {{\"result\":\"{body}\",\r\ndata: \"id\":\"q\"}}\r\n\r\n");
        for chunk in [1, 1024] {
            let mut r = SseReader::default();
            let mut out = Vec::new();
            for c in format!("{one}{two}data: {{\"small\":1}}\n\n")
                .as_bytes()
                .chunks(chunk)
            {
                r.feed(c, 100, &mut out);
            }
            assert_eq!(out.len(), 3, "chunks of {chunk}");
            assert_eq!(out[0].tail.len(), OVERSIZE_TAIL);
            assert!(
                out[0].tail.ends_with(br#"x","jsonrpc":"2.0","id":42}"#),
                "{chunk}"
            );
            assert!(out[1].tail.ends_with(b"x\",\n\"id\":\"q\"}"), "{chunk}");
            assert!(out[2].tail.is_empty() && out[2].oversize.is_none());
        }
    }
}
