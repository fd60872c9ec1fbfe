use std::path::PathBuf;

/// Everything that can go wrong while building an engine. Scanning itself never fails: bad input
/// produces findings or is bounded, never an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A rule file is not valid TOML or does not follow the rule-pack schema.
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// A rule (or concept) is well-formed TOML but cannot be compiled.
    #[error("{file}:{line}: rule `{rule}`: {message}")]
    Rule {
        file: String,
        line: usize,
        rule: String,
        message: String,
    },
    /// The rule set as a whole is inconsistent (for example a duplicate id across files).
    #[error("{0}")]
    RuleSet(String),
    /// The matching automaton could not be built (too many or too large patterns).
    #[error("cannot build the matching automaton: {0}")]
    Automaton(String),
    /// YARA rules could not be compiled.
    #[cfg(feature = "yara")]
    #[error("{file}: YARA: {message}")]
    Yara { file: String, message: String },
}
