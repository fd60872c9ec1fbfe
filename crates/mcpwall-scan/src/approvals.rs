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

    /// What is approved of a stdio entry: its command, arguments, environment and working
    /// directory (any change is a different program to run), and, when the command or an
    /// argument names a file relative to the directory it starts in, that directory (`node
    /// server.js` in one project is not the same program in another). `here`: the scanner's
    /// working directory, where a server without `cwd` starts. `None` for a remote server.
    pub fn key(entry: &ServerEntry, here: &Path) -> Option<String> {
        let Transport::Stdio {
            command,
            args,
            cwd,
            env,
            ..
        } = &entry.transport
        else {
            return None;
        };
        let start = cwd.as_ref().map_or_else(|| here.to_owned(), PathBuf::from);
        let relative = |a: &str| {
            let p = Path::new(a);
            !a.is_empty() && p.is_relative() && (a.contains('/') || start.join(p).exists())
        };
        let dir = (cwd.is_some() || relative(command) || args.iter().any(|a| relative(a)))
            .then(|| start.display().to_string());
        let canonical = serde_json::json!([command, args, cwd, dir, env]).to_string();
        Some(mcpwall_policy::sha256_hex(canonical.as_bytes()))
    }

    pub fn contains(&self, entry: &ServerEntry, here: &Path) -> bool {
        Approvals::key(entry, here).is_some_and(|k| self.keys.contains(&k))
    }

    pub fn add(&mut self, entry: &ServerEntry, here: &Path) {
        if let Some(k) = Approvals::key(entry, here) {
            self.keys.insert(k);
        }
    }

    /// Writes the file whole (a temporary file renamed over it), readable by its owner only.
    pub fn save(&self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        // A name of its own (a file planted at a fixed name could be a symlink), created new.
        let tmp = self
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
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
