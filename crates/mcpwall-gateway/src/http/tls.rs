//! HTTPS for `mcpwall serve`: rustls with the aws-lc-rs provider (post-quantum key exchange
//! first), TLS 1.2 and 1.3, HTTP/1.1.
//!
//! Handshakes run beside the accept loop, each with a deadline, so that a client that opens a
//! connection and says nothing holds up nobody else. With every handshake place taken, a new
//! connection takes the place of the oldest handshake: a client that opened that many silent
//! connections every deadline would otherwise keep everyone else out.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::GatewayError;

/// How long a client may take to finish its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Handshakes in progress at once, at most; the oldest gives way to a new connection.
const MAX_HANDSHAKES: usize = 256;

fn tls_error(what: &'static str, e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Io {
        what,
        source: io::Error::other(e.to_string()),
    }
}

/// An acceptor for the certificate chain and private key in these PEM files.
pub(super) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, GatewayError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_error("reading the TLS certificate", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error("reading the TLS certificate", e))?;
    if chain.is_empty() {
        return Err(tls_error(
            "reading the TLS certificate",
            format!("{} holds no certificate", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error("reading the TLS key", e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("configuring TLS", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("configuring TLS (does the key match the certificate?)", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener whose connections are TLS sessions.
pub(super) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    pending: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
    /// The handshakes of `pending`, oldest first.
    started: VecDeque<AbortHandle>,
}

impl TlsListener {
    pub(super) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        TlsListener {
            tcp,
            acceptor,
            pending: JoinSet::new(),
            started: VecDeque::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        self.started.retain(|h| !h.is_finished());
                        if self.started.len() >= MAX_HANDSHAKES
                            && let Some(oldest) = self.started.pop_front()
                        {
                            oldest.abort();
                        }
                        let acceptor = self.acceptor.clone();
                        let handshake = self.pending.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => Some((tls, addr)),
                                _ => None,
                            }
                        });
                        self.started.push_back(handshake);
                    }
                    // Out of file descriptors, or the like: wait a little rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
