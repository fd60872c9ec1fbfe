//! Protocol 2026-07-28 towards a remote server: no session, and every POST says again in
//! headers what its body is (`Mcp-Method`; `Mcp-Name` for a call, prompt or resource; each
//! argument the tool's schema mirrors as `Mcp-Param-*`), which the server checks against the
//! body. mcpwall writes them from the body it sends, after inspection, never from what its
//! client sent.

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::super::session::HttpSession;
use crate::param_headers;

/// The protocol revision spoken so.
pub(crate) const VERSION: &str = "2026-07-28";

/// The routing headers of a message (nothing for what is not one object with a method).
pub(super) fn routing_headers(
    session: &HttpSession,
    frame: &[u8],
) -> Vec<(HeaderName, HeaderValue)> {
    let Ok(v) = serde_json::from_slice::<Value>(frame) else {
        return Vec::new();
    };
    let Some(method) = v.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&param_headers::header_form(value)),
        ) {
            out.push((n, v));
        }
    };
    add("mcp-method", method);
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return out,
    };
    let Some(name) = v.pointer(&format!("/params/{key}")).and_then(Value::as_str) else {
        return out;
    };
    add("mcp-name", name);
    if method == "tools/call"
        && let Some(declared) = session.inspector.param_headers(name)
    {
        let arguments = v.pointer("/params/arguments");
        for d in declared {
            if let Some(value) =
                param_headers::argument(arguments, &d.path).and_then(param_headers::rendered)
            {
                add(&format!("mcp-param-{}", d.token), &value);
            }
        }
    }
    out
}
