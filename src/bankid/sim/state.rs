//! Shared simulator state behind the RP API and the device control surface.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::clock::Clock;
use super::config::{FaultKind, FaultRule, SimConfig};
use super::orders::OrderBook;

pub(crate) struct SimState {
    pub config: SimConfig,
    pub clock: Arc<dyn Clock>,
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
            clock,
            book: Mutex::new(OrderBook::default()),
            faults: Mutex::new(faults),
        }
    }

    /// Runs `f` on the order book with the current time.
    pub fn with_book<R>(&self, f: impl FnOnce(&mut OrderBook, Duration, &SimConfig) -> R) -> R {
        let now = self.clock.now();
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
