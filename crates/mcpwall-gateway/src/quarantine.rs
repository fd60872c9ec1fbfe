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

/// The store's default cap.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// What a file costs, at least (a disk block): many tiny files must not pass a byte cap.
const BLOCK: u64 = 4096;

/// Files in the store, at most (inodes are a resource too).
const MAX_FILES: u64 = 65_536;

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
            if entry.file_type()?.is_file() {
                used.0 += cost(entry.metadata()?.len());
                used.1 += 1;
            }
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
        let tmp = self.dir.join(format!(".{hash}.tmp"));
        // A leftover of a crash goes; then the file must be new (O_EXCL: a link planted in
        // its place is not followed).
        let _ = fs::remove_file(&tmp);
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
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
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
}
