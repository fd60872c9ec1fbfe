//! Protocol 2026-07-28 towards a remote server: no session, and every POST says again in
//! headers what its body is (`Mcp-Method`; `Mcp-Name` for a call, prompt or resource; each
//! argument the tool's schema mirrors as `Mcp-Param-*`), which the server checks against the
//! body. mcpwall writes them from the body it sends, after inspection, never from what its
//! client sent.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use super::super::session::HttpSession;
use super::{Remote, fail, lock};
use crate::param_headers;

/// The protocol revision spoken so.
pub(crate) const VERSION: &str = "2026-07-28";

/// Requests under way at once, at most: the next waits for one to end.
const MAX_IN_FLIGHT: usize = 256;

impl Remote {
    /// Sends each request alone, at once (a call's answer may take as long as the call: the
    /// others do not wait for it), and reads its answer in a task of its own. Notifications
    /// go nowhere: at 2026-07-28 the server takes none, and a request is cancelled by
    /// dropping its response, which is what mcpwall's `notifications/cancelled` does here.
    /// A request's wait is bounded by the call timeout, which cancels it.
    pub(super) async fn run_modern(
        self: Arc<Self>,
        session: Arc<HttpSession>,
        mut queue: mpsc::Receiver<Vec<u8>>,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        while let Some(frame) = queue.recv().await {
            let Ok(v) = serde_json::from_slice::<Value>(&frame) else {
                continue;
            };
            let method = v.get("method").and_then(Value::as_str);
            let Some(id) = v.get("id").cloned().filter(|_| method.is_some()) else {
                if method == Some("notifications/cancelled")
                    && let Some(request) = v.pointer("/params/requestId")
                    && let Some(task) = lock(&self.state).in_flight.remove(&request.to_string())
                {
                    task.abort();
                }
                continue;
            };
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let headers = routing_headers(&session, &v);
            let key = id.to_string();
            let task = {
                let (remote, session, key) = (Arc::clone(&self), Arc::clone(&session), key.clone());
                async move {
                    remote.exchange(&session, frame, headers, id).await;
                    lock(&remote.state).in_flight.remove(&key);
                    drop(permit);
                }
            };
            let mut s = lock(&self.state);
            if s.closed {
                return;
            }
            while s.readers.try_join_next().is_some() {}
            if s.in_flight.len() >= MAX_IN_FLIGHT {
                // Tasks that ended before they were entered here.
                s.in_flight.retain(|_, t| !t.is_finished());
            }
            let handle = s.readers.spawn(task);
            s.in_flight.insert(key, handle);
        }
    }

    /// One request and its answer. An error the server gives with a 4xx status is an
    /// answer too (one without an id is this request's).
    async fn exchange(
        self: &Arc<Self>,
        session: &Arc<HttpSession>,
        frame: Vec<u8>,
        headers: Vec<(HeaderName, HeaderValue)>,
        id: Value,
    ) {
        let mut sent = self
            .request(reqwest::Method::POST)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in headers {
            sent = sent.header(k, v);
        }
        let ids = [id];
        let response = match sent.body(frame).send().await {
            Ok(r) => r,
            Err(e) => {
                let why = format!("cannot reach it: {}", e.without_url());
                return fail(session, &ids, &why).await;
            }
        };
        let status = response.status();
        if status.is_success() {
            let seen = self.read(session, response, &ids, false, false).await;
            if !seen.contains(&ids[0].to_string()) {
                fail(session, &ids, "it sent no answer").await;
            }
            return;
        }
        if status.is_client_error()
            && let Some(answer) = self.error_answer(response, &ids[0]).await
        {
            session
                .server_frame(mcpwall_protocol::Frame::Data(answer), self.max)
                .await;
            return;
        }
        fail(session, &ids, &format!("it answered HTTP {status}")).await;
    }

    /// A 4xx body that is a JSON-RPC error, as this request's answer.
    async fn error_answer(&self, mut response: reqwest::Response, id: &Value) -> Option<Vec<u8>> {
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return None;
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > self.max {
                return None;
            }
        }
        let mut v: Value = serde_json::from_slice(&body).ok()?;
        v.get("error")?.get("code")?.as_i64()?;
        match v.get("id") {
            Some(Value::Null) | None => v["id"] = id.clone(),
            Some(other) if other == id => {}
            Some(_) => return None,
        }
        serde_json::to_vec(&v).ok()
    }
}

/// The routing headers of a message (nothing for what is not one object with a method).
fn routing_headers(session: &HttpSession, v: &Value) -> Vec<(HeaderName, HeaderValue)> {
    let Some(method) = v.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // A method name is plain text: it goes as it is, or not at all.
    if let Ok(m) = HeaderValue::from_str(method) {
        out.push((HeaderName::from_static("mcp-method"), m));
    }
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&param_headers::header_form(value)),
        ) {
            out.push((n, v));
        }
    };
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
