//! A minimal stdio MCP server for the latency bench (`stdio_latency`): one tool, `read`, whose
//! result is about 1 KB of clean text. It answers as fast as a server can, so that what the
//! bench measures is mcpwall.

use std::io::{self, BufRead as _, Write as _};

use serde_json::{Value, json};

const PARAGRAPH: &str = "The quarterly report shows revenue grew by four percent compared with \
last year. Each request is retried up to three times with exponential backoff before it fails. \
The library parses configuration files and validates them against a schema. ";

fn main() -> io::Result<()> {
    let text: String = PARAGRAPH.repeat(1024 / PARAGRAPH.len() + 1)[..1024].to_owned();
    let stdin = io::stdin();
    let mut out = io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue; // a notification
        };
        let result = match msg.get("method").and_then(Value::as_str) {
            Some("initialize") => json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "echo", "version": "1"}
            }),
            Some("tools/list") => json!({"tools": [{
                "name": "read",
                "description": "Read the report.",
                "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}
            }]}),
            Some("tools/call") => json!({"content": [{"type": "text", "text": text}]}),
            _ => json!({}),
        };
        let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
        serde_json::to_writer(&mut out, &reply)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}
