//! HTTPS with mandatory client certificates for the simulated RP API.
//!
//! TLS handshakes run in their own tasks and only finished connections are
//! handed to axum, so a client that stalls mid-handshake cannot hold up
//! other connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::SimError;
use super::certs::TlsFiles;
use crate::bankid::tls::{parse_pem_certs, parse_pem_key, provider, root_store};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn read(path: &std::path::Path) -> Result<Vec<u8>, SimError> {
    std::fs::read(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn tls_err(e: impl std::fmt::Display) -> SimError {
    SimError::Tls(e.to_string())
}

/// Server config: TLS 1.2/1.3, and a client certificate issued by the
/// simulator's CA is required (no anonymous clients).
pub(crate) fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, SimError> {
    let roots = root_store(&read(&files.ca)?).map_err(tls_err)?;
    let chain = parse_pem_certs(&read(&files.server_cert)?).map_err(tls_err)?;
    let key = parse_pem_key(&read(&files.server_key)?).map_err(tls_err)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(tls_err)?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(tls_err)
}

/// Aborts the accept loop when the listener (and so the server) is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    _accept: AbortOnDrop,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: rustls::ServerConfig) -> Result<Self, SimError> {
        let local_addr = listener.local_addr().map_err(|e| SimError::Io {
            path: "<listener>".into(),
            source: e,
        })?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "bankid-sim: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "bankid-sim: TLS handshake refused");
                        }
                        Err(_) => tracing::info!(%peer, "bankid-sim: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            rx,
            local_addr,
            _accept: AbortOnDrop(task),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task only ends when aborted, i.e. at shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
