//! What a listed server offers, judged: the detection engine on every definition the model will
//! read (tool descriptions and schemas, prompts, resources, the server's instructions), and,
//! across the servers of one client, tools that share a name or definitions that name another
//! server's tools.

use std::collections::{BTreeMap, BTreeSet};

use mcpwall_detect::names::{lookup_keys, mentions, strings};
use mcpwall_detect::{Engine, Severity, Surface};
use serde_json::Value;

use crate::checks::Issue;
use crate::introspect::Listing;

/// Findings below this severity are left out: a tool description that mentions an e-mail
/// address is not a risk to report.
const REPORTED: Severity = Severity::Medium;

const FIX_DEFINITION: &str = "do not run this server; or run it behind `mcpwall run`, which withholds definitions like this one from the client";

/// The engine's findings on one server's definitions.
pub fn definitions(engine: &Engine, l: &Listing) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut judge = |what: String, surface: Surface, value: &Value| {
        let report = match value {
            Value::String(s) => engine.scan(surface, s),
            other => engine.scan_json(surface, other),
        };
        for f in report.findings.iter().filter(|f| f.severity >= REPORTED) {
            out.push(Issue {
                id: f.rule_id.to_string(),
                severity: f.severity,
                message: format!("{what}: {}", f.message),
                fix: FIX_DEFINITION.to_owned(),
                excerpt: Some(f.excerpt.clone()),
            });
        }
    };
    if let Some(i) = &l.instructions {
        judge(
            "the server's instructions".into(),
            Surface::ServerInstructions,
            &Value::String(i.clone()),
        );
    }
    for t in &l.tools {
        let name = t["name"].as_str().unwrap_or("?");
        if let Some(d) = t.get("description") {
            judge(format!("tool `{name}`"), Surface::ToolDescription, d);
        }
        let mut rest = t.clone();
        if let Value::Object(m) = &mut rest {
            m.remove("description");
            m.remove("name");
        }
        judge(
            format!("tool `{name}` (schema)"),
            Surface::ToolSchema,
            &rest,
        );
    }
    for (kind, list) in [
        ("prompt", &l.prompts),
        ("resource", &l.resources),
        ("resource template", &l.templates),
    ] {
        for p in list {
            let name = p["name"].as_str().unwrap_or("?");
            // What the model reads of it: every string but the name (a URI can carry text too).
            judge(format!("{kind} `{name}`"), Surface::ToolDescription, p);
        }
    }
    dedup(&mut out);
    out
}

/// The same rule on the same definition once (a schema repeats a phrase in many places).
fn dedup(issues: &mut Vec<Issue>) {
    let mut seen = BTreeSet::new();
    issues.retain(|i| seen.insert((i.id.clone(), i.message.clone())));
}

/// Issues across the listed servers of one client: `servers` are (name, listing). Returns,
/// for each server (by position), its issues.
pub fn across(servers: &[(&str, &Listing)]) -> Vec<Vec<Issue>> {
    let mut out = vec![Vec::new(); servers.len()];
    // Every tool name, lower-cased, with the servers that have it.
    let mut owners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, (_, l)) in servers.iter().enumerate() {
        for t in &l.tools {
            if let Some(n) = t["name"].as_str() {
                owners.entry(n.to_ascii_lowercase()).or_default().push(k);
            }
        }
    }
    for (name, ks) in &owners {
        let ks: BTreeSet<usize> = ks.iter().copied().collect();
        if ks.len() < 2 {
            continue;
        }
        for &k in &ks {
            let others: Vec<&str> = ks
                .iter()
                .filter(|&&o| o != k)
                .map(|&o| servers[o].0)
                .collect();
            out[k].push(Issue {
                id: "scan.duplicate_tool_name".into(),
                severity: Severity::Medium,
                message: format!(
                    "tool `{name}` is also offered by {}: the model cannot tell them apart, and one can stand in for the other",
                    others.join(", ")
                ),
                fix: "keep one of the servers, or serve them through `mcpwall serve`, which prefixes each tool with its server's name".into(),
                excerpt: None,
            });
        }
    }
    // Definitions that name another server's tool.
    // Each key a definition could name a distinctive tool by (its name as given: `createIssue`
    // is distinctive by its case), with the tool's name and owners.
    let mut distinct: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for (k, (_, l)) in servers.iter().enumerate() {
        for n in l.tools.iter().filter_map(|t| t["name"].as_str()) {
            for key in lookup_keys(n) {
                let (_, ks) = distinct
                    .entry(key)
                    .or_insert_with(|| (n.to_ascii_lowercase(), Vec::new()));
                if !ks.contains(&k) {
                    ks.push(k);
                }
            }
        }
    }
    for (k, (_, l)) in servers.iter().enumerate() {
        // (what, the text a model reads of it, what to show)
        let mut defs: Vec<(String, String, String)> = Vec::new();
        if let Some(i) = &l.instructions {
            defs.push(("the server's instructions".into(), i.clone(), i.clone()));
        }
        for (kind, list) in [("tool", &l.tools), ("prompt", &l.prompts)] {
            for d in list {
                let name = d["name"].as_str().unwrap_or("?");
                let mut text = String::new();
                if let Value::Object(m) = d {
                    for (key, v) in m {
                        if key != "name" {
                            strings(v, &mut text);
                        }
                    }
                }
                let shown = d["description"]
                    .as_str()
                    .map_or_else(|| text.clone(), str::to_owned);
                defs.push((format!("{kind} `{name}`"), text, shown));
            }
        }
        for (what, text, shown) in defs {
            let ids = mentions(mcpwall_detect::normalize(&text).as_str());
            let named: BTreeSet<String> = ids
                .iter()
                .filter_map(|w| distinct.get(w.as_str()))
                .filter(|(_, ks)| ks.iter().any(|&o| o != k))
                .map(|(w, ks)| {
                    let s: Vec<&str> = ks
                        .iter()
                        .filter(|&&o| o != k)
                        .map(|&o| servers[o].0)
                        .collect();
                    format!("`{w}` of {}", s.join(", "))
                })
                .collect();
            if !named.is_empty() {
                out[k].push(Issue {
                    id: "scan.cross_server_reference".into(),
                    severity: Severity::High,
                    message: format!(
                        "{what} names another server's tool ({}): a definition that steers the model's use of other servers' tools is how shadowing works",
                        named.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                    fix: "remove this server, or withhold the definition (`mcpwall serve` does at its aggregated endpoint)".into(),
                    excerpt: Some(shown.chars().take(160).collect()),
                });
            }
        }
    }
    // A toxic flow: the client's tools, together, take all three roles.
    let mut holders: Vec<(crate::flows::Role, usize, String)> = Vec::new();
    for (k, (_, l)) in servers.iter().enumerate() {
        for t in &l.tools {
            for role in crate::flows::roles(t) {
                if !holders.iter().any(|(r, ..)| *r == role) {
                    holders.push((role, k, t["name"].as_str().unwrap_or("?").to_owned()));
                }
            }
        }
    }
    if holders.len() == 3 {
        holders.sort();
        let how: Vec<String> = holders
            .iter()
            .map(|(r, k, t)| format!("{} (`{t}` of {})", r.describe(), servers[*k].0))
            .collect();
        let mut involved: Vec<usize> = holders.iter().map(|(_, k, _)| *k).collect();
        involved.sort_unstable();
        involved.dedup();
        for k in involved {
            out[k].push(Issue {
                id: "scan.toxic_flow".into(),
                // Read from words: where to look, not a verdict.
                severity: Severity::Medium,
                message: format!(
                    "this client's tools can {}: an instruction hidden in that content can make the model carry the data out",
                    how.join(", ")
                ),
                fix: "keep untrusted content, private data and outbound tools out of one client, or put them behind `mcpwall run` with a policy that asks before the outbound calls".into(),
                excerpt: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(tools: Value) -> Listing {
        Listing {
            tools: tools.as_array().cloned().unwrap_or_default(),
            ..Listing::default()
        }
    }

    #[test]
    fn duplicates_and_references_across_servers() {
        let a = listing(
            json!([{"name": "get_config", "description": "Read the config."},
                               {"name": "search", "description": "Search."}]),
        );
        let b = listing(
            json!([{"name": "summarize", "description": "Works best on the output of GET_CONFIG."},
                               {"name": "search", "description": "Search the web."}]),
        );
        let c = listing(json!([{"name": "notes", "description": "Your get_configuration notes."}]));
        let out = across(&[("a", &a), ("b", &b), ("c", &c)]);
        let ids = |k: usize| out[k].iter().map(|i| i.id.as_str()).collect::<Vec<_>>();
        assert_eq!(ids(0), ["scan.duplicate_tool_name"]);
        assert_eq!(
            ids(1),
            ["scan.duplicate_tool_name", "scan.cross_server_reference"]
        );
        assert!(
            out[1][1].message.contains("`get_config` of a"),
            "{}",
            out[1][1].message
        );
        assert!(ids(2).is_empty(), "{:?}", out[2]);
    }

    #[test]
    fn a_toxic_flow_needs_all_three_roles() {
        let web = listing(json!([{"name": "fetch_url", "description": "Fetch a web page."}]));
        let files = listing(json!([{"name": "read_text_file", "description": "Read a file."}]));
        let calc = listing(json!([{"name": "add", "description": "Add two numbers."}]));
        let out = across(&[("web", &web), ("files", &files), ("calc", &calc)]);
        let flagged: Vec<bool> = out
            .iter()
            .map(|i| i.iter().any(|x| x.id == "scan.toxic_flow"))
            .collect();
        assert_eq!(flagged, [true, true, false]);
        assert!(
            out[0][0].message.contains("`read_text_file` of files"),
            "{}",
            out[0][0].message
        );
        let out = across(&[("files", &files), ("calc", &calc)]);
        assert!(out.iter().flatten().all(|x| x.id != "scan.toxic_flow"));
    }
}
