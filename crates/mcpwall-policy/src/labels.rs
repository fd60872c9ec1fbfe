//! Tool labels and session taint: the "lethal trifecta" of private data, untrusted content and
//! a way out. A session that has read private data, or taken in untrusted content the engine
//! flagged, must not then call a tool that sends data out.
//!
//! ```toml
//! [taint]
//! action = "deny"          # a sink called from a tainted session: "deny" (default), "ask", "allow"
//! annotations = true       # also label tools from their MCP annotations (default true)
//!
//! [[label]]
//! server = "mail"          # glob, default "*"
//! tool = "send_*"          # glob
//! labels = ["sink"]        # "private", "untrusted", "sink"
//! ```
//!
//! Every `[[label]]` whose globs match a tool adds its labels (unlike `[[rule]]`, where the
//! first match decides). With `annotations`, a tool the server marks `openWorldHint: true` is
//! `untrusted` (it reads the open world), and `sink` as well unless it is also marked
//! `readOnlyHint: true`. Annotations come from the server, so they can only add labels, never
//! take one away.

use serde::Deserialize;
use serde_json::Value;

/// What a tool is, for taint tracking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Its results are private data (mail, files, a database): reading them taints the session.
    pub private: bool,
    /// Its results come from strangers (web pages, issues, mail from anyone): reading them
    /// taints the session.
    pub untrusted: bool,
    /// It sends data out of the machine (mail, HTTP requests, posting messages).
    pub sink: bool,
}

impl Labels {
    /// Both sets of labels.
    #[must_use]
    pub fn union(self, other: Labels) -> Labels {
        Labels {
            private: self.private || other.private,
            untrusted: self.untrusted || other.untrusted,
            sink: self.sink || other.sink,
        }
    }

    /// The labels a tool's MCP `annotations` suggest.
    pub fn from_annotations(annotations: Option<&Value>) -> Labels {
        let hint = |name: &str| {
            annotations
                .and_then(|a| a.get(name))
                .and_then(Value::as_bool)
        };
        let open_world = hint("openWorldHint") == Some(true);
        Labels {
            private: false,
            untrusted: open_world,
            sink: open_world && hint("readOnlyHint") != Some(true),
        }
    }
}

/// What the policy says about taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taint {
    /// A sink called from a tainted session is refused (or asked about).
    pub enforce: bool,
    /// ... asked about: a person approves each such call through the client, when the client
    /// can be asked (otherwise it is refused).
    pub ask: bool,
    /// Tools are labelled from their annotations too.
    pub annotations: bool,
}

impl Default for Taint {
    fn default() -> Self {
        Taint {
            enforce: true,
            ask: false,
            annotations: true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaintFile {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    annotations: Option<bool>,
}

impl TaintFile {
    pub(crate) fn parse(&self) -> Result<Taint, String> {
        let (enforce, ask) = match self.action.as_deref() {
            None | Some("deny") => (true, false),
            Some("ask") => (true, true),
            Some("allow") => (false, false),
            Some(other) => {
                return Err(format!(
                    "[taint] action must be \"deny\", \"ask\" or \"allow\", not {other:?}"
                ));
            }
        };
        Ok(Taint {
            enforce,
            ask,
            annotations: self.annotations.unwrap_or(true),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelFile {
    #[serde(default)]
    server: Option<String>,
    tool: String,
    labels: Vec<String>,
}

/// One `[[label]]`, checked.
#[derive(Debug)]
pub(crate) struct LabelRule {
    pub(crate) server: String,
    pub(crate) tool: String,
    pub(crate) labels: Labels,
}

impl LabelFile {
    pub(crate) fn parse(&self) -> Result<LabelRule, String> {
        let mut labels = Labels::default();
        for l in &self.labels {
            match l.as_str() {
                "private" => labels.private = true,
                "untrusted" => labels.untrusted = true,
                "sink" => labels.sink = true,
                other => {
                    return Err(format!(
                        "[[label]] for tool {:?}: unknown label {other:?} (use \"private\", \
                         \"untrusted\" or \"sink\")",
                        self.tool
                    ));
                }
            }
        }
        Ok(LabelRule {
            server: self.server.clone().unwrap_or_else(|| "*".to_owned()),
            tool: self.tool.clone(),
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_suggest_labels() {
        let l = |a: Value| Labels::from_annotations(Some(&a));
        assert_eq!(
            l(json!({"openWorldHint": true})),
            Labels {
                private: false,
                untrusted: true,
                sink: true
            }
        );
        let fetch = l(json!({"openWorldHint": true, "readOnlyHint": true}));
        assert!(fetch.untrusted && !fetch.sink);
        assert_eq!(l(json!({"readOnlyHint": true})), Labels::default());
        // Only a real `true` counts.
        assert_eq!(l(json!({"openWorldHint": "true"})), Labels::default());
        assert_eq!(Labels::from_annotations(None), Labels::default());
    }
}
