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
    let (places, home) = places(args.project.clone())?;
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

/// Where clients keep their files: this user's directories and the project (`project`, else
/// the current directory). Returns the home directory too.
pub(super) fn places(project: Option<PathBuf>) -> anyhow::Result<(Places, PathBuf)> {
    let home = home_dir().context("cannot find the home directory (HOME is not set)")?;
    let project = match project {
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
    Ok((places, home))
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
    let entries = mcpwall_scan::entries(sources);
    let store = super::pins::state_dir().map(|d| d.join("scan-approved"));
    let mut approvals = match &store {
        Some(p) => {
            Some(Approvals::load(p).with_context(|| format!("cannot read {}", p.display()))?)
        }
        None => None,
    };
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let loads_code = |e: &ServerEntry| -> Option<String> {
        let Transport::Stdio { env, .. } = &e.transport else {
            return None;
        };
        let names: Vec<&str> = env
            .keys()
            .filter(|n| mcpwall_scan::checks::code_loading_var(n))
            .map(String::as_str)
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    };
    let refused = |e: &ServerEntry| -> Option<String> {
        let Transport::Http {
            url,
            headers,
            protocol,
            ..
        } = &e.transport
        else {
            return None;
        };
        mcpwall_scan::remote::refusal(&mcpwall_scan::remote::Remote {
            url,
            headers,
            protocol: *protocol,
            fill_variables: args.header_vars,
        })
    };
    let startable = |e: &ServerEntry| match e.transport {
        Transport::Stdio { .. } => !e.disabled && loads_code(e).is_none(),
        Transport::Http { .. } => !e.disabled && refused(e).is_none(),
    };
    let known = |e: &ServerEntry| approvals.as_ref().is_some_and(|a| a.contains(e, &here));
    let unseen: Vec<&ServerEntry> = entries
        .iter()
        .copied()
        .filter(|e| startable(e) && !known(e))
        .collect();
    let sandbox = !args.no_sandbox;
    let sandbox_here = cfg!(target_os = "linux");
    // Without a sandbox here, only remote servers would be contacted: ask only about them.
    let askable = |e: &&ServerEntry| {
        sandbox_here || !sandbox || matches!(e.transport, Transport::Http { .. })
    };
    // What consent covers: everything with --yes, else what was shown and agreed to.
    let mut consented: Vec<&ServerEntry> = Vec::new();
    if args.yes {
        // What would run here: not stdio servers where there is no sandbox for them.
        consented = unseen.iter().copied().filter(askable).collect();
    } else if unseen.iter().any(askable)
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
    {
        let shown: Vec<&ServerEntry> = unseen.iter().copied().filter(askable).collect();
        if ask(engine, &shown, &here, args.header_vars)? {
            consented = shown;
        }
    }
    let allowed: BTreeSet<String> = entries
        .iter()
        .filter(|e| startable(e) && known(e))
        .chain(&consented)
        .map(|e| Approvals::key(e, &here))
        .collect();
    let decide = |e: &ServerEntry| -> Decision {
        match &e.transport {
            Transport::Http { .. } if e.disabled => {
                Decision::Skip("disabled in the client".into())
            }
            Transport::Http { .. } => match refused(e) {
                Some(why) => Decision::Skip(why),
                None if allowed.contains(&Approvals::key(e, &here)) => Decision::Start,
                None => Decision::Skip(
                    "never contacted before: run with --yes, or answer yes when asked on a terminal, to inspect it".into(),
                ),
            },
            Transport::Stdio { .. } if e.disabled => {
                Decision::Skip("disabled in the client".into())
            }
            Transport::Stdio { .. } if sandbox && !sandbox_here => Decision::Skip(
                "no sandbox on this system (Linux only): --no-sandbox starts servers unconfined"
                    .into(),
            ),
            Transport::Stdio { .. } if loads_code(e).is_some() => Decision::Skip(format!(
                "its environment sets {}, which would load code before any sandbox: not started",
                loads_code(e).unwrap_or_default()
            )),
            Transport::Stdio { .. } => {
                if allowed.contains(&Approvals::key(e, &here)) {
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
        // Found on this process's PATH, not one the configuration sets.
        let start = cwd.as_ref().map_or_else(|| here.clone(), PathBuf::from);
        let program = resolve(Path::new(command), &start)
            .ok_or_else(|| format!("{command}: no such program"))?;
        let direct = Spawn {
            program: program.into(),
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
            let _ = write!(err, "\r{}", bar(done, total));
            if done == total {
                // The bar is gone once the report is there.
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = err.flush();
        }
    };
    if tty && !entries.is_empty() {
        let total = entries
            .iter()
            .filter(|e| decide(e) == Decision::Start)
            .count();
        if total > 0 {
            let _ = write!(std::io::stderr().lock(), "\r{}", bar(0, total));
        }
    }
    let starter = Starter {
        timeout: Duration::from_secs(args.timeout),
        parallel: 8,
        spawn: &spawn,
        progress: &progress,
        header_variables: args.header_vars,
    };
    // What a server starts in a session of its own leaves its process group: it comes to
    // this process instead, and is ended once every server is.
    let reaper = mcpwall_sandbox::reaper::Reaper::adopt();
    let listings = mcpwall_scan::inspect_servers(engine, report, sources, &decide, &starter);
    let left = reaper.sweep();
    if left > 0 {
        let _ = writeln!(
            std::io::stderr().lock(),
            "mcpwall scan: stopped {left} process(es) that servers left running in sessions of their own"
        );
    }
    for dir in scratch.into_inner().unwrap_or_default() {
        let _ = std::fs::remove_dir_all(dir);
    }
    compare_pins(report, &entries, &listings, args)?;
    // Remember what was started with consent, so the next scan does not ask again.
    if let (Some(a), Some(path)) = (approvals.as_mut(), &store)
        && !consented.is_empty()
    {
        for e in &consented {
            a.add(e, &here);
        }
        a.save()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// A progress bar: `mcpwall scan [#######.............] 7/20 servers`.
fn bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 24;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    format!(
        "mcpwall scan [{}{}] {done}/{total} servers",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    )
}

/// The listed servers' tools against the gateway's pins (by the name the client gives each
/// server, the name `mcpwall run --name` takes); with `--update-pins`, the pins recorded anew.
fn compare_pins(
    report: &mut Report,
    entries: &[&ServerEntry],
    listings: &[Option<mcpwall_scan::introspect::Listing>],
    args: &ScanArgs,
) -> anyhow::Result<()> {
    if listings.iter().all(Option::is_none) {
        return Ok(());
    }
    let path = super::pins::lock_path(args.lock.clone())?;
    let store = mcpwall_gateway::PinStore::open(&path)?;
    let lock = store.load()?;
    for (i, listing) in listings.iter().enumerate() {
        let Some(l) = listing else { continue };
        let (state, issues) = mcpwall_scan::pins::diff(&lock, &entries[i].name, &l.tools);
        let srv = &mut report.servers[i];
        if let Some(inspection) = srv.inspection.as_mut() {
            inspection.pins = Some(state.as_str());
        }
        srv.issues.extend(issues);
    }
    if args.update_pins {
        // As the gateway would: first sight pinned, changes recorded for `pins approve`.
        let mut recorded = vec![None; listings.len()];
        store.update(|lock| {
            for (i, listing) in listings.iter().enumerate() {
                if let Some(l) = listing {
                    recorded[i] =
                        Some(mcpwall_scan::pins::record(lock, &entries[i].name, &l.tools));
                }
            }
        })?;
        for (srv, r) in report.servers.iter_mut().zip(recorded) {
            if let (Some(inspection), Some(r)) = (srv.inspection.as_mut(), r) {
                inspection.pins = Some(r.as_str());
            }
        }
    }
    report.finish();
    Ok(())
}

/// Asks on the terminal whether to start (or contact) servers never inspected before. What is shown is
/// redacted and has its control characters made visible (a name or argument could otherwise
/// rewrite the lines above the question).
fn ask(
    engine: &Engine,
    unseen: &[&ServerEntry],
    here: &Path,
    fill_variables: bool,
) -> anyhow::Result<bool> {
    let show =
        |t: &str| mcpwall_detect::visible(&engine.redact(mcpwall_detect::Surface::Config, t).text);
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "mcpwall scan will start these servers (in the sandbox) or connect to them, to list what they offer, then stop:"
    )?;
    for e in unseen {
        if let Transport::Http {
            url, header_names, ..
        } = &e.transport
        {
            writeln!(err, "  {}: connect to {}", show(&e.name), show(url))?;
            if !header_names.is_empty() {
                writeln!(
                    err,
                    "      sending the headers {}",
                    show(&header_names.join(", "))
                )?;
            }
            if let Transport::Http { headers, .. } = &e.transport {
                for (h, vars) in mcpwall_scan::remote::header_variables(headers) {
                    let how = if fill_variables {
                        "filled in from"
                    } else {
                        "not sent (--header-vars fills it in from)"
                    };
                    writeln!(err, "      {} {how} {}", show(&h), show(&vars.join(", ")))?;
                }
            }
        }
        if let Transport::Stdio {
            command,
            args,
            env_names,
            cwd,
            ..
        } = &e.transport
        {
            writeln!(
                err,
                "  {}: {} {}",
                show(&e.name),
                show(command),
                show(&args.join(" "))
            )?;
            let dir = cwd.clone().unwrap_or_else(|| here.display().to_string());
            writeln!(err, "      in {}", show(&dir))?;
            if !env_names.is_empty() {
                writeln!(err, "      with {}", show(&env_names.join(", ")))?;
            }
        }
    }
    write!(err, "Go on? [y/N] ")?;
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
/// installation, to what its arguments name and to its working directory, each only where
/// that grants no more than it needs (never `/`, the home directory or a directory above it,
/// a hidden directory of the home but runtimes' own, or system directories with secrets);
/// read-write to `tmp`, its own temporary directory, which also holds its package caches
/// (`npx` and `uvx` download there: the user's own caches, which the client later runs from,
/// stay out of reach); network allowed (package downloads; servers that call an API as they
/// start); its variables passed on.
fn sandboxed(exe: &Path, mut s: Spawn, home: &Path, tmp: &Path) -> Spawn {
    let mut ro: BTreeSet<PathBuf> = BTreeSet::new();
    let mut grant = |p: &Path| {
        if let Ok(real) = std::fs::canonicalize(p)
            && readable(&real, home)
        {
            ro.insert(real);
            return true;
        }
        false
    };
    let program = PathBuf::from(&s.program);
    // The directory above `bin/` (a virtual environment, a Node installation), for the path
    // as written and for where it leads, and the same for the interpreter a script names
    // (a console script of a virtual environment, whose Python is elsewhere); else the
    // program alone.
    let mut programs = vec![program.clone()];
    programs.extend(interpreter(&program));
    let mut roots = Vec::new();
    for p in programs.iter().flat_map(|p| {
        [
            p.clone(),
            std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()),
        ]
    }) {
        if let Some(dir) = p.parent() {
            let top = if dir.file_name().is_some_and(|n| n == "bin") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            roots.push((top.to_owned(), p.clone()));
        }
    }
    for (top, file) in roots {
        if !grant(&top) {
            grant(&file);
        }
    }
    for a in &s.args {
        let p = Path::new(a);
        let p = if p.is_absolute() {
            p.to_owned()
        } else {
            s.cwd.clone().unwrap_or_default().join(p)
        };
        // A package inside a `node_modules` tree finds its dependencies up that tree: the
        // outermost `node_modules` is granted.
        if let Some(n) = p
            .ancestors()
            .filter(|a| a.file_name().is_some_and(|n| n == "node_modules"))
            .last()
            && grant(n)
        {
            continue;
        }
        // A directory named, or the directory of a file named (a script's modules sit beside
        // it), or else the file alone.
        let granted = if p.is_dir() {
            grant(&p)
        } else {
            p.is_file() && p.parent().is_some_and(&mut grant)
        };
        if !granted && p.is_file() {
            grant(&p);
        }
    }
    if let Some(cwd) = s.cwd.clone() {
        grant(&cwd);
    }
    ro.retain(|p| !p.starts_with(tmp));
    for (var, sub) in [
        ("TMPDIR", ""),
        ("TMP", ""),
        ("TEMP", ""),
        ("npm_config_cache", "npm"),
        ("XDG_CACHE_HOME", "cache"),
        ("UV_CACHE_DIR", "uv-cache"),
        ("UV_TOOL_DIR", "uv-tools"),
        ("BUN_INSTALL_CACHE_DIR", "bun"),
    ] {
        s.env
            .insert(var.to_owned(), tmp.join(sub).display().to_string());
    }
    let mut args: Vec<OsString> = vec!["sandbox".into(), "--net".into(), "allow".into()];
    for p in &ro {
        args.push("--ro".into());
        args.push(p.into());
    }
    args.push("--rw".into());
    args.push(tmp.into());
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

/// The interpreter a script names on its first line (`#!/path/to/python` or
/// `#!/usr/bin/env node`), if it is a script.
fn interpreter(script: &Path) -> Option<PathBuf> {
    use std::io::Read as _;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(script).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n')?];
    let mut words = std::str::from_utf8(line).ok()?.split_whitespace();
    let first = PathBuf::from(words.next()?);
    if first.file_name().is_some_and(|n| n == "env") {
        let name = words.find(|w| !w.starts_with('-'))?;
        return resolve(Path::new(name), Path::new("/"));
    }
    // Only a program that is there: a line naming a directory grants nothing.
    first.is_file().then_some(first)
}

/// Whether the sandbox may give a server read access to `p` (a real path): not the whole
/// system, not the home directory or what holds it, not the home's hidden directories
/// (credentials, settings) but those runtimes install into, not system directories that hold
/// secrets.
fn readable(p: &Path, home: &Path) -> bool {
    const RUNTIMES: &[&str] = &[
        ".nvm",
        ".volta",
        ".bun",
        ".deno",
        // Its programs only: ~/.cargo also holds credentials.toml, the registry token.
        ".cargo/bin",
        ".rustup",
        ".pyenv",
        ".rbenv",
        ".asdf",
        ".npm-global",
        ".local/share/uv",
        ".local/share/pnpm",
        ".local/share/fnm",
        ".local/bin",
        ".local/lib",
    ];
    if p == Path::new("/") || home.starts_with(p) {
        return false;
    }
    let in_runtime = |rel: &Path| RUNTIMES.iter().any(|r| rel.starts_with(r));
    if let Ok(rel) = p.strip_prefix(home) {
        let hidden = rel
            .components()
            .next()
            .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        return !hidden || in_runtime(rel);
    }
    // Inside another home directory (/root, /home/NAME, /Users/NAME): its runtimes only.
    for (top, depth) in [("/root", 0), ("/home", 1), ("/Users", 1)] {
        if let Ok(rel) = p.strip_prefix(top) {
            let rel: PathBuf = rel.components().skip(depth).collect();
            return in_runtime(&rel);
        }
    }
    ![
        "/etc", "/proc", "/sys", "/dev", "/run", "/var", "/boot", "/tmp",
    ]
    .iter()
    .any(|d| p.starts_with(d))
}

/// A program as the system would find it, from `start` (where it starts) and this process's
/// `PATH`: a path as it is, a bare name on `PATH`.
fn resolve(program: &Path, start: &Path) -> Option<PathBuf> {
    if program.is_absolute() {
        return program.is_file().then(|| program.to_owned());
    }
    if program.components().count() > 1 {
        let p = start.join(program);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_sandbox_may_read() {
        let home = Path::new("/home/me");
        for (p, ok) in [
            ("/", false),
            ("/home", false),
            ("/home/me", false),
            ("/home/me/.ssh", false),
            ("/home/me/.config/gh", false),
            ("/home/me/.nvm/versions/node/v20", true),
            ("/home/me/.local/share/uv/tools/x", true),
            ("/home/me/projects/app", true),
            // Cargo's programs, not its directory (credentials.toml holds the registry token).
            ("/home/me/.cargo/bin", true),
            ("/home/me/.cargo", false),
            ("/root/.cargo/bin/server", true),
            ("/home/other/app", false),
            ("/etc", false),
            ("/etc/ssl", false),
            ("/root/.pyenv/versions/3.11.7", true),
            ("/root/.ssh", false),
            ("/root", false),
            ("/home/other/.nvm/x", true),
            ("/usr/lib/node_modules/x", true),
            ("/opt/servers/x", true),
        ] {
            assert_eq!(readable(Path::new(p), home), ok, "{p}");
        }
    }

    #[test]
    fn interpreters_of_scripts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let w = |name: &str, text: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        let python = w("python3", b"");
        assert_eq!(
            interpreter(&w(
                "a",
                format!("#!{}\nimport x\n", python.display()).as_bytes()
            )),
            Some(python)
        );
        assert_eq!(interpreter(&w("f", b"#!/opt/none/python3\n")), None);
        assert_eq!(interpreter(&w("g", b"#!/tmp\n")), None);
        assert_eq!(
            interpreter(&w("b", b"#! /bin/sh -e\n")),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(interpreter(&w("c", b"\x7fELF\x02\x01")), None);
        assert_eq!(interpreter(&w("d", b"#!/no/newline")), None);
        assert_eq!(interpreter(&dir.path().join("missing")), None);
        // `env NAME`: NAME as PATH finds it.
        let sh = interpreter(&w("e", b"#!/usr/bin/env -S sh\n")).expect("sh on PATH");
        assert!(sh.ends_with("sh"), "{}", sh.display());
    }

    #[test]
    fn the_progress_bar_fills() {
        assert_eq!(
            bar(0, 4),
            "mcpwall scan [........................] 0/4 servers"
        );
        assert_eq!(
            bar(1, 4),
            "mcpwall scan [######..................] 1/4 servers"
        );
        assert_eq!(
            bar(4, 4),
            "mcpwall scan [########################] 4/4 servers"
        );
        assert_eq!(bar(0, 0).len(), bar(1, 1).len());
    }
}
