//! Toxic flows: one client whose tools, together, can read content a stranger wrote, reach the
//! user's private data and send data out. Each alone is ordinary; the three in one session are
//! how a prompt injection in a web page or an e-mail becomes a leak. Tools are classed by the
//! words of their names and descriptions, a rough reading that says where to look, and by
//! their MCP annotations as the gateway reads them for taint (`openWorldHint`: it reads the
//! open world, and sends to it unless `readOnlyHint`); annotations only add roles, as they
//! come from the server.

use serde_json::Value;

/// What a tool can do in a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Brings in content others wrote (web pages, e-mail, issues, messages).
    Untrusted,
    /// Reads the user's own data (files, databases, mail boxes, secrets).
    Private,
    /// Sends data out (messages, requests, posts, uploads).
    Sink,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::Untrusted => "read content others wrote",
            Role::Private => "reach private data",
            Role::Sink => "send data out",
        }
    }
}

/// Words of tool names and descriptions, by the role they suggest.
const WORDS: &[(Role, &[&str])] = &[
    (
        Role::Untrusted,
        &[
            "fetch", "browse", "browser", "scrape", "crawl", "web", "webpage", "website", "url",
            "html", "rss", "feed", "inbox", "email", "emails", "mail", "issue", "issues",
            "comment", "comments", "message", "messages", "tweet", "tweets", "page",
        ],
    ),
    (
        Role::Private,
        &[
            "file",
            "files",
            "filesystem",
            "directory",
            "read_file",
            "database",
            "sql",
            "query",
            "secret",
            "secrets",
            "credential",
            "credentials",
            "password",
            "config",
            "calendar",
            "contacts",
            "drive",
            "document",
            "documents",
            "notes",
            "repository",
            "env",
            "token",
            "keychain",
            "inbox",
        ],
    ),
    (
        Role::Sink,
        &[
            "send",
            "post",
            "publish",
            "upload",
            "webhook",
            "reply",
            "forward",
            "share",
            "tweet",
            "notify",
            "create_issue",
            "fetch",
            "request",
            "http",
        ],
    ),
];

/// Nouns that suggest a way out (`email_user`, `slack_message`), unless the tool's name starts
/// with a verb that only reads (`get_message`, `list_emails`).
const SINK_NOUNS: &[&str] = &["email", "sms", "message", "comment"];

/// Input properties that say where data goes: a URL the model picks (data rides in its path
/// or query) or a party it is sent to.
const SINK_PARAMETERS: &[&str] = &[
    "url",
    "uri",
    "endpoint",
    "webhook",
    "webhook_url",
    "callback_url",
    "recipient",
    "recipients",
    "cc",
    "bcc",
    "chat_id",
    "channel_id",
    "phone_number",
];

/// First words of tool names that read, not send.
const READ_VERBS: &[&str] = &[
    "get", "read", "list", "search", "find", "view", "show", "describe", "lookup", "query",
    "count", "check", "fetch", "load", "download", "browse",
];

/// The roles of a tool, by the words of its name (split at `_`, `-`, `.` and case changes),
/// of the first sentence of its description and of its input properties, and by its
/// annotations.
pub fn roles(tool: &Value) -> Vec<Role> {
    let name = tool["name"].as_str().unwrap_or("");
    let description = tool["description"].as_str().unwrap_or("");
    let first = description.split(['.', '\n']).next().unwrap_or("");
    let mut words: Vec<String> = split_name(name);
    words.push(name.to_ascii_lowercase());
    words.extend(
        first
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase),
    );
    let reads = split_name(name)
        .first()
        .is_some_and(|w| READ_VERBS.contains(&w.as_str()));
    let mut out: Vec<Role> = WORDS
        .iter()
        .filter(|(_, list)| words.iter().any(|w| list.contains(&w.as_str())))
        .map(|(r, _)| *r)
        .collect();
    if !reads && words.iter().any(|w| SINK_NOUNS.contains(&w.as_str())) {
        out.push(Role::Sink);
    }
    // A parameter that names where data goes (`url`, `recipient`), in any case or style.
    let sends = tool
        .pointer("/inputSchema/properties")
        .and_then(Value::as_object)
        .is_some_and(|props| {
            props.keys().any(|k| {
                let k = split_name(k).join("_");
                SINK_PARAMETERS.contains(&k.as_str())
            })
        });
    if sends {
        out.push(Role::Sink);
    }
    let hinted = mcpwall_policy::Labels::from_annotations(tool.get("annotations"));
    if hinted.untrusted {
        out.push(Role::Untrusted);
    }
    if hinted.sink {
        out.push(Role::Sink);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `getEmails`, `read_page`, `send-message` as lower-case words.
fn split_name(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_from_names_and_descriptions() {
        let r = |name: &str, d: &str| roles(&json!({"name": name, "description": d}));
        assert_eq!(r("fetch_url", ""), [Role::Untrusted, Role::Sink]);
        assert_eq!(r("read_text_file", "Read a file."), [Role::Private]);
        assert_eq!(
            r("sendMessage", "Send a Slack message."),
            [Role::Untrusted, Role::Sink]
        );
        assert_eq!(r("add", "Add two numbers."), []);
        // Reading messages is no way out; writing one is.
        assert_eq!(
            r(
                "get-annotated-message",
                "Returns a message with annotations."
            ),
            [Role::Untrusted]
        );
        assert_eq!(r("list_emails", ""), [Role::Untrusted]);
        assert_eq!(r("email_user", ""), [Role::Untrusted, Role::Sink]);
        // Annotations, as the gateway reads them: they add roles, never take one away.
        let a = |name: &str, ann: serde_json::Value| {
            roles(&json!({"name": name, "description": "", "annotations": ann}))
        };
        assert_eq!(
            a("lookup", json!({"openWorldHint": true})),
            [Role::Untrusted, Role::Sink]
        );
        assert_eq!(
            a(
                "lookup",
                json!({"openWorldHint": true, "readOnlyHint": true})
            ),
            [Role::Untrusted]
        );
        assert_eq!(a("send_it", json!({"readOnlyHint": true})), [Role::Sink]);
        // A parameter that says where data goes.
        let p = |name: &str, props: serde_json::Value| {
            roles(&json!({"name": name, "inputSchema": {"type": "object", "properties": props}}))
        };
        assert_eq!(
            p("notify", json!({"webhookUrl": {"type": "string"}})),
            [Role::Sink]
        );
        assert_eq!(
            p("ping_host", json!({"URL": {"type": "string"}})),
            [Role::Sink]
        );
        assert_eq!(
            p("relay", json!({"recipients": {"type": "array"}})),
            [Role::Sink]
        );
        assert_eq!(p("add", json!({"a": {}, "b": {}, "total": {}})), []);
        assert_eq!(split_name("getEmails"), ["get", "emails"]);
    }
}
