//! `mcpwall install` and `mcpwall uninstall`: client configurations rewritten so that each
//! stdio server starts through `mcpwall run`, and back (see `mcpwall_scan::install`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mcpwall_scan::Found;
use mcpwall_scan::config::Format;
use mcpwall_scan::install::{self, Rewrite};

use crate::Status;
use crate::cli::InstallArgs;

pub(crate) fn run(args: InstallArgs, undo: bool) -> anyhow::Result<Status> {
    let (places, _home) = super::scan::places(args.project.clone())?;
    let discover = args.configs.is_empty() || !args.clients.is_empty();
    let mut sources = if discover {
        mcpwall_scan::discover(&places, &args.clients)
    } else {
        Vec::new()
    };
    sources.extend(mcpwall_scan::discover_files(&args.configs));
    let exe = mcpwall_path()?;
    // Named on the line of a server whose environment would choose another lockfile: this
    // user's, as `mcpwall run` started from this shell would find it.
    let lock = super::pins::lock_path(std::env::var_os("MCPWALL_LOCK").map(PathBuf::from))
        .ok()
        .and_then(|p| std::path::absolute(p).ok())
        .and_then(|p| p.to_str().map(str::to_owned));
    // The diffs show unchanged lines around each change: credentials there are redacted.
    let engine = super::engine(&[])?;
    let mut out = anstream::stdout().lock();
    let mut failed = false;
    let (mut servers, mut files) = (0, 0);
    let mut done = std::collections::BTreeSet::new();
    for src in &sources {
        let path = &src.location.path;
        match &src.found {
            Found::Servers(s) if !s.is_empty() => {}
            Found::Error(e) => {
                writeln!(out, "{}: not read: {e}", path.display())?;
                failed |= src.location.scope == "given";
                continue;
            }
            _ => continue,
        }
        // A file named twice (discovered and given) is changed once.
        if !done.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
            continue;
        }
        match one_file(
            path,
            undo,
            &exe,
            lock.as_deref(),
            args.dry_run,
            &engine,
            &mut out,
        ) {
            Ok(n) => {
                if n > 0 {
                    servers += n;
                    files += 1;
                }
            }
            Err(e) => {
                writeln!(out, "{}: {e:#}", path.display())?;
                // A format not rewritten yet is a note; a file that cannot be read or written
                // is a failure.
                failed |= !matches!(
                    e.downcast_ref::<install::InstallError>(),
                    Some(install::InstallError::Unsupported(_))
                );
            }
        }
    }
    let what = if undo {
        "start directly again"
    } else {
        "start through `mcpwall run`"
    };
    if args.dry_run {
        writeln!(
            out,
            "dry run: {servers} server(s) in {files} file(s) would {what}; nothing written"
        )?;
    } else {
        writeln!(out, "{servers} server(s) in {files} file(s) now {what}")?;
        if !undo && files > 0 {
            writeln!(
                out,
                "each file as it was is kept in {} (the owner's alone); restart the clients to use the change; `mcpwall uninstall` undoes it",
                super::pins::state_dir()
                    .map(|d| d.join("backups").display().to_string())
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(if failed { Status::Error } else { Status::Clean })
}

/// Rewrites one file (or shows how, with `dry_run`); returns the servers changed.
fn one_file(
    path: &Path,
    undo: bool,
    exe: &str,
    lock: Option<&str>,
    dry_run: bool,
    engine: &mcpwall_detect::Engine,
    out: &mut impl std::io::Write,
) -> anyhow::Result<usize> {
    // A symlink (a dotfiles repository's) would be replaced by a file: its target is what to
    // change, by name.
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        bail!(
            "a symbolic link: not changed (give its target with --config {})",
            std::fs::canonicalize(path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "TARGET".into())
        );
    }
    let old = std::fs::read_to_string(path)?;
    let format = Format::of(path);
    let r: Rewrite = if undo {
        install::unwrap(&old, format)?
    } else {
        install::wrap(&old, format, exe, lock)?
    };
    for (name, why) in &r.left {
        writeln!(
            out,
            "{}: {}: left as it is: {why}",
            path.display(),
            mcpwall_detect::visible(name)
        )?;
    }
    if r.changed.is_empty() {
        return Ok(0);
    }
    if !dry_run {
        if !undo {
            let kept = backup(path, &old)?;
            writeln!(out, "{}: as it was: {}", path.display(), kept.display())?;
        }
        write_whole(path, &r.text, &old)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let diff = mcpwall_policy::diff::lines(&old, &r.text);
    let diff = engine.redact(mcpwall_detect::Surface::Config, &diff).text;
    writeln!(out, "--- {}", path.display())?;
    writeln!(
        out,
        "+++ {} ({})",
        path.display(),
        if dry_run { "as it would be" } else { "changed" }
    )?;
    writeln!(out, "{}", mcpwall_detect::visible(&diff))?;
    Ok(r.changed.len())
}

/// The path clients will start mcpwall by: the one on `PATH` when it is this binary (a
/// package manager's stable link, not the versioned file it points at today), else this
/// binary's own path.
fn mcpwall_path() -> anyhow::Result<String> {
    let exe = std::env::current_exe()
        .context("cannot find the mcpwall binary, to start the servers through it")?;
    let real = std::fs::canonicalize(&exe).unwrap_or_else(|_| exe.clone());
    let name = if cfg!(windows) {
        "mcpwall.exe"
    } else {
        "mcpwall"
    };
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .filter(|c| c.is_absolute())
            .find(|c| std::fs::canonicalize(c).is_ok_and(|r| r == real))
    });
    let chosen = on_path.unwrap_or(exe);
    chosen
        .to_str()
        .map(str::to_owned)
        .context("the mcpwall binary's path is not UTF-8")
}

/// Keeps the file as it was before this install changed it, in mcpwall's state directory
/// (`backups/`, the owner's alone): never beside it, where a project's copy (of a file the
/// repository ignores, credentials and all) could be committed, and never over an earlier
/// backup (the first holds the file as it was before mcpwall ever touched it). Named by the
/// file's path and the time; returns where it went.
fn backup(path: &Path, old: &str) -> anyhow::Result<PathBuf> {
    let dir = super::pins::state_dir()
        .context("no home directory to keep a backup in (set HOME or XDG_STATE_HOME): not changed")?
        .join("backups");
    private_dir(&dir)?;
    let stem = backup_stem(path);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for k in 1..100 {
        let name = if k == 1 {
            format!("{stem}.{secs}")
        } else {
            format!("{stem}.{secs}-{k}")
        };
        let backup = dir.join(name);
        match write_new(&backup, old) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot keep a backup at {}", backup.display()));
            }
        }
    }
    bail!(
        "too many backups of this file in {} this second",
        dir.display()
    )
}

/// The file's absolute path as one name (`%2F` for each `/`), or, when that is too long for
/// a file name, its own name after a hash of the whole path.
fn backup_stem(path: &Path) -> String {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let full = dir
        .and_then(|d| std::fs::canonicalize(d).ok())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
        .join(path.file_name().unwrap_or_default());
    let full = full.to_string_lossy();
    let encoded = full.replace('%', "%25").replace('/', "%2F");
    if encoded.len() <= 180 {
        return encoded;
    }
    let own: String = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .chars()
        .take(100)
        .collect();
    format!(
        "{}-{own}",
        &mcpwall_policy::sha256_hex(full.as_bytes())[..16]
    )
}

/// Creates `dir` (and its parents) for the owner alone; one that exists must be a directory,
/// not a link, and is made the owner's alone.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory: no backup kept, not changed",
            dir.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Writes a new file (O_EXCL: nothing that exists, a planted link included, is written
/// through), the owner's alone, whole or not at all.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Replaces the file whole, keeping its permissions, unless it changed since it was read as
/// `old` (a client writing it meanwhile: nothing of its is lost).
fn write_whole(path: &Path, text: &str, old: &str) -> anyhow::Result<()> {
    if std::fs::read_to_string(path)? != old {
        bail!("it changed while being rewritten (a client writing it?): run again");
    }
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        Some(std::fs::metadata(path)?.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = None;
    replace(path, text, mode)?;
    Ok(())
}

/// Writes `text` to a new temporary file beside `path`, created with `mode` (no moment at
/// which others may read it), and renames it over `path`: a crash leaves the old file or the
/// new one.
fn replace(path: &Path, text: &str, mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".mcpwall-{}.tmp", std::process::id()));
    let tmp = dir.join(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode.unwrap_or(0o600));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = opts.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let result = result.and_then(|()| {
        // The mode asked for, whatever the umask took from it.
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m))?;
        }
        std::fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
