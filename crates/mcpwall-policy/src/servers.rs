//! `[[server]]` sections: how the engine's verdicts are applied to one server's traffic.
//!
//! ```toml
//! [[server]]
//! name = "web-*"               # glob: the first section whose name matches applies
//! threshold = 0.4              # engine score from which content counts as an attack (0.5)
//! redact = true                # replace secrets and personal data in its results (true)
//! on_injection = "quarantine"  # or "block" (default: [results] on_injection)
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
}

#[derive(Debug)]
pub(crate) struct ServerRule {
    name: String,
    threshold: Option<f32>,
    redact: Option<bool>,
    quarantine: Option<bool>,
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
        Ok(ServerRule {
            name,
            threshold: self.threshold,
            redact: self.redact,
            quarantine,
        })
    }
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
        ] {
            let e = Policy::parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
