//! The lockfile on disk: read, changed and written under an exclusive lock, so that several
//! `mcpwall run` processes (one per server) and `mcpwall pins approve` can share one file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use mcpwall_policy::Lock;

use crate::GatewayError;

/// A lockfile at a path.
#[derive(Debug, Clone)]
pub struct PinStore {
    path: PathBuf,
}

/// `path` with symbolic links resolved: a lockfile reached through a link is written where
/// the link points (a rename would replace the link), and every process reaching the same file
/// takes the same guard. A file not there yet: its directory resolved.
fn resolved(mut path: PathBuf) -> PathBuf {
    // A link to a file not written yet: followed by hand (canonicalize needs the file).
    for _ in 0..40 {
        let Ok(to) = fs::read_link(&path) else { break };
        path = match path.parent() {
            Some(dir) if to.is_relative() => dir.join(to),
            _ => to,
        };
    }
    if let Ok(p) = fs::canonicalize(&path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            fs::canonicalize(dir).map_or(path.clone(), |d| d.join(name))
        }
        _ => path,
    }
}

impl PinStore {
    /// The lockfile at `path` (created on first write, with its directory). An existing file
    /// that cannot be read is an error now, not at the first `tools/list`.
    pub fn open(path: impl Into<PathBuf>) -> Result<PinStore, GatewayError> {
        let store = PinStore {
            path: resolved(path.into()),
        };
        store.load()?;
        Ok(store)
    }

    /// Where the lockfile is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock as the file holds it now (empty when there is no file).
    pub fn load(&self) -> Result<Lock, GatewayError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(self.io_error(source)),
        };
        Lock::parse(&text).map_err(|source| GatewayError::Lockfile {
            path: self.path.clone(),
            source,
        })
    }

    /// Runs `f` on the current lock, with every other writer kept out, and writes the result
    /// back if `f` changed it. The file is replaced whole (written beside it, then renamed), so
    /// a crash leaves the old file or the new one, never half of one.
    pub fn update<R>(&self, f: impl FnOnce(&mut Lock) -> R) -> Result<R, GatewayError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.io_error(e))?;
        // The lock is taken on a guard file beside the lockfile: the lockfile itself is
        // replaced by rename, and a lock on a replaced file guards nothing.
        let mut guard_name = self.path.as_os_str().to_owned();
        guard_name.push(".guard");
        let guard = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(guard_name))
            .map_err(|e| self.io_error(e))?;
        guard.lock().map_err(|e| self.io_error(e))?;
        let mut lock = self.load()?;
        let before = lock.clone();
        let out = f(&mut lock);
        if lock != before {
            self.write(dir, &lock)?;
        }
        // Dropping the guard file releases the lock.
        drop(guard);
        Ok(out)
    }

    fn write(&self, dir: &Path, lock: &Lock) -> Result<(), GatewayError> {
        let name = self.path.file_name().map_or_else(
            || "mcpwall.lock".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        // A name nobody can foresee, created only if nothing is there (not even a symlink):
        // in a directory others may write to, a planted file or link must not receive the pins.
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| self.io_error(io::Error::other(e.to_string())))?;
        let tmp = dir.join(format!(
            ".{name}.{}.{:016x}.tmp",
            std::process::id(),
            u64::from_le_bytes(nonce)
        ));
        let mut created = false;
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            created = true;
            f.write_all(lock.to_text().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // The rename itself, on disk.
            File::open(dir).and_then(|d| d.sync_all())
        })();
        if let Err(e) = result {
            if created {
                let _ = fs::remove_file(&tmp);
            }
            return Err(self.io_error(e));
        }
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> GatewayError {
        GatewayError::LockIo {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use mcpwall_policy::Listing;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_linked_lockfile_is_written_where_the_link_points() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real");
        fs::create_dir(&real).expect("mkdir");
        let target = real.join("mcpwall.lock");
        let link = dir.path().join("mcpwall.lock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let store = PinStore::open(&link).expect("open");
        let tool = json!({"name": "add", "description": "Adds."});
        store
            .update(|lock| lock.check("s", &[("add", &tool)], Listing::Whole, false))
            .expect("update");
        assert!(
            fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink(),
            "the link was replaced"
        );
        let text = fs::read_to_string(&target).expect("the target holds the pins");
        assert!(text.contains("[servers.s.tools.add]"), "{text}");
        // Another process reaching the file directly takes the same guard and sees the pins.
        let direct = PinStore::open(&target).expect("open");
        assert_eq!(direct.path(), store.path());
        assert!(direct.load().expect("load").servers.contains_key("s"));
        // No temporary file is left beside it.
        let left: Vec<_> = fs::read_dir(&real)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
