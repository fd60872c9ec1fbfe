//! Short excerpts for people: context around a match, hidden characters made visible, sensitive
//! values masked.

use std::fmt::Write as _;
use std::ops::Range;

/// Bytes of context on each side of the match.
const CONTEXT: usize = 40;
/// Longest part of the match itself that is shown.
const MAX_MATCH: usize = 120;

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `s` as a reader should see it on a terminal: invisible, bidirectional and control
/// characters (escape sequences included) spelled out as `⟨U+XXXX⟩`, line breaks as `⏎`. For
/// printing text that an untrusted party chose (a tool's name) where a person decides.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_visible_str(&mut out, s);
    out
}

/// Writes `s` so that a reader sees every character of it (see [`push_visible`]); runs of
/// printable ASCII, most of any excerpt, are copied at once.
pub(crate) fn push_visible_str(out: &mut String, s: &str) {
    let mut rest = s;
    while !rest.is_empty() {
        let plain = rest
            .bytes()
            .position(|b| !(b' '..=b'~').contains(&b))
            .unwrap_or(rest.len());
        out.push_str(&rest[..plain]);
        let mut chars = rest[plain..].chars();
        if let Some(c) = chars.next() {
            push_visible(out, c);
        }
        rest = chars.as_str();
    }
}

/// Writes `c` so that a reader sees it: invisible and control characters become `⟨U+XXXX⟩`,
/// tag characters `⟨tag:x⟩`, line breaks `⏎`.
pub(crate) fn push_visible(out: &mut String, c: char) {
    let cp = c as u32;
    match c {
        '\n' => out.push('⏎'),
        '\r' => {}
        '\t' => out.push(' '),
        _ if (0xE0020..0xE007F).contains(&cp) => {
            let shadow = char::from_u32(cp - 0xE0000).unwrap_or('?');
            let _ = write!(out, "⟨tag:{shadow}⟩");
        }
        _ if c.is_control() || is_invisible(cp) => {
            let _ = write!(out, "⟨U+{cp:04X}⟩");
        }
        _ => out.push(c),
    }
}

fn is_invisible(cp: u32) -> bool {
    matches!(cp,
        0xAD | 0x34F | 0x61C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0x206A..=0x206F | 0x3164
        | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xE0000..=0xE007F | 0xE0100..=0xE01EF)
}

/// Masks a sensitive value: its first characters, then asterisks.
pub(crate) fn mask(value: &str) -> String {
    let n = value.chars().count();
    let keep = match n {
        0..=6 => 0,
        7..=15 => 2,
        _ => 4,
    };
    let mut out: String = value.chars().take(keep).collect();
    out.push_str(&"*".repeat((n - keep).clamp(3, 12)));
    if n - keep > 12 {
        out.push('…');
    }
    out
}

/// A short excerpt around `span` with every value in `masks` (secrets and personal data found
/// in the same text, sorted by start) masked, not only the finding's own: a key printed beside
/// the finding for another key must not leak through its context.
pub(crate) fn excerpt(text: &str, span: Range<usize>, masks: &[Range<usize>]) -> String {
    let start = floor_boundary(text, span.start);
    let end = ceil_boundary(text, span.end.max(start));
    let from = floor_boundary(text, start.saturating_sub(CONTEXT));
    let to = ceil_boundary(text, end + CONTEXT);
    let mut out = String::with_capacity(to - from + 16);
    if from > 0 {
        out.push('…');
    }
    push_masked(&mut out, text, from..start, masks);
    // The match itself is cut at MAX_MATCH too when it holds a masked value: a finding merged
    // over megabytes must not become a megabyte excerpt.
    let shown_end = ceil_boundary(text, end.min(start + MAX_MATCH));
    push_masked(&mut out, text, start..shown_end, masks);
    if shown_end < end {
        out.push('…');
    }
    push_masked(&mut out, text, end..to, masks);
    if to < text.len() {
        out.push('…');
    }
    out
}

/// Writes `text[range]` visibly, with the parts inside `masks` masked: a value wholly inside
/// shows its first characters ([`mask`]), a value cut by the range shows none (`****`).
/// `masks` are sorted and disjoint.
/// `masks` are disjoint and sorted: those before `range` are skipped by a search, and the walk
/// stops at the first after it.
fn push_masked(out: &mut String, text: &str, range: Range<usize>, masks: &[Range<usize>]) {
    let mut at = range.start;
    let first = masks.partition_point(|m| m.end <= range.start);
    for m in &masks[first..] {
        if m.start >= range.end {
            break;
        }
        if m.end <= at {
            continue;
        }
        let (ms, me) = (
            floor_boundary(text, m.start.max(at)),
            ceil_boundary(text, m.end.min(range.end)),
        );
        push_visible_str(out, &text[at..ms]);
        if ms == m.start && me == m.end {
            out.push_str(&mask(&text[ms..me]));
        } else {
            out.push_str("****");
        }
        at = me;
    }
    if at < range.end {
        push_visible_str(out, &text[at..range.end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_reveals() {
        let t = "key=AKIAABCDEFGHIJKLMNOP end";
        let key = 4..24;
        let e = excerpt(t, key.clone(), std::slice::from_ref(&key));
        assert_eq!(e, "key=AKIA************… end");
        // Another value in the context is masked too, whole or cut by the window.
        let t = "id=AKIAABCDEFGHIJKLMNOP secret=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";
        let e = excerpt(t, 31..t.len(), &[3..23, 31..t.len()]);
        assert!(e.contains("id=AKIA****"), "{e}");
        assert!(!e.contains("ABCDEFGH"), "{e}");
        let e = excerpt(t, 31..t.len(), &[0..23, 31..t.len()]);
        assert!(!e.contains("KLMNOP"), "{e}");
        // A long match that holds a masked value is cut as any long match is.
        let t = format!(
            "{} KEY=AKIAABCDEFGHIJKLMNOP {}",
            "x".repeat(100_000),
            "y".repeat(100_000)
        );
        let k = t.find("AKIA").unwrap_or_default();
        let e = excerpt(&t, 0..t.len(), std::slice::from_ref(&(k..k + 20)));
        assert!(e.len() < 1_000, "{}", e.len());
        let t = "a\u{200B}b";
        assert_eq!(excerpt(t, 0..t.len(), &[]), "a⟨U+200B⟩b");
        let t = "é\tline\r\nnext\u{E0041}~";
        assert_eq!(excerpt(t, 0..t.len(), &[]), "é line⏎next⟨tag:A⟩~");
    }

    #[test]
    fn long_context_is_cut_on_char_boundaries() {
        let t = format!("{}MATCH{}", "é".repeat(50), "ü".repeat(50));
        let s = t.find("MATCH").unwrap();
        let e = excerpt(&t, s..s + 5, &[]);
        assert!(e.starts_with('…') && e.ends_with('…') && e.contains("MATCH"));
    }

    proptest::proptest! {
        #[test]
        fn bulk_copy_shows_what_each_character_shows(s in "[ -~\t\r\n\u{0}-\u{1f}\u{7f}é\u{200B}\u{E0041}\u{202E}]{0,40}") {
            let mut one = String::new();
            s.chars().for_each(|c| push_visible(&mut one, c));
            let mut bulk = String::new();
            push_visible_str(&mut bulk, &s);
            proptest::prop_assert_eq!(bulk, one);
        }
    }
}
