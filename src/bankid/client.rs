//! HTTP client for the BankID RP API v6.0 over mutual TLS.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::collect::{CollectResponse, CollectStatus, HintCode};
use super::error::BankIdError;
use super::tls::{ClientIdentity, client_tls_config};
use super::types::{
    OrderRefRequest, OrderRequest, OrderResponse, PhoneOrderRequest, PhoneOrderResponse,
};

/// The most the client reads of a BankID response body. Real answers are
/// well under 16 KiB (completionData with a signature and OCSP response);
/// anything larger is refused instead of buffered, so a broken or hostile
/// endpoint cannot make the hub allocate without bound.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Final `/collect` outcomes by `outcome` and `hint`, recorded through the
/// `metrics` facade (a no-op until the hub installs a recorder); the hub's
/// metrics module describes and exports it.
pub const ORDERS_METRIC: &str = "fraudhub_bankid_orders_total";

/// BankID's public test environment.
pub const TEST_BASE_URL: &str = "https://appapi2.test.bankid.com/rp/v6.0/";
/// BankID production.
pub const PRODUCTION_BASE_URL: &str = "https://appapi2.bankid.com/rp/v6.0/";

/// Everything needed to talk to one BankID environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://appapi2.test.bankid.com/rp/v6.0/` (a missing trailing
    /// slash is added).
    pub base_url: String,
    pub identity: ClientIdentity,
    /// PEM of the CA that issued BankID's server certificate; the only
    /// certificate authority the client trusts.
    pub root_ca_pem: Vec<u8>,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
    /// Default interval of the collect poller; BankID asks for 2 s.
    pub poll_interval: Duration,
}

impl ClientConfig {
    pub fn new(
        base_url: impl Into<String>,
        identity: ClientIdentity,
        root_ca_pem: Vec<u8>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            identity,
            root_ca_pem,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BankIdClient {
    http: reqwest::Client,
    base_url: String,
    pub(crate) poll_interval: Duration,
}

impl BankIdClient {
    pub fn new(config: ClientConfig) -> Result<Self, BankIdError> {
        let tls = client_tls_config(&config.identity, &config.root_ca_pem)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| BankIdError::Config(format!("HTTP client: {e}")))?;
        Self::from_parts(http, &config.base_url, config.poll_interval)
    }

    /// Uses an already-built reqwest client (its TLS settings are the
    /// caller's responsibility). Mainly for tests of TLS refusal.
    pub fn from_parts(
        http: reqwest::Client,
        base_url: &str,
        poll_interval: Duration,
    ) -> Result<Self, BankIdError> {
        let mut base_url = base_url.trim().to_owned();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        reqwest::Url::parse(&base_url)
            .map_err(|e| BankIdError::Config(format!("base_url: {e}")))?;
        Ok(Self {
            http,
            base_url,
            poll_interval,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub async fn auth(&self, req: &OrderRequest) -> Result<OrderResponse, BankIdError> {
        self.post("auth", req).await
    }

    /// `userVisibleData` is mandatory for sign; BankID rejects it otherwise.
    pub async fn sign(&self, req: &OrderRequest) -> Result<OrderResponse, BankIdError> {
        self.post("sign", req).await
    }

    pub async fn phone_auth(
        &self,
        req: &PhoneOrderRequest,
    ) -> Result<PhoneOrderResponse, BankIdError> {
        self.post("phone/auth", req).await
    }

    pub async fn phone_sign(
        &self,
        req: &PhoneOrderRequest,
    ) -> Result<PhoneOrderResponse, BankIdError> {
        self.post("phone/sign", req).await
    }

    pub async fn collect(&self, order_ref: &str) -> Result<CollectResponse, BankIdError> {
        let body = OrderRefRequest {
            order_ref: order_ref.to_owned(),
        };
        let collected = self.post("collect", &body).await;
        // Here rather than in a caller, so every flow that collects is counted.
        count_collected(&collected);
        let resp: CollectResponse = collected?;
        tracing::debug!(order_ref, status = ?resp.status, hint = ?resp.hint_code, "bankid collect");
        Ok(resp)
    }

    pub async fn cancel(&self, order_ref: &str) -> Result<(), BankIdError> {
        let body = OrderRefRequest {
            order_ref: order_ref.to_owned(),
        };
        let _: serde_json::Value = self.post("cancel", &body).await?;
        Ok(())
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, BankIdError> {
        let url = format!("{}{path}", self.base_url);
        let resp = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(BankIdError::Transport)?;
        let status = resp.status();
        let bytes = read_capped(resp, path, MAX_RESPONSE_BYTES).await?;
        if !status.is_success() {
            let err = BankIdError::from_response(status.as_u16(), &bytes);
            tracing::warn!(path, status = status.as_u16(), error = %err, "bankid request failed");
            return Err(err);
        }
        serde_json::from_slice(&bytes).map_err(|source| BankIdError::Decode {
            path: path.to_owned(),
            source,
        })
    }
}

/// Counts a `/collect` answer in [`ORDERS_METRIC`] once the order is final, or
/// when collect fails. Labels are bounded: an unknown hint code (BankID may add
/// some at any time) is `other`, never a value chosen by the far end.
fn count_collected(result: &Result<CollectResponse, BankIdError>) {
    let (outcome, hint) = match result {
        Ok(r) if r.status == CollectStatus::Pending => return,
        Ok(r) if r.status == CollectStatus::Complete => ("complete", "none"),
        Ok(r) => (
            "failed",
            r.hint_code.as_ref().map_or("none", HintCode::label),
        ),
        Err(_) => ("error", "none"),
    };
    metrics::counter!(ORDERS_METRIC, "outcome" => outcome, "hint" => hint).increment(1);
}

/// The body, chunk by chunk, refusing it as soon as it passes `limit` (a
/// declared Content-Length over the limit is refused before reading).
async fn read_capped(
    mut resp: reqwest::Response,
    path: &str,
    limit: usize,
) -> Result<Vec<u8>, BankIdError> {
    let too_large = || {
        tracing::warn!(path, limit, "bankid response body too large; abandoned");
        BankIdError::ResponseTooLarge {
            path: path.to_owned(),
            limit,
        }
    };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BankIdError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
