//! Where each value of a JSON (or JSON with comments) text lies, so that a configuration can be
//! edited in place: the rest of the file (its comments, order, indentation) stays as it was.

use std::ops::Range;

/// A value of the text and its place.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Object {
        span: Range<usize>,
        /// Keys (as decoded) with their values.
        members: Vec<(String, Node)>,
    },
    Array {
        span: Range<usize>,
        items: Vec<Node>,
    },
    /// A string, number, `true`, `false` or `null`.
    Scalar { span: Range<usize> },
}

impl Node {
    pub fn span(&self) -> Range<usize> {
        match self {
            Node::Object { span, .. } | Node::Array { span, .. } | Node::Scalar { span } => {
                span.clone()
            }
        }
    }

    /// The member `key` of an object (the last one, as JSON parsers take it).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object { members, .. } => {
                members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// Why a text could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0} at byte {1}")]
pub struct SpanError(&'static str, usize);

/// Nesting deeper than this is refused (configuration files are shallow).
const MAX_DEPTH: usize = 64;

/// The value the text holds.
pub fn parse(text: &str) -> Result<Node, SpanError> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    p.blank()?;
    let v = p.value(0)?;
    p.blank()?;
    if p.i != p.b.len() {
        return Err(SpanError("text after the value", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    /// Skips blanks and comments.
    fn blank(&mut self) -> Result<(), SpanError> {
        loop {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
            if self.b[self.i..].starts_with(b"//") {
                while self.i < self.b.len() && self.b[self.i] != b'\n' {
                    self.i += 1;
                }
            } else if self.b[self.i..].starts_with(b"/*") {
                let start = self.i;
                self.i += 2;
                while !self.b[self.i..].starts_with(b"*/") {
                    if self.i >= self.b.len() {
                        return Err(SpanError("unterminated comment", start));
                    }
                    self.i += 1;
                }
                self.i += 2;
            } else {
                return Ok(());
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SpanError> {
        if depth > MAX_DEPTH {
            return Err(SpanError("nested too deep", self.i));
        }
        let start = self.i;
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.blank()?;
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        break;
                    }
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(SpanError("expected a key", self.i));
                    }
                    let key_span = self.string()?;
                    let key: String = serde_json::from_slice(&self.b[key_span])
                        .map_err(|_| SpanError("a key that is not a JSON string", start))?;
                    self.blank()?;
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(SpanError("expected ':'", self.i));
                    }
                    self.i += 1;
                    self.blank()?;
                    let v = self.value(depth + 1)?;
                    members.push((key, v));
                    self.blank()?;
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(SpanError("expected ',' or '}'", self.i)),
                    }
                }
                Ok(Node::Object {
                    span: start..self.i,
                    members,
                })
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.blank()?;
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    self.blank()?;
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err(SpanError("expected ',' or ']'", self.i)),
                    }
                }
                Ok(Node::Array {
                    span: start..self.i,
                    items,
                })
            }
            Some(b'"') => Ok(Node::Scalar {
                span: self.string()?,
            }),
            Some(_) => {
                while self.i < self.b.len()
                    && (self.b[self.i].is_ascii_alphanumeric()
                        || matches!(self.b[self.i], b'-' | b'+' | b'.'))
                {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(SpanError("unexpected character", start));
                }
                Ok(Node::Scalar {
                    span: start..self.i,
                })
            }
            None => Err(SpanError("unexpected end", start)),
        }
    }

    /// A string's span, quotes included.
    fn string(&mut self) -> Result<Range<usize>, SpanError> {
        let start = self.i;
        self.i += 1;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Ok(start..self.i);
                }
                _ => self.i += 1,
            }
        }
        Err(SpanError("unterminated string", start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_values_in_commented_json() {
        let t = "{\n  // servers\n  \"mcpServers\": {\"a\": {\"command\": \"npx\", \"args\": [\"-y\", \"p\",],},},\n}";
        let root = parse(t).expect("parses");
        let a = root.get("mcpServers").and_then(|m| m.get("a")).expect("a");
        assert_eq!(&t[a.get("command").expect("command").span()], "\"npx\"");
        assert_eq!(&t[a.get("args").expect("args").span()], "[\"-y\", \"p\",]");
        for bad in [
            "{",
            "{\"a\" 1}",
            "[1 2]",
            "\"x",
            "{} x",
            "/* x",
            &"[".repeat(100),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
