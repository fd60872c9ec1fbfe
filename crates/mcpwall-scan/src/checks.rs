//! Checks of a server's configuration entry, without starting it: how it is launched, what it
//! is given, where it is reached.

use std::path::{Path, PathBuf};

use mcpwall_detect::{Category, CategorySet, Engine, ScanOptions, Severity, Surface};
use serde::Serialize;

use crate::config::{ServerEntry, Transport};

/// Something wrong with a server, and what to do about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Issue {
    /// Stable id: `config.unpinned_package`, `config.plaintext_secret`, ... (static checks),
    /// or a detection rule's id.
    pub id: String,
    pub severity: Severity,
    pub message: String,
    /// One line on how to fix it.
    pub fix: String,
    /// The offending text, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl Issue {
    pub(crate) fn new(id: &str, severity: Severity, message: String, fix: &str) -> Issue {
        Issue {
            id: id.to_owned(),
            severity,
            message,
            fix: fix.to_owned(),
            excerpt: None,
        }
    }

    fn with_excerpt(mut self, excerpt: String) -> Issue {
        self.excerpt = Some(excerpt);
        self
    }
}

/// What a check looks for, in a line (SARIF rule descriptions).
pub fn describe(id: &str) -> &'static str {
    match id {
        "config.unpinned_package" => "A package run from a registry without an exact version",
        "config.plaintext_secret" => "A credential written into a client's configuration file",
        "config.insecure_remote" => "A remote MCP server reached over plain HTTP",
        "config.container_privileged" => {
            "A server's container run with the host's privileges, network or files"
        }
        "config.shell_command" => "A server started through a shell command line",
        "config.world_writable_executable" => "A server program that any user may replace",
        "config.code_loading_env" => "A server environment variable that loads or finds code",
        "config.lockfile_env" => {
            "A server started through mcpwall whose environment chooses mcpwall's lockfile"
        }
        "scan.toxic_flow" => {
            "One client's tools can read untrusted content, reach private data and send data out"
        }
        "scan.rug_pull" => "A tool whose definition changed since it was pinned",
        "scan.tool_added" => "A tool that appeared since the server was pinned",
        "scan.tool_removed" => "A pinned tool the server no longer offers",
        "scan.not_inspected" => "A server that could not be started to list what it offers",
        "scan.duplicate_tool_name" => "Two servers of one client offer a tool of the same name",
        "scan.cross_server_reference" => "A server's definition names another server's tool",
        "scan.unreadable_config" => "A client's configuration file the scanner cannot read",
        _ => "A finding of mcpwall's detection engine",
    }
}

/// The static checks of one entry. `path_var`: the `PATH` a bare command name is looked up in.
pub fn check(engine: &Engine, entry: &ServerEntry, path_var: Option<&str>) -> Vec<Issue> {
    let mut out = Vec::new();
    match &entry.transport {
        Transport::Stdio {
            command, args, env, ..
        } => {
            let (runner, rest) = launcher(command, args);
            let shown = std::iter::once(command.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            out.extend(unpinned(&runner, rest).map(|i| i.with_excerpt(shown)));
            out.extend(container(&runner, args));
            out.extend(shell(&runner, args));
            out.extend(writable(command, path_var));
            out.extend(loader_env(env.keys()));
            out.extend(lockfile_env(command, args, env.keys()));
            for (k, v) in env {
                out.extend(secrets(engine, &format!("env.{k}"), &format!("{k}={v}")));
            }
            for (i, a) in args.iter().enumerate() {
                out.extend(secrets(engine, &format!("args[{i}]"), a));
            }
        }
        Transport::Http { url, headers, .. } => {
            out.extend(plain_http(url));
            out.extend(secrets(engine, "url", url));
            for (k, v) in headers {
                out.extend(secrets(
                    engine,
                    &format!("headers.{k}"),
                    &format!("{k}: {v}"),
                ));
            }
        }
    }
    out
}

/// The program's bare name, lower-cased, without a Windows extension; and, for `pnpm dlx`,
/// `yarn dlx`, `npm exec` and `uv tool run`, the runner they amount to and the arguments after
/// it.
fn launcher<'a>(command: &str, args: &'a [String]) -> (String, &'a [String]) {
    let base = Path::new(command)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(command)
        .to_ascii_lowercase();
    let base = [".exe", ".cmd", ".bat"]
        .iter()
        .find_map(|x| base.strip_suffix(x))
        .map_or(base.clone(), str::to_owned);
    let first = args.first().map(String::as_str);
    match (base.as_str(), first) {
        ("pnpm" | "yarn", Some("dlx")) | ("npm", Some("exec" | "x")) => ("npx".into(), &args[1..]),
        ("uv", Some("tool")) if args.get(1).is_some_and(|a| a == "run") => {
            ("uvx".into(), &args[2..])
        }
        ("pipx", Some("run")) => ("uvx".into(), &args[1..]),
        ("pnpx" | "bunx", _) => ("npx".into(), args),
        _ => (base, args),
    }
}

/// Variables that make a program load or run code they name, before or beside its own:
/// the dynamic loader's, the interpreters' start-up hooks and search paths, `PATH`.
pub fn code_loading_var(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.starts_with("LD_")
        || n.starts_with("DYLD_")
        || n.starts_with("MCPWALL_")
        || [
            "PATH",
            "GCONV_PATH",
            "GLIBC_TUNABLES",
            "LOCPATH",
            "NLSPATH",
            "HOSTALIASES",
            "BASH_ENV",
            "ENV",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "PYTHONINSPECT",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "DENO_DIR",
            "NPM_CONFIG_NODE_OPTIONS",
            "UV_INDEX_URL",
            "PIP_INDEX_URL",
            "NPM_CONFIG_REGISTRY",
        ]
        .contains(&n.as_str())
}

fn loader_env<'a>(names: impl Iterator<Item = &'a String>) -> Vec<Issue> {
    names
        .filter(|n| code_loading_var(n))
        .map(|n| {
            Issue::new(
                "config.code_loading_env",
                Severity::High,
                format!(
                    "the server's environment sets {n}, which makes the program load or find code it names: whoever edits this file chooses what runs"
                ),
                "remove the variable; install what the server needs instead",
            )
        })
        .collect()
}

/// Variables that choose the lockfile `mcpwall run` reads its pins from: `MCPWALL_LOCK` names
/// it; `XDG_STATE_HOME` and `HOME` move the default. A client starts the server's command with
/// the entry's environment, so through `mcpwall run` they are mcpwall's own.
pub const LOCKFILE_ENV: [&str; 3] = ["MCPWALL_LOCK", "XDG_STATE_HOME", "HOME"];

/// A server started through `mcpwall run` whose environment chooses the lockfile (its line
/// does not name one): whoever wrote the entry chose the pins, and could approve the server's
/// changes in a lockfile of their own (a repository's).
fn lockfile_env<'a>(
    command: &str,
    args: &[String],
    names: impl Iterator<Item = &'a String>,
) -> Vec<Issue> {
    let through_mcpwall = crate::install::is_mcpwall(command)
        && args.first().is_some_and(|a| a == "run")
        && !crate::install::chooses_lockfile(args);
    if !through_mcpwall {
        return Vec::new();
    }
    names
        .filter(|n| LOCKFILE_ENV.contains(&n.as_str()))
        .map(|n| {
            Issue::new(
                "config.lockfile_env",
                Severity::High,
                format!(
                    "the server is started through `mcpwall run`, and its environment sets {n}, which chooses the lockfile mcpwall checks its tools against: whoever edits this file chooses which tool changes count as approved"
                ),
                "remove the variable, or name the lockfile on the line: `mcpwall run --lock FILE`",
            )
        })
        .collect()
}

/// A package run by name at whatever version is newest when the client starts.
fn unpinned(runner: &str, args: &[String]) -> Option<Issue> {
    let npm = match runner {
        "npx" => true,
        "uvx" => false,
        _ => return None,
    };
    // The package: `--package X` / `-p X` (npx) or `--from X` (uvx) if given, else the first
    // argument that is neither an option nor an option's value.
    let (package_opts, valued): (&[&str], &[&str]) = if npm {
        (
            &["-p", "--package"],
            &[
                "--registry",
                "--cache",
                "--userconfig",
                "--prefix",
                "-c",
                "--call",
                "--node-options",
                "--loglevel",
                "-w",
                "--workspace",
                "--script-shell",
            ],
        )
    } else {
        (
            &["--from"],
            &[
                "--python",
                "-p",
                "--with",
                "--with-requirements",
                "--index",
                "--index-url",
                "--default-index",
                "--extra-index-url",
                "-i",
                "--find-links",
                "-f",
                "--python-preference",
                "--cache-dir",
                "--directory",
                "--project",
                "--config-file",
                "--with-editable",
            ],
        )
    };
    let mut pkg = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some((opt, v)) = a.split_once('=').filter(|(o, _)| o.starts_with('-')) {
            if package_opts.contains(&opt) {
                pkg = Some(v.to_owned());
                break;
            }
            continue;
        }
        if package_opts.contains(&a.as_str()) {
            pkg = it.next().cloned();
            break;
        }
        if valued.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if !a.starts_with('-') {
            pkg = Some(a.clone());
            break;
        }
    }
    let pkg = pkg.filter(|p| !p.is_empty())?;
    // A local path, a URL or a git source is not a registry package.
    if pkg.starts_with(['.', '/', '~'])
        || pkg.contains("://")
        || pkg.starts_with("git+")
        || pkg.starts_with("file:")
    {
        return None;
    }
    // npm: `@scope/name@1.2.3` or `name@1.2.3` (the `@` of a scope is not a version's).
    let npm_split = |p: &str| -> Option<(String, String)> {
        let at = p.rfind('@').filter(|&i| i > 0)?;
        Some((p[..at].to_owned(), p[at + 1..].to_owned()))
    };
    let pinned = if npm {
        // An exact version: no range, tag, `latest` or partial version (`1`, `1.2.x`).
        npm_split(&pkg).is_some_and(|(_, v)| exact_semver(&v))
    } else {
        pkg.split_once("==")
            .or_else(|| pkg.split_once('@'))
            .is_some_and(|(_, v)| exact_version(v))
    };
    if pinned {
        return None;
    }
    // The name without the tag or range it was given (`pkg@latest`, `pkg>=1`).
    let name = if npm {
        npm_split(&pkg).map_or_else(|| pkg.clone(), |(n, _)| n)
    } else {
        pkg.split(['=', '@', '<', '>', '~', '!'])
            .next()
            .unwrap_or(&pkg)
            .to_owned()
    };
    let (registry, example) = if npm {
        ("npm", format!("{name}@1.2.3"))
    } else {
        ("PyPI", format!("{name}==1.2.3"))
    };
    let written = if name == pkg {
        String::new()
    } else {
        format!(" (`{pkg}` as written)")
    };
    Some(Issue::new(
        "config.unpinned_package",
        Severity::Medium,
        format!(
            "runs the {registry} package `{name}`{written} at whatever version is newest when the client starts: a hijacked or malicious release would run unreviewed"
        ),
        &format!("pin an exact version (`{example}`) and update it on purpose"),
    ))
}

/// A PyPI exact version (`==1.0`, `==2025.1.14`; no wildcard).
fn exact_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'!'))
}

/// An npm exact version: three numbers, then an optional pre-release or build.
fn exact_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && exact_version(v)
}

/// A container run with the host's privileges, network or files.
fn container(runner: &str, args: &[String]) -> Vec<Issue> {
    if !matches!(runner, "docker" | "podman" | "nerdctl") || !args.iter().any(|a| a == "run") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut flag = |what: &str, arg: &str| {
        out.push(
            Issue::new(
                "config.container_privileged",
                Severity::High,
                format!("the server's container runs with {what}: it can reach the host"),
                "drop the flag; give the container only the directories and network it needs",
            )
            .with_excerpt(arg.to_owned()),
        );
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let next = args.get(i + 1).map(String::as_str).unwrap_or("");
        let (name, value) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, v),
            _ => (a, next),
        };
        // `-v=/:/h`: a short option with its value attached.
        let (name, value) = match a.get(..3) {
            Some(p) if p.starts_with('-') && !p.starts_with("--") && p.ends_with('=') => {
                (&a[..2], &a[3..])
            }
            _ => (name, value),
        };
        let cap = value.to_ascii_uppercase();
        let cap = cap.strip_prefix("CAP_").unwrap_or(&cap);
        match name {
            "--privileged" => flag("--privileged", a),
            "--security-opt"
                if value.contains("unconfined")
                    || value.contains("label=disable")
                    || value.contains("label:disable") =>
            {
                flag(&format!("--security-opt {value}"), a);
            }
            "--device" => flag(&format!("the host's device {value}"), a),
            "--network" | "--net" if value == "host" => flag("the host's network", a),
            "--pid" | "--ipc" | "--uts" | "--userns" if value == "host" => {
                flag(&format!("the host's {} namespace", &name[2..]), a);
            }
            "--cap-add"
                if matches!(
                    cap,
                    "ALL"
                        | "SYS_ADMIN"
                        | "SYS_PTRACE"
                        | "NET_ADMIN"
                        | "SYS_MODULE"
                        | "DAC_READ_SEARCH"
                ) =>
            {
                flag(&format!("the capability {value}"), a);
            }
            "-v" | "--volume" | "--mount" => {
                let src = value
                    .split(',')
                    .find_map(|p| p.strip_prefix("source=").or_else(|| p.strip_prefix("src=")))
                    .unwrap_or_else(|| value.split(':').next().unwrap_or(""));
                // A whole home directory, or one of its credential directories.
                let trimmed = src.trim_end_matches('/');
                let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
                let home_like = matches!(
                    trimmed,
                    "~" | "$HOME" | "${HOME}" | "/home" | "/root" | "/Users"
                ) || (parts.len() == 2 && matches!(parts[0], "home" | "Users"))
                    || [
                        ".ssh", ".aws", ".gnupg", ".kube", ".docker", ".config", ".azure",
                        ".gcloud",
                    ]
                    .iter()
                    .any(|d| parts.contains(d));
                if matches!(src, "/" | "/etc" | "/var" | "/proc" | "/sys" | "/dev")
                    || home_like
                    || src.ends_with("docker.sock")
                {
                    flag(&format!("the host's {src} mounted"), value);
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A command line handed to a shell: whatever it interpolates runs as code.
fn shell(runner: &str, args: &[String]) -> Option<Issue> {
    let shells = [
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "fish",
        "cmd",
        "powershell",
        "pwsh",
    ];
    if !shells.contains(&runner) {
        return None;
    }
    let powershell = matches!(runner, "powershell" | "pwsh");
    let pos = args.iter().position(|a| {
        let a = a.to_ascii_lowercase();
        if powershell {
            matches!(
                a.as_str(),
                "-c" | "-command" | "-encodedcommand" | "-e" | "-ec" | "/c"
            )
        } else if runner == "cmd" {
            matches!(a.as_str(), "/c" | "/k" | "/r")
        } else {
            // `-c`, and clusters with it: `-lc`, `-ec`, `-euxc`.
            a.starts_with('-') && !a.starts_with("--") && a.contains('c')
        }
    })?;
    let script = args.get(pos + 1).map_or("", String::as_str);
    let interpolates = ["$(", "`", "${", "$", "%"]
        .iter()
        .any(|m| script.contains(m));
    let (severity, what) = if interpolates {
        (
            Severity::High,
            "through a shell that expands variables or commands in it",
        )
    } else {
        (Severity::Low, "through a shell")
    };
    Some(
        Issue::new(
            "config.shell_command",
            severity,
            format!("the server is started {what}: the command line is a program, and whoever can change what it expands runs code"),
            "start the program directly (command and args), without a shell",
        )
        .with_excerpt(script.chars().take(120).collect()),
    )
}

/// A program others may replace: the file, or a directory on its path, writable by everyone.
fn writable(command: &str, path_var: Option<&str>) -> Option<Issue> {
    let exe = resolve(command, path_var)?;
    let bad = world_writable(&exe)?;
    Some(
        Issue::new(
            "config.world_writable_executable",
            Severity::High,
            format!(
                "{} is writable by every user: anyone on this machine can replace what the client runs",
                bad.display()
            ),
            &format!("chmod o-w {}", bad.display()),
        )
        .with_excerpt(exe.display().to_string()),
    )
}

fn resolve(command: &str, path_var: Option<&str>) -> Option<PathBuf> {
    let p = Path::new(command);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_owned());
    }
    if command.contains('/') {
        return None;
    }
    std::env::split_paths(path_var?)
        .map(|d| d.join(command))
        .find(|f| f.is_file())
}

/// The file, or the first directory above it, that everyone may write (a directory with the
/// sticky bit, like /tmp, does not let others replace a file they do not own).
#[cfg(unix)]
fn world_writable(exe: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).ok().map(|m| m.permissions().mode());
    if mode(exe)? & 0o002 != 0 {
        return Some(exe.to_owned());
    }
    exe.ancestors()
        .skip(1)
        .find(|d| mode(d).is_some_and(|m| m & 0o002 != 0 && m & 0o1000 == 0))
        .map(Path::to_owned)
}

#[cfg(not(unix))]
fn world_writable(_: &Path) -> Option<PathBuf> {
    None
}

/// A remote server reached without TLS (loopback aside).
fn plain_http(url: &str) -> Option<Issue> {
    let url = url.trim();
    let scheme = url.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[7..];
    // The authority ends at the first of these (a backslash too: URL parsers of browsers and
    // Node read it as a slash).
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.split(']').next())
        .unwrap_or_else(|| host.split(':').next().unwrap_or(host))
        .to_ascii_lowercase();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return None;
    }
    Some(
        Issue::new(
            "config.insecure_remote",
            Severity::High,
            format!("the remote server {host} is reached over plain HTTP: anyone on the way reads and rewrites its tools and results, tokens included"),
            "use its https:// address",
        )
        .with_excerpt(url.to_owned()),
    )
}

/// Credentials written into the file.
fn secrets(engine: &Engine, place: &str, text: &str) -> Vec<Issue> {
    let mut opts = ScanOptions::only(CategorySet::none().with(Category::Secrets));
    opts.excerpts = false;
    let report = engine.scan_with(Surface::Config, text, &opts);
    if report.findings.is_empty() {
        return Vec::new();
    }
    let redacted = engine.redact(Surface::Config, text).text.into_owned();
    report
        .findings
        .iter()
        .map(|f| {
            Issue::new(
                "config.plaintext_secret",
                f.severity.max(Severity::High),
                format!("{place} holds a credential in plain text ({}): whoever reads the file, or a server it is passed to, holds it too", f.rule_id),
                "move it out of the file: reference an environment variable or a secret store, and rotate it if the file was ever shared",
            )
            .with_excerpt(redacted.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unpinned_packages() {
        let u = |cmd: &str, a: &[&str]| {
            let a = args(a);
            let (r, rest) = launcher(cmd, &a);
            unpinned(&r, rest).is_some()
        };
        assert!(u(
            "npx",
            &["-y", "@modelcontextprotocol/server-filesystem", "/x"]
        ));
        assert!(u("npx", &["-y", "pkg@latest"]));
        assert!(u("npx", &["pkg@^1.2.0"]));
        assert!(!u("npx", &["-y", "@scope/pkg@1.2.3", "--flag"]));
        assert!(!u("/usr/local/bin/npx.cmd", &["pkg@2.0.0-beta.1"]));
        assert!(u("pnpm", &["dlx", "pkg"]));
        assert!(u("uvx", &["mcp-server-git"]));
        assert!(!u("uvx", &["mcp-server-git==0.6.2"]));
        assert!(!u(
            "uvx",
            &["--from", "mcp-server-git==0.6.2", "mcp-server-git"]
        ));
        assert!(u("uv", &["tool", "run", "mcp-server-time"]));
        assert!(!u("npx", &["./local/server.js"]));
        assert!(!u("node", &["server.js"]));
        // Odd arguments do not panic; options' values are not the package.
        assert!(!u("npx", &[""]));
        assert!(u("npx", &["é"]));
        assert!(u("npx", &["@"]));
        assert!(u("npx", &["--registry", "https://registry.example", "pkg"]));
        assert!(!u("npx", &["--registry=https://r.example", "pkg@1.0.0"]));
        assert!(u("npx", &["pkg@1"]));
        assert!(u("npx", &["pkg@1.2.x"]));
        assert!(!u("uvx", &["--python", "3.12", "pkg==1.0"]));
        assert!(u("uvx", &["--python", "3.12", "pkg"]));
    }

    #[test]
    fn variables_that_load_code() {
        let env: Vec<String> = ["LD_PRELOAD", "NODE_OPTIONS", "API_KEY", "path"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let found: Vec<String> = loader_env(env.iter())
            .into_iter()
            .map(|i| i.message)
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(!found.iter().any(|m| m.contains("API_KEY")));
    }

    #[test]
    fn variables_that_choose_mcpwalls_lockfile() {
        let env: Vec<String> = ["MCPWALL_LOCK", "HOME", "TZ", "xdg_state_home"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let n = |command: &str, a: &[&str]| lockfile_env(command, &args(a), env.iter()).len();
        assert_eq!(n("/usr/bin/mcpwall", &["run", "--name=x", "--", "srv"]), 2);
        assert_eq!(n("mcpwall", &["run", "--", "srv"]), 2);
        // The line names its lockfile, or the server is not started through mcpwall.
        assert_eq!(n("mcpwall", &["run", "--lock", "/l", "--", "srv"]), 0);
        assert_eq!(n("mcpwall", &["run", "--lock=/l", "--", "srv"]), 0);
        assert_eq!(n("mcpwall", &["run", "--", "srv", "--lock=/l"]), 2);
        assert_eq!(n("node", &["run", "--", "srv"]), 0);
    }

    #[test]
    fn containers_shells_and_urls() {
        let c = |a: &[&str]| container("docker", &args(a)).len();
        assert_eq!(c(&["run", "-i", "--rm", "mcp/github"]), 0);
        assert_eq!(c(&["run", "--privileged", "--network=host", "img"]), 2);
        assert_eq!(
            c(&[
                "run",
                "-v",
                "/var/run/docker.sock:/var/run/docker.sock",
                "img"
            ]),
            1
        );
        assert_eq!(
            c(&["run", "--mount", "type=bind,source=/,target=/host", "img"]),
            1
        );
        assert_eq!(c(&["run", "-v", "/home/me/notes:/notes", "img"]), 0);
        let s = |a: &[&str]| shell("bash", &args(a)).map(|i| i.severity);
        assert_eq!(s(&["-c", "exec node $HOME/srv.js"]), Some(Severity::High));
        assert_eq!(s(&["-c", "exec node srv.js"]), Some(Severity::Low));
        assert_eq!(s(&["srv.sh"]), None);
        assert!(plain_http("http://mcp.example.com/mcp").is_some());
        assert!(plain_http("http://user:pw@10.1.2.3:8080/mcp").is_some());
        assert!(plain_http("http://127.0.0.1:8750/mcp").is_none());
        assert!(plain_http("http://[::1]:8750/mcp").is_none());
        assert!(plain_http("http://localhost/mcp").is_none());
        assert!(plain_http("https://mcp.example.com/mcp").is_none());
        assert!(plain_http("HTTP://mcp.example.com/mcp").is_some());
        assert!(plain_http("http://127.0.0.1.evil.example/mcp").is_some());
        assert!(plain_http("http://evil.example\\@localhost/mcp").is_some());
        assert!(plain_http("http://127.8.9.10:80/").is_none());
        assert!(plain_http("http:").is_none());
        assert!(plain_http("ht").is_none());
        assert_eq!(s(&["-ec", "node $X"]), Some(Severity::High));
        assert_eq!(c(&["run", "-v=/:/h", "img"]), 1);
        assert_eq!(c(&["run", "--cap-add", "CAP_SYS_ADMIN", "img"]), 1);
        assert_eq!(
            c(&["run", "--security-opt", "seccomp=unconfined", "img"]),
            1
        );
        assert_eq!(c(&["run", "-v", "/home/me:/data", "img"]), 1);
    }
}
