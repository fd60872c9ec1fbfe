//! Asking a remote server what it offers, over Streamable HTTP or the older HTTP+SSE: the same
//! session as with a stdio server (`initialize`, every list, the end), one deadline for all of
//! it, bodies and events of at most [`MAX_LINE`] bytes, no redirect followed (the headers
//! configured for a server must not go anywhere else), no endpoint on another origin taken from
//! an HTTP+SSE server, and nothing sent over plain HTTP to another machine when the entry
//! carries a credential.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use mcpwall_protocol::{SseEvent, SseReader};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value;

use crate::config::RemoteProtocol;
use crate::introspect::{Failure, Listing, MAX_LINE, Peer, answer, count_other, list_server};

/// A remote server as configured.
#[derive(Clone, Copy, Debug)]
pub struct Remote<'a> {
    /// Taken as written: variables in it are never filled in (they would go into a request
    /// line and a name lookup, to an address the file chose).
    pub url: &'a str,
    /// Header values as written.
    pub headers: &'a BTreeMap<String, String>,
    pub protocol: RemoteProtocol,
    /// Whether `${VAR}`, `${env:VAR}` and `${VAR:-default}` in header values are filled in
    /// from this process's environment, as clients do. Off, a header that refers to a variable
    /// is not sent: the environment may hold secrets (a CI job's) that a stranger's
    /// configuration file would otherwise send to its server.
    pub fill_variables: bool,
}

/// The variables the headers of an entry refer to, by header (for the consent prompt).
pub fn header_variables(headers: &BTreeMap<String, String>) -> Vec<(String, Vec<String>)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            let names = references(v);
            (!names.is_empty()).then(|| (k.clone(), names))
        })
        .collect()
}

/// The names inside `${...}` in `text`.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let Some(len) = rest[at..].find('}') else {
            break;
        };
        out.push(rest[at + 2..at + len].to_owned());
        rest = &rest[at + len + 1..];
    }
    out
}

/// Longest `Mcp-Session-Id` or protocol version sent back to a server.
const MAX_ECHO: usize = 256;

/// Why the scan will not contact `remote`, if it will not: an address that is not HTTP(S), or
/// one over plain HTTP to another machine when headers, a user name or a query would carry
/// credentials in the clear.
pub fn refusal(remote: &Remote<'_>) -> Option<String> {
    if remote.url.contains("${") {
        return Some(
            "its address refers to variables, which the scan does not fill in: not contacted"
                .into(),
        );
    }
    let url = match Url::parse(remote.url) {
        Ok(u) => u,
        Err(_) => return Some("its address is not a valid URL".into()),
    };
    match url.scheme() {
        "https" => None,
        "http" if loopback(&url) => None,
        "http" if remote.headers.is_empty()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none() =>
        {
            None
        }
        "http" => Some(
            "plain HTTP to another machine: its credentials would travel unencrypted, so it is not contacted".into(),
        ),
        other => Some(format!("{other}: is not an HTTP address")),
    }
}

fn loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Connects to the server, lists what it offers within `timeout`, and ends the session.
pub fn introspect(remote: &Remote<'_>, timeout: Duration) -> Result<Listing, Failure> {
    let fail = |why: String| Failure {
        why,
        stderr: String::new(),
    };
    if let Some(why) = refusal(remote) {
        return Err(fail(why));
    }
    let deadline = Instant::now() + timeout;
    let mut peer = HttpPeer::new(remote).map_err(fail)?;
    let result = list_server(&mut peer, deadline);
    peer.close(deadline);
    result.map_err(fail)
}

/// `text` with its variable references filled in by `var`; `Err` names the first that cannot
/// be (an unset or empty variable without a default, VS Code's `${input:...}`, which only the
/// client asks for, a reference inside a default). Nothing unresolved is ever kept as text.
fn expand(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let Some(len) = rest[at..].find('}') else {
            return Err(rest[at..].chars().take(40).collect());
        };
        let inner = &rest[at + 2..at + len];
        let unresolved = || format!("${{{inner}}}");
        if inner.contains("${") {
            return Err(unresolved());
        }
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let name = name.strip_prefix("env:").unwrap_or(name);
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(unresolved());
        }
        match (var(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(unresolved()),
        }
        rest = &rest[at + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A variable of this process's environment (one that is not UTF-8 counts as unset).
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A session with a remote server, carried by HTTP requests made on a runtime of its own.
struct HttpPeer {
    /// Always `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
    link: Link,
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        // Not waiting for its blocking threads: a name lookup that hangs past the deadline
        // must not hold the scan.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

struct Link {
    client: reqwest::Client,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers not sent, and why (named when the server refuses the scan).
    dropped: Vec<String>,
    /// Settled by the server's first answer when the entry does not say.
    protocol: RemoteProtocol,
    session: Option<HeaderValue>,
    version: Option<HeaderValue>,
    legacy: Option<Legacy>,
    other: usize,
}

/// The stream of an HTTP+SSE server, and where it takes messages.
struct Legacy {
    endpoint: Url,
    stream: Response,
    reader: SseReader,
    events: VecDeque<SseEvent>,
}

/// What a POST of the Streamable HTTP transport came to.
enum Posted {
    Answer(Option<Value>),
    /// A status that says the address is no Streamable HTTP endpoint (for a server that does
    /// not say which transport it speaks, HTTP+SSE is tried next).
    NotStreamable,
}

impl HttpPeer {
    fn new(remote: &Remote<'_>) -> Result<HttpPeer, String> {
        let url = Url::parse(remote.url).map_err(|_| "its address is not a valid URL")?;
        let mut headers = Vec::new();
        let mut dropped = Vec::new();
        for (name, value) in remote.headers {
            let Ok(key) = HeaderName::from_bytes(name.as_bytes()) else {
                dropped.push(format!("{name} (not a valid header name)"));
                continue;
            };
            if mcpwall_protocol::TRANSPORT_HEADERS.contains(&key.as_str()) {
                dropped.push(format!("{name} (mcpwall sets it)"));
                continue;
            }
            let filled = if remote.fill_variables {
                expand(value, &env_var)
            } else {
                expand(value, &|_| None)
                    .map_err(|r| format!("{r}, not filled in without --header-vars"))
            };
            let value = match filled {
                Ok(v) => v,
                Err(missing) => {
                    dropped.push(format!("{name} (it refers to {missing})"));
                    continue;
                }
            };
            match HeaderValue::from_str(&value) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    headers.push((key, v));
                }
                Err(_) => dropped.push(format!("{name} (its value is not a valid header value)")),
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        // A proxy from the environment sees plain HTTP in the clear, headers included (even to
        // a loopback address): only HTTPS goes through one.
        if url.scheme() != "https" {
            client = client.no_proxy();
        }
        let client = client
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {}", chain(&e)))?;
        Ok(HttpPeer {
            rt: Some(rt),
            link: Link {
                client,
                url,
                headers,
                dropped,
                protocol: remote.protocol,
                session: None,
                version: None,
                legacy: None,
                other: 0,
            },
        })
    }

    /// Ends the session at the server (Streamable HTTP: a DELETE with its id), briefly.
    fn close(&mut self, deadline: Instant) {
        self.link.legacy = None;
        if self.link.session.is_none() {
            return;
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        // With the session's id, which `request` adds.
        let req = self.link.request(Method::DELETE, self.link.url.clone());
        if let Some(rt) = &self.rt {
            let _ = rt.block_on(async { tokio::time::timeout(left, req.send()).await });
        }
    }
}

impl Peer for HttpPeer {
    fn exchange(
        &mut self,
        msg: &Value,
        id: Option<u64>,
        method: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(rt) = &self.rt else {
            return Err("the HTTP client is stopped".into());
        };
        let work = self.link.exchange(msg, id, method);
        match rt.block_on(async { tokio::time::timeout(left, work).await }) {
            Ok(r) => r,
            Err(_) => Err(format!("no answer to {method} in time")),
        }
    }
}

impl Link {
    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, url);
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        if let Some(v) = &self.version {
            r = r.header("mcp-protocol-version", v);
        }
        r
    }

    async fn exchange(
        &mut self,
        msg: &Value,
        id: Option<u64>,
        method: &str,
    ) -> Result<Option<Value>, String> {
        let body = msg.to_string().into_bytes();
        if self.legacy.is_none() {
            if self.protocol != RemoteProtocol::Sse {
                match self.post(&body, id, method).await? {
                    Posted::Answer(a) => {
                        self.protocol = RemoteProtocol::StreamableHttp;
                        if method == "initialize" {
                            self.version = a
                                .as_ref()
                                .and_then(|m| m["result"]["protocolVersion"].as_str())
                                .and_then(echo);
                        }
                        return Ok(a);
                    }
                    Posted::NotStreamable => {}
                }
            }
            self.open_legacy().await?;
        }
        let req = self
            .request(Method::POST, self.legacy_endpoint())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let response = req.send().await.map_err(reach)?;
        if !response.status().is_success() {
            return Err(self.refused(response.status(), method));
        }
        let Some(id) = id else { return Ok(None) };
        let Some(legacy) = self.legacy.as_mut() else {
            return Err("the server's stream is gone".into());
        };
        let m = awaited(
            &mut legacy.stream,
            &mut legacy.reader,
            &mut legacy.events,
            id,
            method,
            &mut self.other,
        )
        .await?;
        Ok(Some(m))
    }

    fn legacy_endpoint(&self) -> Url {
        self.legacy
            .as_ref()
            .map_or_else(|| self.url.clone(), |l| l.endpoint.clone())
    }

    /// One message POSTed to a Streamable HTTP endpoint, and its answer.
    async fn post(&mut self, body: &[u8], id: Option<u64>, method: &str) -> Result<Posted, String> {
        let req = self
            .request(Method::POST, self.url.clone())
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let mut response = req.send().await.map_err(reach)?;
        let status = response.status();
        if !status.is_success() {
            let first = self.session.is_none() && method == "initialize";
            if first
                && self.protocol == RemoteProtocol::Unknown
                && matches!(status.as_u16(), 400 | 404 | 405)
            {
                return Ok(Posted::NotStreamable);
            }
            return Err(self.refused(status, method));
        }
        if self.session.is_none() {
            self.session = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .and_then(echo);
        }
        let Some(id) = id else {
            return Ok(Posted::Answer(None));
        };
        if status == StatusCode::ACCEPTED {
            return Err(format!("it accepted {method} without answering it"));
        }
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match kind.as_str() {
            "application/json" => {
                let bytes = body_of(response).await?;
                // One answer, or a batch holding it.
                let found = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Array(items)) => items
                        .iter()
                        .find_map(|m| answer(m.to_string().as_bytes(), id)),
                    Ok(_) => answer(&bytes, id),
                    Err(_) => None,
                };
                found.map(|m| Posted::Answer(Some(m))).ok_or_else(|| {
                    format!("its answer to {method} is not a JSON-RPC response to it")
                })
            }
            "text/event-stream" => {
                let mut reader = SseReader::default();
                let mut events = VecDeque::new();
                let m = awaited(
                    &mut response,
                    &mut reader,
                    &mut events,
                    id,
                    method,
                    &mut self.other,
                )
                .await?;
                Ok(Posted::Answer(Some(m)))
            }
            other => Err(format!(
                "it answered {method} with content type {:?}",
                cut(other)
            )),
        }
    }

    /// Opens the stream of an HTTP+SSE server and reads where it takes messages.
    async fn open_legacy(&mut self) -> Result<(), String> {
        let req = self
            .request(Method::GET, self.url.clone())
            .header(ACCEPT, "text/event-stream");
        let mut stream = req.send().await.map_err(reach)?;
        if !stream.status().is_success() {
            return Err(self.refused(stream.status(), "initialize"));
        }
        let kind = stream
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !kind.starts_with("text/event-stream") {
            return Err(format!(
                "it is neither a Streamable HTTP nor an HTTP+SSE server (its stream is {:?})",
                cut(&kind)
            ));
        }
        let mut reader = SseReader::default();
        let mut events: VecDeque<SseEvent> = VecDeque::new();
        loop {
            while let Some(ev) = events.pop_front() {
                if ev.kind != b"endpoint" || ev.oversize.is_some() {
                    count_other(&mut self.other)?;
                    continue;
                }
                let named = String::from_utf8_lossy(&ev.data).trim().to_owned();
                let endpoint = self.url.join(&named).map_err(|_| {
                    format!("it named an endpoint that is not a URL: {:?}", cut(&named))
                })?;
                if endpoint.origin() != self.url.origin() {
                    return Err(format!(
                        "it named an endpoint on another origin ({}): not followed, its headers go nowhere else",
                        endpoint.origin().ascii_serialization()
                    ));
                }
                self.protocol = RemoteProtocol::Sse;
                self.legacy = Some(Legacy {
                    endpoint,
                    stream,
                    reader,
                    events,
                });
                return Ok(());
            }
            match stream.chunk().await.map_err(reach)? {
                Some(c) => {
                    let mut out = Vec::new();
                    reader.feed(&c, MAX_LINE, &mut out);
                    events.extend(out);
                }
                None => return Err("its stream ended before it named an endpoint".into()),
            }
        }
    }

    /// Why the server's answer ends the session.
    fn refused(&self, status: StatusCode, method: &str) -> String {
        let mut why = if status.is_redirection() {
            format!(
                "it redirects (HTTP {}): not followed, so the headers configured for it go nowhere else",
                status.as_u16()
            )
        } else if matches!(status.as_u16(), 401 | 403) {
            format!(
                "it asks for sign-in (HTTP {}); mcpwall scan does not sign in",
                status.as_u16()
            )
        } else if status == StatusCode::NOT_FOUND && self.session.is_some() {
            "it ended the session".to_owned()
        } else {
            format!("it answered {method} with HTTP {}", status.as_u16())
        };
        if status.is_client_error() && !self.dropped.is_empty() {
            why.push_str("; headers not sent: ");
            why.push_str(&self.dropped.join(", "));
        }
        why
    }
}

/// Events of `stream` until the answer to `id`; others are counted and passed over.
async fn awaited(
    stream: &mut Response,
    reader: &mut SseReader,
    events: &mut VecDeque<SseEvent>,
    id: u64,
    method: &str,
    other: &mut usize,
) -> Result<Value, String> {
    loop {
        while let Some(ev) = events.pop_front() {
            if ev.oversize.is_some() {
                // It may have been the answer: what the server offers would go unseen.
                return Err(format!("an event larger than {MAX_LINE} bytes"));
            }
            match ev.is_message().then(|| answer(&ev.data, id)).flatten() {
                Some(m) => return Ok(m),
                None => count_other(other)?,
            }
        }
        match stream.chunk().await.map_err(reach)? {
            Some(c) => {
                let mut out = Vec::new();
                reader.feed(&c, MAX_LINE, &mut out);
                events.extend(out);
            }
            None => return Err(format!("its stream ended before it answered {method}")),
        }
    }
}

/// A body of at most [`MAX_LINE`] bytes.
async fn body_of(mut response: Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(c) = response.chunk().await.map_err(reach)? {
        if out.len() + c.len() > MAX_LINE {
            return Err(format!("an answer larger than {MAX_LINE} bytes"));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// A value the server gave that is sent back to it as a header: short, visible ASCII.
fn echo(v: &str) -> Option<HeaderValue> {
    (!v.is_empty() && v.len() <= MAX_ECHO && v.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .then(|| HeaderValue::from_str(v).ok())
        .flatten()
}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A failed request, said with its causes (reqwest's own message alone is "error sending
/// request"), without its URL (which may carry a credential in its query).
fn reach(e: reqwest::Error) -> String {
    let e = e.without_url();
    format!("cannot reach it: {}", chain(&e))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_in_headers_are_filled_in_or_named() {
        let var = |n: &str| match n {
            "TOKEN" => Some("t0k".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let x = |t: &str| expand(t, &var);
        assert_eq!(x("a ${TOKEN} b").as_deref(), Ok("a t0k b"));
        assert_eq!(x("${env:TOKEN}").as_deref(), Ok("t0k"));
        assert_eq!(x("Bearer ${NOPE:-dflt}").as_deref(), Ok("Bearer dflt"));
        assert_eq!(x("Bearer ${EMPTY:-dflt}").as_deref(), Ok("Bearer dflt"));
        assert_eq!(x("Bearer ${input:token}"), Err("${input:token}".to_owned()));
        assert_eq!(x("${NOPE}"), Err("${NOPE}".to_owned()));
        assert_eq!(x("${EMPTY}"), Err("${EMPTY}".to_owned()));
        // A reference in a default is not kept as text; nor is one never closed.
        assert!(x("${NOPE:-${TOKEN}}").is_err());
        assert!(x("${NOPE:-${OTHER}}").is_err());
        assert!(x("no end ${ here").is_err());
        assert!(x("${bad-name}").is_err());
        assert_eq!(x("$TOKEN, {TOKEN}").as_deref(), Ok("$TOKEN, {TOKEN}"));
        assert_eq!(
            x("caf\u{e9} ${TOKEN}\u{e9}").as_deref(),
            Ok("caf\u{e9} t0k\u{e9}")
        );
        let names = header_variables(&BTreeMap::from([
            ("A".to_owned(), "Bearer ${GITHUB_TOKEN}".to_owned()),
            ("B".to_owned(), "plain".to_owned()),
        ]));
        assert_eq!(names, [("A".to_owned(), vec!["GITHUB_TOKEN".to_owned()])]);
    }

    #[test]
    fn credentials_never_go_over_plain_http_to_another_machine() {
        let none = BTreeMap::new();
        let auth = BTreeMap::from([("Authorization".to_owned(), "Bearer x".to_owned())]);
        let r = |url, headers| Remote {
            url,
            headers,
            protocol: RemoteProtocol::Unknown,
            fill_variables: true,
        };
        assert!(refusal(&r("https://mcp.example.com/mcp", &auth)).is_none());
        assert!(refusal(&r("http://127.0.0.1:9/mcp", &auth)).is_none());
        assert!(refusal(&r("http://[::1]:9/mcp", &auth)).is_none());
        assert!(refusal(&r("http://localhost:9/mcp", &auth)).is_none());
        assert!(refusal(&r("http://mcp.example.com/mcp", &none)).is_none());
        assert!(refusal(&r("http://mcp.example.com/mcp", &auth)).is_some());
        assert!(refusal(&r("http://u:p@mcp.example.com/mcp", &none)).is_some());
        assert!(refusal(&r("http://mcp.example.com/mcp?key=1", &none)).is_some());
        assert!(refusal(&r("http://127.0.0.1.evil.example/mcp", &auth)).is_some());
        assert!(refusal(&r("file:///etc/passwd", &none)).is_some());
        assert!(refusal(&r("not a url", &none)).is_some());
        // Variables are never filled into an address.
        assert!(refusal(&r("https://x.example/${AWS_SECRET_ACCESS_KEY}", &none)).is_some());
    }
}
