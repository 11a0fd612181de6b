//! Retry safety for create calls (`Idempotency-Key`): the rule every use case that makes
//! something shares. A retry with the same key and body gets what the first call made; the
//! same key with another body is refused; keys are forgotten after their TTL.
//!
//! Neither the key nor the body is stored: members choose keys freely (some put case or
//! personal numbers in them) and bodies hold raw identifiers, so only keyed hashes are.
//! Both hashes chain through key versions like identifier tokens, and rotation re-keys
//! them with the same step: after a rotation the old key alone tests nothing against
//! them either (a member's key may hold a personal number).

use chrono::{DateTime, Utc};

use crate::audit::entry::Requester;
use crate::pseudonym::Pseudonymiser;
use crate::store::{Idempotency, LogTx, Store, StoreError};

/// A retry-safety key as a use case sees it: the member's key and the raw body it came with.
#[derive(Clone, Copy)]
pub struct RetryKey<'a> {
    pub key: &'a str,
    pub body: &'a [u8],
    /// Records created at or before this time are forgotten (the retention TTL).
    pub forgotten_at_or_before: DateTime<Utc>,
}

/// How a create call goes on.
pub enum Begun {
    /// A first call: make `resource_id` in this transaction (the key is already claimed
    /// in it, so both commit together or not at all).
    Fresh(LogTx),
    /// A retry: the first call made this resource.
    Replay(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Begins the log transaction of a create call that will make `resource_id`, claiming the
/// retry key in it when there is one.
pub async fn begin(
    store: &Store,
    pseudonymiser: &Pseudonymiser,
    who: &Requester,
    retry: Option<RetryKey<'_>>,
    resource_id: &str,
) -> Result<Begun, RetryError> {
    let mut tx = store.begin_log().await?;
    let Some(retry) = retry else {
        return Ok(Begun::Fresh(tx));
    };
    let mut versions = pseudonymiser
        .consulted_versions()
        .into_iter()
        .filter_map(|v| {
            pseudonymiser
                .idempotency_at(who.member_id, retry.key, retry.body, v)
                .map(|hashes| (v, hashes))
        });
    let Some((version, (key_hash, fingerprint))) = versions.next() else {
        return Err(StoreError::corrupt("the keyring cannot serve the key state").into());
    };
    // During a key switch the first call's record may still be at the version being left.
    for (_, (old_hash, old_fingerprint)) in versions {
        if let Some(earlier) = tx
            .live_idempotency_record(who.member_id, &old_hash, retry.forgotten_at_or_before)
            .await?
        {
            drop(tx);
            if earlier.fingerprint != old_fingerprint.as_slice() {
                return Err(RetryError::KeyReused);
            }
            return Ok(Begun::Replay(earlier.resource_id));
        }
    }
    let idem = Idempotency {
        key_hash: &key_hash,
        fingerprint: &fingerprint,
        forgotten_at_or_before: retry.forgotten_at_or_before,
        key_version: version,
    };
    if tx
        .claim_idempotency(who.member_id, &idem, resource_id, who.at)
        .await?
    {
        return Ok(Begun::Fresh(tx));
    }
    // The key is taken: this transaction is spoilt (PostgreSQL aborts it on the conflict).
    drop(tx);
    let earlier = store.idempotency_record(who.member_id, &key_hash).await?;
    if earlier.fingerprint != fingerprint.as_slice() {
        return Err(RetryError::KeyReused);
    }
    Ok(Begun::Replay(earlier.resource_id))
}
