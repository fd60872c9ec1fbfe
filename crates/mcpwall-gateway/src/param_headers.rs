//! The arguments a tool's `inputSchema` asks clients to mirror in HTTP headers (protocol
//! 2026-07-28): a property annotated `"x-mcp-header": "Region"` travels again as
//! `Mcp-Param-Region`, so that a proxy can route on it without reading the body. Only
//! properties reached through a chain of `properties` count (what the protocol allows).

use base64::Engine as _;
use serde_json::Value;

/// Keywords whose value is one subschema, a list of them, or a map of them (JSON Schema
/// 2020-12 applicators): an annotation under one of them is off the `properties` chain.
const SUBSCHEMA_ONE: [&str; 11] = [
    "items",
    "contains",
    "unevaluatedItems",
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
];
const SUBSCHEMA_LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SUBSCHEMA_MAP: [&str; 4] = [
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
];

/// One mirrored argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamHeader {
    /// The header's name after `Mcp-Param-`, lower-cased (header names are case-insensitive).
    pub(crate) token: String,
    /// The argument's place: `properties` keys from the root.
    pub(crate) path: Vec<String>,
    /// The property is declared `"type": "integer"`: `42` and `42.0` are the same value.
    pub(crate) integer: bool,
}

/// The mirrored arguments `schema` declares; none when any annotation in it is invalid (off
/// a `properties` chain, not a header token, on a property that is not a string, integer or
/// boolean, or twice the same name): then, as the protocol says, clients send no such headers
/// and servers check none.
pub(crate) fn declared(schema: &Value) -> Vec<ParamHeader> {
    let mut out: Vec<ParamHeader> = Vec::new();
    // An explicit stack: any depth the parser let through is walked without recursion.
    let mut stack: Vec<(Option<Vec<String>>, &Value)> = vec![(Some(Vec::new()), schema)];
    while let Some((path, node)) = stack.pop() {
        let Some(obj) = node.as_object() else {
            continue;
        };
        if let Some(header) = obj.get("x-mcp-header") {
            let Some(path) = path.as_ref().filter(|p| !p.is_empty()) else {
                return Vec::new();
            };
            let Some(token) = header.as_str().filter(|t| is_token(t)) else {
                return Vec::new();
            };
            let kind = obj.get("type").and_then(Value::as_str);
            if !matches!(kind, Some("string" | "integer" | "boolean")) {
                return Vec::new();
            }
            let token = token.to_ascii_lowercase();
            if out.iter().any(|d| d.token == token) {
                return Vec::new();
            }
            out.push(ParamHeader {
                token,
                path: path.clone(),
                integer: kind == Some("integer"),
            });
        }
        for (key, value) in obj {
            if key == "properties" {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    let deeper = path.as_ref().map(|p| {
                        let mut p = p.clone();
                        p.push(name.clone());
                        p
                    });
                    stack.push((deeper, sub));
                }
            } else if SUBSCHEMA_ONE.contains(&key.as_str()) {
                stack.push((None, value));
            } else if SUBSCHEMA_LIST.contains(&key.as_str()) {
                stack.extend(value.as_array().into_iter().flatten().map(|v| (None, v)));
            } else if SUBSCHEMA_MAP.contains(&key.as_str()) {
                stack.extend(
                    value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, v)| (None, v)),
                );
            }
        }
    }
    out
}

/// An HTTP field name (RFC 9110 token).
pub(crate) fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The argument at `path`; `None` when absent or `null` (the same, for a header).
pub(crate) fn argument<'a>(arguments: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
    let mut node = arguments?;
    for key in path {
        node = node.as_object()?.get(key)?;
    }
    (!node.is_null()).then_some(node)
}

/// The argument as a client writes it in its header (before any base64 wrapping); `None` for
/// what has no header form (objects, arrays).
pub(crate) fn rendered(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Whether a header's (decoded) value is the argument's.
pub(crate) fn matches(header: &ParamHeader, value: &Value, decoded: &str) -> bool {
    if header.integer
        && let Some(whole) = integral(value)
        && let Some(said) = canonical_integer(decoded)
    {
        return whole == said;
    }
    rendered(value).as_deref() == Some(decoded)
}

/// An integral JSON number's digits (`42`, `42.0`), sign included.
fn integral(value: &Value) -> Option<String> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i.to_string());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.to_string());
    }
    let f = n.as_f64()?;
    // Whole floats within the range where every integer is exact.
    // `-0.0` is 0.
    (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| format!("{:.0}", f + 0.0))
}

/// A header's decimal (`42`, `-7`, `42.000`) as the digits of a whole number; `None` when it is
/// not one.
fn canonical_integer(text: &str) -> Option<String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b == b'0')
        || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    let negative = whole.starts_with('-') && trimmed != "0";
    Some(format!("{}{trimmed}", if negative { "-" } else { "" }))
}

/// A value as a header can carry it: printable ASCII without edge spaces as it is, anything
/// else as `=?base64?...?=` of its UTF-8.
pub(crate) fn header_form(value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        return value.to_owned();
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    format!("=?base64?{b64}?=")
}

/// A value as an HTTP header carries it: verbatim, or `=?base64?...?=` (UTF-8, canonical
/// base64) for what a header cannot hold. `None` for a malformed one.
pub(crate) fn from_header(raw: &str) -> Option<String> {
    let Some(payload) = raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    else {
        return Some(raw.to_owned());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(payload).ok()?;
    // Only the canonical form, as encoders write it: no other spelling of the same bytes.
    if engine.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_properties_chains_declare_headers() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "count": {"type": "integer", "x-mcp-header": "Count"},
                "target": {"type": "object", "properties": {
                    "host": {"type": "string", "x-mcp-header": "Host"}
                }},
                "either": {"anyOf": [{"type": "string"}]}
            }
        });
        // Any invalid annotation voids them all (clients then send none, servers check none).
        for bad in [
            json!({"anyOf": [{"type": "string", "x-mcp-header": "Hidden"}]}),
            json!({"type": "number", "x-mcp-header": "Ratio"}),
            json!({"type": ["string", "null"], "x-mcp-header": "Maybe"}),
            json!({"type": "string", "x-mcp-header": "Two Words"}),
            json!({"type": "string", "x-mcp-header": "REGION"}),
        ] {
            let mut s = schema.clone();
            s["properties"]["extra"] = bad.clone();
            assert!(declared(&s).is_empty(), "{bad}");
        }
        let mut rooted = schema.clone();
        rooted["x-mcp-header"] = json!("Root");
        assert!(declared(&rooted).is_empty());
        schema["$defs"] = json!({"unused": {"type": "string"}});
        let mut d = declared(&schema);
        d.sort_by(|a, b| a.token.cmp(&b.token));
        let tokens: Vec<&str> = d.iter().map(|h| h.token.as_str()).collect();
        assert_eq!(tokens, ["count", "host", "region"]);
        assert_eq!(d[1].path, ["target", "host"]);
        assert!(d[0].integer && !d[2].integer);
    }

    #[test]
    fn values_compare_as_clients_write_them() {
        let int = ParamHeader {
            token: "count".into(),
            path: vec!["count".into()],
            integer: true,
        };
        assert!(matches(&int, &json!(42), "42"));
        assert!(matches(&int, &json!(42.0), "42"));
        assert!(matches(&int, &json!(42), "42.00"));
        assert!(matches(&int, &json!(-3), "-3"));
        assert!(!matches(&int, &json!(42), "43"));
        assert!(!matches(&int, &json!(42), "42.5"));
        assert!(!matches(&int, &json!(42), "4e1"));
        assert!(matches(&int, &json!(-0.0), "0"));
        let text = ParamHeader {
            integer: false,
            ..int
        };
        assert!(matches(&text, &json!(true), "true"));
        assert!(matches(&text, &json!("eu-west-1"), "eu-west-1"));
        assert!(!matches(&text, &json!("eu-west-1"), "us-east-1"));
        assert!(!matches(&text, &json!({"a": 1}), "{\"a\":1}"));
        assert_eq!(
            argument(Some(&json!({"a": {"b": null}})), &["a".into(), "b".into()]),
            None
        );
        assert_eq!(
            argument(Some(&json!({"a": {"b": 2}})), &["a".into(), "b".into()]),
            Some(&json!(2))
        );
    }

    #[test]
    fn values_a_header_cannot_carry_are_wrapped() {
        assert_eq!(header_form("eu-west-1"), "eu-west-1");
        assert_eq!(header_form("écho"), "=?base64?w6ljaG8=?=");
        assert_eq!(header_form(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(header_form("a\nb"), "=?base64?YQpi?=");
        assert_eq!(header_form("=?base64?x?="), "=?base64?PT9iYXNlNjQ/eD89?=");
        for v in ["eu-west-1", "écho", " padded", "a\nb", "=?base64?x?="] {
            assert_eq!(from_header(&header_form(v)).as_deref(), Some(v));
        }
    }
}
