//! One linear pass over the normalised text for the things no literal can anchor: digit runs
//! (card, phone and identity numbers), IBAN-like country codes, long token-like runs (encoded
//! payloads, unprefixed keys) and whitespace padding.

use std::ops::Range;

pub(crate) const TOKEN: u8 = 1;
pub(crate) const DIGIT: u8 = 2;
pub(crate) const UPPER: u8 = 4;
pub(crate) const LOWER: u8 = 8;
const HEX: u8 = 16;
const B64_EXTRA: u8 = 32;

/// Byte classes, as bit sets of the constants above.
pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= TOKEN | DIGIT | HEX;
        } else if b.is_ascii_uppercase() {
            c |= TOKEN | UPPER;
            if b <= b'F' {
                c |= HEX;
            }
        } else if b.is_ascii_lowercase() {
            c |= TOKEN | LOWER;
            if b <= b'f' {
                c |= HEX;
            }
        } else if matches!(b, b'+' | b'/' | b'=' | b'_' | b'-') {
            c |= TOKEN | B64_EXTRA;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Token runs at least this long are candidates for decoding and for `@token` rules.
pub(crate) const MIN_TOKEN: usize = 20;
/// Digit runs need at least this many digits.
const MIN_DIGITS: usize = 7;
/// Horizontal whitespace runs at least this long push text out of view.
const MIN_PAD_SPACES: usize = 100;
/// As many consecutive line breaks push text below the fold.
const MIN_PAD_LINES: usize = 20;

/// A long run of token characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenRun {
    pub(crate) range: Range<usize>,
    /// Only hex digits.
    pub(crate) hex: bool,
    /// Mixes upper case, lower case and digits (or base64 punctuation): could be base64 or a key.
    pub(crate) mixed: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    pub(crate) digits: Vec<Range<usize>>,
    pub(crate) country_codes: Vec<usize>,
    pub(crate) tokens: Vec<TokenRun>,
    /// Whitespace padding followed by more text: the range of the padding.
    pub(crate) padding: Vec<Range<usize>>,
    /// Starts of single letters followed by one separator and another single letter
    /// ("i g n o r e"): candidates for the letter-spacing decoder.
    pub(crate) spaced_pairs: Vec<usize>,
    /// Starts of short words mixing letters and digits ("pr3v10us"): candidates for leetspeak.
    pub(crate) mixed_words: Vec<usize>,
}

/// Appends the runs found in `t[range]` (absolute offsets). The scan finds the same runs
/// during the literal pass ([`crate::rules::LiteralFinder::find_with_runs`]); this is the
/// plain form, which the tests hold that one to.
#[cfg(test)]
pub(crate) fn find_runs(t: &[u8], range: Range<usize>, out: &mut Runs) {
    find_digit_runs(t, range.clone(), &mut out.digits);
    let (lo, hi) = (range.start, range.end);
    let mut i = lo;
    let mut gap = lo;
    while i < hi {
        if CLASS[usize::from(t[i])] & TOKEN == 0 {
            i += 1;
            continue;
        }
        whitespace_gap(t, gap..i, hi, out);
        let s = i;
        let mut flags = 0u8;
        while i < hi && CLASS[usize::from(t[i])] & TOKEN != 0 {
            flags |= CLASS[usize::from(t[i])];
            i += 1;
        }
        if worth_a_look(i - s, flags) {
            token_run(t, s..i, flags, hi, out);
        }
        gap = i;
    }
    whitespace_gap(t, gap..hi, hi, out);
}

/// Whether a token run of `len` bytes whose classes are `flags` can be a candidate for
/// anything: most words are not, and are passed over without a call to [`token_run`].
pub(crate) fn worth_a_look(len: usize, flags: u8) -> bool {
    len == 1 || len >= MIN_TOKEN || flags & DIGIT != 0
}

/// Gaps between token runs shorter than this hold no padding.
pub(crate) const MIN_GAP: usize = if MIN_PAD_LINES < MIN_PAD_SPACES {
    MIN_PAD_LINES
} else {
    MIN_PAD_SPACES
};

/// Records what the token run `t[run]` is a candidate for; `flags` is the union of its bytes'
/// classes and `hi` the end of its string.
pub(crate) fn token_run(t: &[u8], run: Range<usize>, flags: u8, hi: usize, out: &mut Runs) {
    let (s, i) = (run.start, run.end);
    let len = i - s;
    if len == 1 && flags & (UPPER | LOWER) != 0 {
        // A lone letter, one separator, another lone letter.
        if i + 2 < hi
            && matches!(t[i], b' ' | b'.' | b'-' | b'_' | b'*' | b',')
            && t[i + 1].is_ascii_alphabetic()
            && !t[i + 2].is_ascii_alphanumeric()
        {
            out.spaced_pairs.push(s);
        }
    } else if (3..=24).contains(&len) && flags & DIGIT != 0 && flags & (UPPER | LOWER) != 0 {
        out.mixed_words.push(s);
    }
    let starts_word = s == 0 || !t[s - 1].is_ascii_alphanumeric();
    if starts_word
        && len >= 4
        && t[s].is_ascii_uppercase()
        && t[s + 1].is_ascii_uppercase()
        && t[s + 2].is_ascii_digit()
        && t[s + 3].is_ascii_digit()
    {
        out.country_codes.push(s);
    }
    if len >= MIN_TOKEN {
        let hex = t[s..i].iter().all(|&b| CLASS[usize::from(b)] & HEX != 0);
        let classes = [UPPER, LOWER, DIGIT, B64_EXTRA]
            .iter()
            .filter(|&&k| flags & k != 0)
            .count();
        out.tokens.push(TokenRun {
            range: s..i,
            hex,
            mixed: classes >= 3
                || (classes == 2 && flags & DIGIT != 0 && flags & (UPPER | LOWER) != 0),
        });
    }
}

/// An ASCII letter, tested without a branch (for loops the compiler vectorises).
pub(crate) fn alpha(b: u8) -> bool {
    (b | 0x20).wrapping_sub(b'a') < 26
}

/// An ASCII letter or digit, tested without a branch (see [`alpha`]).
pub(crate) fn alnum(b: u8) -> bool {
    alpha(b) | (b.wrapping_sub(b'0') < 10)
}

/// The whitespace run of `t` that starts at `s`, within `end`: where it ends, and whether it is
/// padding (many spaces in a row, or many line breaks) in a string that ends at `hi` (padding
/// hides the text after it: there must be some).
fn whitespace_run(t: &[u8], s: usize, end: usize, hi: usize) -> (usize, bool) {
    let (mut spaces, mut lines, mut max_spaces) = (0usize, 0usize, 0usize);
    let mut i = s;
    while i < end && matches!(t[i], b' ' | b'\t' | b'\n' | b'\r') {
        match t[i] {
            b'\n' => {
                lines += 1;
                spaces = 0;
            }
            b'\r' => {}
            _ => {
                spaces += 1;
                max_spaces = max_spaces.max(spaces);
            }
        }
        i += 1;
    }
    let padding = (max_spaces >= MIN_PAD_SPACES || lines >= MIN_PAD_LINES) && i < hi;
    (i, padding)
}

/// Records the whitespace padding in `t[gap]`, bytes between two token runs of one string
/// that ends at `hi`. Padding is long, so short gaps are skipped at once.
pub(crate) fn whitespace_gap(t: &[u8], gap: Range<usize>, hi: usize, out: &mut Runs) {
    if gap.len() < MIN_GAP {
        return;
    }
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut i = gap.start;
    while i < gap.end {
        // Padding is a run of at least MIN_GAP whitespace bytes, so it holds one of any MIN_GAP
        // positions in a row: look at the last of the next MIN_GAP, and pass over them all
        // when it is not whitespace (text of another script is all gap, and seldom spaced).
        let probe = i + MIN_GAP - 1;
        if probe >= gap.end {
            return;
        }
        if !is_space(t[probe]) {
            i = probe + 1;
            continue;
        }
        // The run holding the probe, from `i` at the earliest: before `i` are the end of a
        // token, of a run, or a probe that is not whitespace (or the end of another string).
        let mut s = probe;
        while s > i && is_space(t[s - 1]) {
            s -= 1;
        }
        let (run_end, padding) = whitespace_run(t, s, gap.end, hi);
        if padding {
            out.padding.push(s..run_end);
        }
        i = run_end;
    }
}

/// The first ASCII digit in `t[from..to]`. Most text has few digits: eight bytes are ruled
/// out at a time.
fn next_digit(t: &[u8], from: usize, to: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= to {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&t[i..i + 8]);
        // Digits become bytes below 10; a byte below 10 sets its high bit in `y - 10` while
        // its own high bit is clear (the classic test for a byte below n).
        let y = u64::from_le_bytes(chunk) ^ (ONES * 0x30);
        if y.wrapping_sub(ONES * 10) & !y & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    t[i..to].iter().position(u8::is_ascii_digit).map(|k| i + k)
}

/// Runs of digits joined by at most two separator characters (space, `-`, `.`, `/`, parentheses,
/// `+`), holding at least [`MIN_DIGITS`] digits.
pub(crate) fn find_digit_runs(t: &[u8], range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let hi = range.end;
    let mut i = range.start;
    while i < hi {
        let Some(s) = next_digit(t, i, hi) else {
            return;
        };
        let mut end = s;
        let mut digits = 0usize;
        let mut seps = 0usize;
        let mut j = s;
        while j < hi {
            let b = t[j];
            if b.is_ascii_digit() {
                digits += 1;
                seps = 0;
                end = j + 1;
            } else if matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'+') && seps < 2 {
                seps += 1;
            } else {
                break;
            }
            j += 1;
        }
        if digits >= MIN_DIGITS {
            // Include a leading '+' or '(' for phone numbers.
            let start = if s > range.start && matches!(t[s - 1], b'+' | b'(') {
                s - 1
            } else {
                s
            };
            out.push(start..end);
        }
        i = end.max(s + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(s: &str) -> Runs {
        let mut r = Runs::default();
        find_runs(s.as_bytes(), 0..s.len(), &mut r);
        r
    }

    /// [`whitespace_gap`], plainly: every whitespace run of the gap, measured where it starts.
    fn plain_gap(t: &[u8], gap: Range<usize>, hi: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut i = gap.start;
        while i < gap.end {
            if !matches!(t[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            let (end, padding) = whitespace_run(t, i, gap.end, hi);
            if padding {
                out.push(i..end);
            }
            i = end;
        }
        out
    }

    proptest::proptest! {
        /// Probing one byte in twenty finds every padding run the plain search finds.
        #[test]
        fn gaps_probed_as_searched(
            parts in proptest::collection::vec(
                (proptest::sample::select(vec![" ", "\n", "\t", "\r", "x", "é"]), 0usize..130),
                0..12,
            ),
            cut in 0usize..30,
            tail in 0usize..3,
        ) {
            let t: String = parts.iter().map(|(p, n)| p.repeat(*n)).collect();
            let t = t.as_bytes();
            let start = cut.min(t.len());
            let end = t.len().saturating_sub(tail).max(start);
            let mut r = Runs::default();
            whitespace_gap(t, start..end, t.len(), &mut r);
            proptest::prop_assert_eq!(r.padding, plain_gap(t, start..end, t.len()));
        }
    }

    #[test]
    fn the_shortest_padding_is_found_wherever_it_starts() {
        for before in 0..2 * MIN_PAD_LINES + 5 {
            for lead in ["x", " ", "é"] {
                let t = format!("{}{}yz", lead.repeat(before), "\n".repeat(MIN_PAD_LINES));
                let t = t.as_bytes();
                let mut r = Runs::default();
                whitespace_gap(t, 0..t.len() - 2, t.len(), &mut r);
                assert_eq!(
                    r.padding,
                    plain_gap(t, 0..t.len() - 2, t.len()),
                    "{before} {lead:?}"
                );
                assert_eq!(r.padding.len(), 1);
            }
        }
    }

    #[test]
    fn next_digit_finds_the_first() {
        for text in [
            "",
            "abc",
            "abcdefgh7",
            "abcdefghijklmnop",
            "0",
            "abcdefghijklmno9xyz",
            "é\u{0}/:;@é9",
        ] {
            let t = text.as_bytes();
            assert_eq!(
                next_digit(t, 0, t.len()),
                t.iter().position(u8::is_ascii_digit),
                "{text:?}"
            );
        }
        let t = b"12345678abcdefgh";
        assert_eq!(next_digit(t, 8, 16), None);
        assert_eq!(next_digit(t, 3, 16), Some(3));
    }

    proptest::proptest! {
        #[test]
        fn next_digit_is_the_first_digit(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40), from in 0usize..40) {
            let from = from.min(bytes.len());
            let want = bytes[from..].iter().position(u8::is_ascii_digit).map(|k| from + k);
            proptest::prop_assert_eq!(next_digit(&bytes, from, bytes.len()), want);
        }
    }

    #[test]
    fn digit_runs() {
        let s = "call +1 (415) 555-2671 or card 4111 1111 1111 1111, ver 1.2.3";
        let r = runs(s);
        let got: Vec<&str> = r.digits.iter().map(|x| &s[x.clone()]).collect();
        assert_eq!(got, vec!["+1 (415) 555-2671", "4111 1111 1111 1111"]);
    }

    #[test]
    fn tokens_and_country_codes() {
        let s =
            "iban GB82WEST12345698765432 and SWdub3JlIGFsbCBwcmV2aW91cw== and internationalization";
        let r = runs(s);
        assert_eq!(r.country_codes.len(), 1);
        let toks: Vec<&str> = r.tokens.iter().map(|x| &s[x.range.clone()]).collect();
        assert_eq!(
            toks,
            vec![
                "GB82WEST12345698765432",
                "SWdub3JlIGFsbCBwcmV2aW91cw==",
                "internationalization"
            ]
        );
        assert!(r.tokens[1].mixed);
        assert!(!r.tokens[2].mixed);
    }

    #[test]
    fn padding_needs_text_after_it() {
        let pad = " ".repeat(120);
        assert_eq!(runs(&format!("a{pad}b")).padding.len(), 1);
        assert!(runs(&format!("a{pad}")).padding.is_empty());
        assert_eq!(runs(&format!("a{}b", "\n".repeat(25))).padding.len(), 1);
    }
}
