//! Normalisation: idempotent, and every span maps back onto the original's char boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let n = mcpwall_detect::normalize(s);
    let out = n.as_str().to_owned();
    assert_eq!(mcpwall_detect::normalize(&out).as_str(), out, "not idempotent");
    let len = out.len();
    for (a, b) in [(0, len), (len / 3, len / 2), (len / 2, len)] {
        let span = n.original_span(a..b);
        assert!(span.start <= span.end && span.end <= s.len());
        assert!(s.is_char_boundary(span.start) && s.is_char_boundary(span.end));
    }
});
