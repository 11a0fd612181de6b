//! Audit trail with group commit, kept as a Merkle tree log.
//!
//! Every request that reads or writes personal data hands its entries to one writer
//! task and waits until they are committed before answering. The writer drains
//! everything queued while the previous commit was in flight and commits it in one
//! transaction, so many concurrent requests share one disk sync instead of paying one
//! each. A match hands over its flag lookups too: the writer answers all of them with
//! one query inside the same transaction, so a lookup costs the request no database
//! round trip of its own and its audited outcome is exactly what it was told.

pub mod entry;
pub mod health;
pub mod log;
pub mod operator;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use health::{EndedOnDrop, WriterHealth, WriterStall};

use crate::store::{AuditRow, FlagRow, Store, StoreError};

/// Cloned to every request of a failed group commit, so each keeps the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("audit writer has stopped")]
    WriterGone,
    #[error("audit commit failed: {0}")]
    Commit(String),
    /// The database was unreachable: retryable, answered 503 rather than 500.
    #[error("audit commit failed, database unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            AuditError::Unavailable(e.to_string())
        } else {
            AuditError::Commit(e.to_string())
        }
    }
}

/// Per entry: the token to look flags up for, or `None` when the entry needs no lookup.
pub type Lookups = Vec<Option<[u8; 32]>>;

/// The active flags found for each entry of a lookup, in entry order.
pub type Found = Vec<Vec<FlagRow>>;

struct Pending {
    rows: Vec<AuditRow>,
    /// With lookups, each entry's outcome is set by the writer (`flagged` or `clear`).
    lookup: Option<(Lookups, i64)>,
    done: oneshot::Sender<Result<Found, AuditError>>,
}

/// Cheap-to-clone handle used by request handlers.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Pending>,
    health: Arc<WriterHealth>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} rows)", self.rows.len())
    }
}

impl AuditSink {
    /// Starts the writer. It runs until every sink clone is dropped, then commits what
    /// is still queued and ends; awaiting the handle is how shutdown flushes the log.
    pub fn start(store: Store, batch_max: usize) -> (AuditSink, JoinHandle<()>) {
        // Bounded so that a stalled database pushes back on request handlers instead
        // of growing memory without limit.
        let (tx, rx) = mpsc::channel(batch_max.max(64) * 4);
        let health = Arc::new(WriterHealth::new());
        // The guard goes into the task's future itself, so even a task aborted before
        // its first poll marks the writer ended when it is dropped.
        let handle = tokio::spawn(writer(store, rx, batch_max, health.ended_on_drop()));
        (AuditSink { tx, health }, handle)
    }

    /// Why the writer cannot be relied on now, if it cannot: it has ended, or one commit
    /// has been running for longer than `threshold` while requests wait on it.
    pub fn stall(&self, threshold: Duration) -> Option<WriterStall> {
        let queued = self.tx.max_capacity() - self.tx.capacity();
        self.health.stall(threshold, queued)
    }

    /// Returns once the rows are durably committed.
    pub async fn record(&self, rows: Vec<AuditRow>) -> Result<(), AuditError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.submit(rows, None).await.map(|_| ())
    }

    /// Looks up the active flags (expiring after `now_ms`) for each entry's token and
    /// commits the entries with outcome `flagged` or `clear`; returns what was found.
    pub async fn lookup_and_record(
        &self,
        rows: Vec<AuditRow>,
        lookups: Lookups,
        now_ms: i64,
    ) -> Result<Found, AuditError> {
        self.submit(rows, Some((lookups, now_ms))).await
    }

    async fn submit(
        &self,
        rows: Vec<AuditRow>,
        lookup: Option<(Lookups, i64)>,
    ) -> Result<Found, AuditError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { rows, lookup, done })
            .await
            .map_err(|_| AuditError::WriterGone)?;
        wait.await.map_err(|_| AuditError::WriterGone)?
    }
}

async fn writer(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    alive: EndedOnDrop,
) {
    let health = alive.health();
    let mut batch: Vec<Pending> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut rows = first.rows.len();
        batch.push(first);
        while rows < batch_max {
            match rx.try_recv() {
                Ok(p) => {
                    rows += p.rows.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        // A failed commit is answered and the loop goes on: the writer outlives a
        // database outage and commits again once the pool reconnects.
        health.busy();
        let started = std::time::Instant::now();
        let results = commit(&store, &mut batch).await;
        health.idle();
        let ok = results.first().is_some_and(Result::is_ok);
        crate::metrics::audit_committed(rows, started.elapsed(), ok, rx.len());
        for (p, found) in batch.drain(..).zip(results) {
            // A requester that gave up (timeout) no longer listens; nothing to do.
            let _ = p.done.send(found);
        }
    }
    tracing::info!("audit writer flushed and stopped");
}

/// Commits one batch and returns each pending request's answer.
async fn commit(store: &Store, batch: &mut [Pending]) -> Vec<Result<Found, AuditError>> {
    let mut rows: Vec<AuditRow> = Vec::new();
    let mut wanted: Vec<(usize, [u8; 32], i64)> = Vec::new();
    for p in batch.iter_mut() {
        if let Some((lookups, now)) = &p.lookup {
            // Identifiers without a lookup (not personal numbers) can only be clear.
            for r in &mut p.rows {
                r.outcome = "clear".to_string();
            }
            for (i, token) in lookups.iter().enumerate() {
                if let Some(t) = token {
                    wanted.push((rows.len() + i, *t, *now));
                }
            }
        }
        rows.append(&mut p.rows);
    }
    let total = rows.len();
    let result = if batch.iter().all(|p| p.lookup.is_none()) {
        store.append_audit(&rows).await.map(|_| Vec::new())
    } else {
        let mut tokens: Vec<&[u8]> = wanted.iter().map(|(_, t, _)| t.as_slice()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        // Each request filters by its own clock; the query uses the earliest.
        let earliest = wanted.iter().map(|(_, _, now)| *now).min().unwrap_or(0);
        store
            .lookup_and_append(&tokens, earliest, &mut rows, |flags, rows| {
                for (row, token, now) in &wanted {
                    let hit = flags
                        .iter()
                        .any(|f| f.subject_token == token.as_slice() && f.expires_at > *now);
                    if let (true, Some(r)) = (hit, rows.get_mut(*row)) {
                        r.outcome = "flagged".to_string();
                    }
                }
            })
            .await
    };
    let flags = match result {
        Ok(flags) => flags,
        Err(e) => {
            let failure = AuditError::from(e);
            if matches!(failure, AuditError::Unavailable(_)) {
                tracing::warn!(error = %failure, rows = total, "audit commit failed: database unavailable");
            } else {
                tracing::error!(error = %failure, rows = total, "audit commit failed");
            }
            return batch.iter().map(|_| Err(failure.clone())).collect();
        }
    };
    batch
        .iter()
        .map(|p| {
            let Some((lookups, now)) = &p.lookup else {
                return Ok(Vec::new());
            };
            Ok(lookups
                .iter()
                .map(|token| match token {
                    Some(t) => flags
                        .iter()
                        .filter(|f| f.subject_token == t.as_slice() && f.expires_at > *now)
                        .cloned()
                        .collect(),
                    None => Vec::new(),
                })
                .collect())
        })
        .collect()
}
