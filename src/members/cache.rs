//! A short-lived cache of successful authentications.
//!
//! Without it every request pays a database round trip before doing its real work.
//! Every entry carries the revocation generation it was made under ([`AuthChanges`]): a
//! key revoked or a member suspended from the CLI (another process) moves the generation
//! on every instance, so the change takes effect at the next request, not after `ttl`.
//! The ttl still bounds how long a check is trusted at all. A ttl of zero disables the
//! cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{AuthError, Caller, authenticate, split_key};
use crate::store::{AuthChanges, Store};

/// Above this many cached keys the cache is cleared rather than grown; 50 members with a
/// handful of keys each stay far below it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    changes: Arc<AuthChanges>,
    /// Key id → (when checked, generation then, secret hash, caller).
    entries: Mutex<HashMap<String, (Instant, u64, blake3::Hash, Caller)>>,
    /// Key ids the database did not know, and when that was learnt. Well-formed fake keys
    /// would otherwise each cost a database lookup. Key ids are random, so no real key
    /// can be refused by an entry made before it was issued.
    unknown_ttl: Duration,
    unknown: Mutex<HashMap<String, Instant>>,
}

impl AuthCache {
    pub fn new(ttl: Duration, unknown_ttl: Duration, changes: Arc<AuthChanges>) -> Self {
        Self {
            ttl,
            changes,
            entries: Mutex::new(HashMap::new()),
            unknown_ttl,
            unknown: Mutex::new(HashMap::new()),
        }
    }

    /// The revocation feed, for `serve` to run its listener.
    pub fn changes(&self) -> Arc<AuthChanges> {
        self.changes.clone()
    }

    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<Caller, AuthError> {
        let (key_id, _) = split_key(presented)?;
        if self.known_unknown(key_id) {
            return Err(AuthError::Unknown);
        }
        let result = self.authenticate_known(store, presented).await;
        if matches!(result, Err(AuthError::NoSuchKey)) && !self.unknown_ttl.is_zero() {
            let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
            if unknown.len() >= MAX_ENTRIES {
                unknown.clear();
            }
            unknown.insert(key_id.to_string(), Instant::now());
        }
        result.map_err(|e| match e {
            AuthError::NoSuchKey => AuthError::Unknown,
            other => other,
        })
    }

    fn known_unknown(&self, key_id: &str) -> bool {
        if self.unknown_ttl.is_zero() {
            return false;
        }
        let unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        unknown
            .get(key_id)
            .is_some_and(|at| at.elapsed() < self.unknown_ttl)
    }

    async fn authenticate_known(
        &self,
        store: &Store,
        presented: &str,
    ) -> Result<Caller, AuthError> {
        // Read before the lookup: a change announced during it moves the generation
        // past the one stored with the entry, so the entry is never trusted.
        let generation = match self.changes.generation() {
            Some(g) if !self.ttl.is_zero() => g,
            _ => return authenticate(store, presented).await,
        };
        let (key_id, secret) = split_key(presented)?;
        let secret_hash = blake3::hash(secret.as_bytes());
        {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, made_under, hash, caller)) = map.get(key_id)
                && at.elapsed() < self.ttl
                && *made_under == generation
                && *hash == secret_hash
            {
                return Ok(caller.clone());
            }
        }
        let caller = authenticate(store, presented).await?;
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key_id.to_string(),
            (Instant::now(), generation, secret_hash, caller.clone()),
        );
        Ok(caller)
    }
}
