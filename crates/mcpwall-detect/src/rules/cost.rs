//! A rough estimate of how often a literal occurs in ordinary text, used to choose which
//! literals a pattern is anchored on: the rarer the anchors, the fewer windows are searched.
//!
//! Only the ranking matters, not the numbers: a pattern whose required words are "add", "end"
//! and "your" should be anchored on its rarer words ("memory", "verbatim") when it has some.

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

/// The listed words as keys (see [`key`]) with their frequency, sorted for binary search: a
/// hash of each word, or comparing it byte by byte, cost more, and the planner looks up words
/// for every literal it weighs.
fn listed() -> &'static [(u128, f64)] {
    static LISTED: OnceLock<Vec<(u128, f64)>> = OnceLock::new();
    LISTED.get_or_init(|| {
        let mut all: Vec<(u128, f64)> = [(TOP, 1000.0), (VERY_COMMON, 150.0), (COMMON, 25.0)]
            .into_iter()
            .flat_map(|(list, n)| {
                list.split_whitespace()
                    .filter_map(move |w| key(w.as_bytes()).map(|k| (k, n)))
            })
            .collect();
        // A word in two lists counts as the more frequent.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        all.dedup_by_key(|e| e.0);
        all
    })
}

/// A word of at most 16 bytes, lower-cased, as one number (zero bytes after it: no word has
/// one).
fn key(w: &[u8]) -> Option<u128> {
    let mut b = [0u8; 16];
    b.get_mut(..w.len())?
        .iter_mut()
        .zip(w)
        .for_each(|(d, s)| *d = s.to_ascii_lowercase());
    Some(u128::from_le_bytes(b))
}

/// Punctuated tokens that ordinary content (URLs, Markdown, HTML) is full of.
const FREQUENT_TOKENS: [&str; 10] = [
    "http://", "https://", "://", "http", "https", "www.", "](http", "](https", "</", "/>",
];

/// Bytes of non-ASCII text count as word bytes: "忽略" is a word.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Estimated occurrences of the literal per 100 KB of ordinary text (lower is rarer). Called
/// for every literal the planner weighs, many times each: it allocates nothing.
pub(crate) fn literal_cost(lit: &[u8]) -> f64 {
    if FREQUENT_TOKENS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(lit))
    {
        return 100.0;
    }
    let mut words = lit.split(|&b| !is_word(b)).filter(|w| !w.is_empty());
    let text = match (words.next(), words.next()) {
        (None, _) => return by_length(lit.len()),
        // Delimited on both sides (" st ", "<b>"): the whole word, not a piece of longer ones.
        (Some(w), None) if !is_word(lit[0]) && !lit.last().is_some_and(|&b| is_word(b)) => {
            whole_word_cost(w)
        }
        (Some(w), None) => word_cost(w),
        // A phrase is at most as frequent as its rarest word, and usually much rarer.
        (Some(a), Some(b)) => {
            0.3 * [a, b]
                .into_iter()
                .chain(words)
                .map(word_cost)
                .fold(f64::INFINITY, f64::min)
        }
    };
    // Punctuation around words (`<important>`, `api_key=`) makes a literal rarer.
    let punctuation: f64 = lit
        .iter()
        .filter(|&&b| !is_word(b))
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
    let listed = key(w)
        .and_then(|k| {
            let l = listed();
            l.binary_search_by(|e| e.0.cmp(&k)).ok().map(|i| l[i].1)
        })
        .unwrap_or(0.0);
    by_length(w.len()).max(listed)
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

    #[test]
    fn every_listed_word_is_looked_up() {
        let words = [super::TOP, super::VERY_COMMON, super::COMMON]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .count();
        // Words in two lists count once.
        assert!(
            super::listed().len() > words * 9 / 10,
            "a word longer than a key"
        );
        assert_eq!(literal_cost(b"The"), literal_cost(b"the"));
        assert!(literal_cost(b"Important") > literal_cost(b"verbatim"));
    }
}
