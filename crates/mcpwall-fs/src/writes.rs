//! The tools that write, offered with `--allow-write` (and `move_file` with
//! `--allow-destructive` as well). A file is written whole to a new temporary file in the same
//! directory, then renamed over the name: a reader sees the old content or the new, never a
//! part, and a symlink or hard link put in place meanwhile is replaced, never written through.
//! Paths that steer other programs (git hooks and config, agent and editor settings, shell
//! start-up files) are refused.

use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use serde_json::{Value, json};

use crate::denial::{Code, Denial, from_errno};
use crate::open::{self, Links, Root};

/// Names (any component, any case) whose files other programs run or obey: writing them is a
/// way to run code or to reconfigure an agent.
const PROTECTED: &[&str] = &[
    ".git",
    ".mcp.json",
    ".cursor",
    ".vscode",
    ".claude",
    ".idea",
    ".windsurf",
    ".gemini",
    ".codex",
    ".continue",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".profile",
    ".gitconfig",
    ".npmrc",
    ".pypirc",
    ".envrc",
    ".ssh",
    ".claude.json",
    ".config",
    ".local",
    ".zlogin",
    ".bash_logout",
    ".cargo",
    ".github",
    ".husky",
    "claude.md",
    "agents.md",
    ".cursorrules",
    ".windsurfrules",
];

/// Characters a case-folding file system ignores or folds into ASCII letters, by what they
/// become (`None`: dropped): a name spelled with them is the protected one there.
fn fold(c: char) -> Option<Option<char>> {
    match c {
        '\u{017F}' => Some(Some('s')),              // long s
        '\u{212A}' => Some(Some('k')),              // Kelvin sign
        '\u{0130}' | '\u{0131}' => Some(Some('i')), // dotted capital I, dotless i
        '\u{00AD}'
        | '\u{034F}'
        | '\u{180E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FE00}'..='\u{FE0F}' => Some(None),
        c if crate::path::invisible(c) => Some(None),
        _ => None,
    }
}

/// A name as a case-folding file system may see it: ASCII lower case, folded letters, ignored
/// characters dropped, trailing dots and spaces gone.
fn folded(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match fold(c) {
            Some(Some(f)) => out.push(f),
            Some(None) => {}
            None => out.push(c.to_ascii_lowercase()),
        }
    }
    out.trim_end_matches(['.', ' ']).to_owned()
}

/// An 8.3 short name (`GIT~1`) whose stem starts a protected name: the same file on FAT and
/// NTFS.
fn short_name(name: &str) -> bool {
    let Some((stem, n)) = name.split_once('~') else {
        return false;
    };
    let stem = stem.trim_start_matches('.');
    !stem.is_empty()
        && n.split('.')
            .next()
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        && PROTECTED
            .iter()
            .any(|p| p.trim_start_matches('.').starts_with(stem))
}

/// Whether `rel` is, or lies beneath, a protected name.
pub(crate) fn protected(rel: &Path) -> bool {
    rel.components().any(|c| {
        let name = c.as_os_str().to_string_lossy();
        let f = folded(&name);
        PROTECTED.contains(&f.as_str()) || short_name(&f)
    })
}

fn refuse_protected(rel: &Path, shown: &str) -> Result<(), Denial> {
    if protected(rel) {
        return Err(Denial::new(
            Code::Protected,
            format!(
                "{shown}: a protected path (git hooks and config, agent and editor settings, shell start-up files) is not written"
            ),
        ));
    }
    Ok(())
}

/// The directory holding `rel`, opened, and the last name.
fn parent<'a>(
    root: &Root,
    rel: &'a Path,
    shown: &str,
) -> Result<(OwnedFd, &'a std::ffi::OsStr), Denial> {
    let name = rel.file_name().ok_or_else(|| {
        Denial::new(
            Code::InvalidPath,
            format!("{shown}: not a file name (the root itself?)"),
        )
    })?;
    let dir = open::dir(
        root,
        rel.parent().unwrap_or(Path::new("")),
        shown,
        Links::Refuse,
    )?;
    Ok((dir, name))
}

/// What `name` in `dir` is now, without following it: `None` when absent.
fn existing(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    shown: &str,
) -> Result<Option<rustix::fs::Stat>, Denial> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(from_errno(e, shown)),
    }
}

/// Refuses to replace anything but a regular file with a single link that this process could
/// write in place (a rename needs only the directory's permission: a read-only file would be
/// replaced all the same).
fn replaceable(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    st: &rustix::fs::Stat,
    shown: &str,
) -> Result<(), Denial> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile if st.st_nlink > 1 => Err(Denial::new(
            Code::HardLink,
            format!("{shown}: the file has other names (hard links) that may lie outside"),
        )),
        FileType::RegularFile => {
            let access = rustix::fs::Access::WRITE_OK;
            let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::EACCESS;
            rustix::fs::accessat(dir, name, access, flags)
                .map_err(|_| Denial::new(Code::ReadOnly, format!("{shown}: the file is read-only")))
        }
        FileType::Symlink => Err(Denial::new(
            Code::Symlink,
            format!("{shown}: a symbolic link, not written through"),
        )),
        other => Err(Denial::new(
            Code::NotRegular,
            format!("{shown}: not a regular file ({})", open::kind(other)),
        )),
    }
}

/// A name from a path as the C string the `*at` calls take (paths checked as text hold no NUL;
/// this is the check the type needs).
fn cname(name: &std::ffi::OsStr, shown: &str) -> Result<std::ffi::CString, Denial> {
    std::ffi::CString::new(name.as_encoded_bytes())
        .map_err(|_| Denial::new(Code::InvalidPath, format!("{shown}: a NUL in a name")))
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` as `name` in `dir`: to a new temporary file beside it, synced, then renamed
/// over it. The mode of a file replaced is kept (without set-id bits).
fn replace(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    bytes: &[u8],
    mode: u32,
    shown: &str,
) -> Result<(), Denial> {
    let io = |e: rustix::io::Errno| from_errno(e, shown);
    let tmp = format!(
        ".mcpwall-write-{}-{}.tmp",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode & 0o777),
    )
    .map_err(io)?;
    // The mode exactly (the umask narrowed the one given at creation).
    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777));
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Denial::new(Code::Io, format!("{shown}: {}", e.kind())))
        .and_then(|()| rustix::fs::renameat(dir, tmp.as_str(), dir, name).map_err(io))
        // The new name, durably.
        .map(|()| {
            let _ = rustix::fs::fsync(dir);
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
    }
    written
}

/// `write_file`: creates or replaces a file.
pub(crate) fn write_file(
    root: &Root,
    rel: &Path,
    shown: &str,
    content: &str,
    max: u64,
) -> Result<Value, Denial> {
    if content.len() as u64 > max {
        return Err(Denial::new(
            Code::TooLarge,
            format!("{shown}: the content is larger than the {max}-byte limit"),
        ));
    }
    refuse_protected(rel, shown)?;
    let (dir, name) = parent(root, rel, shown)?;
    let mode = match existing(&dir, name, shown)? {
        Some(st) => {
            replaceable(&dir, name, &st, shown)?;
            st.st_mode
        }
        None => 0o644,
    };
    replace(&dir, name, content.as_bytes(), mode, shown)?;
    Ok(
        json!({"content": [{"type": "text", "text": format!("Wrote {} bytes to {shown}", content.len())}]}),
    )
}

/// Edits in one `edit_file` (each copies the file).
const MAX_EDITS: usize = 100;

/// `edit_file`: replaces each `oldText` (which must occur) with its `newText`, in order, and
/// answers with a diff; with `dryRun`, writes nothing.
pub(crate) fn edit_file(
    root: &Root,
    rel: &Path,
    shown: &str,
    args: &Value,
    max: u64,
) -> Result<Value, Denial> {
    let edits = args.get("edits").and_then(Value::as_array).ok_or_else(|| {
        Denial::new(
            Code::InvalidPath,
            "the argument `edits` must be a list of {oldText, newText}",
        )
    })?;
    if edits.len() > MAX_EDITS {
        return Err(Denial::new(
            Code::LimitExceeded,
            format!("{} edits; at most {MAX_EDITS} at once", edits.len()),
        ));
    }
    let dry = args.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
    if !dry {
        refuse_protected(rel, shown)?;
    }
    let (file, _) = open::file(root, rel, shown, max, Links::Refuse)?;
    let before = rustix::fs::fstat(&file).map_err(|e| from_errno(e, shown))?;
    let old = String::from_utf8(open::read(file, shown, max)?)
        .map_err(|_| Denial::new(Code::NotRegular, format!("{shown}: not UTF-8 text")))?;
    let mut new = old.clone();
    for (k, e) in edits.iter().enumerate() {
        let (Some(from), Some(to)) = (
            e.get("oldText").and_then(Value::as_str),
            e.get("newText").and_then(Value::as_str),
        ) else {
            return Err(Denial::new(
                Code::InvalidPath,
                format!("edit {k}: needs string `oldText` and `newText`"),
            ));
        };
        if from.is_empty() || !new.contains(from) {
            return Err(Denial::new(
                Code::NoMatch,
                format!("{shown}: edit {k}: its oldText is not in the file"),
            ));
        }
        new = new.replacen(from, to, 1);
        if new.len() as u64 > max {
            return Err(Denial::new(
                Code::TooLarge,
                format!("{shown}: the edited file would pass the {max}-byte limit"),
            ));
        }
    }
    let diff = mcpwall_policy::diff::lines(&old, &new);
    if !dry {
        let (dir, name) = parent(root, rel, shown)?;
        let st = existing(&dir, name, shown)?
            .ok_or_else(|| Denial::new(Code::NotFound, format!("{shown}: removed meanwhile")))?;
        // The file edited must be the one read, unchanged: another writer's work is not
        // silently undone.
        let same = (
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime,
            st.st_mtime_nsec,
        ) == (
            before.st_dev,
            before.st_ino,
            before.st_size,
            before.st_mtime,
            before.st_mtime_nsec,
        );
        if !same {
            return Err(Denial::new(
                Code::Io,
                format!("{shown}: changed while being edited; try again"),
            ));
        }
        replaceable(&dir, name, &st, shown)?;
        replace(&dir, name, new.as_bytes(), st.st_mode, shown)?;
    }
    Ok(json!({"content": [{"type": "text", "text": format!("```diff\n{diff}```\n")}]}))
}

/// `create_directory`: every missing directory on the way is made.
pub(crate) fn create_directory(root: &Root, rel: &Path, shown: &str) -> Result<Value, Denial> {
    refuse_protected(rel, shown)?;
    let mut dir = open::dir(root, Path::new(""), shown, Links::Refuse)?;
    for part in rel.components() {
        let name = part.as_os_str();
        match existing(&dir, name, shown)? {
            None => match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(from_errno(e, shown)),
            },
            Some(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {}
                FileType::Symlink => {
                    return Err(Denial::new(
                        Code::Symlink,
                        format!("{shown}: a symbolic link is on the way"),
                    ));
                }
                other => {
                    return Err(Denial::new(
                        Code::NotRegular,
                        format!("{shown}: a {} is on the way", open::kind(other)),
                    ));
                }
            },
        }
        let c = cname(name, shown)?;
        dir = open::subdir(&dir, &c, shown)?;
    }
    Ok(json!({"content": [{"type": "text", "text": format!("Created {shown}")}]}))
}

/// `move_file`: renames within the roots; never over an existing name.
pub(crate) fn move_file(
    from: (&Root, &Path, &str),
    to: (&Root, &Path, &str),
) -> Result<Value, Denial> {
    refuse_protected(from.1, from.2)?;
    refuse_protected(to.1, to.2)?;
    let (src_dir, src) = parent(from.0, from.1, from.2)?;
    let st = existing(&src_dir, src, from.2)?.ok_or_else(|| {
        Denial::new(
            Code::NotFound,
            format!("{}: no such file or directory", from.2),
        )
    })?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let c = cname(src, from.2)?;
        let sub = open::subdir(&src_dir, &c, from.2)?;
        let mut budget = MAX_MOVED_ENTRIES;
        if holds_protected(&sub, 0, &mut budget) {
            return Err(Denial::new(
                Code::Protected,
                format!(
                    "{}: the directory holds protected names (or more than {MAX_MOVED_ENTRIES} entries to check): moving it would put them in place",
                    from.2
                ),
            ));
        }
    }
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Err(Denial::new(
            Code::Symlink,
            format!("{}: a symbolic link is not moved", from.2),
        ));
    }
    let (dst_dir, dst) = parent(to.0, to.1, to.2)?;
    match rustix::fs::renameat_with(&src_dir, src, &dst_dir, dst, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(
            json!({"content": [{"type": "text", "text": format!("Moved {} to {}", from.2, to.2)}]}),
        ),
        Err(rustix::io::Errno::EXIST) => Err(Denial::new(
            Code::Exists,
            format!("{}: already exists", to.2),
        )),
        Err(e) => Err(from_errno(e, to.2)),
    }
}

/// Entries of a directory looked at before it is moved.
const MAX_MOVED_ENTRIES: usize = 10_000;

/// Whether `dir` holds a protected name at any depth, or is too big to tell (`budget` entries,
/// 32 levels).
fn holds_protected(dir: &OwnedFd, depth: usize, budget: &mut usize) -> bool {
    let Ok(list) = rustix::fs::Dir::read_from(dir) else {
        return true;
    };
    for entry in list {
        let Ok(entry) = entry else { return true };
        let raw = entry.file_name();
        if raw.to_bytes() == b"." || raw.to_bytes() == b".." {
            continue;
        }
        if *budget == 0 || depth >= 32 {
            return true;
        }
        *budget -= 1;
        let name = String::from_utf8_lossy(raw.to_bytes());
        if protected(Path::new(name.as_ref())) {
            return true;
        }
        if entry.file_type() == FileType::Directory || entry.file_type() == FileType::Unknown {
            // Not a directory after all (or a symlink): nothing beneath to move.
            if let Ok(sub) = open::subdir(dir, raw, "")
                && holds_protected(&sub, depth + 1, budget)
            {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names_in_any_case_and_spelling() {
        for p in [
            ".git/hooks/pre-commit",
            ".GIT/config",
            ".Git/hooks/x",
            "sub/.git",
            ".mcp.json",
            ".cursor/mcp.json",
            ".vscode/tasks.json",
            ".claude/settings.json",
            ".bashrc",
            "a/.zshrc",
            ".git./config",
            ".bashrc ",
            ".v\u{17F}code/tasks.json",
            ".g\u{AD}it/hooks/pre-commit",
            "GIT~1/hooks/pre-commit",
            "CLAUDE.md",
            ".github/workflows/ci.yml",
        ] {
            assert!(protected(Path::new(p)), "{p}");
        }
        for p in [
            "notes/git/x",
            "bashrc",
            "sub/ok.txt",
            ".gitignore",
            "my.git",
        ] {
            assert!(!protected(Path::new(p)), "{p}");
        }
    }
}
