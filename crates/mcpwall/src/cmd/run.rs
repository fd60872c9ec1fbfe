//! `mcpwall run`: the stdio gateway.

use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcpwall_gateway::audit::{Audit, ChainedFile, Stderr};
use mcpwall_gateway::quarantine::QuarantineStore;
use mcpwall_gateway::stdio::{self, RunConfig};
use mcpwall_gateway::{Inspector, PinStore, Settings};

use crate::cli::RunArgs;

/// How long the server may take to exit once its client has gone.
const GRACE: Duration = Duration::from_secs(3);

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some((command, rest)) = args.command.split_first() else {
        anyhow::bail!("no server command: put it after `--`");
    };
    let g = &args.gateway;
    if g.max_frame < 1024 {
        anyhow::bail!("--max-frame must be at least 1024 bytes");
    }
    let engine = Arc::new(super::engine(&g.rules.rules)?);
    let audit = audit_sink(g.audit.as_ref())?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.command
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let mut launch = (command.clone(), rest.to_vec());
    let settings = Settings {
        server: name.clone(),
        session: None,
        redact: !g.no_redact,
        audit_fail_open: g.audit_fail_open,
    };
    let mut inspector = Inspector::new(engine, settings, audit);
    if let Some(path) = &g.policy {
        let policy = super::policy::load(path)?;
        let named = policy.named_servers();
        // Rules for named servers would silently apply to none: the server's name would be
        // its whole command line.
        if args.name.is_none() && !named.is_empty() {
            anyhow::bail!(
                "{} has rules for servers by name ({}), but this server has none: give it one \
                 with --name NAME (before --)",
                path.display(),
                named
                    .iter()
                    .map(|g| format!("`{g}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(sandbox) = policy.sandbox_for(&name) {
            launch = super::sandbox::wrap(sandbox, command, rest, &[])?;
        }
        if let Some(store) = quarantine_store(&policy, g.audit.as_ref())? {
            inspector = inspector.with_quarantine_store(store);
        }
        inspector = inspector.with_policy(policy);
    }
    if !g.no_pins {
        let path = super::pins::lock_path(g.lock.clone())?;
        inspector = inspector.with_pins(PinStore::open(&path)?);
    }
    let inspector = Arc::new(inspector);
    let (command, args) = launch;
    let config = RunConfig {
        command,
        args,
        max_frame: g.max_frame,
        grace: GRACE,
        call_timeout: (g.call_timeout > 0).then(|| Duration::from_secs(g.call_timeout)),
        // Before the server starts: what it leaves behind comes to mcpwall, not to init.
        reaper: Some(Arc::new(mcpwall_sandbox::reaper::Reaper::adopt())),
    };
    let status = stdio::run(&config, inspector, io::stdin(), io::stdout())?;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Where a policy that quarantines keeps the originals: beside the audit file, in
/// `AUDIT.quarantine/`. Without an audit file only their hashes are recorded.
pub(crate) fn quarantine_store(
    policy: &mcpwall_policy::Policy,
    audit: Option<&PathBuf>,
) -> anyhow::Result<Option<Arc<QuarantineStore>>> {
    let Some(audit) = audit.filter(|_| policy.quarantines()) else {
        return Ok(None);
    };
    let mut dir = audit.clone().into_os_string();
    dir.push(".quarantine");
    let dir = PathBuf::from(dir);
    let store = QuarantineStore::open(&dir, mcpwall_gateway::quarantine::DEFAULT_MAX_BYTES)
        .with_context(|| format!("cannot open the quarantine store {}", dir.display()))?;
    Ok(Some(Arc::new(store)))
}

/// The audit trail: a hash-chained file, or standard error.
pub(crate) fn audit_sink(path: Option<&PathBuf>) -> anyhow::Result<Arc<dyn Audit>> {
    Ok(match path {
        Some(path) => Arc::new(
            ChainedFile::open(path)
                .with_context(|| format!("cannot open the audit file {}", path.display()))?,
        ),
        None => Arc::new(Stderr),
    })
}
