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
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The store's default cap.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// A directory of quarantined originals.
#[derive(Debug)]
pub struct QuarantineStore {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes in the store (as counted at opening, plus what was added since).
    used: Mutex<u64>,
}

impl QuarantineStore {
    /// Opens (creating it, 0700) the directory `dir`, with a cap of `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mut used = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                used += entry.metadata()?.len();
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
        let len = bytes.len() as u64;
        if used.saturating_add(len) > self.max_bytes {
            return Err(io::Error::other(format!(
                "the quarantine store {} is full ({} bytes)",
                self.dir.display(),
                self.max_bytes
            )));
        }
        let tmp = self.dir.join(format!(".{hash}.tmp"));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
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
        *used += len;
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
        let store = QuarantineStore::open(&store_dir, 10).expect("opens");
        let mode = |p: &Path| fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&store_dir), 0o700);
        let hash = store.keep(b"{\"a\":1}").expect("kept");
        let file = store_dir.join(format!("{hash}.json"));
        assert_eq!(fs::read(&file).expect("file"), b"{\"a\":1}");
        assert_eq!(mode(&file), 0o600);
        // Again: nothing more is written.
        assert_eq!(store.keep(b"{\"a\":1}").expect("kept"), hash);
        // Over the cap (7 bytes used of 10): refused, and nothing is left behind.
        assert!(store.keep(b"{\"b\":22}").is_err());
        assert_eq!(fs::read_dir(&store_dir).expect("dir").count(), 1);
        // Reopened, the store counts what it holds.
        let again = QuarantineStore::open(&store_dir, 10).expect("opens");
        assert!(again.keep(b"1234").is_err());
        assert!(again.keep(b"123").is_ok());
    }
}
