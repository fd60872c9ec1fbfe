//! Reading rule packs: the built-in ones compiled into the binary, and users' rule directories.

use std::path::{Path, PathBuf};

use super::model::PackFile;
use crate::error::Error;

/// The text of one rule-pack file and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct PackSource {
    /// What error messages call the file: a path, or `builtin:<name>`.
    pub(crate) label: String,
    pub(crate) text: String,
    pub(crate) builtin: bool,
}

impl PackSource {
    /// 1-based line number of a byte offset. Counts from the start; for many lookups in one
    /// file use [`LineIndex`].
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        LineIndex::new(&self.text).line_of(offset)
    }
}

/// Line starts of a text, so that naming the line of every rule in a pack stays linear.
pub(crate) struct LineIndex(Vec<usize>);

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(line_starts_after_first(text.as_bytes()));
        LineIndex(starts)
    }

    /// 1-based line number of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn line_starts_after_first(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

/// Built-in packs, compiled into the binary.
pub(crate) fn builtin_sources() -> Vec<PackSource> {
    macro_rules! packs {
        ($($name:literal),* $(,)?) => {
            vec![$(PackSource {
                label: concat!("builtin:", $name).to_owned(),
                text: include_str!(concat!("../../rules/", $name)).to_owned(),
                builtin: true,
            }),*]
        };
    }
    let mut v = packs![
        "concepts.toml",
        "prompt_injection.toml",
        "jailbreak.toml",
        "multilingual.toml",
        "tool_poisoning.toml",
        "cross_tool_shadowing.toml",
        "exfiltration.toml",
        "sensitive_path.toml",
        "secrets.toml",
        "pii.toml",
        "command_injection.toml",
        "path_traversal.toml",
        "sql_injection.toml",
        "xss.toml",
        "ssrf.toml",
        "hidden_content.toml",
    ];
    for s in &mut v {
        s.label = s.label.replace(".toml", "");
    }
    v
}

/// The regular files of a directory (not recursive) whose extension is one of `exts`, in name
/// order.
pub(crate) fn files_with_extensions(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path
            .extension()
            .is_some_and(|e| exts.iter().any(|x| e == *x))
            && path.is_file()
        {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Every `*.toml` file of a directory (not recursive), in name order.
pub(crate) fn dir_sources(dir: &Path) -> Result<Vec<PackSource>, Error> {
    if cfg!(not(feature = "yara"))
        && let Some(path) = files_with_extensions(dir, &["yar", "yara"])?.first()
    {
        // Silently skipping them would leave the user believing they are enforced.
        return Err(Error::RuleSet(format!(
            "{} is a YARA rule file, but this mcpwall was built without the `yara` feature",
            path.display()
        )));
    }
    files_with_extensions(dir, &["toml"])?
        .iter()
        .map(|p| file_source(p))
        .collect()
}

/// One rule file.
pub(crate) fn file_source(path: &Path) -> Result<PackSource, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Syntax {
        file: path.display().to_string(),
        line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        message: "rule files must be UTF-8".to_owned(),
    })?;
    Ok(PackSource {
        label: path.display().to_string(),
        text,
        builtin: false,
    })
}

pub(crate) fn parse_pack(src: &PackSource) -> Result<PackFile, Error> {
    toml::from_str::<PackFile>(&src.text).map_err(|e| Error::Syntax {
        file: src.label.clone(),
        line: e.span().map_or(1, |s| src.line_of(s.start)),
        message: e.message().to_owned(),
    })
}
