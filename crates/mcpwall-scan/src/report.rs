//! The scan's report: what was looked at, each server with its issues; as text for people,
//! JSON (schema `mcpwall.scan/1`, below) and SARIF 2.1.0 for machines.
//!
//! JSON: `{"schema": "mcpwall.scan/1", "looked": [{client, scope, path, status (found | absent
//! | error), error?, severity?, servers}], "servers": [{client, scope, file, line, name, section,
//! disabled, transport (stdio | http), command?, args, env_names, cwd?, url?, header_names,
//! issues: [{id, severity, message, fix, excerpt?}]}], "summary": {files, servers, issues:
//! {severity: count}, max_severity}}`. Fields are only ever added within a schema version;
//! credentials never appear (arguments and URLs are redacted, environment and header values
//! left out).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use mcpwall_detect::{Engine, Severity, Surface};
use serde::Serialize;
use serde_json::{Value, json};

use crate::checks::Issue;
use crate::config::{ServerEntry, Transport};
use crate::{Found, Source};

pub const SCHEMA: &str = "mcpwall.scan/1";

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub looked: Vec<Looked>,
    pub servers: Vec<ServerReport>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize)]
pub struct Looked {
    pub client: &'static str,
    pub scope: &'static str,
    pub path: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Of a file that could not be read: how much that matters (its servers went unchecked; a
    /// project's file, which a repository brings, may be written to be read differently by
    /// the client than by the scanner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    pub servers: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerReport {
    pub client: &'static str,
    pub scope: &'static str,
    pub file: String,
    pub line: usize,
    pub name: String,
    pub section: String,
    pub disabled: bool,
    pub transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub header_names: Vec<String>,
    /// What the server said it offers, when it was started (absent with `--offline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Inspection>,
    pub issues: Vec<Issue>,
}

/// The outcome of starting a server to list what it offers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inspection {
    /// `listed`, `failed` or `skipped`.
    pub status: &'static str,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The end of its standard error, redacted, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// `serverInfo.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    pub tools: Vec<String>,
    pub prompts: Vec<String>,
    pub resources: usize,
    pub resource_templates: usize,
    pub instructions: bool,
    /// Its tools against `mcpwall.lock`: `unpinned`, `pinned` or `changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pins: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub files: usize,
    pub servers: usize,
    pub issues: BTreeMap<&'static str, usize>,
    pub max_severity: Option<Severity>,
}

impl Report {
    /// The highest severity of any issue.
    pub fn max_severity(&self) -> Option<Severity> {
        self.summary.max_severity
    }
}

/// The report of `sources`, each server's issues from `check`.
pub(crate) fn build(
    engine: &Engine,
    sources: &[Source],
    check: impl Fn(&ServerEntry) -> Vec<Issue>,
) -> Report {
    let redact = |s: &str| engine.redact(Surface::Config, s).text.into_owned();
    let mut looked = Vec::new();
    let mut servers = Vec::new();
    for src in sources {
        let l = &src.location;
        let (status, error, n) = match &src.found {
            Found::Absent => ("absent", None, 0),
            Found::Error(e) => ("error", Some(e.clone()), 0),
            Found::Servers(s) => ("found", None, s.len()),
        };
        let severity = error.as_ref().map(|_| match l.scope {
            "project" => Severity::Medium,
            _ => Severity::Low,
        });
        looked.push(Looked {
            client: l.client,
            scope: l.scope,
            path: l.path.display().to_string(),
            status,
            error,
            severity,
            servers: n,
        });
        let Found::Servers(entries) = &src.found else {
            continue;
        };
        for e in entries {
            let issues = check(e).into_iter().map(|i| redacted(engine, i)).collect();
            let mut r = ServerReport {
                client: l.client,
                scope: l.scope,
                file: l.path.display().to_string(),
                line: e.line,
                name: e.name.clone(),
                section: e.section.clone(),
                disabled: e.disabled,
                transport: "stdio",
                command: None,
                args: Vec::new(),
                env_names: Vec::new(),
                cwd: None,
                url: None,
                header_names: Vec::new(),
                inspection: None,
                issues,
            };
            match &e.transport {
                Transport::Stdio {
                    command,
                    args,
                    env_names,
                    cwd,
                    ..
                } => {
                    r.command = Some(redact(command));
                    r.args = args.iter().map(|a| redact(a)).collect();
                    r.env_names.clone_from(env_names);
                    r.cwd = cwd.clone();
                }
                Transport::Http {
                    url, header_names, ..
                } => {
                    r.transport = "http";
                    r.url = Some(redact(url));
                    r.header_names.clone_from(header_names);
                }
            }
            servers.push(r);
        }
    }
    let mut r = Report {
        schema: SCHEMA,
        summary: Summary {
            files: 0,
            servers: 0,
            issues: BTreeMap::new(),
            max_severity: None,
        },
        looked,
        servers,
    };
    r.finish();
    r
}

/// An issue with the credentials in its message and excerpt replaced by placeholders: what
/// reaches any output (a command line, a URL or a definition may carry one).
pub(crate) fn redacted(engine: &Engine, mut i: Issue) -> Issue {
    i.message = engine.redact(Surface::Config, &i.message).text.into_owned();
    i.excerpt = i
        .excerpt
        .as_deref()
        .map(|t| engine.redact(Surface::Config, t).text.into_owned());
    i
}

impl Report {
    /// Orders each server's issues (most severe first) and counts them again, after issues
    /// were added.
    pub fn finish(&mut self) {
        let mut counts = BTreeMap::new();
        let mut max = None;
        for s in &mut self.servers {
            s.issues
                .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
            for i in &s.issues {
                *counts.entry(i.severity.as_str()).or_insert(0) += 1;
                max = max.max(Some(i.severity));
            }
        }
        for sev in self.looked.iter().filter_map(|l| l.severity) {
            *counts.entry(sev.as_str()).or_insert(0) += 1;
            max = max.max(Some(sev));
        }
        self.summary = Summary {
            files: self.looked.iter().filter(|l| l.status == "found").count(),
            servers: self.servers.len(),
            issues: counts,
            max_severity: max,
        };
    }
}

/// Where each place was looked for, and what was there (`mcpwall scan --list`).
pub fn render_list(r: &Report, home: Option<&Path>) -> String {
    let mut out = String::new();
    for l in &r.looked {
        let what = match l.status {
            "found" => format!("{} server{}", l.servers, plural(l.servers)),
            "absent" => "-".into(),
            other => format!("{other}: {}", l.error.as_deref().unwrap_or("")),
        };
        let _ = writeln!(
            out,
            "{:<15} {:<9} {:<60} {what}",
            l.client,
            l.scope,
            tilde(&l.path, home)
        );
    }
    out
}

/// The report for a terminal (`color`: ANSI colours for severities).
pub fn render_text(r: &Report, home: Option<&Path>, color: bool) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let issues: usize = s.issues.values().sum();
    let by: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|v| {
            s.issues
                .get(v.as_str())
                .map(|n| format!("{n} {}", v.as_str()))
        })
        .collect();
    let _ = writeln!(
        out,
        "mcpwall scan: {} configuration file{}, {} server{}, {issues} issue{}{}",
        s.files,
        plural(s.files),
        s.servers,
        plural(s.servers),
        plural(issues),
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    );
    for l in r.looked.iter().filter(|l| l.status == "error") {
        let _ = writeln!(
            out,
            "\n{} {}: {} {}: {}: its servers were not checked",
            l.client,
            tilde(&l.path, home),
            l.severity.map_or("", Severity::as_str).to_ascii_uppercase(),
            l.status,
            l.error.as_deref().unwrap_or("")
        );
    }
    let mut last_file = "";
    for srv in &r.servers {
        if srv.file != last_file {
            last_file = &srv.file;
            let _ = writeln!(out, "\n{}  {}", srv.client, tilde(&srv.file, home));
        }
        let how = match (&srv.command, &srv.url) {
            (_, Some(url)) => url.clone(),
            (Some(c), None) => std::iter::once(c.as_str())
                .chain(srv.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            (None, None) => String::new(),
        };
        let off = if srv.disabled { " (disabled)" } else { "" };
        let verdict = if srv.issues.is_empty() { "  ok" } else { "" };
        let _ = writeln!(
            out,
            "  {}{off}  line {}  {}{verdict}",
            mcpwall_detect::visible(&srv.name),
            srv.line,
            mcpwall_detect::visible(&shorten(&how, 100))
        );
        if let Some(i) = &srv.inspection {
            let what = match i.status {
                "listed" => format!(
                    "listed: {} tool{}, {} prompt{}, {} resource{}{}",
                    i.tools.len(),
                    plural(i.tools.len()),
                    i.prompts.len(),
                    plural(i.prompts.len()),
                    i.resources + i.resource_templates,
                    plural(i.resources + i.resource_templates),
                    if i.instructions { ", instructions" } else { "" }
                ),
                other => format!(
                    "{other}: {}",
                    mcpwall_detect::visible(i.reason.as_deref().unwrap_or(""))
                ),
            };
            let _ = writeln!(out, "    {what}");
            if let Some(e) = i.stderr.as_deref().filter(|e| !e.is_empty()) {
                for line in e
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    let _ = writeln!(
                        out,
                        "      | {}",
                        mcpwall_detect::visible(&shorten(line, 120))
                    );
                }
            }
        }
        for i in &srv.issues {
            let sev = i.severity.as_str().to_ascii_uppercase();
            let sev = if color {
                let code = match i.severity {
                    Severity::Critical | Severity::High => "1;31",
                    Severity::Medium => "33",
                    Severity::Low | Severity::Info => "36",
                };
                format!("\x1b[{code}m{sev:<8}\x1b[0m")
            } else {
                format!("{sev:<8}")
            };
            let _ = writeln!(
                out,
                "    {sev} {}  {}",
                mcpwall_detect::visible(&i.id),
                mcpwall_detect::visible(&i.message)
            );
            if let Some(x) = &i.excerpt {
                let _ = writeln!(
                    out,
                    "             {}",
                    mcpwall_detect::visible(&shorten(x, 120))
                );
            }
            let _ = writeln!(out, "             fix: {}", mcpwall_detect::visible(&i.fix));
        }
    }
    out
}

/// The report as SARIF 2.1.0, for GitHub code scanning and other CI tools: one rule per issue
/// id found, one result per issue, located at the server's line in its configuration file.
pub fn render_sarif(r: &Report, version: &str) -> Value {
    // A file that could not be read is a result of its own, at its first line.
    let unreadable: Vec<(&Looked, Issue)> = r
        .looked
        .iter()
        .filter_map(|l| {
            let issue = Issue::new(
                "scan.unreadable_config",
                l.severity?,
                format!(
                    "the file cannot be read ({}): its servers were not checked",
                    l.error.as_deref().unwrap_or("error")
                ),
                "fix or remove the file: a client may read what the scanner cannot",
            );
            Some((l, issue))
        })
        .collect();
    // Every result: (client, file, line, name, issue).
    let all: Vec<(&str, &str, usize, &str, &Issue)> = r
        .servers
        .iter()
        .flat_map(|s| {
            s.issues
                .iter()
                .map(move |i| (s.client, s.file.as_str(), s.line, s.name.as_str(), i))
        })
        .chain(
            unreadable
                .iter()
                .map(|(l, i)| (l.client, l.path.as_str(), 1, l.path.as_str(), i)),
        )
        .collect();
    // Each rule with one of its issues (for the fix) and the highest severity it has here.
    let mut rules: BTreeMap<&str, (&Issue, Severity)> = BTreeMap::new();
    for i in all.iter().map(|a| a.4) {
        let e = rules.entry(i.id.as_str()).or_insert((i, i.severity));
        e.1 = e.1.max(i.severity);
    }
    let ordered: Vec<(&str, &Issue, Severity)> =
        rules.iter().map(|(id, (i, s))| (*id, *i, *s)).collect();
    let index: BTreeMap<&str, usize> = ordered
        .iter()
        .enumerate()
        .map(|(n, (id, ..))| (*id, n))
        .collect();
    let rules_json: Vec<Value> = ordered
        .iter()
        .map(|(id, i, severity)| {
            json!({
                "id": id,
                "name": id.replace(['.', '_'], " "),
                "shortDescription": {"text": crate::checks::describe(id)},
                "help": {"text": i.fix},
                "defaultConfiguration": {"level": level(*severity)},
                "properties": {
                    "security-severity": security_severity(*severity),
                    "tags": ["security", "mcp"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = all
        .iter()
        .map(|&(client, file, line, name, i)| {
            json!({
                "ruleId": i.id,
                "ruleIndex": index[i.id.as_str()],
                "level": level(i.severity),
                "message": {"text": format!("{name} ({client}): {}", i.message)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": file_uri(file)},
                        "region": {"startLine": line},
                    },
                    "logicalLocations": [{"name": name, "kind": "object"}],
                }],
                // Stable across runs, distinct for each issue: where, which server, which check,
                // and what it points at (its excerpt, else its message; a server's one
                // `not_inspected` by neither, as its message says why it failed this time).
                "partialFingerprints": {
                    "mcpwallIssue/v1": mcpwall_policy::sha256_hex(
                        format!("{client}\u{0}{file}\u{0}{name}\u{0}{}\u{0}{}", i.id, what(i))
                            .as_bytes()
                    ),
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mcpwall",
                "version": version,
                "informationUri": "https://github.com/mcpwall/mcpwall",
                "rules": rules_json,
            }},
            "results": results,
        }],
    })
}

/// What tells an issue from others of its id on the same server, for its fingerprint.
fn what(i: &Issue) -> &str {
    match (&i.excerpt, i.id.as_str()) {
        (Some(e), _) => e,
        (None, "scan.not_inspected") => "",
        (None, _) => &i.message,
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's scale: 9.0 and up critical, 7.0 high, 4.0 medium, below low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// An absolute path as a `file://` URI (percent-encoding what a URI cannot hold; Windows'
/// `C:\\x` as `file:///C:/x`); a relative one as it is.
fn file_uri(path: &str) -> String {
    let windows = path.len() > 2
        && path.as_bytes()[0].is_ascii_alphabetic()
        && path.as_bytes()[1] == b':'
        && matches!(path.as_bytes()[2], b'\\' | b'/');
    let path = if windows {
        format!("/{}", path.replace('\\', "/"))
    } else {
        path.to_owned()
    };
    let enc: String = path
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b':' if windows => ":".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect();
    if path.starts_with('/') {
        format!("file://{enc}")
    } else {
        enc
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn tilde(path: &str, home: Option<&Path>) -> String {
    match home.and_then(|h| Path::new(path).strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.to_owned(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}
