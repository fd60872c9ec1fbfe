//! MCP's stdio framing: one JSON-RPC message per line, no embedded newlines.

use std::io::{self, BufRead};

/// Default largest frame, in bytes (4 MiB).
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;

/// One line read from a peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A frame's bytes, without its line ending.
    Data(Vec<u8>),
    /// A frame longer than the cap: its bytes were read and discarded up to its newline, so the
    /// next frame starts clean. `len` is the frame's length (bytes seen).
    Oversize {
        /// How many bytes the frame had.
        len: usize,
        /// Its first bytes (at most [`OVERSIZE_HEAD`]), where its id may still be read.
        head: Vec<u8>,
        /// Its last bytes (at most [`OVERSIZE_TAIL`], a `\r` before the newline included),
        /// where a sender that writes the id last (the TypeScript SDK:
        /// `{"result":...,"jsonrpc":"2.0","id":1}`) put it.
        tail: Vec<u8>,
    },
}

/// How much of an oversize frame's start is kept: enough for `{"jsonrpc":"2.0","id":...`.
pub const OVERSIZE_HEAD: usize = 256;
/// How much of an oversize frame's end is kept: enough for `..."jsonrpc":"2.0","id":...}`.
pub const OVERSIZE_TAIL: usize = 256;

/// Appends `bytes` to `tail`, keeping its last [`OVERSIZE_TAIL`] bytes.
pub fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= OVERSIZE_TAIL {
        tail.clear();
        tail.extend_from_slice(&bytes[bytes.len() - OVERSIZE_TAIL..]);
        return;
    }
    tail.extend_from_slice(bytes);
    if tail.len() > OVERSIZE_TAIL {
        tail.drain(..tail.len() - OVERSIZE_TAIL);
    }
}

/// The framing rules, fed by whatever reads the bytes (a blocking reader or an async one):
/// newline-delimited frames, never more than `max` bytes of one held, blank lines skipped, a
/// trailing `\r` removed.
#[derive(Debug)]
pub struct FrameSplitter {
    max: usize,
    buf: Vec<u8>,
    /// The last bytes of an oversize frame.
    tail: Vec<u8>,
    /// Bytes of the current frame seen so far.
    len: usize,
    oversize: bool,
}

impl FrameSplitter {
    /// A splitter with a frame cap of `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameSplitter {
            max,
            buf: Vec::new(),
            tail: Vec::new(),
            len: 0,
            oversize: false,
        }
    }

    /// Takes bytes of `chunk` up to and including its first newline. Returns how many bytes
    /// were used and the frame that newline completed, if any (a blank line completes none).
    pub fn feed(&mut self, chunk: &[u8]) -> (usize, Option<Frame>) {
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        self.len += take;
        if !self.oversize {
            if self.len > self.max {
                self.oversize = true;
                // The head is kept (the rest is released): the frame's id may be in it.
                let held = std::mem::take(&mut self.buf);
                let mut head = held[..held.len().min(OVERSIZE_HEAD)].to_vec();
                self.tail.clear();
                keep_tail(&mut self.tail, &held);
                keep_tail(&mut self.tail, &chunk[..take]);
                drop(held);
                let room = OVERSIZE_HEAD - head.len();
                head.extend_from_slice(&chunk[..take.min(room)]);
                self.buf = head;
            } else {
                self.buf.extend_from_slice(&chunk[..take]);
            }
        } else {
            if self.buf.len() < OVERSIZE_HEAD {
                let room = OVERSIZE_HEAD - self.buf.len();
                self.buf.extend_from_slice(&chunk[..take.min(room)]);
            }
            keep_tail(&mut self.tail, &chunk[..take]);
        }
        let frame = if done { self.complete() } else { None };
        (take + usize::from(done), frame)
    }

    /// The end of the stream: a last frame without a newline counts as a frame.
    pub fn finish(&mut self) -> Option<Frame> {
        self.complete()
    }

    fn complete(&mut self) -> Option<Frame> {
        let len = std::mem::take(&mut self.len);
        let mut buf = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.oversize) {
            let tail = std::mem::take(&mut self.tail);
            return Some(Frame::Oversize {
                len,
                head: buf,
                tail,
            });
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Frame::Data(buf))
    }
}

/// Reads newline-delimited frames, never holding more than `max` bytes of one.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    splitter: FrameSplitter,
}

impl<R: BufRead> FrameReader<R> {
    /// A reader with a frame cap of `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            splitter: FrameSplitter::new(max),
        }
    }

    /// The next frame, or `None` at the end of the stream. Blank lines are skipped. A last
    /// frame without a newline counts as a frame.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(self.splitter.finish());
            }
            let (used, frame) = self.splitter.feed(chunk);
            self.inner.consume(used);
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        // A tiny buffer: frames cross buffer edges.
        frames_read(input, max, 3)
    }

    fn frames_read(input: &[u8], max: usize, capacity: usize) -> Vec<Frame> {
        let mut r = FrameReader::new(io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn splits_lines_and_caps_them() {
        assert_eq!(
            frames(b"{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}", 64),
            vec![
                Frame::Data(b"{\"a\":1}".to_vec()),
                Frame::Data(b"{\"b\":2}".to_vec()),
                Frame::Data(b"{\"c\":3}".to_vec()),
            ]
        );
        assert_eq!(
            frames(b"0123456789\nabc\n", 5),
            vec![
                Frame::Oversize {
                    len: 10,
                    head: b"0123456789".to_vec(),
                    tail: b"0123456789".to_vec()
                },
                Frame::Data(b"abc".to_vec())
            ]
        );
        // A long frame keeps its first and its last bytes, read three at a time.
        let long: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut input = long.clone();
        input.extend_from_slice(b"\r\nnext\n");
        let mut with_cr = long[long.len() - OVERSIZE_TAIL + 1..].to_vec();
        with_cr.push(b'\r');
        // Three bytes at a time, and in reads longer than what is kept.
        for capacity in [3, 700] {
            assert_eq!(
                frames_read(&input, 100, capacity),
                vec![
                    Frame::Oversize {
                        len: 1001,
                        head: long[..OVERSIZE_HEAD].to_vec(),
                        tail: with_cr.clone()
                    },
                    Frame::Data(b"next".to_vec())
                ]
            );
        }
        assert_eq!(frames(b"12345\n", 5), vec![Frame::Data(b"12345".to_vec())]);
        assert_eq!(frames(b"", 5), vec![]);
        assert_eq!(frames(b"\n\n", 5), vec![]);
    }
}
