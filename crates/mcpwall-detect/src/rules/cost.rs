//! A rough estimate of how often a literal occurs in ordinary text, used to choose which
//! literals a pattern is anchored on: the rarer the anchors, the fewer windows are searched.
//!
//! Only the ranking matters, not the numbers: a pattern whose required words are "add", "end"
//! and "your" should be anchored on its rarer words ("memory", "verbatim") when it has some.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The most frequent words of English prose.
const TOP: &str = "the of and to a in is it you that";

/// Function words and other very frequent words of English prose.
const VERY_COMMON: &str = "a about after all also an and any are as at be been before but by \
can could did do does each for from had has have he her his how i if in into is it its just \
like may more most my no not now of on one only or other our out over she should so some such \
than that the their them then there these they this those through to too up us very was we \
were what when where which while who will with would you your every many much must same both \
either own here off per via";

/// Words frequent in technical and business prose: documentation, tool descriptions, results.
const COMMON: &str = "access account add added adds again against already always another \
answer api app application array back based because being below best between call called \
case change check client close code column command config content could create created current \
customer data date day default delete description different directory does done down during \
each email end enough entry error even event example field file files find first following \
form format found function get gets give given go good group help high home however id image \
important include included including index info information input instead issue item items key \
know large last later least left less let line link list long look made make makes many means \
message method might mode model name need needs never new next note number object off often \
old once open option options order output page part path people place point possible post \
print process project provide provided put query read really report request required response \
result results return returned returns right run runs said save say search second see send \
sent server service set shows side since size small something start state status still stop \
string support system table take test text than thing things think three time times title \
today tool tools two type under until update url use used user users uses using value values \
version view want way week well without work works write year years yes yet";

type Lists = [HashSet<&'static str>; 3];

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| [TOP, VERY_COMMON, COMMON].map(|l| l.split_whitespace().collect()))
}

/// Punctuated tokens that ordinary content (URLs, Markdown, HTML) is full of.
const FREQUENT_TOKENS: [&str; 10] = [
    "http://", "https://", "://", "http", "https", "www.", "](http", "](https", "</", "/>",
];

/// Estimated occurrences of the literal per 100 KB of ordinary text (lower is rarer).
pub(crate) fn literal_cost(lit: &[u8]) -> f64 {
    let lower = lit.to_ascii_lowercase();
    if FREQUENT_TOKENS
        .iter()
        .any(|t| t.as_bytes() == lower.as_slice())
    {
        return 100.0;
    }
    // Bytes of non-ASCII text count as word bytes: "忽略" is a word.
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b >= 0x80;
    let words: Vec<&[u8]> = lower
        .split(|b| !is_word(b))
        .filter(|w| !w.is_empty())
        .collect();
    let text = match words.as_slice() {
        [] => return by_length(lower.len()),
        // Delimited on both sides (" st ", "<b>"): the whole word, not a piece of longer ones.
        [w] if !is_word(&lower[0]) && !lower.last().is_some_and(is_word) => whole_word_cost(w),
        [w] => word_cost(w),
        // A phrase is at most as frequent as its rarest word, and usually much rarer.
        _ => {
            0.3 * words
                .iter()
                .map(|w| word_cost(w))
                .fold(f64::INFINITY, f64::min)
        }
    };
    // Punctuation around words (`<important>`, `api_key=`) makes a literal rarer.
    let punctuation: f64 = lower
        .iter()
        .filter(|b| !is_word(b))
        .map(|&b| match b {
            b' ' => 0.7,
            b'.' | b',' | b'-' | b'_' | b'\'' => 0.5,
            b':' | b'/' | b'(' | b')' | b'"' | b';' | b'=' => 0.3,
            _ => 0.1,
        })
        .product();
    text * punctuation
}

/// A literal equal to a frequent word is at least as frequent; a short one is also found inside
/// longer words ("on" in "one", "add" in "address").
fn word_cost(w: &[u8]) -> f64 {
    let [top, very, common] = lists();
    let n = w.len();
    let w = std::str::from_utf8(w).unwrap_or("");
    let listed = if top.contains(w) {
        1000.0
    } else if very.contains(w) {
        150.0
    } else if common.contains(w) {
        25.0
    } else {
        0.0
    };
    by_length(n).max(listed)
}

/// A word standing alone: listed words as frequent as listed, other short words far rarer than
/// the same letters inside words.
fn whole_word_cost(w: &[u8]) -> f64 {
    let listed = word_cost(w);
    let alone = match w.len() {
        1 => 100.0,
        2 => 30.0,
        3 => 5.0,
        n => by_length(n),
    };
    if listed > by_length(w.len()) {
        listed
    } else {
        alone
    }
}

/// Rough occurrences per 100 KB of prose of a literal of `n` bytes, inside words included.
fn by_length(n: usize) -> f64 {
    match n {
        0 => 100_000.0,
        1 => 5000.0,
        2 => 800.0,
        3 => 30.0,
        4 => 6.0,
        5 => 2.0,
        6 => 1.0,
        7 => 0.7,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::literal_cost;

    #[test]
    fn common_words_cost_more_than_rare_ones() {
        assert!(literal_cost(b"the") > literal_cost(b"add"));
        assert!(literal_cost(b"add") > literal_cost(b"verbatim"));
        assert!(literal_cost(b"return") > literal_cost(b"memorize"));
        assert!(literal_cost(b"use the") < literal_cost(b"use"));
        assert!(literal_cost(b"<important>") < literal_cost(b"important"));
        assert!(literal_cost(b"ab") > literal_cost(b"akia"));
    }
}
