//! Reading inputs: files or standard input, size-capped, UTF-8 checked.

use std::io::{BufRead as _, Read as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use mcpwall_detect::batch::{self, Record};

/// Reads all of `path` (`-` is standard input), refusing more than `max` bytes.
pub(crate) fn read_bytes(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = max.saturating_add(1);
    let n = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut buf)
            .context("cannot read standard input")?
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        f.take(limit)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?
    };
    if n as u64 > max {
        bail!(
            "{} is larger than {max} bytes (raise --max-bytes to scan it)",
            name(path)
        );
    }
    Ok(buf)
}

/// Reads a JSON-lines file of batch records. Every line is parsed and its kind checked before
/// anything is returned, so a bad line fails the run before any verdict is written. `shape`
/// names the expected fields in the error message.
pub(crate) fn read_records(path: &Path, max: u64, shape: &str) -> anyhow::Result<Vec<Record>> {
    let bytes = read_bytes(path, max)?;
    let name = name(path);
    let mut records = Vec::new();
    for (i, line) in bytes.lines().enumerate() {
        let line = line.with_context(|| format!("{name}: line {} is not valid UTF-8", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = serde_json::from_str(&line)
            .with_context(|| format!("{name}: line {}: expected {shape}", i + 1))?;
        batch::plan(&rec.kind).with_context(|| format!("{name}: line {}", i + 1))?;
        records.push(rec);
    }
    Ok(records)
}

/// Reads `path` as UTF-8 text.
pub(crate) fn read_text(path: &Path, max: u64) -> anyhow::Result<String> {
    let bytes = read_bytes(path, max)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        anyhow::anyhow!(
            "{} is not valid UTF-8 (first bad byte at offset {at})",
            name(path)
        )
    })
}

pub(crate) fn name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Parses JSON as the gateway does ([`mcpwall_protocol::parse_strict`]): duplicate object keys,
/// lone surrogates, trailing bytes and nesting deeper than 64 levels are refused, since parsers
/// disagree on such input and a scanner could be shown a value that another component ignores.
pub(crate) fn parse_json_strict(text: &str) -> anyhow::Result<serde_json::Value> {
    Ok(mcpwall_protocol::parse_strict(text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_refuses_duplicate_keys() {
        assert!(parse_json_strict(r#"{"a": 1, "b": {"c": [1, "x"]}}"#).is_ok());
        let e = parse_json_strict(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"));
        assert!(parse_json_strict(r#"{"a": 1} trailing"#).is_err());
        assert!(parse_json_strict(r#""\ud800""#).is_err());
    }
}
