//! What a path argument may be, decided on its text before any system call: no NUL, control
//! or bidirectional-format characters, no backslash or drive letter, no `..`, no `~`, not too
//! long; absolute inside a root (compared component by component, never as a string prefix),
//! or relative to the first root. The result is the root and the relative path beneath it,
//! which only the kernel resolves (see `open`).

use std::path::{Component, Path, PathBuf};

use crate::denial::{Code, Denial};

/// Longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Longest name of one component, in bytes.
pub const MAX_NAME: usize = 255;

/// A root as the server was given it, and as it really is (the given one may go through a
/// symlink): a path in either spelling is inside it.
#[derive(Debug)]
pub struct RootNames {
    pub given: PathBuf,
    pub real: PathBuf,
}

/// Characters that hide or reorder text (bidirectional controls, zero-width marks).
pub(crate) fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}')
}

/// A path shortened for messages (whatever it is, it was the client's own text).
pub fn shown(path: &str) -> String {
    let clean: String = path
        .chars()
        .map(|c| {
            if c.is_control() || invisible(c) {
                '?'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    if path.chars().nth(200).is_some() {
        format!("{clean}…")
    } else {
        clean
    }
}

/// The local path of a `file://` URI (host empty or `localhost`; `%XX` decoded), if it is one.
pub(crate) fn file_uri(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let b = rest.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The root (index into `roots`) and the relative path beneath it (empty: the root itself).
pub fn check<R: std::borrow::Borrow<RootNames>>(
    path: &str,
    roots: &[R],
) -> Result<(usize, PathBuf), Denial> {
    let invalid = |why: &str| Denial::new(Code::InvalidPath, format!("invalid path: {why}"));
    if path.is_empty() {
        return Err(invalid("an empty path"));
    }
    if path.len() > MAX_PATH {
        return Err(invalid("the path is too long"));
    }
    if let Some(c) = path
        .chars()
        .find(|&c| c == '\0' || c.is_control() || invisible(c))
    {
        return Err(invalid(&format!(
            "it holds the character U+{:04X}",
            u32::from(c)
        )));
    }
    if path.contains('\\') {
        return Err(invalid("backslashes are not path separators here"));
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(invalid("a Windows drive name"));
    }
    if path.starts_with('~') {
        return Err(Denial::new(
            Code::OutsideRoot,
            "`~` is not expanded; give a path inside the allowed directories".to_owned(),
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Denial::new(
                    Code::DotDot,
                    "`..` is not allowed in paths".to_owned(),
                ));
            }
            p if p.len() > MAX_NAME => return Err(invalid("a name in it is too long")),
            p => parts.push(p),
        }
    }
    if !path.starts_with('/') {
        return Ok((0, parts.iter().collect()));
    }
    // The deepest root that holds it (roots may nest).
    let mut best: Option<(usize, PathBuf)> = None;
    for (k, r) in roots.iter().enumerate() {
        let r = r.borrow();
        for spelling in [&r.given, &r.real] {
            if let Some(rest) = beneath(spelling, &parts)
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| rest.components().count() < b.components().count())
            {
                best = Some((k, rest));
            }
        }
    }
    if let Some(found) = best {
        return Ok(found);
    }
    Err(Denial::new(
        Code::OutsideRoot,
        "the path is outside the allowed directories".to_owned(),
    ))
}

/// The components of `parts` after those of `root`, if `root`'s are its first ones.
fn beneath(root: &Path, parts: &[&str]) -> Option<PathBuf> {
    let names: Vec<&str> = root
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .collect();
    if names.len() > parts.len() || names.iter().zip(parts).any(|(a, b)| a != b) {
        return None;
    }
    Some(parts[names.len()..].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Vec<RootNames> {
        vec![RootNames {
            given: PathBuf::from("/t/rootlink"),
            real: PathBuf::from("/t/root"),
        }]
    }

    fn code(path: &str) -> Result<String, Code> {
        check(path, &roots())
            .map(|(_, rel)| rel.display().to_string())
            .map_err(|d| d.code)
    }

    #[test]
    fn lexical_rules() {
        assert_eq!(code("/t/root/sub/ok.txt"), Ok("sub/ok.txt".into()));
        assert_eq!(code("/t/rootlink/sub/ok.txt"), Ok("sub/ok.txt".into()));
        assert_eq!(code("/t/root//sub///./ok.txt"), Ok("sub/ok.txt".into()));
        assert_eq!(code("/t/root"), Ok(String::new()));
        assert_eq!(code("sub/ok.txt"), Ok("sub/ok.txt".into()));
        // A prefix sibling is not inside (CVE-2025-53110).
        assert_eq!(code("/t/root_evil/x.txt"), Err(Code::OutsideRoot));
        assert_eq!(code("/t/roo"), Err(Code::OutsideRoot));
        assert_eq!(code("/etc/passwd"), Err(Code::OutsideRoot));
        assert_eq!(code("~/.ssh/id_rsa"), Err(Code::OutsideRoot));
        for p in [
            "/t/root/../outside/secret.txt",
            "../outside/secret.txt",
            "sub/../sub/ok.txt",
        ] {
            assert_eq!(code(p), Err(Code::DotDot), "{p}");
        }
        let long = format!("/t/root/{}", "a".repeat(5000));
        let name = format!("/t/root/{}", "a".repeat(300));
        for p in [
            "",
            "sub/ok.txt\0/../../outside/secret.txt",
            "a\nb",
            "x\u{202E}txt.exe",
            "sub\\ok.txt",
            "C:/x",
            "a\u{200B}b",
            long.as_str(),
            name.as_str(),
        ] {
            assert_eq!(code(p), Err(Code::InvalidPath), "{p:?}");
        }
    }

    #[test]
    fn file_uris() {
        assert_eq!(file_uri("file:///t/root/sub"), Some("/t/root/sub".into()));
        assert_eq!(file_uri("file://localhost/t/a%20b"), Some("/t/a b".into()));
        assert_eq!(file_uri("file://host/t"), None);
        assert_eq!(file_uri("https://example.com/"), None);
        assert_eq!(file_uri("file:///t/%zz"), None);
        assert_eq!(file_uri("file:///t/%ff"), None, "not UTF-8");
    }

    #[test]
    fn messages_show_no_control_characters() {
        assert_eq!(shown("a\u{202E}b\nc"), "a?b?c");
        assert!(shown(&"x".repeat(500)).ends_with('…'));
    }
}
