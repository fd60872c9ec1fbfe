//! `mcpwall install` and `uninstall`: a client's configuration rewritten so that each stdio
//! server is started through `mcpwall run` (`"command": MCPWALL, "args": ["run", "--name",
//! NAME, "--", COMMAND, ARGS...]`), and back. Only the `command` and `args` values change, in
//! place: comments, order and indentation of the rest stay as they were. The result is read
//! back and checked before it is offered.

use std::ops::Range;
use std::path::Path;

use serde_json::Value;

use crate::config::{self, Format, Transport};
use crate::spans::{self, Node};

/// Why a file cannot be rewritten.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    #[error("{0}")]
    Parse(String),
    #[error("{0} is not rewritten yet: edit it by hand (its servers are scanned)")]
    Unsupported(&'static str),
    #[error("the rewritten file does not read back as intended ({0}): nothing was changed")]
    Check(String),
}

/// A rewritten file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub text: String,
    /// The servers changed.
    pub changed: Vec<String>,
    /// Servers left as they are, and why.
    pub left: Vec<(String, String)>,
}

/// The sections of a file that hold servers by name (see [`config`]).
fn sections(root: &Node) -> Vec<(String, &Node)> {
    let mut out = Vec::new();
    for key in ["mcpServers", "servers", "context_servers"] {
        if let Some(n @ Node::Object { .. }) = root.get(key) {
            out.push((key.to_owned(), n));
        }
    }
    if let Some(n @ Node::Object { .. }) = root.get("mcp").and_then(|m| m.get("servers")) {
        out.push(("mcp.servers".to_owned(), n));
    }
    if let Some(Node::Object { members, .. }) = root.get("projects") {
        for (dir, p) in members {
            if let Some(n @ Node::Object { .. }) = p.get("mcpServers") {
                out.push((format!("projects.{dir}.mcpServers"), n));
            }
        }
    }
    out
}

/// Whether `command` is mcpwall (any path to it).
pub(crate) fn is_mcpwall(command: &str) -> bool {
    let base = command
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(command)
        .to_ascii_lowercase();
    base == "mcpwall" || base == "mcpwall.exe"
}

fn decode(text: &str, n: &Node) -> Option<Value> {
    serde_json::from_str(&config::strip_jsonc(&text[n.span()])).ok()
}

/// Whether `command` is this mcpwall (`installed`, the path install writes) or the one on
/// `PATH`, started as `mcpwall run`. A command merely named `mcpwall` elsewhere (`./mcpwall`, a
/// script a repository ships) could be anything, and is wrapped like any other.
fn started_through_mcpwall(command: &str, args: &[String], installed: &str) -> bool {
    let ours = command == installed
        || command == "mcpwall"
        || (Path::new(command).is_absolute()
            && is_mcpwall(command)
            && matches!(
                (std::fs::canonicalize(command), std::fs::canonicalize(installed)),
                (Ok(a), Ok(b)) if a == b
            ));
    ours && args.first().map(String::as_str) == Some("run")
}

/// The options of a `mcpwall run` line that turn protections off.
const WEAKENING: [&str; 3] = ["--no-pins", "--audit-fail-open", "--no-redact"];

/// Whether a `mcpwall run` line's own options (before `--`) choose the lockfile.
pub(crate) fn chooses_lockfile(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--lock" || a.starts_with("--lock="))
}

/// `text` with every stdio server started through `mcpwall` (the path given). `lock`: the
/// lockfile to name on the line of a server whose environment would choose another (see
/// [`crate::checks::LOCKFILE_ENV`]); without it such a server is left, and named.
pub fn wrap(
    text: &str,
    format: Format,
    mcpwall: &str,
    lock: Option<&str>,
) -> Result<Rewrite, InstallError> {
    edit(text, format, &|name: &str,
                         command: &str,
                         args: &[String],
                         env: &[String]| {
        let moving: Vec<&str> = env
            .iter()
            .map(String::as_str)
            .filter(|v| crate::checks::LOCKFILE_ENV.contains(v))
            .collect();
        if started_through_mcpwall(command, args, mcpwall) {
            // Its own options, up to `--`: those that turn protections off are named, and so
            // are variables that choose another lockfile.
            let own = args.iter().take_while(|a| *a != "--");
            let mut off: Vec<String> = own
                .filter_map(|a| WEAKENING.iter().find(|w| a.as_str() == **w))
                .map(|w| (*w).to_owned())
                .collect();
            if !chooses_lockfile(args) {
                off.extend(moving.iter().map(|v| format!("env {v}")));
            }
            if off.is_empty() {
                return Err("already started through mcpwall".into());
            }
            return Err(format!(
                "already started through mcpwall, with protections off ({}): edit it by hand",
                off.join(", ")
            ));
        }
        // `--name=NAME`: a name that starts with `-` (or is `--`) stays the name.
        let mut new = vec!["run".to_owned(), format!("--name={name}")];
        if !moving.is_empty() {
            // The environment is mcpwall's too: it would read the server's pins from a file
            // whoever wrote this entry chose, where they could approve its changes.
            let Some(lock) = lock else {
                return Err(format!(
                    "its environment sets {}, which would choose mcpwall's lockfile: start it through `mcpwall run --lock FILE` by hand",
                    moving.join(", ")
                ));
            };
            new.push(format!("--lock={lock}"));
        }
        new.push("--".to_owned());
        new.push(command.to_owned());
        new.extend(args.iter().cloned());
        Ok((mcpwall.to_owned(), new))
    })
}

/// `text` with every server that `install` wrapped started directly again: exactly the
/// shape `install` writes (`run --name=NAME -- COMMAND...`); a `mcpwall run` line with other
/// options (a policy, an audit file) is the user's own and stays.
pub fn unwrap(text: &str, format: Format) -> Result<Rewrite, InstallError> {
    edit(text, format, &|name: &str,
                         command: &str,
                         args: &[String],
                         _env: &[String]| {
        if !is_mcpwall(command) || args.first().map(String::as_str) != Some("run") {
            return Err("not started through `mcpwall run`".into());
        }
        let rest = match args {
            [_, n, dash, rest @ ..] if *n == format!("--name={name}") && dash == "--" => rest,
            [_, opt, n, dash, rest @ ..] if opt == "--name" && n == name && dash == "--" => rest,
            // With the lockfile install named (the server's environment would choose another).
            [_, n, lock, dash, rest @ ..]
                if *n == format!("--name={name}")
                    && lock.starts_with("--lock=")
                    && dash == "--" =>
            {
                rest
            }
            _ => {
                return Err(
                    "started through `mcpwall run` with options of its own: not mcpwall install's"
                        .into(),
                );
            }
        };
        let (command, rest) = rest
            .split_first()
            .ok_or_else(|| "no command after `--`".to_owned())?;
        Ok((command.clone(), rest.to_vec()))
    })
}

/// Name, command, args and the names of the variables its environment sets → new command and
/// args, or why not.
type Change<'a> =
    dyn Fn(&str, &str, &[String], &[String]) -> Result<(String, Vec<String>), String> + 'a;

/// The names of the variables an entry's `env` sets.
fn env_names(entry: Option<&serde_json::Map<String, Value>>) -> Vec<String> {
    match entry.and_then(config::transport) {
        Some(Transport::Stdio { env, .. }) => env.into_keys().collect(),
        _ => Vec::new(),
    }
}

/// What to change in a file: text spans to replace, and what the servers should read as after.
#[derive(Default)]
struct Plan {
    edits: Vec<(Range<usize>, String)>,
    changed: Vec<String>,
    left: Vec<(String, String)>,
    /// `section/name`, its new command and args.
    expected: Vec<(String, String, Vec<String>)>,
}

/// Applies `change` (name, command, args → new command, new args, or why not) to each stdio
/// server, in place, and checks the result.
fn edit(text: &str, format: Format, change: &Change<'_>) -> Result<Rewrite, InstallError> {
    let plan = match format {
        Format::Json => plan_json(text, change)?,
        Format::Toml => plan_toml(text, change)?,
        Format::Yaml => return Err(InstallError::Unsupported("Continue's YAML")),
    };
    apply(text, format, plan)
}

/// The changes to a JSON file (JSONC too), by the spans of its values.
fn plan_json(text: &str, change: &Change<'_>) -> Result<Plan, InstallError> {
    let root = spans::parse(text).map_err(|e| InstallError::Parse(e.to_string()))?;
    let mut plan = Plan::default();
    let Plan {
        edits,
        changed,
        left,
        expected,
    } = &mut plan;
    for key in ["mcp_servers"] {
        if root.get(key).is_some() {
            left.push((
                key.to_owned(),
                "a section of this shape is not rewritten".into(),
            ));
        }
    }
    if root
        .get("experimental")
        .and_then(|e| e.get("modelContextProtocolServers"))
        .is_some()
    {
        left.push((
            "experimental.modelContextProtocolServers".into(),
            "Continue's list is not rewritten: edit it by hand".into(),
        ));
    }
    for (section, servers) in sections(&root) {
        let Node::Object { members, .. } = servers else {
            continue;
        };
        for (name, entry) in members {
            // Remote or not as the scanner reads it (a URL, unless there is a command and no
            // remote type is declared).
            let decoded = decode(text, entry);
            let object = match &decoded {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            };
            let remote = matches!(
                object.and_then(config::transport),
                Some(Transport::Http { .. })
            );
            if remote {
                left.push((name.clone(), "a remote server".into()));
                continue;
            }
            let Some(cmd_node) = entry.get("command") else {
                continue;
            };
            // Zed's older shape keeps them in an object: `"command": {"path", "args", "env"}`.
            let (cmd_node, args_node) = match cmd_node {
                Node::Object { .. } => match cmd_node.get("path") {
                    Some(path) => (path, cmd_node.get("args")),
                    None => {
                        left.push((name.clone(), "its command has no path".into()));
                        continue;
                    }
                },
                _ => (cmd_node, entry.get("args")),
            };
            let Some(Value::String(command)) = decode(text, cmd_node) else {
                left.push((
                    name.clone(),
                    "its command is not a string (edit it by hand)".into(),
                ));
                continue;
            };
            let args: Vec<String> = match args_node.map(|n| decode(text, n)) {
                None => Vec::new(),
                Some(Some(Value::Array(a))) => match a
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                {
                    Some(a) => a,
                    None => {
                        left.push((name.clone(), "an argument is not a string".into()));
                        continue;
                    }
                },
                Some(_) => {
                    left.push((name.clone(), "its args are not a list".into()));
                    continue;
                }
            };
            let env = env_names(object);
            let (new_command, new_args) = match change(name, &command, &args, &env) {
                Ok(c) => c,
                Err(why) => {
                    left.push((name.clone(), why));
                    continue;
                }
            };
            let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let list = format!(
                "[{}]",
                new_args
                    .iter()
                    .map(|a| quote(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            edits.push((cmd_node.span(), quote(&new_command)));
            match args_node {
                Some(a) => edits.push((a.span(), list)),
                None => {
                    let end = cmd_node.span().end;
                    edits.push((end..end, format!(", \"args\": {list}")));
                }
            }
            changed.push(name.clone());
            expected.push((format!("{section}/{name}"), new_command, new_args));
        }
    }
    Ok(plan)
}

/// Arguments of `args` as strings, or why they are not.
fn string_list(values: impl IntoIterator<Item = Option<String>>) -> Option<Vec<String>> {
    values.into_iter().collect()
}

/// A TOML basic string holding `s` (JSON's escapes are TOML's, but for DEL, which TOML wants
/// escaped too).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace('\u{7f}', "\\u007F")
}

/// The changes to Codex's TOML (`[mcp_servers.NAME]` tables, or inline ones), by the spans of
/// its values. An entry without `args` gets them on the line after its `command`, or in its
/// inline table; one written with dotted keys (`mcp_servers.x.command = ...`) is left.
fn plan_toml(text: &str, change: &Change<'_>) -> Result<Plan, InstallError> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).map_err(|e| InstallError::Parse(e.message().to_owned()))?;
    let mut plan = Plan::default();
    let json = config::toml_root(text).map_err(|e| InstallError::Parse(e.to_string()))?;
    let Some(servers) = root.get_ref().get("mcp_servers") else {
        return Ok(plan);
    };
    let DeValue::Table(servers) = servers.get_ref() else {
        return Ok(plan);
    };
    for (name, entry) in servers {
        let name = name.get_ref().to_string();
        let DeValue::Table(fields) = entry.get_ref() else {
            continue;
        };
        let object = json["mcp_servers"][&name].as_object();
        let remote =
            object.is_some_and(|m| matches!(config::transport(m), Some(Transport::Http { .. })));
        let env = env_names(object);
        if remote {
            plan.left.push((name, "a remote server".into()));
            continue;
        }
        let Some(cmd) = fields.get("command") else {
            continue;
        };
        let DeValue::String(command) = cmd.get_ref() else {
            plan.left
                .push((name, "its command is not a string (edit it by hand)".into()));
            continue;
        };
        let args_value = fields.get("args");
        let args = match args_value.map(|a| a.get_ref()) {
            None => Some(Vec::new()),
            Some(DeValue::Array(items)) => string_list(items.iter().map(|v| match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                _ => None,
            })),
            Some(_) => None,
        };
        let Some(args) = args else {
            plan.left
                .push((name, "its args are not a list of strings".into()));
            continue;
        };
        let (new_command, new_args) = match change(&name, command, &args, &env) {
            Ok(c) => c,
            Err(why) => {
                plan.left.push((name, why));
                continue;
            }
        };
        let list = format!(
            "[{}]",
            new_args
                .iter()
                .map(|a| toml_string(a))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let cmd_span = cmd.span();
        let inline = text[entry.span()].starts_with('{');
        let args_edit = match args_value {
            Some(a) => (a.span(), list),
            None if inline => (cmd_span.end..cmd_span.end, format!(", args = {list}")),
            None => {
                // `command = ...` must be a line of its own in the entry's table: then the
                // new line goes after it (after a comment on it, too).
                let line_start = text[..cmd_span.start].rfind('\n').map_or(0, |i| i + 1);
                let head = &text[line_start..cmd_span.start];
                let key = head.trim().trim_end_matches('=').trim();
                if !matches!(key, "command" | "\"command\"" | "'command'") {
                    plan.left
                        .push((name, "written with dotted keys: edit it by hand".into()));
                    continue;
                }
                let indent: String = head.chars().take_while(|c| c.is_whitespace()).collect();
                match text[cmd_span.end..].find('\n') {
                    Some(i) => {
                        let at = cmd_span.end + i + 1;
                        (at..at, format!("{indent}args = {list}\n"))
                    }
                    None => (text.len()..text.len(), format!("\n{indent}args = {list}\n")),
                }
            }
        };
        plan.edits.push((cmd_span, toml_string(&new_command)));
        plan.edits.push(args_edit);
        plan.changed.push(name.clone());
        plan.expected
            .push((format!("mcp_servers/{name}"), new_command, new_args));
    }
    Ok(plan)
}

/// Makes the planned changes and reads the result back.
fn apply(text: &str, format: Format, plan: Plan) -> Result<Rewrite, InstallError> {
    let Plan {
        mut edits,
        changed,
        left,
        expected,
    } = plan;
    if edits.is_empty() {
        return Ok(Rewrite {
            text: text.to_owned(),
            changed,
            left,
        });
    }
    // From the end, so that each span still holds where it was.
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    let mut out = text.to_owned();
    for (span, new) in edits {
        out.replace_range(span, &new);
    }
    // Read back: every server changed as intended (its command and args, nothing else of it),
    // every other as it was, none gone, none added.
    let before = config::parse(text, format).map_err(|e| InstallError::Check(e.to_string()))?;
    let after = config::parse(&out, format).map_err(|e| InstallError::Check(e.to_string()))?;
    let key = |e: &config::ServerEntry| format!("{}/{}", e.section, e.name);
    if before.len() != after.len() {
        return Err(InstallError::Check("the number of servers changed".into()));
    }
    let mut seen = 0;
    for a in &after {
        let k = key(a);
        let b = before
            .iter()
            .find(|b| key(b) == k)
            .ok_or_else(|| InstallError::Check(format!("server {k} appeared")))?;
        let ok = match expected.iter().find(|(e, ..)| *e == k) {
            Some((_, c, v)) => {
                seen += 1;
                match (&a.transport, &b.transport) {
                    (
                        Transport::Stdio {
                            command,
                            args,
                            env,
                            cwd,
                            ..
                        },
                        Transport::Stdio {
                            env: env0,
                            cwd: cwd0,
                            ..
                        },
                    ) => command == c && args == v && env == env0 && cwd == cwd0,
                    _ => false,
                }
            }
            None => a.transport == b.transport,
        };
        if !ok || a.disabled != b.disabled || a.line == 0 {
            return Err(InstallError::Check(format!("server {k}")));
        }
    }
    if seen != expected.len() {
        return Err(InstallError::Check(
            "a server changed is not where it was".into(),
        ));
    }
    Ok(Rewrite {
        text: out,
        changed,
        left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_in_place_and_back() {
        let text = "{\n  // my servers\n  \"mcpServers\": {\n    \"notes\": {\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"notes-mcp@1.0.0\"],\n      \"env\": {\"K\": \"v\"}\n    },\n    \"bare\": {\"command\": \"uvx\"},\n    \"remote\": {\"url\": \"https://x/mcp\"},\n  }\n}\n";
        let w = wrap(text, Format::Json, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["notes", "bare"]);
        assert!(w.text.contains("// my servers"), "{}", w.text);
        assert!(w.text.contains("\"env\": {\"K\": \"v\"}"));
        assert!(w.text.contains(
            "\"args\": [\"run\", \"--name=notes\", \"--\", \"npx\", \"-y\", \"notes-mcp@1.0.0\"]"
        ));
        assert!(w.text.contains(
            "{\"command\": \"/usr/local/bin/mcpwall\", \"args\": [\"run\", \"--name=bare\", \"--\", \"uvx\"]}"
        ));
        // Again: nothing to do.
        let again = wrap(&w.text, Format::Json, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert!(again.changed.is_empty());
        assert_eq!(again.text, w.text);
        // And back, to the same servers.
        let u = unwrap(&w.text, Format::Json).expect("unwraps");
        assert_eq!(u.changed, ["notes", "bare"]);
        assert_eq!(
            config::parse(&u.text, Format::Json).expect("parses"),
            config::parse(text, Format::Json).expect("parses")
        );
        assert!(u.text.contains("// my servers"));
        assert!(matches!(wrap("[1]", Format::Json, "m", None), Ok(r) if r.changed.is_empty()));
        // Something named mcpwall that is not this one is wrapped like any command; this one
        // with protections off is named, and left for the user.
        let named = r#"{"mcpServers": {
            "fake": {"command": "./mcpwall", "args": ["run", "--", "evil"]},
            "weak": {"command": "/usr/local/bin/mcpwall",
                     "args": ["run", "--no-pins", "--audit-fail-open", "--", "srv"]}}}"#;
        let w3 = wrap(named, Format::Json, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert_eq!(w3.changed, ["fake"]);
        let weak = w3.left.iter().find(|(n, _)| n == "weak").expect("named");
        assert!(weak.1.contains("--no-pins, --audit-fail-open"), "{weak:?}");
        // A command with a URL and no remote type is run by clients: it is wrapped.
        let both = r#"{"mcpServers": {"both": {"command": "evil", "url": "http://x/mcp"}}}"#;
        let w2 = wrap(both, Format::Json, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert_eq!(w2.changed, ["both"], "{:?}", w2.left);
        // The user's own `mcpwall run` line (with its policy) is not undone; a name that
        // looks like an option round-trips.
        let own = r#"{"mcpServers": {"gh": {"command": "mcpwall", "args": ["run", "--name", "gh", "--policy", "p.toml", "--", "docker", "run"]},
            "--": {"command": "npx", "args": ["x@1.0.0"]}}}"#;
        let u = unwrap(own, Format::Json).expect("unwraps");
        assert!(u.changed.is_empty() && u.text == own);
        let w = wrap(own, Format::Json, "/usr/bin/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["--"]);
        let back = unwrap(&w.text, Format::Json).expect("unwraps");
        assert_eq!(back.changed, ["--"]);
        assert_eq!(
            config::parse(&back.text, Format::Json).expect("parses"),
            config::parse(own, Format::Json).expect("parses")
        );
        // Zed's older shape: the path and args inside the command object.
        let zed = "{\"context_servers\": {\"old\": {\"command\": {\"path\": \"/usr/bin/node\", \"args\": [\"s.js\"], \"env\": {}}},\n  \"bare\": {\"command\": {\"path\": \"srv\"}}}}";
        let w = wrap(zed, Format::Json, "/usr/bin/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["old", "bare"], "{:?}", w.left);
        assert!(w.text.contains("{\"path\": \"/usr/bin/mcpwall\", \"args\": [\"run\", \"--name=old\", \"--\", \"/usr/bin/node\", \"s.js\"], \"env\": {}}"), "{}", w.text);
        let back = unwrap(&w.text, Format::Json).expect("unwraps");
        assert_eq!(
            config::parse(&back.text, Format::Json).expect("parses"),
            config::parse(zed, Format::Json).expect("parses")
        );
        assert!(wrap("{", Format::Json, "m", None).is_err());
        assert!(matches!(wrap("", Format::Toml, "m", None), Ok(r) if r.changed.is_empty()));
    }

    /// The entry's environment is mcpwall's too: variables that would choose its lockfile
    /// (a repository's lockfile, pinning what it likes) are overridden by `--lock`, or the
    /// entry is left and named.
    #[test]
    fn an_environment_that_would_choose_the_lockfile_is_overridden() {
        let text = r#"{"mcpServers": {
            "moved": {"command": "npx", "args": ["srv@1"], "env": {"MCPWALL_LOCK": "./pins.lock", "TZ": "UTC"}},
            "home": {"command": "srv", "env": {"HOME": "."}},
            "plain": {"command": "srv", "env": {"TZ": "UTC"}},
            "wrapped": {"command": "/usr/bin/mcpwall", "args": ["run", "--", "srv"], "env": {"XDG_STATE_HOME": "."}},
            "locked": {"command": "/usr/bin/mcpwall", "args": ["run", "--lock=/l", "--", "srv"], "env": {"HOME": "."}}}}"#;
        let w = wrap(
            text,
            Format::Json,
            "/usr/bin/mcpwall",
            Some("/home/u/.local/state/mcpwall/mcpwall.lock"),
        )
        .expect("wraps");
        assert_eq!(w.changed, ["moved", "home", "plain"], "{:?}", w.left);
        let servers = config::parse(&w.text, Format::Json).expect("parses");
        let args = |name: &str| match &servers
            .iter()
            .find(|s| s.name == name)
            .expect("server")
            .transport
        {
            Transport::Stdio { args, .. } => args.clone(),
            Transport::Http { .. } => unreachable!(),
        };
        let locked = [
            "run",
            "--name=moved",
            "--lock=/home/u/.local/state/mcpwall/mcpwall.lock",
            "--",
            "npx",
            "srv@1",
        ];
        assert_eq!(args("moved"), locked);
        assert_eq!(
            args("home")[2],
            "--lock=/home/u/.local/state/mcpwall/mcpwall.lock"
        );
        assert_eq!(args("plain"), ["run", "--name=plain", "--", "srv"]);
        let why = |name: &str| &w.left.iter().find(|(n, _)| n == name).expect("left").1;
        assert!(
            why("wrapped").contains("env XDG_STATE_HOME"),
            "{}",
            why("wrapped")
        );
        assert_eq!(why("locked"), "already started through mcpwall");
        // Undone as written.
        let back = unwrap(&w.text, Format::Json).expect("unwraps");
        assert_eq!(back.changed, ["moved", "home", "plain"], "{:?}", back.left);
        assert_eq!(
            config::parse(&back.text, Format::Json).expect("parses"),
            config::parse(text, Format::Json).expect("parses")
        );
        // No lockfile to name: left, and why.
        let w = wrap(text, Format::Json, "/usr/bin/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["plain"]);
        let why = &w.left.iter().find(|(n, _)| n == "moved").expect("left").1;
        assert!(
            why.contains("sets MCPWALL_LOCK") && why.contains("--lock"),
            "{why}"
        );
    }

    #[test]
    fn codex_toml_wrapped_in_place_and_back() {
        let text = "# Codex\nmodel = \"o3\"\n\n[mcp_servers.docs]\ncommand = \"npx\" # the docs\nargs = [\"-y\", \"docs-mcp@1.2.0\"]\nenv = { KEY = \"v\" }\n\n[mcp_servers.bare]\n  command = 'uvx'\n\n[mcp_servers.web]\nurl = \"https://x/mcp\"\n\n[mcp_servers]\ninline = { command = \"node\", env = { A = \"b\" } }\n";
        let w = wrap(text, Format::Toml, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["bare", "docs", "inline"], "{}", w.text);
        assert_eq!(w.left, [("web".to_owned(), "a remote server".to_owned())]);
        assert!(
            w.text.starts_with("# Codex\nmodel = \"o3\"\n"),
            "{}",
            w.text
        );
        assert!(
            w.text.contains("command = \"/usr/local/bin/mcpwall\" # the docs\nargs = [\"run\", \"--name=docs\", \"--\", \"npx\", \"-y\", \"docs-mcp@1.2.0\"]\nenv = { KEY = \"v\" }"),
            "{}",
            w.text
        );
        assert!(
            w.text.contains("  command = \"/usr/local/bin/mcpwall\"\n  args = [\"run\", \"--name=bare\", \"--\", \"uvx\"]\n"),
            "{}",
            w.text
        );
        assert!(
            w.text.contains("inline = { command = \"/usr/local/bin/mcpwall\", args = [\"run\", \"--name=inline\", \"--\", \"node\"], env = { A = \"b\" } }"),
            "{}",
            w.text
        );
        let again = wrap(&w.text, Format::Toml, "/usr/local/bin/mcpwall", None).expect("wraps");
        assert!(again.changed.is_empty());
        let u = unwrap(&w.text, Format::Toml).expect("unwraps");
        // The same servers (an added `args` line stays, as `args = []`).
        let servers = |t: &str| -> Vec<(String, Transport)> {
            config::parse(t, Format::Toml)
                .expect("parses")
                .into_iter()
                .map(|e| (e.name, e.transport))
                .collect()
        };
        assert_eq!(servers(&u.text), servers(text));
        let lines: Vec<usize> = config::parse(text, Format::Toml)
            .expect("parses")
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(lines, [9, 4, 16, 12]);
        // Dotted keys, a command that is not a string, odd characters that must stay escaped.
        let odd = "mcp_servers.a.command = \"npx\"\n[mcp_servers.b]\ncommand = 3\n[mcp_servers.c]\ncommand = \"run\\u007F\\\"me\"\nargs = [\"a\\nb\"]\n";
        let w = wrap(odd, Format::Toml, "/x/mcpwall", None).expect("wraps");
        assert_eq!(w.changed, ["c"], "{:?}", w.left);
        assert_eq!(w.left.len(), 2, "{:?}", w.left);
        let back = unwrap(&w.text, Format::Toml).expect("unwraps");
        assert_eq!(
            config::parse(&back.text, Format::Toml).expect("parses"),
            config::parse(odd, Format::Toml).expect("parses")
        );
        assert!(wrap("[mcp_servers.x\n", Format::Toml, "m", None).is_err());
    }
}
