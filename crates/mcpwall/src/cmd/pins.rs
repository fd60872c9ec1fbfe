//! `mcpwall pins`: review and approve tool-definition changes.

use std::io::{self, BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use mcpwall_detect::visible;
use mcpwall_gateway::PinStore;
use mcpwall_policy::diff;

use crate::Status;
use crate::cli::{PinsArgs, PinsCommand};

pub(crate) fn run(args: PinsArgs) -> anyhow::Result<Status> {
    match args.command {
        PinsCommand::List { lock } => list(&lock_path(lock)?),
        PinsCommand::Approve {
            lock,
            server,
            tool,
            yes,
        } => approve(&lock_path(lock)?, &server, &tool, yes),
    }
}

/// `--lock`, `MCPWALL_LOCK` (through clap), or the user's state directory.
pub(crate) fn lock_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let state =
        state_dir().context("no home directory to keep the lockfile in: give --lock FILE")?;
    Ok(state.join("mcpwall.lock"))
}

/// mcpwall's directory in the user's state directory: `$XDG_STATE_HOME/mcpwall`, else
/// `~/.local/state/mcpwall`.
pub(crate) fn state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .map(|s| s.join("mcpwall"))
}

fn list(path: &std::path::Path) -> anyhow::Result<Status> {
    let lock = PinStore::open(path)?.load()?;
    let mut out = anstream::stdout();
    if lock.servers.is_empty() {
        writeln!(out, "{}: no servers pinned yet", path.display())?;
        return Ok(Status::Clean);
    }
    let mut pending = 0;
    // Names come from servers: printed so that escape sequences and bidi tricks show.
    for (server, pins) in &lock.servers {
        writeln!(
            out,
            "{}: {} tool(s) pinned",
            visible(server),
            pins.tools.len()
        )?;
        for (tool, pin) in &pins.tools {
            let mark = if pins.pending.contains_key(tool) {
                "CHANGED"
            } else {
                "pinned "
            };
            let short = pin.sha256.get(..16).unwrap_or(&pin.sha256);
            writeln!(out, "  {mark} {}  sha256:{short}", visible(tool))?;
        }
        for tool in pins.pending.keys().filter(|t| !pins.tools.contains_key(*t)) {
            writeln!(out, "  ADDED   {}", visible(tool))?;
        }
        pending += pins.pending.len();
    }
    if pending > 0 {
        writeln!(
            out,
            "\n{pending} change(s) wait for approval: mcpwall pins approve --server NAME [--tool NAME]"
        )?;
        return Ok(Status::Findings);
    }
    Ok(Status::Clean)
}

fn approve(
    path: &std::path::Path,
    server: &str,
    tools: &[String],
    yes: bool,
) -> anyhow::Result<Status> {
    let store = PinStore::open(path)?;
    let lock = store.load()?;
    let pins = lock
        .servers
        .get(server)
        .with_context(|| format!("no server `{server}` in {}", path.display()))?;
    let names: Vec<String> = if tools.is_empty() {
        pins.pending.keys().cloned().collect()
    } else {
        tools.to_vec()
    };
    if names.is_empty() {
        anyhow::bail!("server `{server}` has no changes waiting for approval");
    }
    let mut out = anstream::stdout();
    for name in &names {
        let new = pins.pending.get(name).with_context(|| {
            format!("tool `{name}` of server `{server}` has no change waiting for approval")
        })?;
        let what = format!("{}/{}", visible(server), visible(name));
        match pins.tools.get(name) {
            Some(_) => writeln!(out, "--- {what} (pinned)\n+++ {what} (now)")?,
            None => writeln!(out, "+++ {what} (new tool)")?,
        }
        let old = pins.tools.get(name).map_or("", |p| p.definition.as_str());
        for line in diff::lines(old, &new.definition).lines() {
            writeln!(out, "{}", visible(line))?;
        }
        writeln!(out)?;
    }
    if !yes {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            anyhow::bail!("not approving without a person: run it in a terminal, or pass --yes");
        }
        write!(
            out,
            "Approve {} change(s) for `{server}`? [y/N] ",
            names.len()
        )?;
        out.flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "nothing approved")?;
            return Ok(Status::Findings);
        }
    }
    // The file may have changed since it was shown: approve exactly what was shown.
    let shown: Vec<(String, String)> = names
        .iter()
        .filter_map(|n| pins.pending.get(n).map(|p| (n.clone(), p.sha256.clone())))
        .collect();
    let approved = store.update(|lock| {
        let still = lock.servers.get(server).is_some_and(|p| {
            shown
                .iter()
                .all(|(n, h)| p.pending.get(n).is_some_and(|q| &q.sha256 == h))
        });
        if !still {
            return Err(anyhow::anyhow!(
                "the pending changes changed while you were reviewing them; run the command again"
            ));
        }
        Ok(lock.approve(server, &names)?)
    })??;
    // The names are the server's: shown as they are seen elsewhere, never as terminal input.
    let shown: Vec<String> = approved.iter().map(|n| visible(n)).collect();
    writeln!(out, "approved: {}", shown.join(", "))?;
    Ok(Status::Clean)
}
