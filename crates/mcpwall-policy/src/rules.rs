//! The policy file: which tools may be called, with which arguments, how often.
//!
//! ```toml
//! default = "allow"            # for tools no rule matches: "allow" or "deny"
//!
//! [[rule]]
//! server = "notes"             # glob, default "*"
//! tool = "write_*"             # glob
//! action = "deny"              # "allow" (default), "deny" or "ask"
//! reason = "This agent only reads notes."
//!
//! [[rule]]
//! tool = "read_text_file"
//! rate = "30/minute"           # per session and tool
//! [rule.arguments.path]
//! within = ["/home/me/notes"]  # an absolute path under one of these, after `.` and `..`
//! ```
//!
//! The first rule whose `server` and `tool` globs match decides. Argument constraints
//! (`within`, `pattern`, `one_of`, `max_length`, `required`) apply to the named top-level
//! argument, or to a JSON pointer when the name starts with `/`. A constrained argument is
//! required unless `required = false`; `pattern` is searched for, so anchor it (`\A...\z`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use regex_automata::meta::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::PolicyError;
use crate::access::{self, EntryRule, Kind, PromptFile, ResourceFile};
use crate::labels::{LabelFile, LabelRule, Labels, Taint, TaintFile};
use crate::servers::{
    SandboxSettings, ServerFile, ServerRule, ServerSettings, any_quarantines, sandbox_for,
    settings_for,
};

/// A parsed, checked policy.
#[derive(Debug)]
pub struct Policy {
    default_deny: bool,
    rules: Vec<Rule>,
    labels: Vec<LabelRule>,
    taint: Taint,
    /// Replace only the parts of a result that carry instructions, rather than block it.
    quarantine: bool,
    servers: Vec<ServerRule>,
    /// `[[resource]]` and `[[prompt]]` sections, in order.
    entries: Vec<EntryRule>,
}

#[derive(Debug)]
struct Rule {
    index: usize,
    server: String,
    tool: String,
    deny: bool,
    /// A person approves each call (through the client).
    ask: bool,
    reason: Option<String>,
    rate: Option<Rate>,
    arguments: Vec<(String, Constraint)>,
}

/// At most `count` calls per `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Calls allowed in a period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

#[derive(Debug)]
struct Constraint {
    required: bool,
    within: Vec<PathBuf>,
    pattern: Option<Regex>,
    one_of: Vec<Value>,
    max_length: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    rule: Vec<RuleFile>,
    #[serde(default)]
    label: Vec<LabelFile>,
    #[serde(default)]
    taint: TaintFile,
    #[serde(default)]
    results: ResultsFile,
    #[serde(default)]
    server: Vec<ServerFile>,
    #[serde(default)]
    resource: Vec<ResourceFile>,
    #[serde(default)]
    prompt: Vec<PromptFile>,
}

/// `[results]`: what becomes of content that carries instructions for the model.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsFile {
    #[serde(default)]
    on_injection: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    server: Option<String>,
    tool: toml::Spanned<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    rate: Option<String>,
    #[serde(default)]
    arguments: BTreeMap<String, ConstraintFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstraintFile {
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    within: Vec<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    one_of: Vec<Value>,
    #[serde(default)]
    max_length: Option<usize>,
}

/// What the policy says about one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The call may go on (to the engine's checks).
    Allow,
    /// The call may go on once a person approves it (after the engine's checks).
    Ask {
        /// Why a person is asked, for that person.
        why: String,
    },
    /// The call is refused: `rule` is `policy.deny`, `policy.default_deny`, `policy.argument`
    /// or `policy.rate_limit`; `why` says it to a person.
    Deny {
        /// A stable rule id.
        rule: &'static str,
        /// A human sentence.
        why: String,
    },
}

impl Policy {
    /// A policy that allows everything (the default of `mcpwall run`).
    pub fn allow_all() -> Policy {
        Policy {
            default_deny: false,
            rules: Vec::new(),
            labels: Vec::new(),
            taint: Taint::default(),
            quarantine: false,
            servers: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Parses a policy file's text. Errors name the line and the rule.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Policy(e.to_string()))?;
        let default_deny = match file.default.as_deref() {
            None | Some("allow") => false,
            Some("deny") => true,
            Some(other) => {
                return Err(PolicyError::Policy(format!(
                    "`default` must be \"allow\" or \"deny\", not {other:?}"
                )));
            }
        };
        let mut rules = Vec::with_capacity(file.rule.len());
        for (k, r) in file.rule.into_iter().enumerate() {
            let line = text[..r.tool.span().start.min(text.len())]
                .matches('\n')
                .count()
                + 1;
            let tool = r.tool.get_ref().clone();
            let at = |what: String| {
                PolicyError::Policy(format!(
                    "line {line}: rule {} (tool {tool:?}): {what}",
                    k + 1
                ))
            };
            let (deny, ask) = match r.action.as_deref() {
                None | Some("allow") => (false, false),
                Some("deny") => (true, false),
                Some("ask") => (false, true),
                Some(other) => {
                    return Err(at(format!(
                        "`action` must be \"allow\", \"deny\" or \"ask\", not {other:?}"
                    )));
                }
            };
            let rate = r.rate.as_deref().map(parse_rate).transpose().map_err(at)?;
            let mut arguments = Vec::new();
            for (name, c) in &r.arguments {
                let within = c
                    .within
                    .iter()
                    .map(|w| {
                        let p = Path::new(w);
                        if !p.is_absolute() {
                            return Err(at(format!(
                                "`within` of `{name}`: {w:?} is not an absolute path"
                            )));
                        }
                        normalize(p).ok_or_else(|| {
                            at(format!("`within` of `{name}`: {w:?} climbs out of /"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let pattern = c
                    .pattern
                    .as_deref()
                    .map(|p| {
                        // ASCII classes (`\s`, `\w`, `\b`), byte-wise: the build carries no
                        // Unicode tables, and a policy pattern is about ASCII syntax (SQL verbs,
                        // identifiers) far more often than about scripts.
                        Regex::builder()
                            .syntax(
                                regex_automata::util::syntax::Config::new()
                                    .unicode(false)
                                    .utf8(false),
                            )
                            .build(p)
                            .map_err(|e| {
                                let detail = std::error::Error::source(&e)
                                    .map_or_else(|| e.to_string(), ToString::to_string);
                                at(format!("`pattern` of `{name}`: {detail}"))
                            })
                    })
                    .transpose()?;
                // A constrained argument must be there unless the file says it may be absent:
                // otherwise `{"recipient": "a@evil.example"}` would pass a constraint on
                // `/recipient/domain` by not having a domain at all.
                let constrained = !c.within.is_empty()
                    || c.pattern.is_some()
                    || !c.one_of.is_empty()
                    || c.max_length.is_some();
                arguments.push((
                    name.clone(),
                    Constraint {
                        required: c.required.unwrap_or(constrained),
                        within,
                        pattern,
                        one_of: c.one_of.clone(),
                        max_length: c.max_length,
                    },
                ));
            }
            rules.push(Rule {
                index: k,
                server: r.server.clone().unwrap_or_else(|| "*".to_owned()),
                tool: tool.clone(),
                deny,
                ask,
                reason: r.reason.clone(),
                rate,
                arguments,
            });
        }
        let labels = file
            .label
            .iter()
            .map(LabelFile::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PolicyError::Policy)?;
        let taint = file.taint.parse().map_err(PolicyError::Policy)?;
        let quarantine = match file.results.on_injection.as_deref() {
            None | Some("block") => false,
            Some("quarantine") => true,
            Some(other) => {
                return Err(PolicyError::Policy(format!(
                    "[results] on_injection must be \"block\" or \"quarantine\", not {other:?}"
                )));
            }
        };
        let servers = file
            .server
            .into_iter()
            .map(|s| s.parse(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PolicyError::Policy)?;
        let resources = file.resource.iter().enumerate().map(|(k, r)| r.parse(k));
        let prompts = file.prompt.iter().enumerate().map(|(k, p)| p.parse(k));
        let entries = resources
            .chain(prompts)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PolicyError::Policy)?;
        Ok(Policy {
            default_deny,
            rules,
            labels,
            taint,
            quarantine,
            servers,
            entries,
        })
    }

    /// The labels every `[[label]]` matching the tool gives it.
    pub fn labels(&self, server: &str, tool: &str) -> Labels {
        self.labels
            .iter()
            .filter(|l| glob(&l.server, server) && glob(&l.tool, tool))
            .fold(Labels::default(), |acc, l| acc.union(l.labels))
    }

    /// Whether the parts of a result that carry instructions for the model are replaced with a
    /// notice (the rest kept), rather than the whole result blocked, anywhere: by default, or
    /// for some server ([`Policy::for_server`] says which).
    pub fn quarantines(&self) -> bool {
        self.quarantine || any_quarantines(&self.servers)
    }

    /// What applies to `server`'s traffic: the first `[[server]]` section whose name matches,
    /// over the defaults (threshold 0.5, redaction on, `[results] on_injection`).
    pub fn for_server(&self, server: &str) -> ServerSettings {
        settings_for(&self.servers, server, self.quarantine)
    }

    /// How `server`'s stdio process is confined, when the first `[[server]]` section whose
    /// name matches has a `[server.sandbox]`.
    pub fn sandbox_for(&self, server: &str) -> Option<&SandboxSettings> {
        sandbox_for(&self.servers, server)
    }

    /// How taint is tracked and enforced.
    pub fn taint(&self) -> Taint {
        self.taint
    }

    /// The server globs other than `*` that the policy's rules, labels and server entries
    /// name, in order, without repeats: a policy that names servers means nothing to a server
    /// that has no name.
    pub fn named_servers(&self) -> Vec<&str> {
        let globs = self.rules.iter().map(|r| r.server.as_str());
        let globs = globs.chain(self.labels.iter().map(|l| l.server.as_str()));
        let globs = globs.chain(self.servers.iter().map(ServerRule::name));
        let globs = globs.chain(self.entries.iter().map(|e| e.server.as_str()));
        let mut named: Vec<&str> = Vec::new();
        for g in globs {
            if g != "*" && !named.contains(&g) {
                named.push(g);
            }
        }
        named
    }

    /// Whether `server`'s resource `uri` may be read: the first `[[resource]]` section whose
    /// globs match decides, else the default. `uri` must be in the gateway's canonical form
    /// (dot segments resolved, escaped unreserved characters decoded).
    pub fn decide_resource(&self, server: &str, uri: &str) -> Decision {
        access::decide(
            &self.entries,
            self.default_deny,
            Kind::Resource,
            server,
            uri,
        )
    }

    /// Whether the policy has a word on resources at all: a `[[resource]]` section, or a
    /// default of deny.
    pub fn governs_resources(&self) -> bool {
        self.default_deny || self.entries.iter().any(EntryRule::is_resource)
    }

    /// Whether `server`'s prompt `name` may be fetched (or completed): the first `[[prompt]]`
    /// section whose globs match decides, else the default.
    pub fn decide_prompt(&self, server: &str, name: &str) -> Decision {
        access::decide(&self.entries, self.default_deny, Kind::Prompt, server, name)
    }

    /// Whether calls that no rule matches are denied.
    pub fn default_denies(&self) -> bool {
        self.default_deny
    }

    /// How many rules the policy has.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the policy has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn rule_for(&self, server: &str, tool: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| glob(&r.server, server) && glob(&r.tool, tool))
    }

    /// Whether the tool may be offered at all: false when a rule (or the default) denies it
    /// whatever its arguments, so that the model does not see it.
    pub fn offers(&self, server: &str, tool: &str) -> bool {
        match self.rule_for(server, tool) {
            Some(r) => !r.deny,
            None => !self.default_deny,
        }
    }

    /// Gives back the rate-limit token a call to `tool` took in [`Policy::decide`]: for a call
    /// that was answered without running (a person is asked, and the call comes again).
    pub fn refund(&self, server: &str, tool: &str, limits: &mut RateLimits) {
        if let Some(rule) = self.rule_for(server, tool)
            && let Some(rate) = rule.rate
        {
            limits.give_back(rule.index, tool, rate);
        }
    }

    /// The decision on a call. `limits` holds the session's rate-limit state.
    pub fn decide(
        &self,
        server: &str,
        tool: &str,
        args: Option<&Value>,
        limits: &mut RateLimits,
        now: Instant,
    ) -> Decision {
        let Some(rule) = self.rule_for(server, tool) else {
            return if self.default_deny {
                Decision::Deny {
                    rule: "policy.default_deny",
                    why: format!(
                        "no policy rule allows tool `{tool}` (the policy's default is deny)"
                    ),
                }
            } else {
                Decision::Allow
            };
        };
        if rule.deny {
            return Decision::Deny {
                rule: "policy.deny",
                why: rule
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("the policy denies tool `{tool}`")),
            };
        }
        for (name, c) in &rule.arguments {
            let value = args.and_then(|a| argument(a, name));
            if let Err(why) = c.check(value) {
                return Decision::Deny {
                    rule: "policy.argument",
                    why: format!("argument `{name}` of `{tool}`: {why}"),
                };
            }
        }
        if let Some(rate) = rule.rate
            && !limits.take(rule.index, tool, rate, now)
        {
            return Decision::Deny {
                rule: "policy.rate_limit",
                why: format!(
                    "tool `{tool}` may be called {} times per {} s in a session",
                    rate.count,
                    rate.per.as_secs()
                ),
            };
        }
        if rule.ask {
            return Decision::Ask {
                why: rule.reason.clone().unwrap_or_else(|| {
                    format!(
                        "the policy asks a person before `{tool}` runs (rule {})",
                        rule.index + 1
                    )
                }),
            };
        }
        Decision::Allow
    }
}

impl Constraint {
    fn check(&self, value: Option<&Value>) -> Result<(), String> {
        let Some(v) = value else {
            return if self.required {
                Err("it is required".to_owned())
            } else {
                Ok(())
            };
        };
        if !self.one_of.is_empty() && !self.one_of.contains(v) {
            return Err(format!("{v} is not one of the allowed values"));
        }
        let needs_string =
            !self.within.is_empty() || self.pattern.is_some() || self.max_length.is_some();
        if !needs_string {
            return Ok(());
        }
        let Some(s) = v.as_str() else {
            return Err("it must be a string".to_owned());
        };
        if let Some(max) = self.max_length
            && s.chars().count() > max
        {
            return Err(format!("longer than {max} characters"));
        }
        if let Some(p) = &self.pattern
            && !p.is_match(s)
        {
            return Err("it does not match the allowed pattern".to_owned());
        }
        if !self.within.is_empty() {
            let path = Path::new(s);
            if s.contains('\0') || !path.is_absolute() {
                return Err("it must be an absolute path".to_owned());
            }
            // On a Windows server (or one that treats `\` as a separator), `/data/..\..\x`
            // climbs out; here it would be one odd name inside /data.
            if s.contains('\\') {
                return Err(
                    "it holds a backslash, which some servers read as a separator".to_owned(),
                );
            }
            let Some(norm) = normalize(path) else {
                return Err("it climbs out of /".to_owned());
            };
            // Component-wise: "/home/me/notes-evil" is not within "/home/me/notes".
            if !self.within.iter().any(|root| norm.starts_with(root)) {
                return Err("it is outside the directories the policy allows".to_owned());
            }
        }
        Ok(())
    }
}

/// The argument a constraint names: a top-level name, or a JSON pointer when it starts with
/// `/`. A key that differs from the name only in case counts as it: servers that decode
/// arguments without regard to case take `Path` for `path`, and a constraint on `path` must
/// not be stepped around so. (The gateway's parser refuses objects with two such keys.)
fn argument<'a>(args: &'a Value, name: &str) -> Option<&'a Value> {
    let exact = match name.strip_prefix('/') {
        Some(_) => args.pointer(name),
        None => args.get(name),
    };
    if exact.is_some() {
        return exact;
    }
    let steps: Vec<String> = match name.strip_prefix('/') {
        Some(path) => path
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect(),
        None => vec![name.to_owned()],
    };
    let mut at = args;
    for step in &steps {
        at = match at {
            Value::Object(m) => match m.get(step) {
                Some(v) => v,
                None => {
                    let folded = mcpwall_protocol::fold_key(step);
                    m.iter()
                        .find(|(k, _)| mcpwall_protocol::fold_key(k) == folded)
                        .map(|(_, v)| v)?
                }
            },
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// `path` with `.` and `..` resolved lexically (no filesystem access: symbolic links are the
/// server's to refuse); `None` if `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// `"30/minute"`, `"5/second"`, `"100/hour"`, `"1000/day"`.
fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad =
        || format!("`rate` must look like \"30/minute\" (second, minute, hour, day), not {s:?}");
    let (n, unit) = s.split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "second" | "s" => Duration::from_secs(1),
        "minute" | "min" => Duration::from_secs(60),
        "hour" | "h" => Duration::from_secs(3600),
        "day" | "d" => Duration::from_secs(86_400),
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err("`rate` of 0 calls: use `action = \"deny\"`".to_owned());
    }
    Ok(Rate { count, per })
}

/// `*` (any run of characters) and `?` (one character); everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A session's rate-limit state: a token bucket per rule and tool.
#[derive(Debug, Default)]
pub struct RateLimits {
    buckets: BTreeMap<(usize, String), (f64, Instant)>,
}

impl RateLimits {
    /// Puts one call back in the bucket of (`rule`, `tool`), up to its size.
    fn give_back(&mut self, rule: usize, tool: &str, rate: Rate) {
        if let Some((tokens, _)) = self.buckets.get_mut(&(rule, tool.to_owned())) {
            *tokens = (*tokens + 1.0).min(f64::from(rate.count));
        }
    }

    /// Takes one call from the bucket of (`rule`, `tool`); false when it is empty.
    fn take(&mut self, rule: usize, tool: &str, rate: Rate, now: Instant) -> bool {
        let cap = f64::from(rate.count);
        let (tokens, last) = self
            .buckets
            .entry((rule, tool.to_owned()))
            .or_insert((cap, now));
        let refill =
            now.saturating_duration_since(*last).as_secs_f64() / rate.per.as_secs_f64() * cap;
        *tokens = (*tokens + refill).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    fn decide(p: &Policy, server: &str, tool: &str, args: Value) -> Decision {
        p.decide(
            server,
            tool,
            Some(&args),
            &mut RateLimits::default(),
            Instant::now(),
        )
    }

    /// The rule that denies, if the decision is a denial (shared by the policy's tests).
    pub(crate) fn denied_by(d: &Decision) -> Option<&'static str> {
        match d {
            Decision::Deny { rule, .. } => Some(rule),
            Decision::Allow | Decision::Ask { .. } => None,
        }
    }

    #[test]
    fn the_example_policy_parses_and_decides() {
        let p = Policy::parse(include_str!("../../../docs/policy.example.toml")).expect("valid");
        assert_eq!(p.len(), 6);
        assert!(!p.offers("any", "delete_note") && p.offers("any", "read_note"));
        assert!(p.offers("any", "deploy_site"));
        assert!(matches!(
            decide(&p, "any", "deploy_site", json!({})),
            Decision::Ask { why } if why.contains("approval")
        ));
        assert!(!p.offers("filesystem", "move_file") && p.offers("other", "move_file"));
        let read = |path: &str| decide(&p, "filesystem", "read_text_file", json!({ "path": path }));
        assert_eq!(read("/home/me/notes/a.md"), Decision::Allow);
        assert_eq!(read("/home/me/notes/../projects/x.rs"), Decision::Allow);
        for bad in [
            "/home/me/notes/../../../etc/shadow",
            "/home/me/notes-old/a.md",
            "/etc/passwd",
            "notes/a.md",
            "/../../etc/passwd",
            "/home/me/notes/..\\..\\..\\etc\\shadow",
        ] {
            assert_eq!(denied_by(&read(bad)), Some("policy.argument"), "{bad}");
        }
        // A non-string path is no path.
        assert_eq!(
            denied_by(&decide(
                &p,
                "filesystem",
                "read_text_file",
                json!({"path": ["/home/me/notes"]})
            )),
            Some("policy.argument")
        );
        let q = |args: Value| decide(&p, "db", "run_query", args);
        assert_eq!(
            q(json!({"sql": " SELECT 1", "database": "analytics"})),
            Decision::Allow
        );
        assert_eq!(
            denied_by(&q(json!({"sql": "DROP TABLE x"}))),
            Some("policy.argument")
        );
        assert_eq!(
            denied_by(&q(json!({"database": "analytics"}))),
            Some("policy.argument")
        );
        assert_eq!(
            denied_by(&q(json!({"sql": "select 1", "database": "prod"}))),
            Some("policy.argument")
        );
        let long = format!("select {}", "x".repeat(4000));
        assert_eq!(
            denied_by(&q(json!({ "sql": long }))),
            Some("policy.argument")
        );
        let send = |d: &str| {
            decide(
                &p,
                "mail",
                "send_message",
                json!({"recipient": {"domain": d}}),
            )
        };
        assert_eq!(send("example.com"), Decision::Allow);
        assert_eq!(denied_by(&send("evil.example")), Some("policy.argument"));
        // Without the domain the constraint is not met: a string recipient is no way around it.
        let around = decide(
            &p,
            "mail",
            "send_message",
            json!({"recipient": "a@evil.example"}),
        );
        assert_eq!(denied_by(&around), Some("policy.argument"));
        // The query pattern is anchored at both ends: a second statement does not ride along.
        assert_eq!(
            denied_by(&q(
                json!({"sql": "select 1; drop table t", "database": "analytics"})
            )),
            Some("policy.argument")
        );
        let d = decide(&p, "x", "delete_all", json!({}));
        assert!(
            matches!(d, Decision::Deny { rule: "policy.deny", ref why } if why.contains("ask a person"))
        );
    }

    #[test]
    fn a_constraint_holds_for_a_key_that_differs_only_in_case() {
        let p = Policy::parse(
            "[[rule]]\ntool = \"read\"\n[rule.arguments.path]\nwithin = [\"/home/me/notes\"]\n\
             required = false\n[rule.arguments.\"/target/host\"]\none_of = [\"a.example\"]\n\
             required = false\n",
        )
        .expect("valid");
        let read = |args: Value| decide(&p, "any", "read", args);
        assert_eq!(read(json!({"path": "/home/me/notes/a"})), Decision::Allow);
        assert_eq!(read(json!({})), Decision::Allow);
        // Servers that decode keys without regard to case read these as `path` and `host`.
        for args in [
            json!({"Path": "/etc/shadow"}),
            json!({"PATH": "/etc/shadow"}),
            json!({"target": {"ho\u{17f}t": "evil.example"}}),
            json!({"TARGET": {"Host": "evil.example"}}),
        ] {
            assert_eq!(
                denied_by(&read(args.clone())),
                Some("policy.argument"),
                "{args}"
            );
        }
        assert_eq!(
            read(json!({"Target": {"HOST": "a.example"}})),
            Decision::Allow
        );
    }

    #[test]
    fn rates_refill_over_time() {
        let p = Policy::parse("[[rule]]\ntool = \"t\"\nrate = \"2/second\"\n").expect("valid");
        let mut limits = RateLimits::default();
        let t0 = Instant::now();
        let call =
            |limits: &mut RateLimits, at: Duration| p.decide("s", "t", None, limits, t0 + at);
        assert_eq!(call(&mut limits, Duration::ZERO), Decision::Allow);
        assert_eq!(call(&mut limits, Duration::ZERO), Decision::Allow);
        assert_eq!(
            denied_by(&call(&mut limits, Duration::ZERO)),
            Some("policy.rate_limit")
        );
        assert_eq!(
            call(&mut limits, Duration::from_millis(600)),
            Decision::Allow
        );
        // Per tool: another tool under the same rule has its own bucket.
        let p2 = Policy::parse("[[rule]]\ntool = \"*\"\nrate = \"1/hour\"\n").expect("valid");
        let mut l2 = RateLimits::default();
        assert_eq!(p2.decide("s", "a", None, &mut l2, t0), Decision::Allow);
        assert_eq!(p2.decide("s", "b", None, &mut l2, t0), Decision::Allow);
        assert!(denied_by(&p2.decide("s", "a", None, &mut l2, t0)).is_some());
    }

    #[test]
    fn default_deny_and_first_match() {
        let p = Policy::parse(
            "default = \"deny\"\n[[rule]]\ntool = \"read_*\"\n[[rule]]\ntool = \"*\"\naction = \"deny\"\n",
        )
        .expect("valid");
        assert_eq!(decide(&p, "s", "read_x", json!({})), Decision::Allow);
        assert_eq!(
            denied_by(&decide(&p, "s", "write_x", json!({}))),
            Some("policy.deny")
        );
        let q = Policy::parse("default = \"deny\"\n").expect("valid");
        assert_eq!(
            denied_by(&decide(&q, "s", "x", json!({}))),
            Some("policy.default_deny")
        );
        assert!(!q.offers("s", "x"));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = |text: &str, needle: &str| {
            let e = Policy::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{e}");
        };
        bad("default = \"maybe\"", "default");
        bad("[[rule]]\ntool = \"x\"\naction = \"maybe\"\n", "line 2");
        bad("\n\n[[rule]]\ntool = \"x\"\nrate = \"often\"\n", "line 4");
        bad(
            "[[rule]]\ntool = \"x\"\n[rule.arguments.p]\nwithin = [\"rel/dir\"]\n",
            "absolute",
        );
        bad(
            "[[rule]]\ntool = \"x\"\n[rule.arguments.p]\npattern = \"(\"\n",
            "pattern",
        );
        bad("[[rule]]\ntool = \"x\"\nactoin = \"deny\"\n", "actoin");
        bad("[[rule]]\naction = \"deny\"\n", "tool");
        bad("[[rule]]\ntool = \"x\"\nrate = \"0/minute\"\n", "deny");
    }

    #[test]
    fn labels_add_up_and_taint_is_configured() {
        let p = Policy::parse(
            "[[label]]\ntool = \"send_*\"\nlabels = [\"sink\"]\n\
             [[label]]\nserver = \"mail\"\ntool = \"*\"\nlabels = [\"private\"]\n",
        )
        .expect("valid");
        let l = p.labels("mail", "send_mail");
        assert!(l.sink && l.private && !l.untrusted);
        assert_eq!(p.labels("web", "fetch"), Labels::default());
        assert!(p.labels("web", "send_it").sink);
        // Labels decide nothing by themselves: the default still allows.
        assert!(p.offers("mail", "send_mail"));
        assert_eq!(p.taint(), Taint::default());
        assert!(p.taint().enforce && p.taint().annotations);
        let p = Policy::parse("[taint]\naction = \"allow\"\nannotations = false\n").expect("valid");
        assert!(!p.taint().enforce && !p.taint().annotations);
        let p = Policy::parse("[taint]\naction = \"ask\"\n").expect("valid");
        assert!(p.taint().enforce && p.taint().ask);
        for bad in [
            "[taint]\naction = \"block\"\n",
            "[[label]]\ntool = \"x\"\nlabels = [\"secret\"]\n",
            "[[label]]\ntool = \"x\"\n",
            "[taint]\nmode = 1\n",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("*", "", true),
            ("read_*", "read_file", true),
            ("read_*", "xread_file", false),
            ("*_file", "read_file", true),
            ("r?ad", "read", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, t), m, "{p} {t}");
        }
    }
}
