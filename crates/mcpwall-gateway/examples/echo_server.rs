//! A minimal MCP server for the latency benches (`stdio_latency`, `http_latency`): one tool,
//! `read`, whose result is about 1 KB of clean text. It answers as fast as a server can, so
//! that what the benches measure is mcpwall.
//!
//! Over stdio by default; `--http` serves Streamable HTTP (JSON answers) at
//! `http://127.0.0.1:PORT/mcp/echo` and prints `listening on ADDR` on standard error: the
//! "direct" side of `http_latency`.

#![allow(clippy::print_stderr)]

use std::io::{self, BufRead as _, Write as _};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};

const PARAGRAPH: &str = "The quarterly report shows revenue grew by four percent compared with \
last year. Each request is retried up to three times with exponential backoff before it fails. \
The library parses configuration files and validates them against a schema. ";

fn report() -> String {
    PARAGRAPH.repeat(1024 / PARAGRAPH.len() + 1)[..1024].to_owned()
}

/// The answer to one message (`None` for a notification).
fn answer(msg: &Value, text: &str) -> Option<Value> {
    let id = msg.get("id").cloned()?;
    let result = match msg.get("method").and_then(Value::as_str) {
        Some("initialize") => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "echo", "version": "1"}
        }),
        // Protocol 2026-07-28's handshake-free start (the benches' clients without sessions).
        Some("server/discover") => json!({
            "supportedVersions": ["2025-06-18", "2026-07-28"],
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
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--http") {
        return http();
    }
    let text = report();
    let stdin = io::stdin();
    let mut out = io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(reply) = answer(&msg, &text) {
            serde_json::to_writer(&mut out, &reply)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
    }
    Ok(())
}

fn http() -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on {}", listener.local_addr()?);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let text: &'static str = report().leak();
        let app = axum::Router::new().route(
            "/mcp/echo",
            axum::routing::post(move |body: Bytes| async move {
                let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                let Some(reply) = answer(&msg, text) else {
                    return StatusCode::ACCEPTED.into_response();
                };
                let mut r = Response::new(serde_json::to_vec(&reply).unwrap_or_default().into());
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                h.insert("mcp-session-id", HeaderValue::from_static("direct"));
                r
            }),
        );
        axum::serve(listener, app).await
    })
}
