//! The audit writer's heartbeat, read by the readiness probe.
//!
//! Every answer waits for the writer, so a writer that has ended or hangs in one commit
//! (a lock held elsewhere, a stalled disk) makes the instance useless even while the
//! database still answers a ping. The writer publishes when its current commit started
//! and whether it still runs; readiness reads both without touching the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct WriterHealth {
    epoch: Instant,
    /// Milliseconds after `epoch` plus one at which the running commit started; 0 idle.
    busy_since: AtomicU64,
    ended: AtomicBool,
}

/// Why readiness refuses on the writer's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterStall {
    Ended,
    Stuck { for_ms: u64, queued: usize },
}

impl std::fmt::Display for WriterStall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterStall::Ended => f.write_str("the audit writer has stopped"),
            WriterStall::Stuck { for_ms, queued } => write!(
                f,
                "an audit commit has been running for {for_ms} ms with {queued} more requests queued"
            ),
        }
    }
}

impl WriterHealth {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    pub(crate) fn busy(&self) {
        self.busy_since.store(self.now_ms() + 1, Ordering::Release);
    }

    pub(crate) fn idle(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    /// Whether the writer's owner has ended (a thread running the writer's commits
    /// stops at its next batch).
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    pub(crate) fn ended_on_drop(self: &Arc<Self>) -> EndedOnDrop {
        EndedOnDrop(self.clone())
    }

    pub(crate) fn stall(&self, threshold: Duration, queued: usize) -> Option<WriterStall> {
        if self.has_ended() {
            return Some(WriterStall::Ended);
        }
        let since = self.busy_since.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let for_ms = self.now_ms().saturating_sub(since - 1);
        let limit = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX);
        (for_ms > limit).then_some(WriterStall::Stuck { for_ms, queued })
    }
}

/// Owned by the writer task; dropping it (the task returned, panicked or was aborted)
/// marks the writer ended.
pub(crate) struct EndedOnDrop(Arc<WriterHealth>);

impl Drop for EndedOnDrop {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_writer_is_never_stuck() {
        let h = WriterHealth::new();
        assert_eq!(h.stall(Duration::ZERO, 0), None);
    }

    #[test]
    fn a_commit_longer_than_the_threshold_is_stuck_and_ends_when_it_returns() {
        let h = WriterHealth::new();
        h.busy();
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(
            h.stall(Duration::from_millis(5), 3),
            Some(WriterStall::Stuck { queued: 3, .. })
        ));
        assert_eq!(h.stall(Duration::from_secs(60), 3), None);
        h.idle();
        assert_eq!(h.stall(Duration::from_millis(5), 3), None);
    }

    #[test]
    fn dropping_the_guard_marks_the_writer_ended() {
        let h = Arc::new(WriterHealth::new());
        drop(h.ended_on_drop());
        assert_eq!(
            h.stall(Duration::from_secs(60), 0),
            Some(WriterStall::Ended)
        );
    }
}
