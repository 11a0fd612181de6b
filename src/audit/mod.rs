//! Audit trail with group commit, kept as a Merkle tree log.
//!
//! Every request that reads or writes personal data hands its entries to one writer
//! (`writer`: a task, or on a SQLite file a thread of its own) and waits until they are
//! committed before answering. The writer drains
//! everything queued while the previous commit was in flight and commits it in one
//! transaction, so many concurrent requests share one disk sync instead of paying one
//! each. A match hands over its flag lookups too: the writer answers all of them with
//! one query inside the same transaction, so a lookup costs the request no database
//! round trip of its own and its audited outcome is exactly what it was told.
//!
//! The entries are built whole by the use case that owns them; for a lookup the use
//! case hands over, as data, what each entry will say and the rule that turns what was
//! found into its outcome, so no entry ever exists with a placeholder outcome.

pub mod entry;
pub mod health;
pub mod log;
pub mod operator;
pub mod segments;
pub mod verify;
mod writer;

#[cfg(test)]
pub(crate) mod pg_writer_tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use entry::{Action, AuditEntry, Outcome, Purpose, Requester};
use health::{WriterHealth, WriterStall};

use crate::flags::rules::Flag;
use crate::indicators::rules::{Indicator, IndicatorPolicy};
use crate::pseudonym::Token;
use crate::store::{LogHead, LogTx, Store, StoreError, TreeGrowth};
use crate::tlog::{Blake3, Frontier, FrontierError, stored};

/// Cloned to every request of a failed group commit, so each keeps the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("audit writer has stopped")]
    WriterGone,
    #[error("audit commit failed")]
    Commit(#[source] Arc<StoreError>),
    /// The database was unreachable: retryable, answered 503 rather than 500.
    #[error("audit commit failed, database unavailable")]
    Unavailable(#[source] Arc<StoreError>),
    #[error("the stored log head cannot be extended")]
    Head(#[source] Arc<FrontierError>),
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            AuditError::Unavailable(Arc::new(e))
        } else {
            AuditError::Commit(Arc::new(e))
        }
    }
}

impl From<FrontierError> for AuditError {
    fn from(e: FrontierError) -> Self {
        AuditError::Head(Arc::new(e))
    }
}

/// One subject of an audited lookup.
#[derive(Debug, Clone, Copy)]
pub struct LookupSubject {
    /// The token at the version the hub writes; the entry's subject index.
    pub token: Token,
    /// During a key switch, the subject's token at the version being left: rows not yet
    /// re-keyed are found by it.
    pub previous: Option<Token>,
    /// Whether flags can sit on this kind of subject at all (reports can sit on any).
    pub flaggable: bool,
}

/// An audited lookup: one entry per subject, each saying `action` for `purpose`, with
/// the outcome `decide` gives for what is active on that subject.
#[derive(Debug)]
pub struct Lookup {
    pub requester: Requester,
    pub action: Action,
    pub purpose: Option<Purpose>,
    pub subjects: Vec<LookupSubject>,
    pub decide: fn(&Active) -> Outcome,
    /// Which reports count (`Indicator::status`).
    pub policy: IndicatorPolicy,
}

/// What is active on one subject at the requester's time.
#[derive(Debug, Default)]
pub struct Active {
    pub flags: Vec<Flag>,
    pub indicators: Vec<Indicator>,
}

/// What was found for each subject of a lookup, in subject order.
pub type Found = Vec<Active>;

enum Work {
    Append(Vec<AuditEntry>),
    Lookup(Lookup),
}

impl Work {
    fn entries(&self) -> usize {
        match self {
            Work::Append(entries) => entries.len(),
            Work::Lookup(l) => l.subjects.len(),
        }
    }
}

struct Pending {
    work: Work,
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
        write!(f, "Pending({} entries)", self.work.entries())
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
        let alive = health.ended_on_drop();
        let handle = tokio::spawn(writer::run(store, rx, batch_max, health.clone(), alive));
        (AuditSink { tx, health }, handle)
    }

    /// Why the writer cannot be relied on now, if it cannot: it has ended, or one commit
    /// has been running for longer than `threshold` while requests wait on it.
    pub fn stall(&self, threshold: Duration) -> Option<WriterStall> {
        let queued = self.tx.max_capacity() - self.tx.capacity();
        self.health.stall(threshold, queued)
    }

    /// Returns once the entries are durably committed.
    pub async fn record(&self, entries: Vec<AuditEntry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.submit(Work::Append(entries)).await.map(|_| ())
    }

    /// Runs the lookup in the next group commit and returns, once its entries are
    /// durable, what is active on each subject.
    pub async fn lookup(&self, lookup: Lookup) -> Result<Found, AuditError> {
        self.submit(Work::Lookup(lookup)).await
    }

    async fn submit(&self, work: Work) -> Result<Found, AuditError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { work, done })
            .await
            .map_err(|_| AuditError::WriterGone)?;
        wait.await.map_err(|_| AuditError::WriterGone)?
    }
}

/// Appends entries to the log inside `tx`. Their leaf hashes and the tree nodes they
/// complete are computed here, from the head read under the transaction's lock.
/// Returns the log's new size.
pub async fn append(tx: &mut LogTx, entries: &[AuditEntry]) -> Result<u64, AuditError> {
    if entries.is_empty() {
        return Ok(tx.head().size);
    }
    let growth = grow(tx.head(), entries)?;
    tx.append(entries, growth).await?;
    Ok(tx.head().size)
}

/// The leaf hashes of `entries` appended at `head`, the tree nodes they complete and the
/// new head.
fn grow(head: &LogHead, entries: &[AuditEntry]) -> Result<TreeGrowth, AuditError> {
    let mut frontier = Frontier::<Blake3>::from_bytes(&head.frontier)?;
    let start = head.size;
    let mut leaves = Vec::with_capacity(entries.len());
    let mut nodes = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let leaf = entry::leaf_hash(e, start + i as u64);
        leaves.push(leaf.0);
        let made = frontier.append(leaf)?;
        // The leaf itself (level 0) is stored with its entry; levels 1 to 3 are rebuilt
        // from the leaves when a proof needs them.
        nodes.extend(
            made.into_iter()
                .filter(|(id, _)| id.level > 0 && stored::is_stored(*id))
                .map(|(id, h)| (id, h.0)),
        );
    }
    Ok(TreeGrowth {
        leaves,
        nodes,
        head: LogHead {
            size: frontier.size(),
            frontier: frontier.to_bytes(),
        },
    })
}

/// Commits entries in a transaction of their own (operator actions from the CLI);
/// returns the log's new size.
pub async fn write(store: &Store, entries: &[AuditEntry]) -> Result<u64, AuditError> {
    let mut tx = store.begin_log().await?;
    let size = append(&mut tx, entries).await?;
    tx.commit().await?;
    Ok(size)
}
