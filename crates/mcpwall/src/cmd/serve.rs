//! `mcpwall serve`: the Streamable HTTP gateway, from a configuration file or the built-in
//! demo.

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcpwall_gateway::http::{
    self, InspectorTemplate, RemoteTransport, RemoteUpstream, ServeOptions, Upstream,
};
use mcpwall_policy::Policy;
use serde::Deserialize;

use crate::cli::ServeArgs;

/// The configuration file (see docs/serve.example.toml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: Option<SocketAddr>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    /// The environment variable that holds the bearer token (a token is not written in a
    /// file that may be shared or committed).
    token_env: Option<String>,
    /// HTTPS: the certificate chain and its private key, PEM files.
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_sessions: Option<usize>,
    /// Restarts in a row of a session's stdio server that keeps exiting; 0: none.
    max_restarts: Option<u32>,
    /// Seconds.
    idle_timeout: Option<u64>,
    policy: Option<PathBuf>,
    lock: Option<PathBuf>,
    audit: Option<PathBuf>,
    #[serde(default, rename = "upstream")]
    upstreams: Vec<UpstreamConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamConfig {
    name: String,
    /// A stdio server: its command and arguments.
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    /// Or a remote server: its Streamable HTTP URL.
    url: Option<String>,
    /// How the remote server speaks: "streamable-http" (the default) or "sse" (the HTTP+SSE
    /// transport of protocol 2024-11-05; `url` is then its stream's).
    transport: Option<TransportName>,
    /// Headers for the remote server, each from an environment variable (a credential is not
    /// written in a file that may be shared): `{ Authorization = "NOTES_AUTH" }`.
    #[serde(default)]
    headers_env: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum TransportName {
    StreamableHttp,
    Sse,
}

/// Names are paths (`/mcp/NAME`) and lockfile keys: plain ones only.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name != "."
        && name != ".."
        // `__` separates a server's name from its tools' on the aggregated endpoint: a name
        // that holds it, or ends with `_` (`a_` + `__` + `x` reads as `a` + `__` + `_x`), would
        // let one server's names pass for another's.
        && !name.contains("__")
        && !name.ends_with('_')
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration {}", path.display()))?;
    let config: Config = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid configuration", path.display()))?;
    if config.upstreams.is_empty() {
        anyhow::bail!(
            "{}: no [[upstream]]: name at least one server to serve",
            path.display()
        );
    }
    let mut seen = std::collections::HashSet::new();
    for u in &config.upstreams {
        if !valid_name(&u.name) {
            anyhow::bail!(
                "{}: upstream name {:?}: use 1 to 64 letters, digits, '-', '_' or '.' (not \
                 \"__\")",
                path.display(),
                u.name
            );
        }
        if !seen.insert(u.name.as_str()) {
            anyhow::bail!("{}: two upstreams are named {:?}", path.display(), u.name);
        }
        match (&u.url, u.command.first()) {
            (Some(_), Some(_)) => anyhow::bail!(
                "{}: upstream {:?} has both a command and a url: it is one or the other",
                path.display(),
                u.name
            ),
            (Some(url), None) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    anyhow::bail!(
                        "{}: upstream {:?}: url must start with https:// or http://",
                        path.display(),
                        u.name
                    );
                }
                if !u.env.is_empty() || u.cwd.is_some() {
                    anyhow::bail!(
                        "{}: upstream {:?}: env and cwd are for commands, not urls",
                        path.display(),
                        u.name
                    );
                }
            }
            (None, Some(c)) if !c.is_empty() => {
                if !u.headers_env.is_empty() || u.transport.is_some() {
                    anyhow::bail!(
                        "{}: upstream {:?}: headers_env and transport are for urls, not commands",
                        path.display(),
                        u.name
                    );
                }
            }
            _ => anyhow::bail!(
                "{}: upstream {:?} has no command (or url)",
                path.display(),
                u.name
            ),
        }
    }
    Ok(config)
}

/// An upstream as the gateway takes it: headers read from their variables now, so that a
/// missing one stops the start, not a session.
fn upstream(config: &Path, u: UpstreamConfig) -> anyhow::Result<Upstream> {
    let remote = match u.url {
        Some(url) => {
            let mut headers = Vec::new();
            for (name, var) in &u.headers_env {
                let value = std::env::var(var).with_context(|| {
                    format!(
                        "upstream {:?}: header {name} names ${var}, which is not set",
                        u.name
                    )
                })?;
                headers.push((name.clone(), value));
            }
            let transport = match u.transport {
                Some(TransportName::Sse) => RemoteTransport::Sse,
                Some(TransportName::StreamableHttp) | None => RemoteTransport::StreamableHttp,
            };
            Some(RemoteUpstream {
                url,
                headers,
                transport,
            })
        }
        None => None,
    };
    let mut command = u.command.into_iter().map(OsString::from);
    Ok(Upstream {
        name: u.name,
        command: command.next().unwrap_or_default(),
        args: command.collect(),
        env: u.env.into_iter().collect(),
        cwd: u.cwd.map(|d| beside(config, &d)),
        remote,
    })
}

/// A path in the configuration file is relative to the file.
fn beside(config: &Path, p: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let g = &args.gateway;
    if g.max_frame < 1024 {
        anyhow::bail!("--max-frame must be at least 1024 bytes");
    }
    let mut options = ServeOptions {
        call_timeout: (g.call_timeout > 0).then(|| Duration::from_secs(g.call_timeout)),
        max_frame: g.max_frame,
        // Before any server starts: what they leave behind comes to mcpwall, not to init.
        reaper: Some(std::sync::Arc::new(mcpwall_sandbox::reaper::Reaper::adopt())),
        ..ServeOptions::default()
    };
    let demo = args.config.is_none();
    let (mut upstreams, policy, lock, audit) = match &args.config {
        Some(path) => {
            let c = load_config(path)?;
            if let Some(l) = c.listen {
                options.listen = l;
            }
            options.allowed_origins = c.allowed_origins;
            options.allowed_hosts = c.allowed_hosts;
            if let Some(var) = &c.token_env {
                let token = std::env::var(var).with_context(|| {
                    format!("token_env names ${var}, which is not set (or not UTF-8)")
                })?;
                if token.trim().len() < 16 {
                    anyhow::bail!("the token in ${var} is shorter than 16 characters");
                }
                options.token = Some(token.trim().to_owned());
                options.scrub_env.push(var.clone());
            }
            options.tls = match (c.tls_cert, c.tls_key) {
                (Some(cert), Some(key)) => Some((beside(path, &cert), beside(path, &key))),
                (None, None) => None,
                _ => anyhow::bail!(
                    "{}: tls_cert and tls_key go together (the certificate and its key)",
                    path.display()
                ),
            };
            if let Some(n) = c.max_restarts {
                options.max_restarts = n;
            }
            if let Some(n) = c.max_sessions {
                options.max_sessions = n.max(1);
            }
            if let Some(s) = c.idle_timeout {
                options.idle_timeout = Duration::from_secs(s.max(1));
            }
            let upstreams = c
                .upstreams
                .into_iter()
                .map(|u| upstream(path, u))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let rel = |p: Option<PathBuf>| p.map(|p| beside(path, &p));
            (upstreams, rel(c.policy), rel(c.lock), rel(c.audit))
        }
        None => {
            let exe = std::env::current_exe().context("cannot find mcpwall's own executable")?;
            let demo = Upstream {
                name: "demo".to_owned(),
                command: exe.into_os_string(),
                args: vec![OsString::from("demo-server")],
                env: Vec::new(),
                cwd: None,
                remote: None,
            };
            (vec![demo], None, None, None)
        }
    };
    if let Some(l) = args.listen {
        options.listen = l;
    }
    if !options.listen.ip().is_loopback() && options.token.is_none() {
        anyhow::bail!(
            "{} is reachable from other machines: set token_env in the configuration so that \
             every request must carry a bearer token (or listen on 127.0.0.1)",
            options.listen
        );
    }

    if !options.listen.ip().is_loopback() && options.tls.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "mcpwall serve: warning: {} without TLS: the bearer token and every message cross \
             the network in clear text (set tls_cert and tls_key, or put a TLS proxy in front)",
            options.listen
        );
    }
    // Each stdio session's server holds three pipes, and each client connection one
    // descriptor. Connections may use every descriptor the servers of `max_sessions` sessions
    // do not need (at least four a session: a stream, calls in flight, answers to the server's
    // questions); beyond that they wait in the accept queue, so that connections can never
    // take the descriptors a session needs to start its server.
    let servers = (options.max_sessions as u64)
        .saturating_mul(3)
        .saturating_add(64);
    let least = (options.max_sessions as u64)
        .saturating_mul(4)
        .saturating_add(64);
    let needed = servers.saturating_add(least);
    let files = open_files_limit(needed);
    // (Less the TLS handshakes in progress, which are not connections served yet.)
    let spare = files.saturating_sub(servers).saturating_sub(256);
    options.max_connections = usize::try_from(spare.clamp(64, 1 << 20)).unwrap_or(1 << 20);
    if files < needed {
        let _ = writeln!(
            std::io::stderr(),
            "mcpwall serve: warning: this process may open {files} files (the system allows no \
             more): about {} sessions fit, not max_sessions = {}",
            files.saturating_sub(128) / 7,
            options.max_sessions
        );
    }
    let policy = match g.policy.as_ref().or(policy.as_ref()) {
        Some(p) => super::policy::load(p)?,
        // Built-in demo: its one server's tools may be called (the engine still checks them).
        None if demo => Policy::allow_all(),
        // Safe default for a gateway others connect to: what is not allowed is denied.
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "mcpwall serve: no policy: every tool, resource and prompt is denied (add rules \
                 with --policy FILE or `policy` in the configuration; see \
                 docs/policy.example.toml)"
            );
            Policy::parse("default = \"deny\"\n").context("the built-in deny-all policy")?
        }
    };
    // Servers the policy confines start through `mcpwall sandbox`, with the variables their
    // upstream sets passed on.
    for u in upstreams.iter_mut().filter(|u| u.remote.is_none()) {
        if let Some(sandbox) = policy.sandbox_for(&u.name) {
            let names: Vec<String> = u.env.iter().map(|(k, _)| k.clone()).collect();
            (u.command, u.args) = super::sandbox::wrap(sandbox, &u.command, &u.args, &names)?;
        }
    }
    let pins = if g.no_pins {
        None
    } else {
        match g.lock.clone().or(lock) {
            Some(p) => Some(super::pins::lock_path(Some(p))?),
            // The demo leaves nothing behind unless asked to.
            None if demo => None,
            None => Some(super::pins::lock_path(None)?),
        }
    };
    let audit = g.audit.as_ref().or(audit.as_ref());
    let template = InspectorTemplate {
        quarantine: super::run::quarantine_store(&policy, audit)?,
        engine: Arc::new(super::engine(&g.rules.rules)?),
        policy: Arc::new(policy),
        pins: pins
            .map(|p| mcpwall_gateway::PinStore::open(&p))
            .transpose()?,
        audit: super::run::audit_sink(audit)?,
        redact: !g.no_redact,
        audit_fail_open: g.audit_fail_open,
    };
    let names: Vec<String> = upstreams.iter().map(|u| u.name.clone()).collect();
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    http::serve(options, upstreams, template, |addr| {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "mcpwall serve: listening on {scheme}://{addr}");
        for n in &names {
            let _ = writeln!(err, "  {scheme}://{addr}/mcp/{n}");
        }
        if names.len() > 1 {
            let _ = writeln!(err, "  {scheme}://{addr}/mcp (all of them, as one server)");
        }
        if demo {
            let _ = writeln!(
                err,
                "The built-in demo server is at /mcp/demo: one poisoned tool, one injected \
                 result, one leaked key.\nConnect an MCP client to http://{addr}/mcp/demo, for \
                 example:\n  claude mcp add --transport http mcpwall-demo http://{addr}/mcp/demo\n\
                 or follow docs/serve.md with curl. Ctrl-C stops."
            );
        }
    })?;
    Ok(())
}

/// Raises this process's limit on open files to `needed` when it is lower (desktops often
/// start processes at 1,024, a few hundred sessions' worth), as far as the system allows, and
/// returns the limit. Only as far as needed: the servers started inherit it, and some programs
/// size tables by it or close every descriptor up to it.
fn open_files_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let Some(current) = now.current else {
        return u64::MAX;
    };
    let mut want = now.maximum.map_or(needed, |max| needed.min(max));
    // macOS reports an unlimited maximum but refuses more than its per-process cap: ask for
    // less until it agrees.
    while want > current {
        let raised = Rlimit {
            current: Some(want),
            maximum: now.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return want;
        }
        want = (want / 2).max(current);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_loads() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/serve.example.toml"
        ));
        let c = load_config(path).expect("docs/serve.example.toml is valid");
        assert_eq!(c.upstreams.len(), 2);
        let policy = c.policy.map(|p| beside(path, &p)).expect("a policy");
        super::super::policy::load(&policy).expect("the policy it names loads");
    }

    #[test]
    fn names_are_plain() {
        for ok in ["notes", "fs-1", "github_mcp", "a.b"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            "a__b",
            "a_",
            &"x".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
