//! Property tests: normalisation and scanning on arbitrary input.

use mcpwall_detect::{Surface, normalize};
use proptest::prelude::*;

/// Strings mixing ASCII, invisible and look-alike characters, escapes and markup.
fn tricky() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "a",
        "ignore",
        " ",
        "\n",
        "\t",
        "é",
        "\u{0301}",
        "\u{200B}",
        "\u{202E}",
        "\u{FEFF}",
        "\u{E0041}",
        "\u{E007F}",
        "\u{FE0F}",
        "\u{E0100}",
        "о",
        "І",
        "𝐢",
        "ｆ",
        "中",
        "한",
        "\u{1b}[31m",
        "\u{1b}]8;;x\u{7}",
        "\u{0}",
        "\u{85}",
        "<!--",
        "-->",
        "%41",
        "&#105;",
        "SWdub3Jl",
        "0x",
        "==",
        "@",
        "4111 1111 1111 1111",
        "\u{3000}",
        "\u{2028}",
        "ﬁ",
        "Ⅻ",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn normalisation_is_idempotent(s in tricky()) {
        let once = normalize(&s).as_str().to_owned();
        let twice = normalize(&once).as_str().to_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn normalisation_is_idempotent_on_any_string(s in any::<String>()) {
        let once = normalize(&s).as_str().to_owned();
        let twice = normalize(&once).as_str().to_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn spans_map_back_onto_char_boundaries(s in tricky(), a in 0usize..200, b in 0usize..200) {
        let n = normalize(&s);
        let len = n.as_str().len();
        let (lo, hi) = (a.min(b).min(len), a.max(b).min(len));
        let span = n.original_span(lo..hi);
        prop_assert!(span.start <= span.end && span.end <= s.len());
        prop_assert!(s.is_char_boundary(span.start) && s.is_char_boundary(span.end));
    }

    #[test]
    fn every_normalised_byte_maps_inside_the_original(s in tricky()) {
        let n = normalize(&s);
        for i in 0..n.as_str().len() {
            let span = n.original_span(i..i + 1);
            prop_assert!(span.end > span.start, "byte {} maps to an empty span", i);
            prop_assert!(span.end <= s.len());
        }
    }

    #[test]
    fn scans_never_panic_and_spans_are_valid(s in tricky()) {
        for surface in [Surface::ToolResult, Surface::ToolDescription, Surface::UserPrompt] {
            let r = crate::engine().scan(surface, &s);
            prop_assert!((0.0..=1.0).contains(&r.score));
            for f in &r.findings {
                prop_assert!(f.span.end <= s.len() && f.span.start <= f.span.end);
                prop_assert!(s.is_char_boundary(f.span.start) && s.is_char_boundary(f.span.end));
            }
        }
    }

    #[test]
    fn redaction_never_panics(s in tricky()) {
        let r = crate::engine().redact(Surface::ToolResult, &s);
        prop_assert!(r.count <= s.len());
    }
}
