//! The MCP conversation over standard input and output: newline-delimited JSON-RPC, strict
//! JSON (duplicate keys refused), frames over the size cap refused without being held.

use std::io::{BufRead, Write};

use mcpwall_protocol::{Cut, Frame, FrameReader, cut_member, parse_strict};
use serde_json::{Value, json};

use crate::tools::{self, Fs};

/// Protocol versions this server speaks; a client asking for another gets the newest.
const VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// What the conversation remembers: whether the client has roots to tell, and the id of the
/// `roots/list` request waiting for its answer.
#[derive(Debug, Default)]
struct Conversation {
    client_roots: bool,
    asked: u64,
    waiting: Option<Value>,
}

impl Conversation {
    /// Asks the client for its roots (the answer narrows the server's).
    fn ask_roots(&mut self) -> Value {
        self.asked += 1;
        let id = json!(format!("mcpwall-fs-roots-{}", self.asked));
        self.waiting = Some(id.clone());
        json!({"jsonrpc": "2.0", "id": id, "method": "roots/list"})
    }

    /// What a message that is not a request means here: a notification that the client's roots
    /// are (or changed), or the answer with them.
    fn other(&mut self, fs: &mut Fs, msg: &Value) -> Option<Value> {
        match msg.get("method").and_then(Value::as_str) {
            Some("notifications/initialized" | "notifications/roots/list_changed")
                if self.client_roots =>
            {
                return Some(self.ask_roots());
            }
            Some(_) => return None,
            None => {}
        }
        if self.waiting.is_none() || msg.get("id") != self.waiting.as_ref() {
            return None;
        }
        self.waiting = None;
        // An error, or an answer without a list: the roots stay as they were.
        let roots = msg.pointer("/result/roots").and_then(Value::as_array)?;
        let uris: Vec<&str> = roots
            .iter()
            .filter_map(|r| r.get("uri").and_then(Value::as_str))
            .collect();
        fs.narrow(&uris);
        None
    }
}

/// Serves until the client closes its side. Each tool call is recorded on `audit`, a JSON
/// line: the tool, its outcome (`ok` or the refusal's code) and how long it took; no path and
/// no content (the log is read by people the files may not be meant for).
pub(crate) fn serve(
    fs: &mut Fs,
    input: impl BufRead,
    mut output: impl Write,
    mut audit: impl Write,
    max_frame: usize,
) -> std::io::Result<()> {
    let mut frames = FrameReader::new(input, max_frame);
    let mut conv = Conversation::default();
    while let Some(frame) = frames.next_frame()? {
        let reply = match frame {
            Frame::Oversize { len, head, tail } => {
                let why = format!("a message of {len} bytes is over the {max_frame}-byte limit");
                match cut_member(&head, &tail) {
                    // Refused under its own id: the client is not left waiting for an answer.
                    Some((id, Cut::Request)) => Some(error(id.to_value(), -32600, &why)),
                    // The client's answer to `roots/list`, unread: as an error answer, the
                    // roots stay as they were.
                    Some((id, Cut::Answer)) => {
                        if conv.waiting.as_ref() == Some(&id.to_value()) {
                            conv.waiting = None;
                        }
                        None
                    }
                    None => Some(error(Value::Null, -32600, &why)),
                }
            }
            Frame::Data(bytes) => match parse_strict(&bytes) {
                Err(e) => Some(error(Value::Null, -32700, &e.to_string())),
                Ok(msg) => {
                    if msg.get("method").and_then(Value::as_str) == Some("initialize") {
                        conv.client_roots = msg
                            .pointer("/params/capabilities/roots")
                            .is_some_and(Value::is_object);
                    }
                    let started = std::time::Instant::now();
                    let reply = answer(fs, &msg).or_else(|| conv.other(fs, &msg));
                    if msg.get("method").and_then(Value::as_str) == Some("tools/call") {
                        record(&mut audit, &msg, reply.as_ref(), started);
                    }
                    reply
                }
            },
        };
        if let Some(reply) = reply {
            let mut line = serde_json::to_vec(&reply).unwrap_or_default();
            line.push(b'\n');
            output.write_all(&line)?;
            output.flush()?;
        }
    }
    Ok(())
}

/// One tool call's audit line. A log that cannot be written does not stop the server.
fn record(audit: &mut impl Write, msg: &Value, reply: Option<&Value>, started: std::time::Instant) {
    let tool = msg
        .pointer("/params/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    // The name as the client sent it, cut short and without control characters: a log line
    // stays one line.
    let tool: String = tool.chars().filter(|c| !c.is_control()).take(64).collect();
    let outcome = match reply {
        Some(r) if r.get("error").is_some() => "invalid_request".to_owned(),
        Some(r) if r.pointer("/result/isError") == Some(&Value::Bool(true)) => r
            .pointer("/result/structuredContent/error")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_owned(),
        _ => "ok".to_owned(),
    };
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let line = json!({
        "ts": (ts * 1000.0).round() / 1000.0,
        "event": "tool_call",
        "tool": tool,
        "outcome": outcome,
        "ms": started.elapsed().as_secs_f64() * 1000.0,
    });
    let _ = writeln!(audit, "{line}").and_then(|()| audit.flush());
}

/// The answer to one message (`None` for notifications and answers).
fn answer(fs: &mut Fs, msg: &Value) -> Option<Value> {
    let method = msg.get("method").and_then(Value::as_str);
    let id = msg.get("id").cloned();
    let (Some(method), Some(id)) = (method, id) else {
        return match msg.get("id") {
            // A request without a method, or a batch: not for this server.
            Some(id) if msg.get("result").is_none() && msg.get("error").is_none() => {
                Some(error(id.clone(), -32600, "not a JSON-RPC request"))
            }
            None if !msg.is_object() => Some(error(Value::Null, -32600, "not a JSON-RPC message")),
            _ => None,
        };
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked
                .filter(|v| VERSIONS.contains(v))
                .unwrap_or(VERSIONS[VERSIONS.len() - 1]);
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "mcpwall-fs", "version": env!("CARGO_PKG_VERSION")},
            })
        }
        "ping" => json!({}),
        "tools/list" => tools::list(fs.caps()),
        "tools/call" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let args = params
                .get("arguments")
                .cloned()
                .unwrap_or_else(|| json!({}));
            if !args.is_object() {
                return Some(error(id, -32602, "`arguments` must be an object"));
            }
            match fs.call(name, &args) {
                Some(r) => r,
                None => return Some(error(id, -32602, &format!("no tool named {name:?}"))),
            }
        }
        _ => return Some(error(id, -32601, &format!("method {method:?} not found"))),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

#[cfg(test)]
mod tests {
    use crate::{Caps, Server};

    #[test]
    fn a_request_over_the_cap_is_refused_under_its_own_id() {
        let root = tempfile::tempdir().expect("temp dir");
        let mut server = Server::open(&[root.path().to_path_buf()], Caps::default()).expect("open");
        let pad = "x".repeat(500);
        // Id first (Python SDK), id last (TypeScript SDK), no id to be read, then a small one.
        let input = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"p\":\"{pad}\"}}}}\n\
             {{\"method\":\"tools/call\",\"params\":{{\"p\":\"{pad}\"}},\"jsonrpc\":\"2.0\",\"id\":\"b\"}}\n\
             {{\"params\":{{\"p\":\"{pad}\"}},\"id\":3,\"method\":\"tools/call\",\"jsonrpc\":\"2.0\"}}\n\
             {{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}}\n"
        );
        let mut out = Vec::new();
        server
            .serve(input.as_bytes(), &mut out, std::io::sink(), 200)
            .expect("served");
        let answers: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        let ids: Vec<_> = answers.iter().map(|a| a["id"].clone()).collect();
        assert_eq!(
            ids,
            [
                serde_json::json!(1),
                "b".into(),
                serde_json::Value::Null,
                4.into()
            ]
        );
        assert!(
            answers[..3].iter().all(|a| a["error"]["code"] == -32600),
            "{answers:?}"
        );
    }
}
