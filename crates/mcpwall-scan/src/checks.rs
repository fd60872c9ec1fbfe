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
    fn new(id: &str, severity: Severity, message: String, fix: &str) -> Issue {
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
        "scan.not_inspected" => "A server that could not be started to list what it offers",
        "scan.duplicate_tool_name" => "Two servers of one client offer a tool of the same name",
        "scan.cross_server_reference" => "A server's definition names another server's tool",
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

/// A package run by name at whatever version is newest when the client starts.
fn unpinned(runner: &str, args: &[String]) -> Option<Issue> {
    let npm = match runner {
        "npx" => true,
        "uvx" => false,
        _ => return None,
    };
    // The package: `--package X` / `-p X` / `--from X` if given, else the first argument that
    // is not an option.
    let mut pkg = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a
            .strip_prefix("--package=")
            .or_else(|| a.strip_prefix("--from="))
        {
            pkg = Some(v.to_owned());
            break;
        }
        if matches!(a.as_str(), "-p" | "--package" | "--from") {
            pkg = it.next().cloned();
            break;
        }
        if !a.starts_with('-') {
            pkg = Some(a.clone());
            break;
        }
    }
    let pkg = pkg?;
    // A local path, a URL or a git source is not a registry package.
    if pkg.starts_with(['.', '/', '~'])
        || pkg.contains("://")
        || pkg.starts_with("git+")
        || pkg.starts_with("file:")
    {
        return None;
    }
    let pinned = if npm {
        // `@scope/name@1.2.3` or `name@1.2.3`: an exact version (no range, tag or `latest`).
        pkg[1..]
            .rsplit_once('@')
            .is_some_and(|(_, v)| exact_version(v))
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
        match pkg[1..].rsplit_once('@') {
            Some((n, _)) => format!("{}{n}", &pkg[..1]),
            None => pkg.clone(),
        }
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

fn exact_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
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
        match name {
            "--privileged" => flag("--privileged", a),
            "--network" | "--net" if value == "host" => flag("the host's network", a),
            "--pid" | "--ipc" | "--uts" | "--userns" if value == "host" => {
                flag(&format!("the host's {} namespace", &name[2..]), a);
            }
            "--cap-add"
                if matches!(
                    value.to_ascii_uppercase().as_str(),
                    "ALL" | "SYS_ADMIN" | "SYS_PTRACE" | "NET_ADMIN"
                ) =>
            {
                flag(&format!("the capability {value}"), a);
            }
            "-v" | "--volume" | "--mount" => {
                let src = value
                    .split(',')
                    .find_map(|p| p.strip_prefix("source=").or_else(|| p.strip_prefix("src=")))
                    .unwrap_or_else(|| value.split(':').next().unwrap_or(""));
                if matches!(
                    src,
                    "/" | "/etc" | "/root" | "/home" | "~" | "$HOME" | "${HOME}"
                ) || src.ends_with("docker.sock")
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
    let pos = args.iter().position(|a| {
        matches!(
            a.to_ascii_lowercase().as_str(),
            "-c" | "/c" | "/k" | "-command" | "-lc" | "-ic"
        )
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
    let rest = url.strip_prefix("http://")?;
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.split(']').next())
        .unwrap_or_else(|| host.split(':').next().unwrap_or(host));
    if host == "localhost" || host == "::1" || host.starts_with("127.") {
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
    }
}
