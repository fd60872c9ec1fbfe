//! `mcpwall scan`: the MCP servers configured on this machine, checked (see `mcpwall-scan`).

use std::io::Write as _;
use std::path::PathBuf;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mcpwall_detect::Engine;
use mcpwall_scan::approvals::Approvals;
use mcpwall_scan::introspect::Spawn;
use mcpwall_scan::{Decision, Found, Os, Places, Report, ServerEntry, Source, Starter, Transport};

use crate::Status;
use crate::cli::{ScanArgs, ScanFormat};

pub(crate) fn run(args: ScanArgs) -> anyhow::Result<Status> {
    let home = home_dir().context("cannot find the home directory (HOME is not set)")?;
    let project = match args.project.clone() {
        Some(p) => Some(p),
        None => std::env::current_dir().ok(),
    };
    let places = Places {
        os: Os::current(),
        home: home.clone(),
        appdata: std::env::var_os("APPDATA").map(PathBuf::from),
        xdg_config: std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute()),
        project,
    };
    // Files named on the command line replace discovery, unless it is asked for too.
    let discover = args.configs.is_empty() || args.discover || !args.clients.is_empty();
    let mut sources = if discover {
        mcpwall_scan::discover(&places, &args.clients)
    } else {
        Vec::new()
    };
    sources.extend(mcpwall_scan::discover_files(&args.configs));
    for s in sources.iter().filter(|s| s.location.scope == "given") {
        if let Found::Error(e) = &s.found {
            bail!("{}: {e}", s.location.path.display());
        }
    }
    let engine = super::engine(&[])?;
    let path_var = std::env::var("PATH").ok();
    let mut report = mcpwall_scan::scan(&engine, &sources, path_var.as_deref());
    if !args.offline && !args.list {
        inspect(&engine, &mut report, &sources, &args, &home)?;
    }
    if args.list {
        let mut out = std::io::stdout().lock();
        out.write_all(mcpwall_scan::report::render_list(&report, Some(&home)).as_bytes())?;
        return Ok(Status::Clean);
    }
    match args.format {
        ScanFormat::Text => {
            let mut out = anstream::stdout().lock();
            out.write_all(
                mcpwall_scan::report::render_text(&report, Some(&home), true).as_bytes(),
            )?;
        }
        ScanFormat::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ScanFormat::Sarif => {
            let sarif = mcpwall_scan::report::render_sarif(&report, env!("CARGO_PKG_VERSION"));
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &sarif)?;
            writeln!(out)?;
        }
    }
    Ok(match report.max_severity() {
        Some(s) if s >= args.fail_on => Status::Findings,
        _ => Status::Clean,
    })
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// Starts the servers allowed to start and adds what their definitions show to the report.
fn inspect(
    engine: &Engine,
    report: &mut Report,
    sources: &[Source],
    args: &ScanArgs,
    home: &Path,
) -> anyhow::Result<()> {
    let entries: Vec<&ServerEntry> = sources
        .iter()
        .filter_map(|s| match &s.found {
            Found::Servers(e) => Some(e),
            _ => None,
        })
        .flatten()
        .collect();
    let store = super::pins::state_dir().map(|d| d.join("scan-approved"));
    let mut approvals = match &store {
        Some(p) => {
            Some(Approvals::load(p).with_context(|| format!("cannot read {}", p.display()))?)
        }
        None => None,
    };
    let startable = |e: &ServerEntry| matches!(e.transport, Transport::Stdio { .. }) && !e.disabled;
    let known = |e: &ServerEntry| approvals.as_ref().is_some_and(|a| a.contains(e));
    let unseen: Vec<&ServerEntry> = entries
        .iter()
        .copied()
        .filter(|e| startable(e) && !known(e))
        .collect();
    let mut agreed = args.yes;
    if !agreed
        && !unseen.is_empty()
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
    {
        agreed = ask(&unseen)?;
    }
    let allowed: BTreeSet<String> = entries
        .iter()
        .filter(|e| startable(e) && (agreed || known(e)))
        .filter_map(|e| Approvals::key(e))
        .collect();
    let decide = |e: &ServerEntry| -> Decision {
        match &e.transport {
            Transport::Http { .. } => Decision::Skip(
                "remote servers are not contacted yet (configuration checked)".into(),
            ),
            Transport::Stdio { .. } if e.disabled => {
                Decision::Skip("disabled in the client".into())
            }
            Transport::Stdio { .. } => {
                if Approvals::key(e).is_some_and(|k| allowed.contains(&k)) {
                    Decision::Start
                } else {
                    Decision::Skip(
                        "never started before: run with --yes, or answer yes when asked on a terminal, to inspect it".into(),
                    )
                }
            }
        }
    };
    let exe = std::env::current_exe().context("cannot find the mcpwall binary for the sandbox")?;
    let sandbox = !args.no_sandbox;
    // Each sandboxed server gets a temporary directory of its own (not the shared one, where
    // other programs' files are), removed at the end.
    let scratch = std::sync::Mutex::new(Vec::<PathBuf>::new());
    let spawn = |e: &ServerEntry| -> Result<Spawn, String> {
        let Transport::Stdio {
            command,
            args,
            env,
            cwd,
            ..
        } = &e.transport
        else {
            return Err("not a stdio server".into());
        };
        let direct = Spawn {
            program: command.into(),
            args: args.iter().map(OsString::from).collect(),
            env: env.clone(),
            cwd: cwd.as_ref().map(PathBuf::from),
        };
        if !sandbox {
            return Ok(direct);
        }
        let tmp =
            private_temp_dir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        if let Ok(mut list) = scratch.lock() {
            list.push(tmp.clone());
        }
        Ok(sandboxed(&exe, direct, home, &tmp))
    };
    let tty = std::io::stderr().is_terminal();
    let progress = |done: usize, total: usize| {
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rmcpwall scan: inspecting servers {done}/{total}");
            if done == total {
                let _ = writeln!(err);
            }
        }
    };
    let starter = Starter {
        timeout: Duration::from_secs(args.timeout),
        parallel: 8,
        spawn: &spawn,
        progress: &progress,
    };
    mcpwall_scan::inspect_servers(engine, report, sources, &decide, &starter);
    for dir in scratch.into_inner().unwrap_or_default() {
        let _ = std::fs::remove_dir_all(dir);
    }
    // Remember what was started with consent, so the next scan does not ask again.
    if let (Some(a), Some(path)) = (approvals.as_mut(), &store)
        && agreed
    {
        for e in &unseen {
            a.add(e);
        }
        a.save()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Asks on the terminal whether to start servers never started before.
fn ask(unseen: &[&ServerEntry]) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "mcpwall scan will start these servers to list what they offer (in the sandbox, then stopped):"
    )?;
    for e in unseen {
        if let Transport::Stdio { command, args, .. } = &e.transport {
            writeln!(err, "  {}: {} {}", e.name, command, args.join(" "))?;
        }
    }
    write!(err, "Start them? [y/N] ")?;
    err.flush()?;
    drop(err);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// A new directory in the temporary directory, for one server.
fn private_temp_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("mcpwall-scan-{}-{n}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        match b.create(&dir) {
            Ok(()) => return std::fs::canonicalize(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// The command line that starts `s` in `mcpwall sandbox`: read-only access to the program's
/// installation, to files and directories named in its arguments and to its working
/// directory; read-write to the package caches (`npx` and `uvx` download into them) and to
/// `tmp`, its own temporary directory (TMPDIR); network allowed (package downloads; a server
/// that talks to an API); its variables passed on.
fn sandboxed(exe: &Path, mut s: Spawn, home: &Path, tmp: &Path) -> Spawn {
    let mut ro: BTreeSet<PathBuf> = BTreeSet::new();
    let mut add_ro = |p: &Path| {
        if let Ok(real) = std::fs::canonicalize(p) {
            ro.insert(real);
        }
    };
    if let Some(program) = resolve(Path::new(&s.program)) {
        // The directory above `bin/` (a virtual environment, a Node installation), for the
        // path as written and for where it leads.
        for p in [
            program.clone(),
            std::fs::canonicalize(&program).unwrap_or(program),
        ] {
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let top = if dir.file_name().is_some_and(|n| n == "bin") {
                dir.parent().map(Path::to_path_buf).unwrap_or(dir)
            } else {
                dir
            };
            if top != Path::new("/") && top != Path::new("/usr") {
                add_ro(&top);
            }
        }
    }
    for a in &s.args {
        let p = Path::new(a);
        if p.is_absolute() && p.exists() {
            add_ro(if p.is_dir() {
                p
            } else {
                p.parent().unwrap_or(p)
            });
        }
    }
    if let Some(cwd) = &s.cwd {
        add_ro(cwd);
    }
    let mut rw: BTreeSet<PathBuf> = BTreeSet::new();
    for cache in [".npm", ".cache", ".local/share/uv", ".bun"] {
        if let Ok(real) = std::fs::canonicalize(home.join(cache)) {
            rw.insert(real);
        }
    }
    rw.insert(tmp.to_owned());
    for var in ["TMPDIR", "TMP", "TEMP"] {
        s.env.insert(var.to_owned(), tmp.display().to_string());
    }
    // A tree both read-only and writable is given as writable only.
    ro.retain(|p| !rw.iter().any(|w| p.starts_with(w)));
    let mut args: Vec<OsString> = vec!["sandbox".into(), "--net".into(), "allow".into()];
    for (flag, set) in [("--ro", &ro), ("--rw", &rw)] {
        for p in set {
            args.push(flag.into());
            args.push(p.into());
        }
    }
    for name in s.env.keys() {
        args.push("--env".into());
        args.push(name.into());
    }
    args.push("--".into());
    args.push(s.program);
    args.extend(s.args);
    Spawn {
        program: exe.into(),
        args,
        env: s.env,
        cwd: s.cwd,
    }
}

/// A program as the system would find it: a path as it is, a bare name on `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
