//! Built-in BankID simulator: the RP API v6.0 over HTTPS with mandatory
//! client certificates, plus a device control surface that plays the
//! user's BankID app. See docs/bankid.md for its exact behaviour.

mod certs;
mod completion;
mod config;
mod device;
mod guard;
mod order;
mod orders;
mod page;
mod persons;
mod rp;
mod server;
mod state;
mod user;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use certs::{TlsFiles, ensure_tls_dir};
pub use config::{FaultKind, FaultRule, ScriptStep, SimConfig};
pub use order::OrderKind;
pub use orders::OrderError;
pub use persons::{TEST_PERSONS, TestPerson};
pub use user::OrderView;

use super::client::ClientConfig;
use super::tls::ClientIdentity;
use crate::clock::{Clock, SystemClock};
use state::SimState;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bankid-sim: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bankid-sim: certificate generation failed: {0}")]
    Certificate(String),
    #[error("bankid-sim: TLS configuration: {0}")]
    Tls(String),
    #[error("bankid-sim: {0}")]
    Config(String),
}

/// A running simulator. Dropping it stops the server too.
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    files: TlsFiles,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT/rp/v6.0/` (or the bound address if it is not
    /// a wildcard).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn tls_files(&self) -> &TlsFiles {
        &self.files
    }

    /// The device control surface, to mount (no client certificate needed)
    /// e.g. with `Router::nest("/dev/bankid", handle.device_router())`.
    /// It answers only to loopback host names (`localhost`, `127.0.0.1`,
    /// `[::1]`), which defeats DNS rebinding.
    pub fn device_router(&self) -> axum::Router {
        device::device_router(self.state.clone(), guard::HostPolicy::LoopbackOnly)
    }

    /// As [`SimHandle::device_router`] but answering to any host name, for an
    /// operator who deliberately serves the simulator beyond loopback
    /// (`bankid.simulator_allow_non_loopback`). The cross-site, content-type
    /// and framing protections still apply.
    pub fn device_router_any_host(&self) -> axum::Router {
        device::device_router(self.state.clone(), guard::HostPolicy::Any)
    }

    /// Client configuration that talks to this simulator with its generated
    /// RP credentials.
    pub fn client_config(&self) -> Result<ClientConfig, SimError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| SimError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let identity = ClientIdentity::Pem {
            cert: read(&self.files.client_cert)?,
            key: read(&self.files.client_key)?,
        };
        Ok(ClientConfig::new(
            self.base_url.clone(),
            identity,
            read(&self.files.ca)?,
        ))
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the simulator's HTTPS RP API on `listener` with real time.
pub async fn spawn_simulator(
    listener: TcpListener,
    tls_dir: &Path,
    config: SimConfig,
) -> Result<SimHandle, SimError> {
    spawn_simulator_with_clock(listener, tls_dir, config, Arc::new(SystemClock)).await
}

/// As [`spawn_simulator`], with injectable time (tests use
/// [`crate::clock::ManualClock`] to jump over BankID's 30 s / 3 min / 5 min
/// lifetimes instead of sleeping through them).
pub async fn spawn_simulator_with_clock(
    listener: TcpListener,
    tls_dir: &Path,
    config: SimConfig,
    clock: Arc<dyn Clock>,
) -> Result<SimHandle, SimError> {
    let dir = tls_dir.to_path_buf();
    // Key generation and file I/O are blocking.
    let files = tokio::task::spawn_blocking(move || ensure_tls_dir(&dir))
        .await
        .map_err(|e| SimError::Config(format!("certificate task failed: {e}")))??;
    let tls = server::server_config(&files)?;
    let addr = listener.local_addr().map_err(|source| SimError::Io {
        path: "<listener>".into(),
        source,
    })?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let base_url = format!("https://{host}:{}/rp/v6.0/", addr.port());
    let state = Arc::new(SimState::new(config, clock));
    let app = rp::rp_router(state.clone());
    let tls_listener = server::TlsListener::new(listener, tls)?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(tls_listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "bankid-sim: server failed");
        }
    });
    tracing::info!(%base_url, "bankid-sim: RP API listening (client certificate required)");
    Ok(SimHandle {
        addr,
        base_url,
        files,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// `fraudhub bankid-sim`: the RP API on `listen` (HTTPS, mutual TLS) and
/// the device control surface on `device_listen` (plain HTTP, loopback
/// only, since it can approve any order), until `shutdown` resolves.
pub async fn run_standalone(
    listen: SocketAddr,
    device_listen: SocketAddr,
    tls_dir: PathBuf,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    if !device_listen.ip().is_loopback() {
        return Err(SimError::Config(format!(
            "device control must listen on a loopback address, not {device_listen}"
        )));
    }
    let bind_err = |addr: SocketAddr| {
        move |source| SimError::Io {
            path: PathBuf::from(addr.to_string()),
            source,
        }
    };
    let rp_listener = TcpListener::bind(listen).await.map_err(bind_err(listen))?;
    let device_listener = TcpListener::bind(device_listen)
        .await
        .map_err(bind_err(device_listen))?;
    let handle = spawn_simulator(rp_listener, &tls_dir, config).await?;
    let files = handle.tls_files();
    tracing::info!(
        base_url = handle.base_url(),
        device_url = %format!("http://{device_listen}/"),
        ca = %files.ca.display(),
        client_cert = %files.client_cert.display(),
        client_key = %files.client_key.display(),
        "bankid-sim: running"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let device =
        axum::serve(device_listener, handle.device_router()).with_graceful_shutdown(async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|stop| *stop).await;
        });
    let device_task = tokio::spawn(async move { device.await });
    shutdown.await;
    let _ = stop_tx.send(true);
    handle.shutdown().await;
    match tokio::time::timeout(Duration::from_secs(10), device_task).await {
        Ok(Ok(Ok(()))) | Err(_) => Ok(()),
        Ok(Ok(Err(e))) => Err(SimError::Io {
            path: PathBuf::from(device_listen.to_string()),
            source: e,
        }),
        Ok(Err(e)) => Err(SimError::Config(format!("device server task failed: {e}"))),
    }
}
