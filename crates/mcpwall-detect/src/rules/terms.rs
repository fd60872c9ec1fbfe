//! Concept terms: words and phrases matched at word boundaries.
//!
//! One word of a term (its rarest: the longest that is not a stopword) goes into the
//! multi-pattern automaton; the words before and after it are verified in place, allowing any
//! short run of spaces, `_` or `-` between words, so that "system prompt", "system_prompt",
//! "system-prompt" and "system  prompt" are one term, and "the data" costs nothing where "the"
//! is not followed by "data".

use std::sync::Arc;

/// One word of a term, lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) bytes: Box<[u8]>,
    /// A trailing `*`: any continuation of word characters is accepted.
    pub(crate) prefix: bool,
}

/// A compiled term: the words around the one in the automaton.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Term {
    /// Words before the automaton's word, in order.
    pub(crate) lead: Arc<[Word]>,
    /// The automaton's word accepts any continuation.
    pub(crate) first_prefix: bool,
    /// Words after it.
    pub(crate) rest: Arc<[Word]>,
}

/// Words too common to anchor a phrase on.
const STOPWORDS: &[&str] = &[
    "the", "a", "an", "this", "that", "these", "those", "your", "my", "our", "their", "its", "his",
    "her", "to", "of", "in", "on", "at", "for", "with", "by", "from", "and", "or", "is", "are",
    "was", "were", "be", "been", "you", "we", "i", "me", "it", "all", "any", "every", "no", "not",
    "do", "does", "don't", "dont", "did", "have", "has", "had", "will", "would", "can", "could",
    "should", "must", "as", "so", "if", "then", "than", "about", "into", "over", "up", "out",
    "now", "just", "only", "also", "what", "which", "who", "how", "let", "let's", "there",
];

/// Separator bytes allowed between the words of a phrase, and how many of them.
const MAX_SEPARATORS: usize = 16;

pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Whether a match starting at `pos` starts a word: the byte before is not a letter or digit, or
/// the match starts a camelCase hump.
pub(crate) fn boundary_before(text: &[u8], pos: usize) -> bool {
    pos == 0
        || !is_word_byte(text[pos - 1])
        || (text[pos - 1].is_ascii_lowercase() && text.get(pos).is_some_and(u8::is_ascii_uppercase))
}

/// Whether a match ending at `end` ends a word.
pub(crate) fn boundary_after(text: &[u8], end: usize) -> bool {
    end >= text.len()
        || !is_word_byte(text[end])
        || (end > 0 && text[end - 1].is_ascii_lowercase() && text[end].is_ascii_uppercase())
}

fn skip_word(text: &[u8], mut pos: usize) -> usize {
    while pos < text.len()
        && is_word_byte(text[pos])
        && !(pos > 0 && text[pos - 1].is_ascii_lowercase() && text[pos].is_ascii_uppercase())
    {
        pos += 1;
    }
    pos
}

/// Parses a term as written in a rule file into its words.
pub(crate) fn parse_term(term: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    for raw in term.split_whitespace() {
        let (body, prefix) = match raw.strip_suffix('*') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        if body.is_empty() || body.contains('*') {
            return Err(format!("term `{term}`: `*` may only end a word"));
        }
        if body.bytes().any(|b| b.is_ascii_control()) {
            return Err(format!("term `{term}` holds a control character"));
        }
        // Terms are matched against normalised text, so they are normalised the same way:
        // "précédentes" is stored as "precedentes".
        let normalized = crate::normalize::normalize(body);
        words.push(Word {
            bytes: normalized
                .as_str()
                .to_ascii_lowercase()
                .into_bytes()
                .into_boxed_slice(),
            prefix,
        });
    }
    if words.is_empty() {
        return Err("empty term".to_owned());
    }
    if words.len() == 1 && words[0].bytes.len() < 2 {
        return Err(format!(
            "term `{term}`: a one-word term needs at least two characters"
        ));
    }
    Ok(words)
}

fn skip_separators(text: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    while pos < text.len() && matches!(text[pos], b' ' | b'\t' | b'\n' | b'\r' | b'_' | b'-') {
        pos += 1;
        if pos - start > MAX_SEPARATORS {
            return None;
        }
    }
    (pos > start).then_some(pos)
}

impl Term {
    /// Given the automaton's match of the term's key word at `start..end`, the span of the whole
    /// term, or `None` when the text around it is not the term.
    pub(crate) fn verify(&self, text: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
        // Words before the key word, walking backwards.
        let mut begin = start;
        for w in self.lead.iter().rev() {
            let mut p = begin;
            let mut seps = 0;
            while p > 0 && matches!(text[p - 1], b' ' | b'\t' | b'\n' | b'\r' | b'_' | b'-') {
                p -= 1;
                seps += 1;
                if seps > MAX_SEPARATORS {
                    return None;
                }
            }
            let n = w.bytes.len();
            if seps == 0 || p < n || !text[p - n..p].eq_ignore_ascii_case(&w.bytes) {
                return None;
            }
            begin = p - n;
        }
        if !boundary_before(text, begin) {
            return None;
        }
        if self.lead.is_empty() || start == begin {
            // The key word starts the term: its own start was checked above.
        }
        let mut pos = if self.first_prefix {
            skip_word(text, end)
        } else if boundary_after(text, end) {
            end
        } else {
            return None;
        };
        for w in self.rest.iter() {
            pos = skip_separators(text, pos)?;
            let stop = pos + w.bytes.len();
            if stop > text.len() || !text[pos..stop].eq_ignore_ascii_case(&w.bytes) {
                return None;
            }
            pos = if w.prefix {
                skip_word(text, stop)
            } else if boundary_after(text, stop) {
                stop
            } else {
                return None;
            };
        }
        Some((begin, pos))
    }
}

/// The automaton literals and verifiers for one term: the phrase itself and, for short
/// phrases of plain words, the words written together ("apikey", "systemPrompt").
pub(crate) fn compile_term(words: &[Word]) -> Vec<(Vec<u8>, Term)> {
    // The key word: the longest word that is not a stopword, among those that no prefix word
    // (`instruct*`) precedes, since lead words are matched backwards and exactly.
    let usable = words
        .iter()
        .position(|w| w.prefix)
        .map_or(words.len(), |p| p + 1);
    let key = (0..usable)
        .max_by_key(|&i| {
            let w = std::str::from_utf8(&words[i].bytes).unwrap_or("");
            (!STOPWORDS.contains(&w), w.len(), std::cmp::Reverse(i))
        })
        .unwrap_or(0);
    let mut out = vec![(
        words[key].bytes.to_vec(),
        Term {
            lead: words[..key].to_vec().into(),
            first_prefix: words[key].prefix,
            rest: words[key + 1..].to_vec().into(),
        },
    )];
    let joinable = (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| w.bytes.len() >= 3 && w.bytes.iter().all(u8::is_ascii_alphanumeric))
        && words[..words.len() - 1].iter().all(|w| !w.prefix);
    if joinable {
        let joined: Vec<u8> = words.iter().flat_map(|w| w.bytes.iter().copied()).collect();
        out.push((
            joined,
            Term {
                lead: Arc::from(Vec::new()),
                first_prefix: words[words.len() - 1].prefix,
                rest: Arc::from(Vec::new()),
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(term: &str, text: &str) -> Option<(usize, usize)> {
        let words = parse_term(term).unwrap();
        for (lit, t) in compile_term(&words) {
            let lower = text.to_ascii_lowercase();
            let mut from = 0;
            while let Some(i) = lower[from..].find(std::str::from_utf8(&lit).unwrap()) {
                let s = from + i;
                if let Some(span) = t.verify(text.as_bytes(), s, s + lit.len()) {
                    return Some(span);
                }
                from = s + 1;
            }
        }
        None
    }

    #[test]
    fn words_and_phrases() {
        assert_eq!(find("ignore", "please IGNORE that"), Some((7, 13)));
        assert_eq!(find("ignore", "ignored"), None);
        assert_eq!(find("instruct*", "the instructions."), Some((4, 16)));
        assert_eq!(find("system prompt", "your system  prompt"), Some((5, 19)));
        assert_eq!(find("system prompt", "a system_prompt: x"), Some((2, 15)));
        assert_eq!(find("system prompt", "getSystemPrompt()"), Some((3, 15)));
        assert_eq!(find("system prompt", "systemprompts"), None);
        assert_eq!(find("system prompt*", "systemprompts"), Some((0, 13)));
        assert_eq!(find("api key", "the apikey"), Some((4, 10)));
        assert_eq!(find("i am the user", "Hi. I am the user."), Some((4, 17)));
        assert_eq!(find("no limits", "no  limits"), Some((0, 10)));
        assert_eq!(find("the data", "the   data and them"), Some((0, 10)));
        assert_eq!(find("the data", "bathe data"), None);
        assert_eq!(find("ignore the rest", "IGNORE THE REST"), Some((0, 15)));
        assert_eq!(
            find("system prompt", "system \n\t    prompt"),
            Some((0, 19))
        );
        assert_eq!(
            find("system prompt", &format!("system{}prompt", " ".repeat(17))),
            None
        );
    }

    #[test]
    fn bad_terms() {
        assert!(parse_term("").is_err());
        assert!(parse_term("a").is_err());
        assert!(parse_term("in*side").is_err());
        assert_eq!(&*parse_term("Caf\u{e9}").unwrap()[0].bytes, b"cafe");
    }
}
