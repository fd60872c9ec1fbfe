//! Tool names as other definitions may mention them: a server's description that names another
//! server's tool (cross-server shadowing) is found by the gateway's aggregated endpoint and by
//! the scanner alike.

use std::collections::HashSet;

use serde_json::Value;

/// A name worth looking for in other servers' definitions: one that reads as an identifier
/// (`send_email`, `createIssue`, `fs-write`, `v2sync`), not a plain word such as `search`,
/// which any description may say.
pub fn distinctive(name: &str) -> bool {
    let b = name.as_bytes();
    name.len() >= 4
        && (name.contains(['_', '-', '.'])
            || b.iter().any(u8::is_ascii_digit)
            || b.windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()))
}

/// The identifiers in `text`, lower-cased: runs of letters, digits, `_`, `-` and `.`, without
/// the dots and dashes that end a sentence or a phrase.
pub fn identifiers(text: &str) -> HashSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Every string in a JSON value, joined: what a model reads of a definition.
pub fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_other_servers_tools_are_found_as_whole_identifiers() {
        assert!(distinctive("send_email") && distinctive("createIssue") && distinctive("v2sync"));
        assert!(!distinctive("search") && !distinctive("add") && !distinctive("a_b"));
        let ids =
            identifiers("Before using this, call SEND_EMAIL (or mail__send_email). resend_x.");
        for w in ["send_email", "mail__send_email", "resend_x", "before"] {
            assert!(ids.contains(w), "{w}: {ids:?}");
        }
        assert!(!identifiers("resend_email_later send_emails").contains("send_email"));
        for disguised in ["send\u{200b}_email", "\u{455}end_email", "ｓｅｎｄ_email"] {
            let ids = identifiers(crate::normalize(disguised).as_str());
            assert!(ids.contains("send_email"), "{disguised:?}: {ids:?}");
        }
    }
}
