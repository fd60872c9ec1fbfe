//! `[[resource]]` and `[[prompt]]` sections: which resources (by URI) and prompts (by name)
//! may be read or fetched, per server. The first section whose globs match decides; without
//! one, the policy's `default` does, as for tools.
//!
//! A URI is matched as the gateway gives it: as servers read it, its dot segments resolved
//! and its escaped unreserved characters decoded, so that `file:///notes/../etc/passwd` is
//! `file:///etc/passwd` to these globs (the gateway refuses what servers could read as
//! another URI before it asks). A URI that still holds an escaped `/` or `\`, a backslash or a
//! NUL is refused here too by any section that would allow it but `*`: a server that decodes
//! it would read a path the glob did not see.

use serde::Deserialize;

use crate::rules::{Decision, glob};

/// What a section applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Resource,
    Prompt,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        }
    }
}

/// What a section does with what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Allow,
    Deny,
    /// A person is asked (through the client) before each read or fetch.
    Ask,
}

/// `[[resource]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceFile {
    #[serde(default)]
    server: Option<String>,
    uri: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `[[prompt]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromptFile {
    #[serde(default)]
    server: Option<String>,
    name: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// One `[[resource]]` or `[[prompt]]` section.
#[derive(Debug)]
pub(crate) struct EntryRule {
    kind: Kind,
    pub(crate) server: String,
    /// A URI glob, or a prompt name glob.
    pattern: String,
    action: Access,
    reason: Option<String>,
}

fn parse(
    kind: Kind,
    k: usize,
    server: Option<&String>,
    pattern: &str,
    action: Option<&str>,
    reason: Option<&String>,
) -> Result<EntryRule, String> {
    let action = match action {
        None | Some("allow") => Access::Allow,
        Some("deny") => Access::Deny,
        Some("ask") => Access::Ask,
        Some(other) => {
            return Err(format!(
                "[[{}]] {} ({pattern:?}): `action` must be \"allow\", \"deny\" or \"ask\", not {other:?}",
                kind.noun(),
                k + 1
            ));
        }
    };
    if pattern.is_empty() {
        return Err(format!(
            "[[{}]] {}: the {} glob is empty",
            kind.noun(),
            k + 1,
            if kind == Kind::Resource {
                "uri"
            } else {
                "name"
            }
        ));
    }
    Ok(EntryRule {
        kind,
        server: server.cloned().unwrap_or_else(|| "*".to_owned()),
        pattern: pattern.to_owned(),
        action,
        reason: reason.cloned(),
    })
}

impl EntryRule {
    pub(crate) fn is_resource(&self) -> bool {
        self.kind == Kind::Resource
    }
}

impl ResourceFile {
    pub(crate) fn parse(&self, k: usize) -> Result<EntryRule, String> {
        let r = parse(
            Kind::Resource,
            k,
            self.server.as_ref(),
            &self.uri,
            self.action.as_deref(),
            self.reason.as_ref(),
        )?;
        if r.pattern.contains('\\') {
            return Err(format!(
                "[[resource]] {} ({:?}): a backslash in a URI glob matches nothing that is \
                 allowed (URIs with backslashes are refused)",
                k + 1,
                r.pattern
            ));
        }
        Ok(r)
    }
}

impl PromptFile {
    pub(crate) fn parse(&self, k: usize) -> Result<EntryRule, String> {
        parse(
            Kind::Prompt,
            k,
            self.server.as_ref(),
            &self.name,
            self.action.as_deref(),
            self.reason.as_ref(),
        )
    }
}

/// Whether a URI holds what a server may decode into a path the globs did not see.
fn ambiguous(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    uri.contains(['\\', '\0']) || ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e))
}

/// What the sections (`rules`) and the default say about reading `key` (a canonical URI) or
/// fetching `key` (a prompt's name) from `server`.
pub(crate) fn decide(
    rules: &[EntryRule],
    default_deny: bool,
    kind: Kind,
    server: &str,
    key: &str,
) -> Decision {
    let rule = rules
        .iter()
        .find(|r| r.kind == kind && glob(&r.server, server) && glob(&r.pattern, key));
    match rule {
        Some(r) if r.action == Access::Deny => Decision::Deny {
            rule: "policy.deny",
            why: r
                .reason
                .clone()
                .unwrap_or_else(|| format!("the policy denies {} `{key}`", kind.noun())),
        },
        // (`uri = "*"` confines nothing: there is nothing to see past.)
        Some(r) if kind == Kind::Resource && r.pattern != "*" && ambiguous(key) => Decision::Deny {
            rule: "policy.argument",
            why: format!(
                "resource `{key}` holds an escaped slash or backslash, a backslash or a NUL: a \
                 server could read it as a path the policy did not allow"
            ),
        },
        Some(r) if r.action == Access::Ask => Decision::Ask {
            why: r.reason.clone().unwrap_or_else(|| {
                format!(
                    "the policy asks a person before {} `{key}` is used",
                    kind.noun()
                )
            }),
        },
        Some(_) => Decision::Allow,
        None if default_deny => Decision::Deny {
            rule: "policy.default_deny",
            why: format!(
                "no policy section allows {} `{key}` (the policy's default is deny)",
                kind.noun()
            ),
        },
        None => Decision::Allow,
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::denied_by;
    use crate::{Decision, Policy};

    #[test]
    fn resources_and_prompts_are_allowed_or_denied_by_their_sections() {
        let p = Policy::parse(
            "default = \"deny\"\n\
             [[resource]]\nserver = \"fs\"\nuri = \"file:///home/me/notes/*\"\n\
             [[resource]]\nuri = \"demo://*\"\n\
             [[resource]]\nuri = \"file:///home/me/notes/secret*\"\naction = \"deny\"\n\
             [[prompt]]\nname = \"debug_*\"\naction = \"deny\"\nreason = \"Not here.\"\n\
             [[prompt]]\nname = \"*\"\n",
        )
        .expect("valid");
        let read = |server: &str, uri: &str| p.decide_resource(server, uri);
        assert_eq!(read("fs", "file:///home/me/notes/a.md"), Decision::Allow);
        // The first section that matches decides.
        assert_eq!(
            read("fs", "file:///home/me/notes/secret.md"),
            Decision::Allow
        );
        assert_eq!(
            denied_by(&read("other", "file:///home/me/notes/a.md")),
            Some("policy.default_deny")
        );
        assert_eq!(
            denied_by(&read("fs", "file:///etc/passwd")),
            Some("policy.default_deny")
        );
        // What a server could decode into a path the glob did not see.
        for uri in [
            "file:///home/me/notes/..%2F..%2Fetc%2Fpasswd",
            "file:///home/me/notes/..%5c..%5cwin.ini",
            "file:///home/me/notes/a\\..\\..\\x",
            "file:///home/me/notes/a%00.md",
        ] {
            assert_eq!(
                denied_by(&read("fs", uri)),
                Some("policy.argument"),
                "{uri}"
            );
        }
        assert_eq!(
            denied_by(&read("any", "demo://x/%2F")),
            Some("policy.argument")
        );
        assert_eq!(read("any", "demo://x/a%20b"), Decision::Allow);
        let get = |name: &str| p.decide_prompt("any", name);
        assert_eq!(get("summarize"), Decision::Allow);
        assert!(
            matches!(get("debug_dump"), Decision::Deny { rule: "policy.deny", ref why } if why == "Not here.")
        );
        assert_eq!(p.named_servers(), ["fs"]);
        // Without sections, the default decides.
        let open = Policy::parse("").expect("valid");
        assert_eq!(
            open.decide_resource("x", "file:///etc/shadow"),
            Decision::Allow
        );
        let closed = Policy::parse("default = \"deny\"").expect("valid");
        assert!(denied_by(&closed.decide_prompt("x", "p")).is_some());
        // A person may be asked; what a server could read as another URI is still refused.
        let ask = Policy::parse(
            "[[resource]]\nuri = \"file:///home/*\"\naction = \"ask\"\n\
             [[prompt]]\nname = \"deploy\"\naction = \"ask\"\nreason = \"It ships.\"\n",
        )
        .expect("valid");
        assert!(matches!(
            ask.decide_resource("x", "file:///home/a"),
            Decision::Ask { ref why } if why.contains("file:///home/a")
        ));
        assert_eq!(
            denied_by(&ask.decide_resource("x", "file:///home/a%2F..")),
            Some("policy.argument")
        );
        assert_eq!(
            ask.decide_prompt("x", "deploy"),
            Decision::Ask {
                why: "It ships.".into()
            }
        );
        let e =
            Policy::parse("[[prompt]]\nname = \"x\"\naction = \"maybe\"\n").expect_err("invalid");
        assert!(e.to_string().contains("\"ask\""), "{e}");
    }

    #[test]
    fn bad_sections_are_refused_at_load() {
        for (text, says) in [
            (
                "[[resource]]\nuri = \"x://*\"\naction = \"redact\"\n",
                "`action` must be",
            ),
            ("[[prompt]]\nname = \"\"\n", "glob is empty"),
            (
                "[[resource]]\nuri = \"file:///c:\\\\x\\\\*\"\n",
                "backslash",
            ),
            ("[[resource]]\nname = \"x\"\n", "unknown field"),
        ] {
            let e = Policy::parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
