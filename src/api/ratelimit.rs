//! Per-member rate limits.
//!
//! Quotas differ per member and live in the database, set from the CLI. tower_governor's
//! layer applies one quota to every key, so we use the engine underneath it (`governor`)
//! directly: one GCRA limiter per member, rebuilt when its stored quota changes. Each
//! limiter holds this instance's share of the quota (`quota_instances`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::problem::ApiError;
use crate::quota_share::QuotaShare;
use crate::store::MemberRow;

/// A member's limiter together with the (rate, burst) it was built from.
type Entry = (i64, i64, Arc<DefaultDirectRateLimiter>);

#[derive(Default)]
pub struct RateLimits {
    by_member: Mutex<HashMap<i64, Entry>>,
    share: QuotaShare,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    pub fn new(share: QuotaShare) -> Self {
        Self {
            by_member: Mutex::default(),
            share,
        }
    }

    /// This instance's share of the member's burst: the most units one request can cost.
    fn burst(&self, member: &MemberRow) -> NonZeroU32 {
        self.share.count_u32(clamp(member.burst).get())
    }

    pub fn check(&self, member: &MemberRow) -> Result<(), ApiError> {
        let limiter = self.limiter(member);
        limiter
            .check()
            .map_err(|not_until| retry_later(&not_until, member.id))
    }

    /// Charges a request's further units: a match costs one unit per identifier, and the
    /// request itself already paid one when the caller was authenticated.
    pub fn charge_more(&self, member: &MemberRow, extra: usize) -> Result<(), ApiError> {
        let burst = self.burst(member);
        let too_many = || {
            let detail = if self.share.instances() == 1 {
                format!("one request may carry at most the member's burst ({burst}) of identifiers")
            } else {
                format!(
                    "one request may carry at most {burst} identifiers: the member's burst ({}) \
                     shared by {} hub instances",
                    member.burst,
                    self.share.instances()
                )
            };
            ApiError::invalid("identifiers", detail)
        };
        // Such a request could never be admitted; waiting would not help.
        if u32::try_from(extra).map_or(true, |e| e >= burst.get()) {
            return Err(too_many());
        }
        let Some(n) = u32::try_from(extra).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self.limiter(member).check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(retry_later(&not_until, member.id)),
            Err(_) => Err(too_many()),
        }
    }

    /// Waits until the member's quota admits `n` more units (bulk matching slows to the
    /// member's rate instead of being refused), in pieces no larger than its burst.
    pub async fn wait_for(&self, member: &MemberRow, n: usize) {
        let limiter = self.limiter(member);
        let burst = self.burst(member).get();
        let mut left = u32::try_from(n).unwrap_or(u32::MAX);
        while let Some(piece) = NonZeroU32::new(left.min(burst)) {
            // A piece never exceeds the burst, so the capacity error cannot occur.
            let _ = limiter.until_n_ready(piece).await;
            left -= piece.get();
        }
    }

    fn limiter(&self, member: &MemberRow) -> Arc<DefaultDirectRateLimiter> {
        let mut map = self
            .by_member
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((rate, burst, l)) = map.get(&member.id)
            && (*rate, *burst) == (member.rate_per_second, member.burst)
        {
            return Arc::clone(l);
        }
        let burst = self.burst(member);
        let every = self.share.interval(
            Duration::from_secs(1),
            u64::from(clamp(member.rate_per_second).get()),
        );
        // `interval` is never zero, so the fallback (the unshared quota) is unreachable.
        let quota = Quota::with_period(every)
            .unwrap_or_else(|| Quota::per_second(clamp(member.rate_per_second)))
            .allow_burst(burst);
        let limiter = Arc::new(RateLimiter::direct(quota));
        map.insert(
            member.id,
            (member.rate_per_second, member.burst, Arc::clone(&limiter)),
        );
        limiter
    }
}

fn retry_later(
    not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>,
    member: i64,
) -> ApiError {
    crate::metrics::rate_limited(Some(member), crate::metrics::Limit::Quota);
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::RateLimited {
        // Retry-After is whole seconds; round up so clients never retry early.
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

fn clamp(v: i64) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(v.max(1)).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}
