//! Prints the confusable folding table: for every alphanumeric code point stable under NFKD whose
//! Unicode skeleton is a single character shared with an ASCII letter or digit, the ASCII
//! character a reader would see (case matched to the original).

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;
fn main() {
    let ascii: Vec<char> = (0x21u8..0x7f).map(|b| b as char).filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut out = Vec::new();
    for cp in 0x80u32..0x30000 {
        let Some(c) = char::from_u32(cp) else { continue };
        // only NFKD-stable chars (our normaliser decomposes first)
        let d: String = c.to_string().nfkd().collect();
        if d != c.to_string() { continue; }
        if !(c.is_alphanumeric()) { continue; }
        let sk: String = skeleton(&c.to_string()).collect();
        let mut it = sk.chars();
        let (Some(p), None) = (it.next(), it.next()) else { continue };
        let cands: Vec<char> = ascii.iter().copied().filter(|a| {
            let s: String = skeleton(&a.to_string()).collect();
            s.chars().eq(std::iter::once(p))
        }).collect();
        if cands.is_empty() { continue; }
        let pick = if c.is_uppercase() {
            cands.iter().find(|a| a.is_ascii_uppercase()).or(cands.iter().find(|a| a.is_ascii_alphabetic()))
        } else if c.is_lowercase() {
            cands.iter().find(|a| a.is_ascii_lowercase()).or(cands.iter().find(|a| a.is_ascii_alphabetic()))
        } else if c.is_numeric() {
            cands.iter().find(|a| a.is_ascii_digit()).or(cands.first())
        } else { cands.iter().find(|a| a.is_ascii_lowercase()).or(cands.first()) };
        if let Some(a) = pick { out.push((cp, *a)); }
    }
    eprintln!("{} entries", out.len());
    for (cp, a) in &out { println!("    ('\\u{{{:04X}}}', b'{}'),", cp, a); }
}
