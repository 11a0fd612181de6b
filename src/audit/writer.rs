//! The writer: drains what is queued, commits it as one group and answers each request.
//!
//! On a SQLite file the group commit runs on a thread of its own with its own connection
//! ([`SqliteLog`]); on PostgreSQL too, with a connection of its own that pipelines each
//! commit ([`PgLog`]); on in-memory SQLite it is a task on the pool. All gather,
//! decide and answer with the same functions here; only the database steps (lock and
//! read, append, commit, checkpoint) differ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::health::{EndedOnDrop, WriterHealth};
use super::{
    Active, AuditEntry, AuditError, Found, Lookup, LookupSubject, Pending, Work, append, grow,
};
use crate::flags::rules::{Flag, FlagStatus};
use crate::indicators::rules::{Indicator, IndicatorStatus};
use crate::store::{
    Backend, LockedRead, PgLog, PgRead, SqliteLog, Store, StoreError, SubjectRead, Then,
};

/// How often the writer copies SQLite's WAL into the database: at ~14 k audited matches
/// per second the WAL grows by about 700 pages in this time, below the 1000 at which SQLite
/// would checkpoint inside a commit while the commit's requests wait.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// The writer for `store`: a thread with its own connection on a SQLite file or
/// PostgreSQL, else a task on the pool. `alive` is dropped when it ends, or when the
/// returned future is dropped (an aborted task); a thread then stops before its next commit.
pub(super) async fn run(
    store: Store,
    rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    health: Arc<WriterHealth>,
    alive: EndedOnDrop,
) {
    let log = match store.sqlite_log() {
        Ok(log) => log,
        Err(e) => {
            // The pool path is as correct, only slower; the hub keeps serving.
            tracing::error!(error = %crate::errors::Chain(&e), "the audit writer's own SQLite connection failed to open; committing through the pool");
            None
        }
    };
    let on_the_pool = match log {
        Some(log) => {
            let health = health.clone();
            on_own_thread(move || on_thread(log, rx, batch_max, &health)).await;
            None
        }
        None if store.backend() == Backend::Postgres => {
            pg_on_own_thread(store.clone(), rx, batch_max, health.clone()).await
        }
        None => Some(rx),
    };
    if let Some(rx) = on_the_pool {
        on_pool(store, rx, batch_max, &health).await;
    }
    drop(alive);
    tracing::info!("audit writer flushed and stopped");
}

/// Runs `writer` on a named thread of its own (not tokio's blocking pool: operators find
/// it in `top -H` and profiles, and it never waits behind other blocking work) and waits
/// for it to end.
async fn on_own_thread(writer: impl FnOnce() + Send + 'static) {
    let (ended, thread_ended) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || {
            writer();
            let _ = ended.send(());
        });
    match spawned {
        // Dropped without a send: the thread panicked.
        Ok(_) => {
            if thread_ended.await.is_err() {
                tracing::error!("audit writer thread ended abnormally");
            }
        }
        Err(e) => tracing::error!(error = %e, "the audit writer thread could not start"),
    }
}

/// The PostgreSQL writer on a thread of its own, with a single-threaded runtime for it and
/// its connection: on the hub's runtime every answer from the server waited for a worker
/// to poll the connection and then the writer, behind the request tasks queued there,
/// while the next group's requests waited on the head lock (docs/benchmarks.md, "Issue
/// 14", step 14). Gives the queue back if the connection cannot be made at start.
async fn pg_on_own_thread(
    store: Store,
    rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    health: Arc<WriterHealth>,
) -> Option<mpsc::Receiver<Pending>> {
    let (give_back, given_back) = tokio::sync::oneshot::channel();
    on_own_thread(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "the audit writer's runtime could not start; committing through the pool");
                let _ = give_back.send(rx);
                return;
            }
        };
        runtime.block_on(async move {
            match store.pg_log().await {
                Ok(Some(pg)) => on_pg(pg, rx, batch_max, &health).await,
                Ok(None) => {
                    let _ = give_back.send(rx);
                }
                Err(e) => {
                    // As on SQLite: the pool path is as correct, only slower.
                    tracing::error!(error = %crate::errors::Chain(&e), "the audit writer's own PostgreSQL connection failed to open; committing through the pool");
                    let _ = give_back.send(rx);
                }
            }
        });
    })
    .await;
    given_back.await.ok()
}

async fn on_pool(
    store: Store,
    mut rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    health: &WriterHealth,
) {
    let mut batch: Vec<Pending> = Vec::new();
    let mut last_checkpoint = Instant::now();
    while let Some(first) = rx.recv().await {
        let rows = gather(first, &mut rx, batch_max, &mut batch);
        health.busy();
        let started = Instant::now();
        let result = commit_on_pool(&store, &mut batch).await;
        health.idle();
        answer(&mut batch, result, rows, started, rx.len());
        if last_checkpoint.elapsed() >= WAL_CHECKPOINT_EVERY {
            report_checkpoint(store.checkpoint_wal().await);
            last_checkpoint = Instant::now();
        }
    }
}

/// On PostgreSQL: each group commit's reads are sent behind the previous one's COMMIT,
/// in the same round trip, whenever requests queued while it was being decided. Under
/// load a group commit is then one round trip, not two ([`PgLog`]).
async fn on_pg(
    mut log: PgLog,
    mut rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    health: &WriterHealth,
) {
    let (mut batch, mut next): (Vec<Pending>, Vec<Pending>) = (Vec::new(), Vec::new());
    let (mut rows, mut next_rows) = (0, 0);
    // What the transaction begun for `batch` read, if the previous commit began it.
    let mut begun: Option<Result<PgRead, StoreError>> = None;
    loop {
        if batch.is_empty() {
            let Some(first) = rx.recv().await else { break };
            rows = gather(first, &mut rx, batch_max, &mut batch);
        }
        if health.has_ended() {
            // As on the SQLite thread: the task that owned this thread was aborted.
            return;
        }
        health.busy();
        let started = Instant::now();
        let read = match begun.take() {
            Some(read) => read,
            None => log.begin_reading(Subjects::of(&batch).read()).await,
        };
        let result = match read {
            Ok(read) => {
                if let Ok(first) = rx.try_recv() {
                    next_rows = gather(first, &mut rx, batch_max, &mut next);
                }
                let (result, then) = commit_on_pg(&mut log, &mut batch, read, &next).await;
                begun = then;
                result
            }
            Err(e) => Err(e.into()),
        };
        health.idle();
        answer(&mut batch, result, rows, started, rx.len());
        std::mem::swap(&mut batch, &mut next);
        rows = next_rows;
    }
}

fn on_thread(
    mut log: SqliteLog,
    mut rx: mpsc::Receiver<Pending>,
    batch_max: usize,
    health: &WriterHealth,
) {
    let mut batch: Vec<Pending> = Vec::new();
    let mut last_checkpoint = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        let rows = gather(first, &mut rx, batch_max, &mut batch);
        if health.has_ended() {
            // The task that owned this thread was aborted: the requests dropped with the
            // batch are answered "writer gone", like every one sent after.
            return;
        }
        health.busy();
        let started = Instant::now();
        let result = commit_on_thread(&mut log, &mut batch);
        health.idle();
        answer(&mut batch, result, rows, started, rx.len());
        if last_checkpoint.elapsed() >= WAL_CHECKPOINT_EVERY {
            report_checkpoint(log.checkpoint_wal());
            last_checkpoint = Instant::now();
        }
    }
}

/// Moves `first` and whatever else is queued, up to `batch_max` entries, into `batch`;
/// returns the number of entries.
fn gather(
    first: Pending,
    rx: &mut mpsc::Receiver<Pending>,
    batch_max: usize,
    batch: &mut Vec<Pending>,
) -> usize {
    let mut rows = first.work.entries();
    batch.push(first);
    while rows < batch_max {
        match rx.try_recv() {
            Ok(p) => {
                rows += p.work.entries();
                batch.push(p);
            }
            Err(_) => break,
        }
    }
    rows
}

/// Answers every request of the batch with its own result, or all with the failure.
/// A failed commit is answered and the writer goes on: it outlives a database outage and
/// commits again once the database is back.
fn answer(
    batch: &mut Vec<Pending>,
    result: Result<Vec<Found>, AuditError>,
    rows: usize,
    started: Instant,
    queued: usize,
) {
    crate::metrics::audit_committed(rows, started.elapsed(), result.is_ok(), queued);
    let results: Vec<Result<Found, AuditError>> = match result {
        Ok(found) => found.into_iter().map(Ok).collect(),
        Err(failure) => {
            if matches!(failure, AuditError::Unavailable(_)) {
                tracing::warn!(error = %crate::errors::Chain(&failure), rows, "audit commit failed: database unavailable");
            } else {
                tracing::error!(error = %crate::errors::Chain(&failure), rows, "audit commit failed");
            }
            batch.iter().map(|_| Err(failure.clone())).collect()
        }
    };
    for (p, found) in batch.drain(..).zip(results) {
        // A requester that gave up (timeout) no longer listens; nothing to do.
        let _ = p.done.send(found);
    }
}

/// A passive checkpoint's failure is logged; the next one tries again. Run between
/// commits, so it never overlaps them. From a task beside the writer it met SQLite's
/// WAL-reset bug while the hub linked SQLite 3.46 (docs/operations.md); on the 3.51.3
/// linked now that place would be safe, but it measured no faster (docs/benchmarks.md,
/// step 9).
fn report_checkpoint(result: Result<(), crate::store::StoreError>) {
    if let Err(e) = result {
        tracing::warn!(error = %crate::errors::Chain(&e), "WAL checkpoint failed");
    }
}

/// The tokens a batch's lookups read, and the earliest requester time among them.
struct Subjects<'a> {
    flaggable: Vec<&'a [u8]>,
    tokens: Vec<&'a [u8]>,
    earliest: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Subjects<'a> {
    fn of(batch: &'a [Pending]) -> Self {
        let mut s = Subjects {
            flaggable: Vec::new(),
            tokens: Vec::new(),
            earliest: None,
        };
        let lookups = batch.iter().filter_map(|p| match &p.work {
            Work::Lookup(l) => Some(l),
            Work::Append(_) => None,
        });
        for l in lookups {
            let at = l.requester.at;
            s.earliest = Some(s.earliest.map_or(at, |e| e.min(at)));
            for subject in &l.subjects {
                for t in std::iter::once(&subject.token).chain(&subject.previous) {
                    s.tokens.push(t.bytes.as_slice());
                    if subject.flaggable {
                        s.flaggable.push(t.bytes.as_slice());
                    }
                }
            }
        }
        for list in [&mut s.flaggable, &mut s.tokens] {
            list.sort_unstable();
            list.dedup();
        }
        s
    }

    /// One read of each kind for every request, under the log lock; each request then
    /// keeps what was active at its own time. `None` when the batch has no lookup.
    fn read(&self) -> Option<SubjectRead<'_>> {
        self.earliest.map(|at| SubjectRead {
            flaggable: &self.flaggable,
            tokens: &self.tokens,
            at,
        })
    }
}

async fn commit_on_pool(store: &Store, batch: &mut [Pending]) -> Result<Vec<Found>, AuditError> {
    let (mut tx, flags, indicators) = {
        let subjects = Subjects::of(batch);
        match subjects.read() {
            Some(read) => {
                let LockedRead {
                    tx,
                    flags,
                    indicators,
                } = store.begin_log_reading(read).await?;
                (tx, flags, indicators)
            }
            None => (store.begin_log().await?, Vec::new(), Vec::new()),
        }
    };
    let (entries, answers) = decide(batch, &flags, &indicators);
    append(&mut tx, &entries).await?;
    tx.commit().await?;
    Ok(answers)
}

/// Commits `batch` in the transaction that read `read`, and begins `next`'s behind it
/// (if any requests are in it). Returns the batch's answers and what `next` read.
async fn commit_on_pg(
    log: &mut PgLog,
    batch: &mut [Pending],
    read: PgRead,
    next: &[Pending],
) -> (
    Result<Vec<Found>, AuditError>,
    Option<Result<PgRead, StoreError>>,
) {
    let (entries, answers) = decide(batch, &read.flags, &read.indicators);
    let growth = if entries.is_empty() {
        None
    } else {
        match grow(&read.head, &entries) {
            Ok(growth) => Some(growth),
            Err(e) => {
                log.rollback().await;
                return (Err(e), None);
            }
        }
    };
    let subjects = Subjects::of(next);
    let then = if next.is_empty() {
        Then::Stop
    } else {
        Then::Begin(subjects.read())
    };
    let (committed, begun) = log.commit(&entries, growth, then).await;
    (committed.map(|()| answers).map_err(AuditError::from), begun)
}

fn commit_on_thread(log: &mut SqliteLog, batch: &mut [Pending]) -> Result<Vec<Found>, AuditError> {
    let mut locked = {
        let subjects = Subjects::of(batch);
        log.begin_reading(subjects.read())?
    };
    let (entries, answers) = decide(batch, &locked.flags, &locked.indicators);
    if !entries.is_empty() {
        let growth = grow(locked.tx.head(), &entries)?;
        locked.tx.append(&entries, growth)?;
    }
    locked.tx.commit()?;
    Ok(answers)
}

/// What each request is answered and the entries the batch appends, in queue order: an
/// append's own entries, a lookup's one per subject with the outcome its rule gives.
fn decide(
    batch: &mut [Pending],
    flags: &[Flag],
    indicators: &[Indicator],
) -> (Vec<AuditEntry>, Vec<Found>) {
    let mut entries = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for p in batch.iter_mut() {
        match &mut p.work {
            Work::Append(own) => {
                entries.append(own);
                answers.push(Vec::new());
            }
            Work::Lookup(l) => {
                let found: Found = l
                    .subjects
                    .iter()
                    .map(|s| active_on(flags, indicators, s, l))
                    .collect();
                for (s, f) in l.subjects.iter().zip(&found) {
                    entries.push(l.requester.entry(
                        l.action,
                        l.purpose,
                        Some(s.token),
                        (l.decide)(f),
                    ));
                }
                answers.push(found);
            }
        }
    }
    (entries, answers)
}

fn active_on(
    flags: &[Flag],
    indicators: &[Indicator],
    subject: &LookupSubject,
    lookup: &Lookup,
) -> Active {
    let at = lookup.requester.at;
    let is_subject = |bytes: &[u8; 32]| {
        *bytes == subject.token.bytes || subject.previous.is_some_and(|p| p.bytes == *bytes)
    };
    Active {
        flags: flags
            .iter()
            .filter(|f| subject.flaggable && is_subject(&f.subject.bytes))
            .filter(|f| f.status(at) == FlagStatus::Active)
            .cloned()
            .collect(),
        indicators: indicators
            .iter()
            .filter(|i| is_subject(&i.subject.bytes))
            .filter(|i| i.status(at, &lookup.policy) == IndicatorStatus::Active)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::entry::Action;
    use super::super::health::WriterStall;
    use super::super::{AuditEntry, AuditError, AuditSink};
    use crate::store::Store;

    fn entry() -> AuditEntry {
        AuditEntry::by_operator("test", Action::KeyRevoke, 1, None, chrono::Utc::now())
    }

    /// A writer whose task is aborted after its thread has started (as after a panic in
    /// the task) commits nothing more: the thread stops at the next batch, whose requests
    /// are told the writer is gone, as is every later one. Run on both engines' writers.
    pub(in crate::audit) async fn an_aborted_writer_commits_nothing_more_on(
        store: &Store,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (sink, writer) = AuditSink::start(store.clone(), 16);
        sink.record(vec![entry()]).await?;

        writer.abort();
        assert!(writer.await.is_err(), "the task was aborted");
        for _ in 0..2 {
            let after = sink.record(vec![entry()]).await;
            assert!(matches!(after, Err(AuditError::WriterGone)), "{after:?}");
        }
        assert_eq!(store.audit_count().await?, 1);
        assert_eq!(
            sink.stall(std::time::Duration::from_secs(1)),
            Some(WriterStall::Ended)
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_aborted_writer_commits_nothing_more() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("hub.db").display());
        let store = Store::connect(&url, 2).await?;
        store.migrate().await?;
        an_aborted_writer_commits_nothing_more_on(&store).await
    }
}
