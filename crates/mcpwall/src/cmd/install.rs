//! `mcpwall install` and `mcpwall uninstall`: client configurations rewritten so that each
//! stdio server starts through `mcpwall run`, and back (see `mcpwall_scan::install`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
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
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("cannot find the mcpwall binary, to start the servers through it")?;
    let exe = exe
        .to_str()
        .context("the mcpwall binary's path is not UTF-8")?
        .to_owned();
    // The diffs show unchanged lines around each change: credentials there are redacted.
    let engine = super::engine(&[])?;
    let mut out = anstream::stdout().lock();
    let mut failed = false;
    let (mut servers, mut files) = (0, 0);
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
        let result = rewrite(path, undo, &exe);
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                writeln!(out, "{}: {e:#}", path.display())?;
                // A format not rewritten yet is a note; a file that cannot be read is a failure.
                failed |= !matches!(
                    e.downcast_ref::<install::InstallError>(),
                    Some(install::InstallError::Format(_))
                );
                continue;
            }
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
            continue;
        }
        let old = std::fs::read_to_string(path)?;
        writeln!(out, "--- {}", path.display())?;
        writeln!(
            out,
            "+++ {} ({})",
            path.display(),
            if args.dry_run {
                "as it would be"
            } else {
                "now"
            }
        )?;
        let diff = mcpwall_policy::diff::lines(&old, &r.text);
        let diff = engine.redact(mcpwall_detect::Surface::Config, &diff).text;
        writeln!(out, "{}", mcpwall_detect::visible(&diff))?;
        if !args.dry_run {
            if !undo {
                backup(path)?;
            }
            write_whole(path, &r.text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        servers += r.changed.len();
        files += 1;
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
                "the files as they were are kept beside them (*.mcpwall-backup); restart the clients to use the change; `mcpwall uninstall` undoes it"
            )?;
        }
    }
    Ok(if failed { Status::Error } else { Status::Clean })
}

/// The file rewritten (not written).
fn rewrite(path: &Path, undo: bool, exe: &str) -> anyhow::Result<Rewrite> {
    let text = std::fs::read_to_string(path)?;
    let format = Format::of(path);
    Ok(if undo {
        install::unwrap(&text, format)?
    } else {
        install::wrap(&text, format, exe)?
    })
}

/// `FILE.mcpwall-backup`, once: the file as it was before mcpwall first changed it.
fn backup(path: &Path) -> anyhow::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".mcpwall-backup");
    let backup = PathBuf::from(name);
    if !backup.exists() {
        std::fs::copy(path, &backup)
            .with_context(|| format!("cannot keep a backup at {}", backup.display()))?;
    }
    Ok(())
}

/// Replaces the file whole (a temporary file beside it, renamed over it), keeping its
/// permissions: a crash leaves the old file or the new one.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".mcpwall-{}.tmp", std::process::id()));
    let tmp = dir.join(name);
    let perms = std::fs::metadata(path)?.permissions();
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::set_permissions(&tmp, perms)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
