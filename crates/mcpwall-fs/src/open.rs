//! Opening what a path names, by the kernel, beneath a root's directory handle opened at
//! start: `openat2` with `RESOLVE_BENEATH` (no way out, `..` or absolute symlink alike),
//! `RESOLVE_NO_SYMLINKS` and `RESOLVE_NO_MAGICLINKS`. The handle that was checked (a regular
//! file with one link, not too large) is the one read: no check-then-open race.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

use crate::denial::{Code, Denial, from_errno};
use crate::path::RootNames;

/// A root: its names, and the directory handle every path beneath it is resolved from.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) names: RootNames,
    pub(crate) fd: OwnedFd,
}

/// Also `RESOLVE_NO_XDEV`: no crossing into another mount inside a root (a user's FUSE mount
/// there could block every lookup, and with it the server).
impl Root {
    /// Another handle to the same root.
    pub(crate) fn duplicate(&self) -> Option<Root> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0).ok()?;
        Some(Root {
            names: RootNames {
                given: self.names.given.clone(),
                real: self.names.real.clone(),
            },
            fd,
        })
    }
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Symlinks on the way to what a path names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Links {
    /// Every symlink refused (`symlink`).
    #[default]
    Refuse,
    /// Symlinks followed while their resolution stays beneath the root (relative ones; an
    /// absolute symlink, or one climbing out, is refused by the kernel with `outside_root`).
    /// For what is read only: what writes never follows a symlink (the protected-path checks
    /// judge the path as written).
    Beneath,
}

impl Links {
    fn resolve(self) -> ResolveFlags {
        match self {
            Links::Refuse => RESOLVE,
            Links::Beneath => RESOLVE.difference(ResolveFlags::NO_SYMLINKS),
        }
    }

    /// `O_NOFOLLOW` for the last component, where symlinks are refused.
    fn last(self) -> OFlags {
        match self {
            Links::Refuse => OFlags::NOFOLLOW,
            Links::Beneath => OFlags::empty(),
        }
    }
}

fn open_beneath(
    dir: &OwnedFd,
    rel: &Path,
    flags: OFlags,
    shown: &str,
    links: Links,
) -> Result<OwnedFd, Denial> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    // openat2 refuses O_PATH with any flag but O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC.
    let extra = if flags.contains(OFlags::PATH) {
        OFlags::CLOEXEC
    } else {
        OFlags::CLOEXEC | OFlags::NOCTTY
    };
    rustix::fs::openat2(dir, rel, flags | extra, Mode::empty(), links.resolve())
        .map_err(|e| from_errno(e, shown))
}

/// A regular file with a single link and at most `max` bytes, opened for reading (without
/// blocking: a FIFO is opened and refused, never waited on).
pub(crate) fn file(
    root: &Root,
    rel: &Path,
    shown: &str,
    max: u64,
    links: Links,
) -> Result<(File, u64), Denial> {
    let fd = open_beneath(
        &root.fd,
        rel,
        OFlags::RDONLY | links.last() | OFlags::NONBLOCK,
        shown,
        links,
    )?;
    let st = rustix::fs::fstat(&fd).map_err(|e| from_errno(e, shown))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => {
            return Err(Denial::new(
                Code::NotRegular,
                format!("{shown}: a directory, not a file"),
            ));
        }
        other => {
            return Err(Denial::new(
                Code::NotRegular,
                format!("{shown}: not a regular file ({})", kind(other)),
            ));
        }
    }
    if st.st_nlink > 1 {
        return Err(Denial::new(
            Code::HardLink,
            format!("{shown}: the file has other names (hard links) that may lie outside"),
        ));
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > max {
        return Err(too_large(shown, max));
    }
    Ok((File::from(fd), size))
}

fn too_large(shown: &str, max: u64) -> Denial {
    Denial::new(
        Code::TooLarge,
        format!("{shown}: larger than the {max}-byte limit"),
    )
}

/// The whole of a file opened by [`file`], refusing it if it grew past `max` meanwhile.
pub(crate) fn read(file: File, shown: &str, max: u64) -> Result<Vec<u8>, Denial> {
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Denial::new(Code::Io, format!("{shown}: {}", e.kind())))?;
    if bytes.len() as u64 > max {
        return Err(too_large(shown, max));
    }
    Ok(bytes)
}

/// A directory, opened for listing.
pub(crate) fn dir(root: &Root, rel: &Path, shown: &str, links: Links) -> Result<OwnedFd, Denial> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | links.last();
    open_beneath(&root.fd, rel, flags, shown, links).map_err(|d| {
        // The kernel says "not a directory" before "a symlink" for the last component: say
        // which it is.
        if d.code != Code::NotFound {
            return d;
        }
        match stat(root, rel, shown, links).map(|st| FileType::from_raw_mode(st.st_mode)) {
            Ok(FileType::Symlink) => Denial::new(
                Code::Symlink,
                format!("{shown}: a symbolic link, not followed"),
            ),
            Ok(other) => Denial::new(
                Code::NotRegular,
                format!("{shown}: not a directory ({})", kind(other)),
            ),
            Err(e) => e,
        }
    })
}

/// A subdirectory `name` of an open directory.
pub(crate) fn subdir(dir: &OwnedFd, name: &CStr, shown: &str) -> Result<OwnedFd, Denial> {
    rustix::fs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
    .map_err(|e| from_errno(e, shown))
}

/// What a path names, without following it if it is a symlink (the link itself is described,
/// never its target).
pub(crate) fn stat(root: &Root, rel: &Path, shown: &str, links: Links) -> Result<Stat, Denial> {
    // O_PATH with O_NOFOLLOW gives the symlink itself as the last component; a symlink before
    // it is refused, or followed beneath the root, as `links` says.
    let fd = open_beneath(&root.fd, rel, OFlags::PATH | OFlags::NOFOLLOW, shown, links)?;
    rustix::fs::fstat(&fd).map_err(|e| from_errno(e, shown))
}

/// The type of entry `name` of an open directory, without following it.
pub(crate) fn entry_stat(dir: &OwnedFd, name: &CStr) -> Option<Stat> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

/// A file type's name in results.
pub(crate) fn kind(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "unknown",
    }
}
