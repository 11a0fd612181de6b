//! Shared simulator state behind the RP API and the device control surface.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::{FaultKind, FaultRule, SimConfig};
use super::orders::OrderBook;
use crate::clock::Clock;

pub(crate) struct SimState {
    pub config: SimConfig,
    clock: Arc<dyn Clock>,
    /// When the simulator started; the order book counts time from here.
    origin: DateTime<Utc>,
    book: Mutex<OrderBook>,
    faults: Mutex<Vec<FaultRule>>,
}

// A panic while holding a lock must not wedge the simulator; the order book
// stays consistent per operation, so continuing with the inner value is fine.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimState {
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let faults = config.faults.clone();
        Self {
            config,
            origin: clock.now(),
            clock,
            book: Mutex::new(OrderBook::default()),
            faults: Mutex::new(faults),
        }
    }

    /// Runs `f` on the order book with the current time: how long the
    /// simulator has been running (never less than zero, should the clock be
    /// set back).
    pub fn with_book<R>(&self, f: impl FnOnce(&mut OrderBook, Duration, &SimConfig) -> R) -> R {
        let now = (self.clock.now() - self.origin)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let mut book = relock(&self.book);
        f(&mut book, now, &self.config)
    }

    pub fn add_fault(&self, rule: FaultRule) {
        relock(&self.faults).push(rule);
    }

    /// Consumes one injected fault matching `endpoint`, if any is armed.
    pub fn take_fault(&self, endpoint: &str) -> Option<FaultKind> {
        let mut faults = relock(&self.faults);
        let idx = faults.iter().position(|r| {
            r.count > 0
                && r.endpoint
                    .as_deref()
                    .is_none_or(|e| e.trim_matches('/') == endpoint)
        })?;
        let rule = faults.get_mut(idx)?;
        rule.count -= 1;
        let kind = rule.kind;
        if rule.count == 0 {
            faults.remove(idx);
        }
        Some(kind)
    }
}
