//! `mcpwall scan`: the MCP servers configured on this machine, checked (see `mcpwall-scan`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use mcpwall_scan::{Found, Os, Places};

use crate::Status;
use crate::cli::{ScanArgs, ScanFormat};

pub(crate) fn run(args: ScanArgs) -> anyhow::Result<Status> {
    let home = home_dir().context("cannot find the home directory (HOME is not set)")?;
    let project = match args.project {
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
    let report = mcpwall_scan::scan(&engine, &sources, path_var.as_deref());
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
