//! Why a tool call was refused: a stable code and a message that never names a host path.

use serde_json::{Value, json};

/// Stable error codes (in `structuredContent.error` of the tool result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    OutsideRoot,
    DotDot,
    Symlink,
    NotRegular,
    HardLink,
    TooLarge,
    InvalidPath,
    NotFound,
    RateLimited,
    LimitExceeded,
    ReadOnly,
    Protected,
    NoMatch,
    Exists,
    Io,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::OutsideRoot => "outside_root",
            Code::DotDot => "dotdot",
            Code::Symlink => "symlink",
            Code::NotRegular => "not_regular",
            Code::HardLink => "hardlink",
            Code::TooLarge => "too_large",
            Code::InvalidPath => "invalid_path",
            Code::NotFound => "not_found",
            Code::RateLimited => "rate_limited",
            Code::LimitExceeded => "limit_exceeded",
            Code::ReadOnly => "read_only",
            Code::Protected => "protected",
            Code::NoMatch => "no_match",
            Code::Exists => "exists",
            Code::Io => "io",
        }
    }
}

/// A refusal: `message` is for the model and names paths only as the client gave them, relative
/// to their root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub code: Code,
    pub message: String,
}

impl Denial {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Denial {
            code,
            message: message.into(),
        }
    }

    /// The tool result that carries it.
    pub fn result(&self) -> Value {
        json!({
            "isError": true,
            "content": [{"type": "text", "text": format!("{} ({})", self.message, self.code.as_str())}],
            "structuredContent": {"error": self.code.as_str(), "message": self.message},
        })
    }
}

/// The denial for an error of the kernel while resolving or opening `shown`.
pub fn from_errno(e: rustix::io::Errno, shown: &str) -> Denial {
    use rustix::io::Errno;
    match e {
        // RESOLVE_NO_SYMLINKS (and O_NOFOLLOW on the last component) refuse with ELOOP.
        Errno::LOOP => Denial::new(
            Code::Symlink,
            format!("{shown}: a symbolic link is on the way"),
        ),
        // RESOLVE_BENEATH refuses an escape with EXDEV.
        Errno::XDEV => Denial::new(
            Code::OutsideRoot,
            format!("{shown}: outside the allowed directories"),
        ),
        Errno::NOENT => Denial::new(
            Code::NotFound,
            format!("{shown}: no such file or directory"),
        ),
        Errno::NOTDIR => Denial::new(
            Code::NotFound,
            format!("{shown}: a part of the path is not a directory"),
        ),
        Errno::NAMETOOLONG => {
            Denial::new(Code::InvalidPath, format!("{shown}: the name is too long"))
        }
        Errno::ACCESS | Errno::PERM => Denial::new(Code::Io, format!("{shown}: permission denied")),
        other => Denial::new(Code::Io, format!("{shown}: {}", other.kind())),
    }
}
