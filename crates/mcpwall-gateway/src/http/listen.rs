//! Serving connections with limits: at most so many connections at once, request headers
//! within a deadline, request bodies within another. Without them a client that sends its
//! request a byte at a time (or opens thousands of connections and says nothing) holds file
//! descriptors and buffers until mcpwall can start no server and accept no other client, and
//! it can do so before any token is checked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// What one client may hold of the gateway.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Connections served at once; the next waits in the system's accept queue.
    pub(super) connections: usize,
    /// How long a client may take to send a request's headers (also how long an idle
    /// kept-alive connection stays open).
    pub(super) headers: Duration,
    /// How long a client may take to send a request's body, once its headers are in.
    pub(super) body: Duration,
}

impl Limits {
    pub(super) fn new(connections: usize) -> Self {
        Limits {
            connections: connections.max(1),
            headers: Duration::from_secs(30),
            body: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish its request in flight, and returns when all have closed. The router
/// must carry [`body_deadline`] with the same limits.
pub(super) async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    L: axum::serve::Listener,
{
    let slots = Arc::new(Semaphore::new(limits.connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else { break };
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Middleware (state: the body limit): the request's body must arrive within that time of its
/// headers.
pub(super) async fn body_deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    next.run(request.map(|b| Body::new(Deadline::new(b, limit))))
        .await
}

/// A body that fails once its time is up.
struct Deadline {
    inner: Body,
    timer: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Deadline {
    fn new(inner: Body, limit: Duration) -> Self {
        Deadline {
            inner,
            timer: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(format!(
                "the request body did not arrive within {:?}",
                this.limit
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;

    /// Serves a router whose one route reads the body, with short limits, on a free port.
    fn start(limits: Limits) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = Router::new()
            .route(
                "/",
                axum::routing::post(|body: Bytes| async move { format!("{} bytes", body.len()) }),
            )
            .layer(axum::middleware::from_fn_with_state(
                limits.body,
                body_deadline,
            ));
        rt.spawn(serve(listener, router, limits, std::future::pending()));
        (addr, rt)
    }

    fn connect(addr: std::net::SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    /// Reads until the server closes the connection (or the read times out).
    fn read_all(s: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn slow_clients_are_cut_off_and_connections_capped() {
        let limits = Limits {
            connections: 2,
            headers: Duration::from_millis(300),
            body: Duration::from_millis(300),
        };
        let (addr, _rt) = start(limits);
        // Headers that never end: the connection is closed.
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
            .expect("send");
        let t = Instant::now();
        read_all(&mut s);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // A body that never ends: the request fails, nothing waits for the rest.
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            .expect("send");
        let t = Instant::now();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).expect("an answer");
        assert_eq!(&head, b"HTTP/1.1 400", "{:?}", t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        drop(s);
        // Two connections held open: a third is served only when one of them closes.
        let (addr, _rt) = start(Limits {
            connections: 2,
            headers: Duration::from_secs(30),
            body: Duration::from_secs(30),
        });
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
        let ask = |s: &mut TcpStream| {
            s.write_all(request).expect("send");
            let mut head = [0u8; 12];
            s.read_exact(&mut head).map(|()| head)
        };
        let mut a = connect(addr);
        let mut b = connect(addr);
        assert_eq!(&ask(&mut a).expect("served"), b"HTTP/1.1 200");
        assert_eq!(&ask(&mut b).expect("served"), b"HTTP/1.1 200");
        let mut c = connect(addr);
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        assert!(ask(&mut c).is_err(), "a third connection was served");
        drop(a);
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut head = [0u8; 12];
        c.read_exact(&mut head).expect("served once a slot is free");
        assert_eq!(&head, b"HTTP/1.1 200");
    }
}
