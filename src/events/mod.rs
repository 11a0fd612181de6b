//! Watchlists and events: a member watches identifiers (tokens, with its own reference);
//! every change on a watched token (a flag placed, renewed, lifted or expired; an
//! indicator published, revoked or disputed) writes an event for each watcher in the same
//! transaction as the change (an outbox), numbered per member. Members pull the feed
//! (`/v1/events`) or have it pushed to their webhooks, signed the Standard Webhooks way.
//!
//! An event names no raw identifier and no other member (a publisher only when it chose
//! to be named), only the watcher's own reference.

pub mod ssrf;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::flags::Flag;
use crate::identifiers::{IdentifierKind, Normalised};
use crate::indicators::rules::Indicator;
use crate::pseudonym::{Pseudonymiser, Token};
use crate::store::{LogTx, Store, StoreError};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
pub enum EventType {
    #[serde(rename = "flag.placed")]
    #[strum(serialize = "flag.placed")]
    FlagPlaced,
    #[serde(rename = "flag.renewed")]
    #[strum(serialize = "flag.renewed")]
    FlagRenewed,
    #[serde(rename = "flag.lifted")]
    #[strum(serialize = "flag.lifted")]
    FlagLifted,
    #[serde(rename = "flag.expired")]
    #[strum(serialize = "flag.expired")]
    FlagExpired,
    #[serde(rename = "indicator.published")]
    #[strum(serialize = "indicator.published")]
    IndicatorPublished,
    #[serde(rename = "indicator.revoked")]
    #[strum(serialize = "indicator.revoked")]
    IndicatorRevoked,
    #[serde(rename = "indicator.disputed")]
    #[strum(serialize = "indicator.disputed")]
    IndicatorDisputed,
    /// One of the member's webhooks was disabled after failing for too long.
    #[serde(rename = "webhook.disabled")]
    #[strum(serialize = "webhook.disabled")]
    WebhookDisabled,
}

/// One event in a member's feed.
#[derive(Debug, Clone)]
pub struct Event {
    pub member_id: i64,
    /// Position in the member's feed: dense, in commit order.
    pub seq: i64,
    pub id: String,
    pub kind: EventType,
    pub occurred_at: DateTime<Utc>,
    /// The watcher's own reference for the identifier.
    pub reference: Option<String>,
    pub summary: Value,
}

/// An event as members receive it, in the feed and in webhook bodies.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub occurred_at: String,
    /// The feed cursor of this event.
    pub cursor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[schema(value_type = Object)]
    pub summary: Value,
}

impl From<&Event> for EventBody {
    fn from(e: &Event) -> Self {
        EventBody {
            id: e.id.clone(),
            kind: e.kind,
            occurred_at: e.occurred_at.to_rfc3339(),
            cursor: e.seq.to_string(),
            reference: e.reference.clone(),
            summary: e.summary.clone(),
        }
    }
}

/// A watched identifier as its member sees it (the identifier itself is not kept).
#[derive(Debug, Clone)]
pub struct Watched {
    pub kind: IdentifierKind,
    pub reference: String,
    pub created_at: DateTime<Utc>,
}

/// Writes `kind` into the feed of every member watching the subject, inside `tx`: the
/// change and its events commit together or not at all. `subject` holds its tokens at
/// each key version in use (`Pseudonymiser::lookup_tokens` or `consult`).
pub async fn emit(
    tx: &mut LogTx,
    subject: &[Token],
    kind: EventType,
    at: DateTime<Utc>,
    summary: &Value,
) -> Result<(), StoreError> {
    for (member, reference) in tx.watchers(subject).await? {
        tx.insert_event(member, kind, at, Some(&reference), summary)
            .await?;
    }
    Ok(())
}

/// What a flag event says: kind, dates, and whether the person or a member placed it
/// (never which member).
pub fn flag_summary(flag: &Flag) -> Value {
    json!({"flag": {
        "kind": flag.kind.as_str(),
        "placed_by": if flag.member_id.is_some() { "member" } else { "person" },
        "since": flag.created_at.to_rfc3339(),
        "expires": flag.expires_at.to_rfc3339(),
    }})
}

/// What an indicator event says; the publisher only when it chose to be named.
pub fn indicator_summary(i: &Indicator) -> Value {
    let mut body = json!({
        "identifier_kind": i.kind.as_str(),
        "category": i.category.as_str(),
        "confidence": i.confidence.as_str(),
        "valid_until": i.valid_until.to_rfc3339(),
    });
    if let (Some(name), true) = (&i.disclosed_as, i.disclose_member)
        && let Some(map) = body.as_object_mut()
    {
        map.insert("published_by".into(), Value::String(name.clone()));
    }
    json!({ "indicator": body })
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("reference: must be 1 to 128 printable characters")]
    Reference,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A member's watchlist reference: 1 to 128 characters once trimmed, none a control
/// character.
pub fn valid_reference(reference: &str) -> Result<&str, WatchError> {
    let reference = reference.trim();
    let chars = reference.chars().count();
    if chars == 0 || chars > 128 || reference.chars().any(char::is_control) {
        return Err(WatchError::Reference);
    }
    Ok(reference)
}

/// Watches an identifier under the member's `reference` (watching it again replaces
/// the reference).
pub async fn watch(
    store: &Store,
    pseudonymiser: &Pseudonymiser,
    member_id: i64,
    id: &Normalised,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<(), WatchError> {
    let reference = valid_reference(reference)?;
    let watched = Watched {
        kind: id.kind(),
        reference: reference.to_string(),
        created_at: now,
    };
    store
        .watch(member_id, &watched, &pseudonymiser.lookup_tokens(id))
        .await?;
    Ok(())
}

/// The member's feed after `after`; with `wait`, waits (polling the store) until there is
/// something or the time is up.
pub async fn feed(
    store: &Store,
    member_id: i64,
    after: i64,
    limit: i64,
    wait: Duration,
) -> Result<Vec<Event>, StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let page = store.events_after(member_id, after, limit).await?;
        if !page.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(page);
        }
        tokio::time::sleep(FEED_POLL.min(deadline - tokio::time::Instant::now())).await;
    }
}

/// How often a waiting feed request looks again.
const FEED_POLL: Duration = Duration::from_millis(200);

/// Announces flags that expired since the last pass (`flag.expired` to their watchers),
/// in batches, each in one transaction with its events. Returns how many.
pub async fn announce_expiries(
    store: &Store,
    pseudonymiser: &Pseudonymiser,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut announced = 0;
    if !store.any_unannounced_expiry(now).await? {
        return Ok(0);
    }
    loop {
        let mut tx = store.begin_log().await?;
        let expired = tx.unannounced_expiries(now, 500).await?;
        if expired.is_empty() {
            return Ok(announced);
        }
        for flag in &expired {
            emit(
                &mut tx,
                &pseudonymiser.consult(&flag.subject),
                EventType::FlagExpired,
                flag.expires_at,
                &flag_summary(flag),
            )
            .await?;
            tx.mark_expiry_announced(&flag.id).await?;
        }
        tx.commit().await?;
        announced += expired.len() as u64;
    }
}
