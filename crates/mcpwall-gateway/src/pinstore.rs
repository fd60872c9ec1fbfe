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

impl PinStore {
    /// The lockfile at `path` (created on first write, with its directory). An existing file
    /// that cannot be read is an error now, not at the first `tools/list`.
    pub fn open(path: impl Into<PathBuf>) -> Result<PinStore, GatewayError> {
        let store = PinStore { path: path.into() };
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
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(lock.to_text().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
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
