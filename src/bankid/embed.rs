//! BankID inside `fraudhub serve`: in simulator mode starts the built-in
//! simulator and exposes its device control surface for mounting under
//! `/bankid-sim`; in external mode checks the configured certificates at
//! start-up. Either way the hub gets one [`BankIdClient`] (the consumer pages'
//! logins and signatures use it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use super::client::{BankIdClient, ClientConfig};
use super::error::BankIdError;
use super::settings::{BankIdMode, BankIdSettings};
use super::sim::{SimError, SimHandle, spawn_simulator};
use super::tls::ClientIdentity;

/// Where the simulator's device control surface is mounted on the hub.
pub const SIM_DEVICE_PATH: &str = "/bankid-sim";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("bankid: {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bankid: binding the simulator on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("bankid: {0}")]
    Client(#[from] BankIdError),
    #[error("bankid: {0} is not configured")]
    Missing(&'static str),
}

/// What the hub mounts of BankID: in simulator mode the simulator's device
/// control surface, nothing otherwise.
#[derive(Debug)]
pub struct BankId {
    device_router: Option<Router>,
    client: BankIdClient,
}

impl BankId {
    /// BankID backed by a running simulator (its device surface answering loopback
    /// host names only), with `timeout` per request towards it and `poll_interval`
    /// between collects of a waiting caller.
    pub fn with_simulator(
        sim: &SimHandle,
        timeout: Duration,
        poll_interval: Duration,
    ) -> Result<BankId, StartError> {
        let mut config = sim.client_config()?;
        config.timeout = timeout;
        config.poll_interval = poll_interval;
        Ok(BankId {
            device_router: Some(sim.device_router()),
            client: BankIdClient::new(config)?,
        })
    }

    /// The RP API client.
    pub fn client(&self) -> &BankIdClient {
        &self.client
    }

    /// How often a waiting caller collects an order (`bankid.poll_interval_ms`).
    pub fn poll_interval(&self) -> Duration {
        self.client.poll_interval
    }

    /// The routes to merge into the hub's router: the simulator's device
    /// control surface under [`SIM_DEVICE_PATH`] in simulator mode, nothing
    /// otherwise.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        match &self.device_router {
            Some(device) => Router::new().nest_service(SIM_DEVICE_PATH, device.clone()),
            None => Router::new(),
        }
    }
}

/// The hub's BankID routes: the simulator's device surface when `bankid` is
/// the simulator, nothing otherwise (also when BankID is not started).
pub fn routes<S: Clone + Send + Sync + 'static>(bankid: Option<&BankId>) -> Router<S> {
    bankid.map(BankId::routes).unwrap_or_default()
}

/// BankID for a running hub. Keep it alive while serving and call
/// [`BankIdRuntime::shutdown`] afterwards (it stops the embedded simulator).
#[derive(Debug)]
pub struct BankIdRuntime {
    bankid: Arc<BankId>,
    sim: Option<SimHandle>,
}

impl BankIdRuntime {
    pub fn bankid(&self) -> Arc<BankId> {
        self.bankid.clone()
    }

    pub async fn shutdown(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// Starts BankID per `settings`: in simulator mode the simulator on
/// `settings.sim_listen` with its TLS files in `settings.sim_tls_dir(data_dir)`;
/// in external mode nothing runs, but the certificates are read and a client
/// is built from them now, so a bad file fails start-up rather than the first
/// login.
pub async fn start(
    settings: &BankIdSettings,
    data_dir: &Path,
) -> Result<BankIdRuntime, StartError> {
    match settings.mode {
        BankIdMode::Simulator => start_simulator(settings, data_dir).await,
        BankIdMode::External => {
            let checked = BankIdClient::new(external_client_config(settings)?)?;
            tracing::info!(
                base_url = checked.base_url(),
                "bankid: using external BankID"
            );
            Ok(BankIdRuntime {
                bankid: Arc::new(BankId {
                    device_router: None,
                    client: checked,
                }),
                sim: None,
            })
        }
    }
}

async fn start_simulator(
    settings: &BankIdSettings,
    data_dir: &Path,
) -> Result<BankIdRuntime, StartError> {
    let tls_dir = settings.sim_tls_dir(data_dir);
    let listener = TcpListener::bind(settings.sim_listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.sim_listen,
            source,
        })?;
    let sim = spawn_simulator(listener, &tls_dir, settings.sim.clone()).await?;
    tracing::warn!(
        base_url = sim.base_url(),
        tls_dir = %tls_dir.display(),
        device_path = SIM_DEVICE_PATH,
        "BANKID IS SIMULATED: logins and caller verifications are NOT real; anyone who can reach \
         {SIM_DEVICE_PATH}/ can approve any order. Set bankid.mode = \"external\" for real BankID"
    );
    let client = BankIdClient::new(tuned(settings, sim.client_config()?))?;
    Ok(BankIdRuntime {
        bankid: Arc::new(BankId {
            device_router: Some(if settings.simulator_allow_non_loopback {
                sim.device_router_any_host()
            } else {
                sim.device_router()
            }),
            client,
        }),
        sim: Some(sim),
    })
}

fn tuned(settings: &BankIdSettings, mut config: ClientConfig) -> ClientConfig {
    config.timeout = Duration::from_secs(settings.timeout_secs);
    config.poll_interval = Duration::from_millis(settings.poll_interval_ms);
    config
}

fn read(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|source| StartError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The client configuration for external mode, reading the certificate files.
pub fn external_client_config(settings: &BankIdSettings) -> Result<ClientConfig, StartError> {
    let base_url = settings
        .base_url
        .as_deref()
        .ok_or(StartError::Missing("bankid.base_url"))?;
    let identity = match (
        &settings.pkcs12_file,
        &settings.client_cert_file,
        &settings.client_key_file,
    ) {
        (Some(p12), _, _) => ClientIdentity::Pkcs12 {
            bytes: read(p12)?,
            password: settings.pkcs12_password.clone().unwrap_or_default(),
        },
        (None, Some(cert), Some(key)) => ClientIdentity::Pem {
            cert: read(cert)?,
            key: read(key)?,
        },
        _ => return Err(StartError::Missing("bankid.client_cert_file")),
    };
    let root_ca = settings
        .root_ca_file
        .as_deref()
        .ok_or(StartError::Missing("bankid.root_ca_file"))?;
    Ok(tuned(
        settings,
        ClientConfig::new(base_url, identity, read(root_ca)?),
    ))
}
