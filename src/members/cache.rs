//! A short-lived cache of successful authentications.
//!
//! Without it every request pays a database round trip before doing its real work. The
//! price is bounded staleness: a key revoked or a member suspended from the CLI (another
//! process) stops working within `ttl`. A ttl of zero disables the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{AuthError, Caller, authenticate, split_key};
use crate::store::Store;

/// Above this many cached keys the cache is cleared rather than grown; 50 members with a
/// handful of keys each stay far below it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, blake3::Hash, Caller)>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<Caller, AuthError> {
        if self.ttl.is_zero() {
            return authenticate(store, presented).await;
        }
        let (key_id, secret) = split_key(presented)?;
        let secret_hash = blake3::hash(secret.as_bytes());
        {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, hash, caller)) = map.get(key_id)
                && at.elapsed() < self.ttl
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
            (Instant::now(), secret_hash, caller.clone()),
        );
        Ok(caller)
    }
}
