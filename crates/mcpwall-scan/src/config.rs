//! Reading MCP server entries out of a client's configuration file, whatever the client: the
//! shapes differ (`mcpServers`, VS Code's `servers`, Zed's `context_servers`, Codex's TOML
//! `[mcp_servers.NAME]`, Claude Code's per-project sections, Continue's list), the entries
//! much less (a command with arguments and environment, or a URL with headers).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The format of a configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON, with the comments and trailing commas VS Code and Zed allow.
    Json,
    Toml,
    /// Continue's.
    Yaml,
}

impl Format {
    /// From a file name: `.toml` is TOML, `.yaml` and `.yml` YAML, anything else JSON.
    pub fn of(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Json,
        }
    }
}

/// How a client reaches a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Transport {
    /// A command the client starts, speaking over its standard input and output.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Values as written (checked for secrets, never printed unredacted).
        #[serde(skip)]
        env: BTreeMap<String, String>,
        /// The names of the variables set.
        env_names: Vec<String>,
        cwd: Option<String>,
    },
    /// A remote server (Streamable HTTP, or the older HTTP+SSE).
    Http {
        url: String,
        /// Header values as written (checked for secrets, never printed unredacted).
        #[serde(skip)]
        headers: BTreeMap<String, String>,
        header_names: Vec<String>,
        /// The transport the entry declares, if it says.
        #[serde(skip)]
        protocol: RemoteProtocol,
    },
}

/// Which HTTP transport of MCP a remote entry declares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemoteProtocol {
    /// Not said (`url` alone): Streamable HTTP is tried first, then HTTP+SSE, as the
    /// specification tells clients to.
    #[default]
    Unknown,
    StreamableHttp,
    /// HTTP+SSE, of protocol 2024-11-05.
    Sse,
}

/// One server of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerEntry {
    pub name: String,
    #[serde(flatten)]
    pub transport: Transport,
    /// Turned off in the client's settings (`"disabled": true`): still checked, and said so.
    pub disabled: bool,
    /// Where the entry sits: the section holding it (`mcpServers`,
    /// `projects./home/me/app.mcpServers`, ...).
    pub section: String,
    /// 1-based line of the entry's name in the file (best effort: the first line that names it
    /// after its section's key).
    pub line: usize,
}

/// A configuration file that cannot be read as one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    Shape(String),
}

/// The servers a configuration file declares. A file with none of the known sections is no
/// error: it declares none.
/// A TOML document as JSON.
pub(crate) fn toml_root(text: &str) -> Result<Value, ConfigError> {
    let t: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Toml(e.message().to_owned()))?;
    serde_json::to_value(t).map_err(|e| ConfigError::Toml(e.to_string()))
}

pub fn parse(text: &str, format: Format) -> Result<Vec<ServerEntry>, ConfigError> {
    let root: Value = match format {
        Format::Json => {
            let clean = strip_jsonc(text);
            if clean.trim().is_empty() {
                return Ok(Vec::new());
            }
            serde_json::from_str(&clean).map_err(|e| ConfigError::Json(e.to_string()))?
        }
        Format::Toml => toml_root(text)?,
        Format::Yaml => match crate::yaml::to_json(text).map_err(ConfigError::Yaml)? {
            Value::Null => return Ok(Vec::new()),
            v => v,
        },
    };
    let Value::Object(root) = root else {
        return Err(ConfigError::Shape("the file is not an object".into()));
    };
    let mut out = Vec::new();
    let lines = Lines::new(text, format);
    for (section, map) in sections(&root) {
        // By name: serde_json keeps keys sorted, or in document order when some dependency
        // turns on its `preserve_order` feature; the report must not depend on which.
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in entries {
            let Value::Object(entry) = v else {
                continue;
            };
            if let Some(transport) = transport(entry) {
                let key = section.rsplit('.').next().unwrap_or(&section);
                out.push(ServerEntry {
                    name: name.clone(),
                    transport,
                    disabled: entry.get("disabled").and_then(Value::as_bool) == Some(true)
                        || entry.get("enabled").and_then(Value::as_bool) == Some(false),
                    line: lines.find_name(key, name),
                    section: section.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The objects of a file that map server names to entries, with their dotted paths.
fn sections(root: &Map<String, Value>) -> Vec<(String, Map<String, Value>)> {
    let mut out = Vec::new();
    let mut add = |path: String, v: Option<&Value>| {
        if let Some(Value::Object(m)) = v {
            out.push((path, m.clone()));
        }
    };
    for key in ["mcpServers", "servers", "context_servers", "mcp_servers"] {
        add(key.to_owned(), root.get(key));
    }
    // VS Code user settings: "mcp": {"servers": {...}}.
    if let Some(Value::Object(mcp)) = root.get("mcp") {
        add("mcp.servers".to_owned(), mcp.get("servers"));
    }
    // Claude Code's ~/.claude.json: a section for each project.
    if let Some(Value::Object(projects)) = root.get("projects") {
        let mut projects: Vec<(&String, &Value)> = projects.iter().collect();
        projects.sort_by(|a, b| a.0.cmp(b.0));
        for (dir, p) in projects {
            add(format!("projects.{dir}.mcpServers"), p.get("mcpServers"));
        }
    }
    // Continue's config.json: a list, each with its transport inside.
    if let Some(Value::Array(list)) = root
        .get("experimental")
        .and_then(|e| e.get("modelContextProtocolServers"))
    {
        out.push((
            "experimental.modelContextProtocolServers".to_owned(),
            named(list, ListKind::ContinueJson),
        ));
    }
    // Continue's YAML: a list of entries with their names.
    if let Some(Value::Array(list)) = root.get("mcpServers") {
        out.push(("mcpServers".to_owned(), named(list, ListKind::ContinueYaml)));
    }
    out
}

/// How a list of servers is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListKind {
    /// Continue's `config.json`: each entry's transport in `transport`, `disabled` honoured.
    ContinueJson,
    /// Continue's YAML: an entry runs its `command` whenever it has one, unless its `type` is
    /// `sse` or `streamable-http`; there is no `transport` and no `disabled` (Continue drops
    /// keys it does not know, so neither may hide a command from the scan).
    ContinueYaml,
}

/// A list of servers by name: `name`, else its place; two of one name are two servers,
/// neither hides the other.
fn named(list: &[Value], kind: ListKind) -> Map<String, Value> {
    let mut m = Map::new();
    for (i, s) in list.iter().enumerate() {
        let base = s
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("server-{}", i + 1), str::to_owned);
        let mut name = base.clone();
        let mut n = i + 1;
        while m.contains_key(&name) {
            name = format!("{base}#{n}");
            n += 1;
        }
        let entry = match kind {
            ListKind::ContinueJson => {
                let mut entry = s.get("transport").cloned().unwrap_or_else(|| s.clone());
                if let Value::Object(e) = &mut entry
                    && let Some(d) = s.get("disabled")
                {
                    e.insert("disabled".into(), d.clone());
                }
                entry
            }
            ListKind::ContinueYaml => match s {
                Value::Object(e) => Value::Object(continue_yaml_entry(e)),
                other => other.clone(),
            },
        };
        m.insert(name, entry);
    }
    m
}

/// A Continue YAML entry as Continue reads it, in the shape [`transport`] reads.
fn continue_yaml_entry(e: &Map<String, Value>) -> Map<String, Value> {
    let mut e = e.clone();
    e.remove("disabled");
    e.remove("enabled");
    e.remove("transport");
    let remote = e
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| matches!(t, "sse" | "streamable-http"));
    if e.contains_key("command") && !remote {
        for k in ["url", "serverUrl", "httpUrl"] {
            e.remove(k);
        }
        e.insert("type".into(), Value::from("stdio"));
    } else {
        e.remove("command");
    }
    e
}

/// An entry's transport; `None` for an object that is no server entry.
pub(crate) fn transport(e: &Map<String, Value>) -> Option<Transport> {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let pairs = |v: Option<&Value>| -> BTreeMap<String, String> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // With both a command and a URL, the command runs unless a remote type is declared:
    // clients take an entry without a type for stdio (Claude Code does), so a server that
    // also gives a URL must not pass for remote and be left unwrapped.
    let remote_declared = s("type")
        .or_else(|| s("transport"))
        .is_some_and(|t| !t.eq_ignore_ascii_case("stdio"));
    let stdio_declared = e.get("command").is_some() && !remote_declared;
    if let Some((url, named)) = s("url")
        .map(|u| (u, RemoteProtocol::Unknown))
        .or_else(|| s("serverUrl").map(|u| (u, RemoteProtocol::Unknown)))
        // Gemini CLI's name for a Streamable HTTP address.
        .or_else(|| s("httpUrl").map(|u| (u, RemoteProtocol::StreamableHttp)))
        .filter(|_| !stdio_declared)
    {
        // Continue keeps them in `requestOptions.headers`.
        let headers = pairs(
            e.get("headers")
                .or_else(|| e.get("requestOptions").and_then(|o| o.get("headers"))),
        );
        let declared = s("type").or_else(|| s("transport"));
        let protocol = match declared.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("sse") => RemoteProtocol::Sse,
            Some("http" | "streamable-http" | "streamable_http" | "streamablehttp") => {
                RemoteProtocol::StreamableHttp
            }
            _ => named,
        };
        return Some(Transport::Http {
            url,
            header_names: headers.keys().cloned().collect(),
            headers,
            protocol,
        });
    }
    // Zed's older shape: "command": {"path", "args", "env"}.
    let (command, args, env) = match e.get("command") {
        Some(Value::String(c)) => (c.clone(), strings(e.get("args")), pairs(e.get("env"))),
        Some(Value::Object(c)) => (
            c.get("path").and_then(Value::as_str)?.to_owned(),
            strings(c.get("args")),
            pairs(c.get("env")),
        ),
        _ => return None,
    };
    Some(Transport::Stdio {
        command,
        args,
        env_names: env.keys().cloned().collect(),
        env,
        cwd: s("cwd"),
    })
}

/// JSON with `//` and `/* */` comments and trailing commas (VS Code's and Zed's settings) made
/// plain JSON, byte for byte the same length outside what is removed, and the same lines.
pub fn strip_jsonc(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        let c = b[i];
        if in_string {
            if c == b'\\' && i + 1 < b.len() {
                // The escaped character whole (it may be more than one byte).
                let len = 1 + utf8_len(b[i + 1]);
                out.push_str(&text[i..(i + len).min(b.len())]);
                i += len;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
            continue;
        } else if c == b',' {
            // A comma followed, past blanks and comments, by a closing bracket is dropped.
            let mut j = i + 1;
            loop {
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if b.get(j) == Some(&b'/') && b.get(j + 1) == Some(&b'/') {
                    while j < b.len() && b[j] != b'\n' {
                        j += 1;
                    }
                } else if b.get(j) == Some(&b'/') && b.get(j + 1) == Some(&b'*') {
                    j += 2;
                    while j < b.len() && !(b[j] == b'*' && b.get(j + 1) == Some(&b'/')) {
                        j += 1;
                    }
                    j += 2;
                } else {
                    break;
                }
            }
            if matches!(b.get(j), Some(b'}' | b']')) {
                i += 1;
                continue;
            }
        }
        // Whole characters: `i` only ever stops on ASCII bytes or after a whole character.
        let len = utf8_len(c);
        out.push_str(&text[i..(i + len).min(b.len())]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Line lookups in the original text.
struct Lines<'a> {
    text: &'a str,
    /// Of a TOML file: the line where each `mcp_servers` entry's name is, from the parser.
    toml: BTreeMap<String, usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str, format: Format) -> Self {
        let mut toml = BTreeMap::new();
        if format == Format::Toml
            && let Ok(root) = toml::de::DeTable::parse(text)
            && let Some(servers) = root.get_ref().get("mcp_servers")
            && let toml::de::DeValue::Table(servers) = servers.get_ref()
        {
            for name in servers.keys() {
                let at = name.span().start.min(text.len());
                let line = text[..at].matches('\n').count() + 1;
                toml.insert(name.get_ref().to_string(), line);
            }
        }
        Lines { text, toml }
    }

    /// The line of `"name"` (JSON) or `name` in a TOML table header, after the first mention
    /// of the section's key; 1 when not found.
    fn find_name(&self, section_key: &str, name: &str) -> usize {
        if section_key == "mcp_servers"
            && let Some(&line) = self.toml.get(name)
        {
            return line;
        }
        let start = self.text.find(section_key).unwrap_or(0);
        let rest = &self.text[start..];
        let quoted = format!("\"{name}\"");
        let toml_header = format!("{section_key}.{name}]");
        let at = rest
            .find(&quoted)
            .or_else(|| rest.find(&toml_header))
            .or_else(|| yaml_name_line(rest, name))
            .map_or(start, |i| start + i);
        self.text[..at].matches('\n').count() + 1
    }
}

/// Where in `text` a YAML line `name: NAME` (or `- name: NAME`, quoted or not, with a comment
/// after it or not) starts.
fn yaml_name_line(text: &str, name: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let item = line.trim().trim_start_matches("- ").trim_start();
        if let Some(v) = item.strip_prefix("name:") {
            let v = v.split(" #").next().unwrap_or("").trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            if v == name {
                return Some(at);
            }
        }
        at += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_runs_unless_a_remote_type_is_declared() {
        let text = r#"{"mcpServers": {
            "both": {"command": "evil", "args": ["x"], "url": "http://ok.example/mcp"},
            "typed": {"command": "ignored", "type": "http", "url": "http://ok.example/mcp"},
            "stdio": {"command": "sh", "type": "stdio", "url": "http://ok.example/mcp"}}}"#;
        let s = parse(text, Format::Json).expect("parses");
        let by = |n: &str| &s.iter().find(|e| e.name == n).expect("listed").transport;
        assert!(matches!(by("both"), Transport::Stdio { command, .. } if command == "evil"));
        assert!(matches!(by("stdio"), Transport::Stdio { command, .. } if command == "sh"));
        assert!(matches!(by("typed"), Transport::Http { .. }));
    }

    #[test]
    fn continue_yaml_is_read_as_continue_reads_it() {
        let text = "mcpServers:\n  - name: a # first\r\n    command: sh\n    url: https://ok.example/mcp\n    transport: {url: https://ok.example/mcp}\n    disabled: true\n  - name: \"a#2\"\n    command: x\n  - name: a\n    command: y\n  - name: web\n    type: sse\n    url: https://web.example/sse\n    command: ignored\n";
        let s = parse(text, Format::Yaml).expect("parses");
        let by = |n: &str| {
            s.iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n}: {s:?}"))
        };
        assert!(
            matches!(&by("a").transport, Transport::Stdio { command, .. } if command == "sh"),
            "{s:?}"
        );
        assert!(!by("a").disabled);
        assert_eq!(by("a").line, 2);
        // Three of one name stay three.
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(matches!(&by("a#2").transport, Transport::Stdio { command, .. } if command == "x"));
        assert!(matches!(&by("a#3").transport, Transport::Stdio { command, .. } if command == "y"));
        assert!(matches!(
            &by("web").transport,
            Transport::Http {
                protocol: RemoteProtocol::Sse,
                ..
            }
        ));
    }

    #[test]
    fn jsonc_comments_and_trailing_commas() {
        let text = "{\n  // a comment with \"quotes\"\n  \"a\": \"http://x/*y*/\", /* block\n */ \"b\": [1, 2,],\n}\n";
        let v: Value = serde_json::from_str(&strip_jsonc(text)).expect("plain JSON");
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["b"], serde_json::json!([1, 2]));
        assert_eq!(
            strip_jsonc(text).matches('\n').count(),
            text.matches('\n').count()
        );
        // Unicode passes whole; an escaped quote does not end a string.
        let t = r#"{"k": "é \" // not a comment"}"#;
        assert_eq!(strip_jsonc(t), t);
    }

    #[test]
    fn every_shape() {
        let json = r#"{
  "mcpServers": {
    "notes": {"command": "npx", "args": ["-y", "@me/notes"], "env": {"TOKEN": "x"}},
    "remote": {"url": "https://mcp.example/mcp", "headers": {"Authorization": "Bearer y"}},
    "off": {"command": "x", "disabled": true}
  },
  "projects": {"/home/me/app": {"mcpServers": {"db": {"type": "stdio", "command": "uvx", "args": ["pg-mcp"]}}}},
  "context_servers": {"zed-old": {"command": {"path": "/usr/bin/srv", "args": ["--x"]}}},
  "mcp": {"servers": {"vs": {"type": "http", "url": "http://10.0.0.5/mcp"}}},
  "experimental": {"modelContextProtocolServers": [{"transport": {"type": "stdio", "command": "node", "args": ["s.js"]}}]}
}"#;
        let s = parse(json, Format::Json).expect("parses");
        let names: Vec<(&str, &str, usize)> = s
            .iter()
            .map(|e| (e.section.as_str(), e.name.as_str(), e.line))
            .collect();
        assert_eq!(
            names,
            [
                ("mcpServers", "notes", 3),
                ("mcpServers", "off", 5),
                ("mcpServers", "remote", 4),
                ("context_servers", "zed-old", 8),
                ("mcp.servers", "vs", 9),
                ("projects./home/me/app.mcpServers", "db", 7),
                ("experimental.modelContextProtocolServers", "server-1", 10),
            ]
        );
        assert!(s[1].disabled);
        let Transport::Stdio { env_names, .. } = &s[0].transport else {
            panic!("stdio")
        };
        assert_eq!(env_names, &["TOKEN"]);
        let toml = "model = \"o3\"\n[mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"docs-mcp\"]\nenv = { KEY = \"v\" }\n";
        let s = parse(toml, Format::Toml).expect("parses");
        assert_eq!((s[0].name.as_str(), s[0].line), ("docs", 2));
        assert!(parse("{", Format::Json).is_err());
        assert!(parse("[1]", Format::Json).is_err());
        assert!(parse("", Format::Json).expect("empty").is_empty());
    }

    proptest::proptest! {
        /// Any text, in any format: servers or an error, never a panic (these files may be a
        /// stranger's).
        #[test]
        fn any_text_parses_or_is_refused(
            text in "[ -~\\n\\t\\u{e9}\\u{200b}]{0,200}",
            shaped in "(mcpServers|mcp_servers|servers|name|command|args|url|\\[|\\]|\\{|\\}|:|,|\"|'|-|=|\\n|  |&a|\\*a|---|#|x|1)*",
        ) {
            for t in [&text, &shaped] {
                for f in [Format::Json, Format::Toml, Format::Yaml] {
                    let _ = parse(t, f);
                }
            }
        }
    }
}
