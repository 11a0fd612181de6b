//! Webhooks: a member's endpoints receive its events, signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, secret `whsec_<base64>`), at least once and in feed order.
//!
//! Delivery: one event at a time per endpoint, from its cursor; a 2xx moves the cursor.
//! A failure is retried with exponential backoff and jitter; an endpoint failing for
//! `disable_after_secs` (at least a day) is disabled and the member told through its feed
//! (`webhook.disabled`). Replay moves the cursor back (and re-enables). Every attempt is
//! in the endpoint's delivery log. Several hub instances share the work: an instance
//! leases an endpoint's next delivery before sending it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ssrf::{self, SsrfError, UrlPolicy};
use super::{Event, EventBody, EventType};
use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// The `[webhooks]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Hosts exempt from the SSRF address check (as written in URLs).
    pub allowed_hosts: Vec<String>,
    /// First retry delay; doubles per failed attempt (with jitter)…
    pub retry_base_ms: u64,
    /// …up to this.
    pub retry_max_ms: u64,
    /// An endpoint failing this long is disabled (at least 86400: a day of retries).
    pub disable_after_secs: u64,
    /// Per attempt, connection and response included.
    pub timeout_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            retry_base_ms: 1_000,
            retry_max_ms: 3_600_000,
            disable_after_secs: 3 * 86_400,
            timeout_ms: 5_000,
        }
    }
}

#[derive(Clone)]
pub struct Webhook {
    pub id: String,
    pub member_id: i64,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    pub secret: SecretString,
    pub previous_secret: Option<SecretString>,
    pub previous_until: Option<DateTime<Utc>>,
    pub active: bool,
    /// The last event delivered (or skipped as not subscribed).
    pub cursor: i64,
    pub attempts: i64,
    pub failing_since: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("member_id", &self.member_id)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    fn wants(&self, kind: EventType) -> bool {
        self.event_types.is_empty()
            || self.event_types.contains(&kind)
            || kind == EventType::WebhookDisabled
    }
}

/// One attempt to deliver one event.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_seq: i64,
    pub event_id: String,
    pub attempt: i64,
    pub at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub ok: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("url: {0}")]
    Url(#[from] SsrfError),
    #[error("no such webhook")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebhookError::NotFound,
            other => WebhookError::Store(other),
        }
    }
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    format!("whsec_{}", B64.encode(rand::random::<[u8; 32]>()))
}

/// `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, the key being the secret's
/// base64 part decoded.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Registers an endpoint; returns it with its secret, shown this once. Delivery starts
/// with the member's next event.
pub async fn register(
    store: &Store,
    member_id: i64,
    url: &str,
    event_types: Vec<EventType>,
    policy: &UrlPolicy,
    now: DateTime<Utc>,
) -> Result<(Webhook, String), WebhookError> {
    let (checked, _) = ssrf::check(url, policy).await?;
    let secret = new_secret();
    let hook = Webhook {
        id: format!("whk_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id,
        url: checked.to_string(),
        event_types,
        secret: SecretString::from(secret.clone()),
        previous_secret: None,
        previous_until: None,
        active: true,
        cursor: store.latest_event_seq(member_id).await?,
        attempts: 0,
        failing_since: None,
        next_attempt_at: now,
        created_at: now,
        disabled_at: None,
    };
    store.insert_webhook(&hook).await?;
    Ok((hook, secret))
}

/// How long a rotated-out secret still signs (both signatures are sent meanwhile).
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

/// A new secret, shown this once; the old one keeps signing for the overlap.
pub async fn rotate(
    store: &Store,
    member_id: i64,
    id: &str,
    now: DateTime<Utc>,
) -> Result<String, WebhookError> {
    let secret = new_secret();
    store
        .rotate_webhook_secret(
            member_id,
            id,
            &secret,
            now + chrono::Duration::hours(ROTATION_OVERLAP_HOURS),
        )
        .await?;
    Ok(secret)
}

/// The delay before attempt `attempts + 1`: doubling from the base, capped, with up to
/// half of it taken off at random so that failed endpoints do not retry in lockstep.
pub fn backoff(settings: &WebhookSettings, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(settings.retry_max_ms);
    let jitter = rand::random::<f64>() * 0.5;
    Duration::from_millis((full as f64 * (1.0 - jitter)) as u64)
}

/// Delivers due events until `stop`, ticking every 250 ms.
pub async fn run(
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    settings: WebhookSettings,
    policy: UrlPolicy,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = deliver_due(&store, clock.as_ref(), &settings, &policy).await {
            tracing::error!(error = %crate::errors::Chain(&e), "webhook delivery pass failed");
        }
    }
}

/// How long an instance holds an endpoint's next delivery.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// One pass: every due endpoint gets its pending events, in order, until one fails.
pub async fn deliver_due(
    store: &Store,
    clock: &dyn Clock,
    settings: &WebhookSettings,
    policy: &UrlPolicy,
) -> Result<(), StoreError> {
    for mut hook in store.due_webhooks(clock.now()).await? {
        'events: loop {
            let page = store.events_after(hook.member_id, hook.cursor, 50).await?;
            if page.is_empty() {
                break;
            }
            for event in page {
                let now = clock.now();
                if !store.lease_webhook(&hook, now + LEASE).await? {
                    break 'events; // another instance has it
                }
                hook.next_attempt_at = now + LEASE;
                if !hook.wants(event.kind) {
                    hook.cursor = event.seq;
                    hook.next_attempt_at = now;
                    store.set_webhook_progress(&hook).await?;
                    continue;
                }
                if !attempt(store, clock, settings, policy, &mut hook, &event).await? {
                    break 'events;
                }
            }
        }
    }
    Ok(())
}

/// Sends one event; records the attempt and where the endpoint stands. `true` when
/// it was delivered.
async fn attempt(
    store: &Store,
    clock: &dyn Clock,
    settings: &WebhookSettings,
    policy: &UrlPolicy,
    hook: &mut Webhook,
    event: &Event,
) -> Result<bool, StoreError> {
    let body = serde_json::to_vec(&EventBody::from(event)).unwrap_or_default();
    let result = send(hook, event, &body, settings, policy, clock.now()).await;
    let now = clock.now();
    hook.attempts += 1;
    let delivery = Delivery {
        event_seq: event.seq,
        event_id: event.id.clone(),
        attempt: hook.attempts,
        at: now,
        status_code: result.as_ref().ok().map(|s| i64::from(*s)),
        error: match &result {
            Ok(s) if (200..300).contains(s) => None,
            Ok(s) => Some(format!("HTTP {s}")),
            Err(e) => Some(e.clone()),
        },
        ok: matches!(result, Ok(s) if (200..300).contains(&s)),
    };
    store.insert_delivery(&hook.id, &delivery).await?;
    if delivery.ok {
        hook.cursor = event.seq;
        hook.attempts = 0;
        hook.failing_since = None;
        hook.next_attempt_at = now;
        store.set_webhook_progress(hook).await?;
        return Ok(true);
    }
    let since = *hook.failing_since.get_or_insert(now);
    let limit = chrono::Duration::seconds(
        i64::try_from(settings.disable_after_secs).unwrap_or(i64::MAX / 1000),
    );
    if now - since >= limit {
        disable(store, hook, now).await?;
        return Ok(false);
    }
    let wait = backoff(settings, hook.attempts);
    hook.next_attempt_at =
        now + chrono::Duration::milliseconds(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    store.set_webhook_progress(hook).await?;
    Ok(false)
}

async fn disable(store: &Store, hook: &Webhook, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut tx = store.begin_log().await?;
    if tx.disable_webhook(&hook.id, now).await? {
        let summary = serde_json::json!({"webhook": {
            "id": hook.id,
            "url": hook.url,
            "failing_since": hook.failing_since.map(|t| t.to_rfc3339()),
            "undelivered_after_cursor": hook.cursor.to_string(),
        }});
        tx.insert_event(
            hook.member_id,
            EventType::WebhookDisabled,
            now,
            None,
            &summary,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::warn!(webhook = %hook.id, member = hook.member_id, "webhook disabled after persistent failure");
    Ok(())
}

/// One POST: the URL checked again and its address pinned, no redirects, short timeouts.
/// The status code, or why there is none.
async fn send(
    hook: &Webhook,
    event: &Event,
    body: &[u8],
    settings: &WebhookSettings,
    policy: &UrlPolicy,
    now: DateTime<Utc>,
) -> Result<u16, String> {
    let (url, addrs) = ssrf::check(&hook.url, policy)
        .await
        .map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(settings.timeout_ms);
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout);
    if let (Some(host), Some(addr)) = (url.host_str(), addrs.first()) {
        builder = builder.resolve(host, *addr);
    }
    let client = builder.build().map_err(|e| format!("client: {e}"))?;
    // Receivers compare the timestamp with their own clock: it is always real time.
    let timestamp = chrono::Utc::now().timestamp();
    let mut signatures: Vec<String> = sign(hook.secret.expose_secret(), &event.id, timestamp, body)
        .into_iter()
        .collect();
    // The overlap was set on the hub's clock, so it ends on the hub's clock too.
    if let (Some(previous), Some(until)) = (&hook.previous_secret, hook.previous_until)
        && now < until
    {
        signatures.extend(sign(previous.expose_secret(), &event.id, timestamp, body));
    }
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", event.id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                "connection failed".to_string()
            }
        })?;
    Ok(resp.status().as_u16())
}
