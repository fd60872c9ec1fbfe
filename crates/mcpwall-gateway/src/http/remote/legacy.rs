//! The HTTP+SSE transport of protocol 2024-11-05, for servers that never moved to Streamable
//! HTTP. A GET opens a stream whose first event, `endpoint`, names the URL that messages are
//! POSTed to; every answer and every message of the server's own comes down that stream.
//!
//! The endpoint is the server's to name, so it could point the gateway, and the headers
//! configured for the server, anywhere: one on another origin is refused.

use std::sync::Arc;

use mcpwall_protocol::{Frame, SseEvent, SseReader};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::{CONNECT, Remote, cut, fail, lock, requests};
use crate::http::session::HttpSession;

impl Remote {
    /// [`Remote::run`] for a legacy server: the stream is opened when the client's first
    /// message (its `initialize`) is there to send, then the messages are POSTed in order.
    pub(super) async fn run_legacy(
        self: Arc<Self>,
        session: Arc<HttpSession>,
        mut queue: mpsc::Receiver<Vec<u8>>,
    ) {
        let Some(first) = queue.recv().await else {
            return;
        };
        let endpoint = match self.open_stream(&session).await {
            Ok(url) => url,
            Err(why) => {
                fail(&session, &requests(&first).0, &why).await;
                session.close();
                return;
            }
        };
        let mut next = Some(first);
        loop {
            let frame = match next.take() {
                Some(f) => f,
                None => match queue.recv().await {
                    Some(f) => f,
                    None => return,
                },
            };
            let ids = requests(&frame).0;
            let sent = self
                .request_to(Method::POST, endpoint.as_str())
                .header("content-type", "application/json")
                .body(frame);
            // The answers come down the stream; the POST's own is an acknowledgement.
            let why = match timeout(CONNECT, sent.send()).await {
                Ok(Ok(r)) if r.status().is_success() => continue,
                Ok(Ok(r)) if r.status() == StatusCode::NOT_FOUND => {
                    fail(&session, &ids, "it ended the session").await;
                    session.close();
                    return;
                }
                Ok(Ok(r)) => format!("it answered HTTP {}", r.status()),
                Ok(Err(e)) => format!("cannot reach it: {}", e.without_url()),
                Err(_) => "it did not answer".to_owned(),
            };
            fail(&session, &ids, &why).await;
        }
    }

    /// Opens the server's stream and waits for the endpoint it names. The stream is read by a
    /// task of its own; the session ends when it does.
    async fn open_stream(self: &Arc<Self>, session: &Arc<HttpSession>) -> Result<Url, String> {
        let base = Url::parse(&self.url).map_err(|e| format!("its url is not valid: {e}"))?;
        let sent = self
            .request(Method::GET)
            .header("accept", "text/event-stream");
        let response = match timeout(CONNECT, sent.send()).await {
            Ok(Ok(r)) if r.status().is_success() => r,
            Ok(Ok(r)) => return Err(format!("it answered HTTP {}", r.status())),
            Ok(Err(e)) => return Err(format!("cannot reach it: {}", e.without_url())),
            Err(_) => return Err("it did not answer".to_owned()),
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut s = lock(&self.state);
            if s.closed {
                return Err("the session ended".to_owned());
            }
            let (remote, session) = (Arc::clone(self), Arc::clone(session));
            s.listener = Some(tokio::spawn(async move {
                remote.read_stream(&session, response, tx).await;
                session.close();
            }));
        }
        let named = match timeout(CONNECT, rx).await {
            Ok(Ok(data)) => data,
            _ => return Err("it named no endpoint to send messages to".to_owned()),
        };
        let endpoint = std::str::from_utf8(&named)
            .ok()
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .and_then(|path| base.join(path).ok())
            .ok_or("the endpoint it named is not a URL")?;
        if endpoint.origin() != base.origin() {
            return Err("the endpoint it named is on another origin".to_owned());
        }
        Ok(endpoint)
    }

    /// Reads the stream until it ends: the first `endpoint` event goes to `endpoint`, messages
    /// into the pipeline. Later `endpoint` events change nothing.
    async fn read_stream(
        &self,
        session: &Arc<HttpSession>,
        mut response: reqwest::Response,
        endpoint: oneshot::Sender<Vec<u8>>,
    ) {
        let mut endpoint = Some(endpoint);
        let mut reader = SseReader::default();
        let mut events: Vec<SseEvent> = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            reader.feed(&chunk, self.max, &mut events);
            for event in events.drain(..) {
                if event.kind == b"endpoint" {
                    if event.oversize.is_none()
                        && let Some(tx) = endpoint.take()
                    {
                        let _ = tx.send(event.data);
                    }
                } else if let Some(len) = event.oversize.filter(|_| event.is_message()) {
                    session
                        .server_frame(cut(len, event.data, event.tail), self.max)
                        .await;
                } else if event.is_message() {
                    session
                        .server_frame(Frame::Data(event.data), self.max)
                        .await;
                }
            }
        }
    }
}
