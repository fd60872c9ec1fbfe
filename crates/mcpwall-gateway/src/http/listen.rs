//! Serving connections with limits: at most so many connections at once, request headers
//! within a deadline, request bodies within another. Without them a client that sends its
//! request a byte at a time (or opens thousands of connections and says nothing) holds file
//! descriptors and buffers until mcpwall can start no server and accept no other client, and
//! it can do so before any token is checked.
//!
//! The deadlines alone do not stop a client that keeps opening connections that say nothing:
//! each is dropped after the header deadline, but new ones take the freed places, and a real
//! client waits behind them. So once every place is taken, a new connection takes the place of
//! the one that has been idle longest (no request read, or its last answer sent). A
//! connection with a request in flight, such as an event stream, is never closed for another.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// What one client may hold of the gateway.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Connections served at once; the next takes the place of the one idle longest, or waits
    /// in the system's accept queue while every one has a request in flight.
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

/// How often a connection waiting for a place looks again for an idle one to close, when the
/// one it closed turned out to have a request in flight after all.
const RECHECK: Duration = Duration::from_millis(100);
/// The warning that connections are being closed to make room is printed at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

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
    let open = Arc::new(Open::default());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned: Option<Instant> = None;
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    warned = Some(Instant::now());
                    warn_full(limits.connections);
                }
                let slot = loop {
                    open.close_idlest();
                    tokio::select! {
                        slot = Arc::clone(&slots).acquire_owned() => break Some(slot),
                        () = tokio::time::sleep(RECHECK) => {}
                        () = &mut shutdown => break None,
                    }
                };
                // The semaphore is never closed.
                let Some(Ok(slot)) = slot else { break };
                slot
            }
        };
        while connections.try_join_next().is_some() {}
        let (key, tracker) = open.add();
        let service = Tracked {
            inner: TowerToHyperService::new(router.clone()),
            tracker: Arc::clone(&tracker),
        };
        let mut stopping = stopping.clone();
        let open = Arc::clone(&open);
        connections.spawn(async move {
            let _slot = slot;
            let _entry = Entry { open, key };
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
                // Asked to give way: a connection without a request in flight is dropped (a
                // graceful close would wait for a request that a client which sent a byte of
                // headers never finishes); one whose request came meanwhile answers it, then
                // closes. (Bytes of a request not yet read in full are lost with the first.)
                () = tracker.close.notified() => {
                    if tracker.busy.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                }
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

fn warn_full(connections: usize) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "mcpwall serve: all {connections} connections are taken: each new one takes the place \
         of the one idle longest (is a client holding connections open?)"
    );
}

/// The connections being served, so that the one idle longest can be asked to close.
#[derive(Default)]
struct Open {
    by_key: Mutex<HashMap<u64, Arc<Tracker>>>,
    next: AtomicU64,
}

impl Open {
    fn add(&self) -> (u64, Arc<Tracker>) {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now()),
            close: Notify::new(),
        });
        lock(&self.by_key).insert(key, Arc::clone(&tracker));
        (key, tracker)
    }

    /// Asks the connection idle longest to close, and forgets it so that it is not asked
    /// twice. Does nothing when every connection has a request in flight.
    fn close_idlest(&self) {
        let mut open = lock(&self.by_key);
        let idlest = open
            .iter()
            .filter(|(_, t)| t.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|(key, t)| (t.idle_since.load(Ordering::Acquire), **key))
            .map(|(key, _)| *key);
        if let Some(tracker) = idlest.and_then(|key| open.remove(&key)) {
            tracker.close.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds on a clock that only goes forward, for ordering connections by idle time.
fn now() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Removes a connection from [`Open`] when its task ends.
struct Entry {
    open: Arc<Open>,
    key: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.open.by_key).remove(&self.key);
    }
}

/// What [`Open`] knows of one connection.
struct Tracker {
    /// Requests read whose answers are not yet sent in full.
    busy: AtomicUsize,
    /// When the connection was accepted or last sent an answer in full ([`now`]).
    idle_since: AtomicU64,
    close: Notify,
}

/// Held from a request's arrival until its answer is sent in full (or dropped).
struct Busy(Arc<Tracker>);

impl Busy {
    fn new(tracker: Arc<Tracker>) -> Self {
        tracker.busy.fetch_add(1, Ordering::AcqRel);
        Busy(tracker)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(now(), Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The router as one connection's service, counting its requests in flight.
struct Tracked {
    inner: TowerToHyperService<Router>,
    tracker: Arc<Tracker>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let busy = Busy::new(Arc::clone(&self.tracker));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|inner| Body::new(Answer { inner, _busy: busy })))
        })
    }
}

/// An answer's body, keeping its connection busy until it is sent in full or dropped.
struct Answer {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
            // A request in flight for a while.
            .route(
                "/hold",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "held"
                }),
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
    }

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    const HOLD: &[u8] = b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Sends a request and reads the status line of its answer.
    fn ask(s: &mut TcpStream, request: &[u8]) -> std::io::Result<[u8; 12]> {
        s.write_all(request)?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).map(|()| head)
    }

    /// Whether the server closed the connection within a second (a reset counts; a read that
    /// times out does not).
    fn closed(s: &mut TcpStream) -> bool {
        s.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut rest = Vec::new();
        // An idle connection has no answer left to read: only the close ends this read.
        match s.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    #[test]
    fn a_new_connection_takes_the_place_of_the_one_idle_longest() {
        let (addr, _rt) = start(Limits {
            connections: 2,
            headers: Duration::from_secs(30),
            body: Duration::from_secs(30),
        });
        // One connection idle since its answer, then one that says nothing.
        let mut a = connect(addr);
        assert_eq!(&ask(&mut a, REQUEST).expect("served"), b"HTTP/1.1 200");
        let mut rest = [0u8; 256];
        let _ = a.read(&mut rest);
        std::thread::sleep(Duration::from_millis(20));
        let mut b = connect(addr);
        std::thread::sleep(Duration::from_millis(20));
        // Every place taken, a third is served at once, in place of the one idle longest.
        let mut c = connect(addr);
        c.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        assert_eq!(&ask(&mut c, REQUEST).expect("served"), b"HTTP/1.1 200");
        assert!(closed(&mut a), "the connection idle longest is still open");
        assert!(
            !closed(&mut b),
            "a connection idle for less time was closed"
        );
        // A connection that sent a byte of its headers and stops there gives way too (it would
        // otherwise keep its place until the header deadline).
        b.write_all(b"P").expect("send");
        std::thread::sleep(Duration::from_millis(50));
        let mut d = connect(addr);
        d.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        assert_eq!(&ask(&mut d, REQUEST).expect("served"), b"HTTP/1.1 200");
        assert!(
            closed(&mut b),
            "a connection with part of its headers kept its place"
        );
    }

    #[test]
    fn connections_with_a_request_in_flight_are_never_closed_for_another() {
        let (addr, _rt) = start(Limits {
            connections: 2,
            headers: Duration::from_secs(30),
            body: Duration::from_secs(30),
        });
        let mut a = connect(addr);
        let mut b = connect(addr);
        a.write_all(HOLD).expect("send");
        b.write_all(HOLD).expect("send");
        // Time for both requests to be read (until then the connections count as idle).
        std::thread::sleep(Duration::from_millis(500));
        let mut c = connect(addr);
        c.set_read_timeout(Some(Duration::from_millis(800)))
            .expect("timeout");
        assert!(
            ask(&mut c, REQUEST).is_err(),
            "a third connection was served while both had requests in flight"
        );
        // Both held requests are answered in full; then they are idle, and c gets a place.
        for s in [&mut a, &mut b] {
            let mut head = [0u8; 12];
            s.read_exact(&mut head)
                .expect("the held request is answered");
            assert_eq!(&head, b"HTTP/1.1 200");
        }
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut head = [0u8; 12];
        c.read_exact(&mut head)
            .expect("served once a place is free");
        assert_eq!(&head, b"HTTP/1.1 200");
    }

    /// Reads one whole answer of the test router (its body ends in `held` or `bytes`).
    fn answer(s: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !(got.ends_with(b"held") || got.ends_with(b"bytes")) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn an_idle_connection_gives_way_before_one_with_a_request_in_flight() {
        let (addr, _rt) = start(Limits {
            connections: 2,
            headers: Duration::from_secs(30),
            body: Duration::from_secs(30),
        });
        // The connection with a request in flight is the older one.
        let mut a = connect(addr);
        a.write_all(HOLD).expect("send");
        std::thread::sleep(Duration::from_millis(500));
        let mut b = connect(addr);
        std::thread::sleep(Duration::from_millis(20));
        let mut c = connect(addr);
        c.write_all(REQUEST).expect("send");
        assert!(answer(&mut c).starts_with("HTTP/1.1 200"));
        assert!(closed(&mut b), "the idle connection is still open");
        // Never asked to close, the busy one answers and stays open for the next request.
        let held = answer(&mut a);
        assert!(held.starts_with("HTTP/1.1 200"), "{held}");
        assert!(
            !held.to_ascii_lowercase().contains("connection: close"),
            "{held}"
        );
        a.write_all(REQUEST).expect("send");
        assert!(answer(&mut a).starts_with("HTTP/1.1 200"));
    }
}
