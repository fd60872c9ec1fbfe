//! The server command lines a person has agreed to start for inspection, and the remote
//! servers they agreed to contact: the scanner starts no program and sends no request it was
//! not told to (a configuration file may be a stranger's, and its address an internal one),
//! except with `--yes`.

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
    /// working directory, where a server without `cwd` starts. Of a remote server: its address
    /// and headers.
    pub fn key(entry: &ServerEntry, here: &Path) -> String {
        let (command, args, cwd, env) = match &entry.transport {
            Transport::Stdio {
                command,
                args,
                cwd,
                env,
                ..
            } => (command, args, cwd, env),
            // A remote server: its address and the headers sent to it.
            Transport::Http {
                url,
                headers,
                protocol,
                ..
            } => {
                let how = format!("{protocol:?}");
                let canonical = serde_json::json!(["remote", url, headers, how]).to_string();
                return mcpwall_policy::sha256_hex(canonical.as_bytes());
            }
        };
        let start = cwd.as_ref().map_or_else(|| here.to_owned(), PathBuf::from);
        let relative = |a: &str| {
            let p = Path::new(a);
            !a.is_empty() && p.is_relative() && (a.contains('/') || start.join(p).exists())
        };
        let dir = (cwd.is_some() || relative(command) || args.iter().any(|a| relative(a)))
            .then(|| start.display().to_string());
        let canonical = serde_json::json!([command, args, cwd, dir, env]).to_string();
        mcpwall_policy::sha256_hex(canonical.as_bytes())
    }

    pub fn contains(&self, entry: &ServerEntry, here: &Path) -> bool {
        self.keys.contains(&Approvals::key(entry, here))
    }

    pub fn add(&mut self, entry: &ServerEntry, here: &Path) {
        self.keys.insert(Approvals::key(entry, here));
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
