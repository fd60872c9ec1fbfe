//! Character classes the normaliser treats specially. Tables are small and hand-written so that
//! each entry can be reviewed; ranges come from the Unicode Character Database.

/// What the normaliser does with one non-ASCII character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// Zero-width and other default-invisible formatting characters: dropped.
    ZeroWidth,
    /// Bidirectional embedding, override and isolate controls: dropped.
    Bidi,
    /// Unicode tag characters U+E0000–E007F: decoded to the ASCII they shadow.
    Tag,
    /// Variation selectors: dropped; runs of them may smuggle bytes.
    VariationSelector,
    /// C1 control characters: dropped.
    Control,
    /// Space-like characters: become one ASCII space.
    Space,
    /// Line and paragraph separators: become a newline.
    LineBreak,
    /// Scripts with no compatibility decompositions or confusables worth folding
    /// (CJK ideographs, Hangul syllables, kana): copied unchanged, fast.
    Plain,
    /// Everything else: compatibility-decomposed, combining marks dropped, confusables folded.
    Fold,
}

pub(super) fn classify(c: char) -> Class {
    // The commonest ranges first (CJK ideographs, Hangul, kana; Latin, Greek and Cyrillic
    // letters): one or two comparisons instead of the search through every range below, which
    // was a fifth of the time on text dense with them.
    match c as u32 {
        0x4E00..=0x9FFF | 0xAC00..=0xD7A3 | 0x3040..=0x30FF => Class::Plain,
        0xAE..=0x34E | 0x350..=0x5FF => Class::Fold,
        _ => classify_any(c),
    }
}

/// [`classify`] without the shortcuts.
fn classify_any(c: char) -> Class {
    let cp = c as u32;
    match cp {
        0x80..=0x9F => Class::Control,
        0xA0 | 0x1680 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => Class::Space,
        0x2028 | 0x2029 => Class::LineBreak,
        0xAD
        | 0x34F
        | 0x61C
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180F
        | 0x200B..=0x200D
        | 0x2060..=0x2064
        | 0x206A..=0x206F
        | 0x3164
        | 0xFEFF
        | 0xFFA0
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A => {
            // U+180B..180D are Mongolian free variation selectors, U+180F likewise; U+180E is the
            // Mongolian vowel separator, invisible.
            Class::ZeroWidth
        }
        0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => Class::Bidi,
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF => Class::VariationSelector,
        0xE0000..=0xE007F => Class::Tag,
        0x3040..=0x30FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7A3
        | 0x20000..=0x2FA1F => {
            if (0x2F800..=0x2FA1F).contains(&cp) {
                // CJK compatibility ideographs decompose canonically.
                Class::Fold
            } else {
                Class::Plain
            }
        }
        _ => Class::Fold,
    }
}

/// The byte a variation selector encodes under the common "emoji smuggling" scheme:
/// U+FE00–FE0F carry 0–15 and U+E0100–E01EF carry 16–255.
pub(super) fn variation_selector_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0xFE00..=0xFE0F => u8::try_from(cp - 0xFE00).ok(),
        0xE0100..=0xE01EF => u8::try_from(cp - 0xE0100 + 16).ok(),
        _ => None,
    }
}

/// Code blocks whose letters are "styled" copies of ASCII (mathematical alphanumerics, fullwidth,
/// enclosed and squared letters): NFKD maps them to ASCII, and a run of them is a way to write
/// text that a keyword filter does not see.
pub(super) fn is_styled(c: char) -> bool {
    matches!(c as u32,
        0x1D400..=0x1D7FF | 0xFF01..=0xFF5E | 0x2460..=0x24FF | 0x1F100..=0x1F1FF | 0x1D00..=0x1DBF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcuts_classify_as_the_full_table() {
        for c in (0x80..=0x3_0000).filter_map(char::from_u32) {
            assert_eq!(classify(c), classify_any(c), "{c:?}");
        }
    }

    #[test]
    fn classes() {
        assert_eq!(classify('\u{200B}'), Class::ZeroWidth);
        assert_eq!(classify('\u{FEFF}'), Class::ZeroWidth);
        assert_eq!(classify('\u{202E}'), Class::Bidi);
        assert_eq!(classify('\u{E0041}'), Class::Tag);
        assert_eq!(classify('\u{FE0F}'), Class::VariationSelector);
        assert_eq!(classify('\u{00A0}'), Class::Space);
        assert_eq!(classify('中'), Class::Plain);
        assert_eq!(classify('é'), Class::Fold);
        assert_eq!(variation_selector_byte('\u{FE01}'), Some(1));
        assert_eq!(variation_selector_byte('\u{E01EF}'), Some(255));
        assert!(is_styled('𝐚'));
    }
}
