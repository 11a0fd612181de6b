//! Shared set-up for the BankID integration tests: a simulator on
//! 127.0.0.1:0 with a manual clock, a mutual-TLS client for it, and the
//! device control router on a plain HTTP listener.
#![allow(dead_code)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use fraudhub::bankid::sim::{SimConfig, SimHandle, spawn_simulator_with_clock};
use fraudhub::bankid::{BankIdClient, client_tls_config};
use fraudhub::clock::ManualClock;
use serde_json::Value;

pub type TestResult = Result<(), Box<dyn Error>>;

pub const ANNA: &str = "199001012385";
pub const ERIK: &str = "198112289874";
/// Valid but not a built-in test person.
pub const OTHER: &str = "198808081114";

pub struct Env {
    pub sim: SimHandle,
    pub clock: Arc<ManualClock>,
    pub client: BankIdClient,
    pub device_url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    device_task: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.device_task.abort();
    }
}

pub async fn start() -> Result<Env, Box<dyn Error>> {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> Result<Env, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = spawn_simulator_with_clock(listener, dir.path(), config, clock.clone()).await?;
    let mut cfg = sim.client_config()?;
    cfg.poll_interval = Duration::from_millis(10);
    cfg.timeout = Duration::from_secs(5);
    let client = BankIdClient::new(cfg)?;
    let device_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let device_url = format!("http://{}", device_listener.local_addr()?);
    let router = sim.device_router();
    let device_task = tokio::spawn(async move {
        let _ = axum::serve(device_listener, router).await;
    });
    Ok(Env {
        sim,
        clock,
        client,
        device_url,
        http: reqwest::Client::new(),
        dir,
        device_task,
    })
}

impl Env {
    /// POSTs JSON to the device control API; returns status and body.
    pub async fn device(&self, path: &str, body: Value) -> Result<(u16, Value), Box<dyn Error>> {
        let resp = self
            .http
            .post(format!("{}{path}", self.device_url))
            .json(&body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    pub async fn device_ok(&self, path: &str, body: Value) -> Result<(), Box<dyn Error>> {
        let (status, body) = self.device(path, body).await?;
        if status != 200 {
            return Err(format!("device {path}: HTTP {status}: {body}").into());
        }
        Ok(())
    }

    pub async fn pending(&self) -> Result<Vec<Value>, Box<dyn Error>> {
        let v: Vec<Value> = self
            .http
            .get(format!("{}/api/orders", self.device_url))
            .send()
            .await?
            .json()
            .await?;
        Ok(v)
    }

    /// A raw reqwest client with the simulator's RP credentials, for
    /// requests the typed client never makes (GET, wrong content type).
    pub fn raw_rp_client(&self) -> Result<reqwest::Client, Box<dyn Error>> {
        let cfg = self.sim.client_config()?;
        let tls = client_tls_config(&cfg.identity, &cfg.root_ca_pem)?;
        Ok(reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()?)
    }
}
