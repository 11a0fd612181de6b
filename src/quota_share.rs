//! One instance's share of a limit that the operator sets for the whole hub.
//!
//! Quotas, budgets and per-address limits are enforced in each instance's memory: a
//! shared counter would put a database round trip (or a new service) in front of every
//! lookup, inside the card-authorisation budget. Behind a load balancer that spreads
//! requests evenly over `n` instances, each instance enforcing `1/n` of a limit keeps
//! the hub-wide total at the limit, which `quota_instances` (the `n`) makes possible.

use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaShare {
    instances: NonZeroU32,
}

impl Default for QuotaShare {
    fn default() -> Self {
        Self {
            instances: NonZeroU32::MIN,
        }
    }
}

impl QuotaShare {
    /// `instances` below 1 means one: configuration validation refuses 0 before this.
    pub fn new(instances: u32) -> Self {
        Self {
            instances: NonZeroU32::new(instances).unwrap_or(NonZeroU32::MIN),
        }
    }

    pub fn instances(&self) -> u32 {
        self.instances.get()
    }

    /// This instance's share of a count (a burst, a daily budget): rounded up, so the
    /// instances together never allow less than the total, and at least one.
    pub fn count(&self, total: u64) -> u64 {
        total.div_ceil(u64::from(self.instances.get())).max(1)
    }

    /// [`Self::count`] for the `u32` limits that `governor` takes.
    pub fn count_u32(&self, total: u32) -> NonZeroU32 {
        let share = u32::try_from(self.count(u64::from(total))).unwrap_or(u32::MAX);
        NonZeroU32::new(share).unwrap_or(NonZeroU32::MIN)
    }

    /// Time between two replenished units of this instance's share of `units` per
    /// `window`. The rate is divided exactly rather than rounded: rounding 1/s over three
    /// instances up to 1/s each would triple the refill.
    pub fn interval(&self, window: Duration, units: u64) -> Duration {
        let nanos = window.as_nanos() * u128::from(self.instances.get()) / u128::from(units.max(1));
        Duration::from_nanos(u64::try_from(nanos.max(1)).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_up_and_never_reach_zero() {
        let three = QuotaShare::new(3);
        assert_eq!(three.count(30), 10);
        assert_eq!(three.count(31), 11);
        assert_eq!(three.count(1), 1);
        assert_eq!(three.count(0), 1);
        assert_eq!(QuotaShare::new(0).count(7), 7);
    }

    #[test]
    fn rates_are_divided_exactly() {
        let second = Duration::from_secs(1);
        assert_eq!(
            QuotaShare::new(3).interval(second, 1),
            Duration::from_secs(3)
        );
        assert_eq!(
            QuotaShare::new(2).interval(second, 1000),
            Duration::from_millis(2)
        );
        assert_eq!(
            QuotaShare::default().interval(Duration::from_secs(60), 30),
            Duration::from_secs(2)
        );
        assert_eq!(
            QuotaShare::new(1).interval(second, u64::MAX),
            Duration::from_nanos(1)
        );
    }
}
