//! Where quarantined originals are kept: the parts of results that mcpwall replaced with a
//! notice, so that a person can look at what the model was not shown. Each is a file named by
//! the SHA-256 of its bytes (`HASH.json`, the JSON of the part), which the audit event names.
//!
//! What is kept came from a server that was caught writing instructions for the model, and
//! may hold secrets (it is kept as it came, unredacted): the directory is the owner's alone
//! (0700, files 0600). Files are written whole or not at all (a temporary file renamed into
//! place), and the store stops taking more at a size cap, so that a hostile server cannot fill
//! the disk through it.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The store's default cap.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// What a file costs, at least (a disk block): many tiny files must not pass a byte cap.
const BLOCK: u64 = 4096;

/// Files in the store, at most (inodes are a resource too).
const MAX_FILES: u64 = 65_536;

/// Age after which a temporary file is a crash's leftover, removed when a store opens.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// Temporary files this process made: with its id, a name no other writer uses.
static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

fn is_temporary(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
}

/// A directory of quarantined originals.
#[derive(Debug)]
pub struct QuarantineStore {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes (each file counted as at least a block) and files in the store, as counted at
    /// opening, plus what was added since.
    used: Mutex<(u64, u64)>,
}

fn cost(len: u64) -> u64 {
    len.max(BLOCK)
}

impl QuarantineStore {
    /// Opens (creating it, 0700) the directory `dir`, with a cap of `max_bytes`. A directory
    /// that exists is made the owner's alone (0700) first: what it holds is not for others.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let meta = fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        let mut used = (0, 0);
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let meta = entry.metadata()?;
            // A temporary file left by a crash; one of a live writer is seconds old.
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMPORARY);
            if stale && is_temporary(&entry.file_name()) && fs::remove_file(entry.path()).is_ok() {
                continue;
            }
            used.0 += cost(meta.len());
            used.1 += 1;
        }
        Ok(QuarantineStore {
            dir: dir.to_path_buf(),
            max_bytes,
            used: Mutex::new(used),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps `bytes`; returns their SHA-256 (hex), the file's name without `.json`. The same
    /// bytes are kept once.
    pub fn keep(&self, bytes: &[u8]) -> io::Result<String> {
        let hash = mcpwall_policy::sha256_hex(bytes);
        let path = self.dir.join(format!("{hash}.json"));
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if path.exists() {
            return Ok(hash);
        }
        let charge = cost(bytes.len() as u64);
        if used.0.saturating_add(charge) > self.max_bytes || used.1 >= MAX_FILES {
            return Err(io::Error::other(format!(
                "the quarantine store {} is full ({} bytes, {MAX_FILES} files at most)",
                self.dir.display(),
                self.max_bytes
            )));
        }
        // A name of this writer's own: other processes (every `mcpwall run` of a machine
        // shares the store) may be keeping the same bytes at the same moment, and a shared
        // name would let one rename the other's half-written file into place. The file must
        // be new (O_EXCL: a link planted in its place is not followed).
        let n = TEMPORARIES.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{hash}.{}-{n}.tmp", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            // Another process kept the same bytes first: they are there, whole.
            if !path.exists() {
                return Err(e);
            }
            return Ok(hash);
        }
        used.0 += charge;
        used.1 += 1;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn originals_are_kept_once_privately_and_up_to_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store_dir = dir.path().join("q");
        let store = QuarantineStore::open(&store_dir, 2 * BLOCK + 10).expect("opens");
        let mode = |p: &Path| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&store_dir), 0o700);
        let hash = store.keep(b"{\"a\":1}").expect("kept");
        let file = store_dir.join(format!("{hash}.json"));
        assert_eq!(fs::read(&file).expect("file"), b"{\"a\":1}");
        assert_eq!(mode(&file), 0o600);
        // Again: nothing more is written.
        assert_eq!(store.keep(b"{\"a\":1}").expect("kept"), hash);
        // Each file costs a block at least: the second fits, the third not, and nothing of it
        // is left behind.
        assert!(store.keep(b"{\"b\":2}").is_ok());
        assert!(store.keep(b"{\"c\":3}").is_err());
        assert_eq!(fs::read_dir(&store_dir).expect("dir").count(), 2);
        // Reopened, the store counts what it holds.
        let again = QuarantineStore::open(&store_dir, 2 * BLOCK + 10).expect("opens");
        assert!(again.keep(b"{\"c\":3}").is_err());
        // A directory others could read is made the owner's alone.
        fs::set_permissions(&store_dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        QuarantineStore::open(&store_dir, 1).expect("opens");
        assert_eq!(mode(&store_dir), 0o700);
    }

    /// Two writers (two `mcpwall run`s sharing the store) keeping the same original at the same
    /// moment: both succeed, and the file holds it whole.
    #[test]
    fn writers_keeping_the_same_bytes_at_once_do_not_spoil_each_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stores: Vec<QuarantineStore> = (0..2)
            .map(|_| QuarantineStore::open(dir.path(), u64::MAX).expect("opens"))
            .collect();
        for round in 0..24u8 {
            let bytes = vec![b'a' + round % 26; 512 * 1024];
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<io::Result<String>> = std::thread::scope(|s| {
                let handles: Vec<_> = stores
                    .iter()
                    .map(|store| {
                        s.spawn(|| {
                            barrier.wait();
                            store.keep(&bytes)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("no panic"))
                    .collect()
            });
            for r in &results {
                let hash = r.as_ref().expect("kept");
                let file = dir.path().join(format!("{hash}.json"));
                assert!(
                    fs::read(&file).expect("file") == bytes,
                    "round {round}: spoilt"
                );
            }
        }
        // No temporary file is left.
        assert!(
            fs::read_dir(dir.path())
                .expect("dir")
                .all(|e| !is_temporary(&e.expect("entry").file_name()))
        );
    }
}
