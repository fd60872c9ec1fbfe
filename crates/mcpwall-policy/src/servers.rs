//! `[[server]]` sections: how the engine's verdicts are applied to one server's traffic.
//!
//! ```toml
//! [[server]]
//! name = "web-*"               # glob: the first section whose name matches applies
//! threshold = 0.4              # engine score from which content counts as an attack (0.5)
//! redact = true                # replace secrets and personal data in its results (true)
//! on_injection = "quarantine"  # or "block" (default: [results] on_injection)
//!
//! [server.sandbox]             # start its stdio process confined (`mcpwall sandbox`)
//! ro = ["~/notes"]             # trees it may read and execute from (absolute, or ~/...)
//! rw = ["~/notes/inbox"]       # trees it may write to (not execute from)
//! network = false              # Internet sockets (default false)
//! unix = false                 # Unix sockets, to local daemons (default false)
//! env = ["NOTES_TOKEN"]        # variables passed on besides the allow-list
//! limits = { memory = "1G" }   # memory, processes, file-size, cpu, open-files ("none" lifts)
//! system = true                # the system's program and library trees (default true)
//! ```
//!
//! A lower threshold is stricter (more is blocked); a higher one lets more through of what the
//! server sends, for a server whose ordinary content the engine misreads (what goes to it is
//! never checked more loosely than by default). Nothing here switches a check off for a
//! server that no section names.

use serde::Deserialize;

use crate::rules::glob;

/// The engine's score from which content counts as an attack, unless a section says otherwise.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// How a server's stdio process is confined (`[server.sandbox]`): the arguments of
/// `mcpwall sandbox`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSettings {
    /// Trees it may read and execute from, as written (absolute, or `~/...`).
    pub read_only: Vec<String>,
    /// Trees it may read and write, not execute from.
    pub read_write: Vec<String>,
    /// Whether it may open Internet sockets.
    pub network: bool,
    /// Whether it may open Unix sockets (to local daemons).
    pub unix: bool,
    /// Environment variables passed on besides the sandbox's allow-list.
    pub env: Vec<String>,
    /// Resource limits, `(key, value)` as `mcpwall sandbox --limit key=value` takes them.
    pub limits: Vec<(String, String)>,
    /// Whether the system's program and library trees are readable.
    pub system: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxFile {
    #[serde(default)]
    ro: Vec<String>,
    #[serde(default)]
    rw: Vec<String>,
    #[serde(default)]
    network: bool,
    #[serde(default)]
    unix: bool,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    limits: std::collections::BTreeMap<String, String>,
    #[serde(default = "yes")]
    system: bool,
}

fn yes() -> bool {
    true
}

/// Limits `mcpwall sandbox` knows, and whether each is a size (`512M`, `4G`) or a count.
const LIMITS: &[(&str, bool)] = &[
    ("memory", true),
    ("processes", false),
    ("file-size", true),
    ("cpu", false),
    ("open-files", false),
];

impl SandboxFile {
    fn parse(self) -> Result<SandboxSettings, String> {
        for p in self.ro.iter().chain(&self.rw) {
            if !(p.starts_with('/') || p.starts_with("~/")) {
                return Err(format!(
                    "sandbox path {p:?} must be absolute or start with ~/ (a relative path would \
                     depend on where mcpwall runs)"
                ));
            }
        }
        for name in &self.env {
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!("sandbox env {name:?} is not a variable name"));
            }
        }
        for (key, value) in &self.limits {
            let Some(&(_, size)) = LIMITS.iter().find(|(k, _)| k == key) else {
                return Err(format!(
                    "sandbox limit {key:?} is not one of memory, processes, file-size, cpu, \
                     open-files"
                ));
            };
            let digits = if size {
                value.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't'])
            } else {
                value.as_str()
            };
            let number = !digits.is_empty()
                && digits.len() + 1 >= value.len()
                && digits.bytes().all(|b| b.is_ascii_digit());
            if value != "none" && !number {
                return Err(format!(
                    "sandbox limit {key} = {value:?}: expected a number{} or \"none\"",
                    if size { " of bytes (512M, 4G)" } else { "" }
                ));
            }
        }
        Ok(SandboxSettings {
            read_only: self.ro,
            read_write: self.rw,
            network: self.network,
            unix: self.unix,
            env: self.env,
            limits: self.limits.into_iter().collect(),
            system: self.system,
        })
    }
}

/// What applies to one server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerSettings {
    /// Engine score from which content counts as an attack.
    pub threshold: f32,
    /// Replace secrets and personal data in its results.
    pub redact: bool,
    /// Replace only the parts of a result that carry instructions, rather than block it.
    pub quarantine: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerFile {
    name: toml::Spanned<String>,
    #[serde(default)]
    threshold: Option<f32>,
    #[serde(default)]
    redact: Option<bool>,
    #[serde(default)]
    on_injection: Option<String>,
    #[serde(default)]
    sandbox: Option<SandboxFile>,
}

#[derive(Debug)]
pub(crate) struct ServerRule {
    name: String,
    threshold: Option<f32>,
    redact: Option<bool>,
    quarantine: Option<bool>,
    sandbox: Option<SandboxSettings>,
}

impl ServerFile {
    /// Checks a section; errors name its line.
    pub(crate) fn parse(self, text: &str) -> Result<ServerRule, String> {
        let line = text[..self.name.span().start.min(text.len())]
            .matches('\n')
            .count()
            + 1;
        let name = self.name.into_inner();
        let at = |what: &str| format!("line {line}: [[server]] {name:?}: {what}");
        if let Some(t) = self.threshold
            && !(t > 0.0 && t <= 1.0)
        {
            return Err(at(&format!(
                "threshold must be above 0 and at most 1, not {t}"
            )));
        }
        let quarantine = match self.on_injection.as_deref() {
            None => None,
            Some("block") => Some(false),
            Some("quarantine") => Some(true),
            Some(other) => {
                return Err(at(&format!(
                    "on_injection must be \"block\" or \"quarantine\", not {other:?}"
                )));
            }
        };
        let sandbox = self
            .sandbox
            .map(SandboxFile::parse)
            .transpose()
            .map_err(|e| at(&e))?;
        Ok(ServerRule {
            name,
            threshold: self.threshold,
            redact: self.redact,
            quarantine,
            sandbox,
        })
    }
}

/// How `server`'s process is confined: the first section whose name matches says, and without
/// a `[server.sandbox]` there it is not.
impl ServerRule {
    /// The glob of server names this entry applies to.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

pub(crate) fn sandbox_for<'r>(
    rules: &'r [ServerRule],
    server: &str,
) -> Option<&'r SandboxSettings> {
    rules
        .iter()
        .find(|r| glob(&r.name, server))?
        .sandbox
        .as_ref()
}

/// The settings for `server`: the first section whose name matches, over the defaults.
pub(crate) fn settings_for(rules: &[ServerRule], server: &str, quarantine: bool) -> ServerSettings {
    let mut s = ServerSettings {
        threshold: DEFAULT_THRESHOLD,
        redact: true,
        quarantine,
    };
    if let Some(r) = rules.iter().find(|r| glob(&r.name, server)) {
        s.threshold = r.threshold.unwrap_or(s.threshold);
        s.redact = r.redact.unwrap_or(s.redact);
        s.quarantine = r.quarantine.unwrap_or(s.quarantine);
    }
    s
}

/// Whether some section quarantines.
pub(crate) fn any_quarantines(rules: &[ServerRule]) -> bool {
    rules.iter().any(|r| r.quarantine == Some(true))
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    #[test]
    fn the_first_matching_section_applies_over_the_defaults() {
        let p = Policy::parse(
            "[results]\non_injection = \"quarantine\"\n\n\
             [[server]]\nname = \"web-*\"\nthreshold = 0.3\n\n\
             [[server]]\nname = \"web-docs\"\nthreshold = 0.9\n\n\
             [[server]]\nname = \"vault\"\nredact = false\non_injection = \"block\"\n",
        )
        .expect("valid");
        let web = p.for_server("web-docs");
        assert_eq!(
            (web.threshold, web.redact, web.quarantine),
            (0.3, true, true)
        );
        let vault = p.for_server("vault");
        assert_eq!(
            (vault.threshold, vault.redact, vault.quarantine),
            (0.5, false, false)
        );
        assert_eq!(p.for_server("other").threshold, super::DEFAULT_THRESHOLD);
        assert!(p.quarantines());
        // Quarantine for one server only still opens the store.
        let one = Policy::parse("[[server]]\nname = \"a\"\non_injection = \"quarantine\"\n")
            .expect("valid");
        assert!(one.quarantines() && !one.for_server("b").quarantine);
    }

    #[test]
    fn a_sandbox_belongs_to_the_first_matching_section() {
        let p = Policy::parse(
            "[[server]]\nname = \"trusted\"\n\n\
             [[server]]\nname = \"*\"\n[server.sandbox]\nro = [\"~/notes\", \"/srv/a\"]\n\
             rw = [\"/tmp/x\"]\nenv = [\"TOKEN\"]\nlimits = { memory = \"1G\", cpu = \"none\" }\n",
        )
        .expect("valid");
        assert!(p.sandbox_for("trusted").is_none());
        let s = p.sandbox_for("notes").expect("the catch-all confines it");
        assert_eq!(s.read_only, ["~/notes", "/srv/a"]);
        assert_eq!(s.read_write, ["/tmp/x"]);
        assert!(!s.network && s.system);
        assert_eq!(s.env, ["TOKEN"]);
        assert_eq!(
            s.limits,
            [
                ("cpu".to_owned(), "none".to_owned()),
                ("memory".to_owned(), "1G".to_owned())
            ]
        );
        // The empty table: the defaults of `mcpwall sandbox`.
        let p = Policy::parse("[[server]]\nname = \"a\"\nsandbox = {}\n").expect("valid");
        assert_eq!(p.sandbox_for("a").map(|s| s.system), Some(true));
    }

    #[test]
    fn bad_sections_are_refused_with_their_line() {
        for (text, says) in [
            ("[[server]]\nname = \"a\"\nthreshold = 0\n", "line 2"),
            ("[[server]]\nname = \"a\"\nthreshold = 1.5\n", "threshold"),
            (
                "\n[[server]]\nname = \"a\"\non_injection = \"drop\"\n",
                "line 3",
            ),
            (
                "[[server]]\nname = \"a\"\nthreshhold = 0.4\n",
                "unknown field",
            ),
            ("[[server]]\nthreshold = 0.4\n", "name"),
            (
                "[[server]]\nname = \"a\"\n[server.sandbox]\nro = [\"notes\"]\n",
                "absolute",
            ),
            (
                "[[server]]\nname = \"a\"\n[server.sandbox]\nlimits = { memory = \"1GB\" }\n",
                "memory",
            ),
            (
                "[[server]]\nname = \"a\"\n[server.sandbox]\nlimits = { disk = \"1\" }\n",
                "disk",
            ),
            (
                "[[server]]\nname = \"a\"\n[server.sandbox]\nenv = [\"A=B\"]\n",
                "variable",
            ),
            (
                "[[server]]\nname = \"a\"\n[server.sandbox]\nnet = true\n",
                "unknown field",
            ),
        ] {
            let e = Policy::parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
