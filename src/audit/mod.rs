//! Audit trail with group commit, kept as a Merkle tree log.
//!
//! Every request that reads or writes personal data hands its entries to one writer
//! task and waits until they are committed before answering. The writer drains
//! everything queued while the previous commit was in flight and commits it in one
//! transaction, so many concurrent requests share one disk sync instead of paying one
//! each.

pub mod entry;
pub mod log;
pub mod verify;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{AuditRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit writer has stopped")]
    WriterGone,
    #[error("audit commit failed: {0}")]
    Commit(String),
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        AuditError::Commit(e.to_string())
    }
}

struct Pending {
    rows: Vec<AuditRow>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Cheap-to-clone handle used by request handlers.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Pending>,
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
        let handle = tokio::spawn(writer(store, rx, batch_max));
        (AuditSink { tx }, handle)
    }

    /// Returns once the rows are durably committed.
    pub async fn record(&self, rows: Vec<AuditRow>) -> Result<(), AuditError> {
        if rows.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { rows, done })
            .await
            .map_err(|_| AuditError::WriterGone)?;
        wait.await
            .map_err(|_| AuditError::WriterGone)?
            .map_err(AuditError::Commit)
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>, batch_max: usize) {
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
        let all: Vec<AuditRow> = batch
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.rows))
            .collect();
        let result = store.append_audit(&all).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, rows = all.len(), "audit commit failed");
            "audit commit failed".to_string()
        });
        for p in batch.drain(..) {
            // A requester that gave up (timeout) no longer listens; nothing to do.
            let _ = p.done.send(result.clone());
        }
    }
    tracing::info!("audit writer flushed and stopped");
}
