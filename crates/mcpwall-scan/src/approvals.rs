//! The server command lines a person has agreed to start for inspection: the scanner starts
//! no program it was not told to (a configuration file may be a stranger's), except with `--yes`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{ServerEntry, Transport};

/// Approved command lines, by hash, in a file of one hash a line.
#[derive(Clone, Debug)]
pub struct Approvals {
    path: PathBuf,
    keys: BTreeSet<String>,
}

impl Approvals {
    /// The approvals at `path`; none when it does not exist.
    pub fn load(path: &Path) -> std::io::Result<Approvals> {
        let keys = match std::fs::read_to_string(path) {
            Ok(t) => t
                .lines()
                .map(str::trim)
                .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        Ok(Approvals {
            path: path.to_owned(),
            keys,
        })
    }

    /// What is approved of a stdio entry: its command, arguments and working directory (a
    /// changed argument is a different program to run). `None` for a remote server.
    pub fn key(entry: &ServerEntry) -> Option<String> {
        let Transport::Stdio {
            command, args, cwd, ..
        } = &entry.transport
        else {
            return None;
        };
        let canonical = serde_json::json!([command, args, cwd]).to_string();
        Some(mcpwall_policy::sha256_hex(canonical.as_bytes()))
    }

    pub fn contains(&self, entry: &ServerEntry) -> bool {
        Approvals::key(entry).is_some_and(|k| self.keys.contains(&k))
    }

    pub fn add(&mut self, entry: &ServerEntry) {
        if let Some(k) = Approvals::key(entry) {
            self.keys.insert(k);
        }
    }

    /// Writes the file whole (a temporary file renamed over it), readable by its owner only.
    pub fn save(&self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            for k in &self.keys {
                writeln!(f, "{k}")?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}
