//! The PostgreSQL writer's own connection ([`crate::store::PgLog`]): what its pipelined
//! commits leave behind when a statement fails, and that it outlives its connection.
//! Run where `FRAUDHUB_TEST_DATABASE_URL` names a PostgreSQL server (the PostgreSQL half
//! of `scripts/test.sh`), each on a database of its own.

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::entry::Action;
use super::{AuditEntry, AuditError, AuditSink};
use crate::store::{LogHead, Store, StoreError, Then, TreeGrowth};

pub(crate) type Outcome = Result<(), Box<dyn std::error::Error>>;

/// A fresh, migrated database on the test server, and a connection of the test's own to it.
pub(crate) struct PgDb {
    admin: String,
    name: String,
    url: String,
    pub(crate) store: Store,
    pub(crate) side: tokio_postgres::Client,
}

impl PgDb {
    pub(crate) async fn new() -> Result<Option<PgDb>, Box<dyn std::error::Error>> {
        let admin = match std::env::var("FRAUDHUB_TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => url,
            _ => {
                eprintln!("skipped: set FRAUDHUB_TEST_DATABASE_URL to a PostgreSQL server");
                return Ok(None);
            }
        };
        // The prefix the test scripts sweep up if a failed test leaves its database behind.
        let name = format!("fh_t_{}", hex::encode(rand::random::<[u8; 6]>()));
        connect(&admin)
            .await?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let store = Store::connect(&url, 2).await?;
        store.migrate().await?;
        let side = connect(&url).await?;
        Ok(Some(PgDb {
            admin,
            name,
            url,
            store,
            side,
        }))
    }

    async fn head_size(&self) -> Result<i64, tokio_postgres::Error> {
        let row = self
            .side
            .query_one("SELECT size FROM tlog_state WHERE id = 1", &[])
            .await?;
        row.try_get(0)
    }

    async fn node_count(&self) -> Result<i64, tokio_postgres::Error> {
        let row = self
            .side
            .query_one("SELECT count(*) FROM tlog_nodes", &[])
            .await?;
        row.try_get(0)
    }

    /// Whether another session can take the head lock now.
    async fn head_lock_is_free(&self) -> Result<bool, tokio_postgres::Error> {
        let taken = self
            .side
            .query(
                "SELECT size FROM tlog_state WHERE id = 1 FOR UPDATE NOWAIT",
                &[],
            )
            .await;
        match taken {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn writer_pids(&self) -> Result<Vec<i32>, tokio_postgres::Error> {
        let rows = self
            .side
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'fraudhub audit writer'",
                &[],
            )
            .await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    pub(crate) async fn drop(self) -> Outcome {
        self.store.close().await;
        drop(self.side);
        connect(&self.admin)
            .await?
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn entry() -> AuditEntry {
    AuditEntry::by_operator("test", Action::KeyRevoke, 1, None, chrono::Utc::now())
}

fn is_code(e: &AuditError, code: &SqlState) -> bool {
    matches!(e, AuditError::Commit(s) if matches!(&**s, StoreError::Postgres(pg) if pg.code() == Some(code)))
}

/// The writes and the COMMIT go out together; when the append is refused, the COMMIT
/// behind it commits nothing of it (no node, the head where it was), the requester is
/// told the real cause rather than "transaction aborted", and the next commit goes on.
#[tokio::test]
async fn a_refused_append_commits_nothing_and_the_writer_goes_on() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let (sink, _writer) = AuditSink::start(db.store.clone(), 16);
    // Fifteen entries: the sixteenth completes a stored node (level 4), so a refused
    // sixteenth would show in the node count if any of its writes committed.
    sink.record((0..15).map(|_| entry()).collect()).await?;
    let nodes = db.node_count().await?;
    // Another hand took leaf 15 behind the log head's back.
    db.side
        .execute(
            "INSERT INTO audit_log (leaf_index, at, action, outcome) VALUES (15, 0, 'x', 'x')",
            &[],
        )
        .await?;

    let refused = sink.record(vec![entry()]).await;
    assert!(
        matches!(&refused, Err(e) if is_code(e, &SqlState::UNIQUE_VIOLATION)),
        "{refused:?}"
    );
    assert_eq!(db.head_size().await?, 15);
    assert_eq!(db.node_count().await?, nodes);

    db.side
        .execute("DELETE FROM audit_log WHERE leaf_index = 15", &[])
        .await?;
    sink.record(vec![entry()]).await?;
    assert_eq!(db.head_size().await?, 16);
    assert_eq!(db.node_count().await?, nodes + 1, "node (4, 0)");
    assert_eq!(db.store.audit_count().await?, 16);
    db.drop().await
}

/// A commit that fails after the head was locked (here, a head that cannot be read)
/// releases the lock before its requester is answered: flag writes and other hub
/// instances wait on that lock, and with no further traffic nothing else would end it.
#[tokio::test]
async fn a_failed_read_releases_the_head_lock_at_once() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let (sink, _writer) = AuditSink::start(db.store.clone(), 16);
    sink.record(vec![entry()]).await?;
    db.side
        .execute("UPDATE tlog_state SET size = -1 WHERE id = 1", &[])
        .await?;

    let failed = sink.record(vec![entry()]).await;
    assert!(matches!(&failed, Err(AuditError::Commit(_))), "{failed:?}");
    assert!(
        db.head_lock_is_free().await?,
        "the failed commit kept the head locked"
    );

    db.side
        .execute("UPDATE tlog_state SET size = 1 WHERE id = 1", &[])
        .await?;
    sink.record(vec![entry()]).await?;
    assert_eq!(db.head_size().await?, 2);
    db.drop().await
}

/// The writer's transaction holds the head lock from its first round trip until its
/// commit, as the pool's `LogTx` does, so no other writer appends in between; a commit
/// that begins the next transaction behind its COMMIT keeps the lock for that one.
#[tokio::test]
async fn the_writers_transactions_hold_the_head_lock_until_they_commit() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let mut log = db.store.pg_log().await?.ok_or("PostgreSQL gets a writer")?;
    log.begin_reading(None).await?;
    assert!(!db.head_lock_is_free().await?, "the head was not locked");

    let (committed, begun) = log.commit(&[], None, Then::Begin(None)).await;
    committed?;
    begun.ok_or("the next transaction was begun")??;
    assert!(
        !db.head_lock_is_free().await?,
        "the next transaction does not hold the head"
    );

    let (committed, begun) = log.commit(&[], None, Then::Stop).await;
    committed?;
    assert!(begun.is_none());
    assert!(
        db.head_lock_is_free().await?,
        "the last commit kept the head locked"
    );
    db.drop().await
}

/// A refused append sent with the next transaction's reads behind its COMMIT: the append
/// commits nothing, and the next transaction still reads the head as it stands.
#[tokio::test]
async fn a_refused_append_leaves_the_next_transaction_its_reads() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let mut log = db.store.pg_log().await?.ok_or("PostgreSQL gets a writer")?;
    let read = log.begin_reading(None).await?;
    assert_eq!(read.head.size, 0);
    db.side
        .execute(
            "INSERT INTO audit_log (leaf_index, at, action, outcome) VALUES (0, 0, 'x', 'x')",
            &[],
        )
        .await?;
    // Values the append is refused on before any of them matters: leaf 0 is taken.
    let growth = TreeGrowth {
        leaves: vec![[0; 32]],
        nodes: Vec::new(),
        head: LogHead {
            size: 1,
            frontier: read.head.frontier.clone(),
        },
    };
    let (committed, begun) = log
        .commit(&[entry()], Some(growth), Then::Begin(None))
        .await;
    let refused = committed.err().ok_or("the append was refused")?;
    assert!(
        matches!(&refused, StoreError::Postgres(pg) if pg.code() == Some(&SqlState::UNIQUE_VIOLATION)),
        "{refused:?}"
    );
    let next = begun.ok_or("the next transaction was begun")??;
    assert_eq!(next.head.size, 0, "the refused append moved the head");
    let (committed, _) = log.commit(&[], None, Then::Stop).await;
    committed?;
    assert_eq!(db.head_size().await?, 0);
    db.drop().await
}

/// When the server ends the writer's connection (a restart, an administrator), at most
/// the commit in flight is refused as unavailable (503), and the writer connects again.
#[tokio::test]
async fn the_writer_connects_again_after_losing_its_connection() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let (sink, _writer) = AuditSink::start(db.store.clone(), 16);
    sink.record(vec![entry()]).await?;
    let before = db.writer_pids().await?;
    assert_eq!(before.len(), 1, "the writer has one connection: {before:?}");
    let killed = before[0];
    db.side
        .execute("SELECT pg_terminate_backend($1)", &[&killed])
        .await?;

    let mut refused = 0;
    while let Err(e) = sink.record(vec![entry()]).await {
        assert!(
            matches!(e, AuditError::Unavailable(_)),
            "refused as {e:?}, not unavailable"
        );
        refused += 1;
        assert!(refused < 2, "the writer did not connect again");
    }
    let after = db.writer_pids().await?;
    assert!(
        !after.is_empty() && !after.contains(&killed),
        "the writer's connections: {after:?}"
    );
    assert_eq!(db.store.audit_count().await?, 2);
    db.drop().await
}

/// A database URL that sqlx takes and tokio-postgres does not (here a parameter only sqlx
/// knows) leaves the writer on the pool: slower, as correct, and matches keep working.
#[tokio::test]
async fn a_url_only_sqlx_reads_keeps_the_writer_on_the_pool() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let url = format!("{}?statement-cache-capacity=50", db.url);
    let store = Store::connect(&url, 2).await?;
    assert!(store.pg_log().await.is_err(), "tokio-postgres took the URL");

    let (sink, _writer) = AuditSink::start(store.clone(), 16);
    sink.record(vec![entry()]).await?;
    sink.record(vec![entry()]).await?;
    assert_eq!(db.head_size().await?, 2);
    assert!(
        db.writer_pids().await?.is_empty(),
        "a writer connection was made"
    );
    store.close().await;
    db.drop().await
}

/// As on SQLite (the same scenario): a writer whose task is aborted commits nothing more.
#[tokio::test]
async fn an_aborted_writer_commits_nothing_more() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    super::writer::tests::an_aborted_writer_commits_nothing_more_on(&db.store).await?;
    db.drop().await
}

/// An append refused before anything is sent (here a new head shorter than the entries)
/// ends its transaction at once too, rather than leaving the head locked until the next.
#[tokio::test]
async fn an_append_refused_before_sending_releases_the_head_lock() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let mut log = db.store.pg_log().await?.ok_or("PostgreSQL gets a writer")?;
    let read = log.begin_reading(None).await?;
    let growth = TreeGrowth {
        leaves: vec![[0; 32]],
        nodes: Vec::new(),
        head: read.head.clone(),
    };
    let (committed, begun) = log.commit(&[entry()], Some(growth), Then::Stop).await;
    assert!(
        matches!(&committed, Err(StoreError::Corrupt { .. })),
        "{committed:?}"
    );
    assert!(begun.is_none());
    assert!(db.head_lock_is_free().await?, "the head stayed locked");
    log.begin_reading(None).await?;
    let (committed, _) = log.commit(&[], None, Then::Stop).await;
    committed?;
    db.drop().await
}

#[tokio::test]
async fn the_writers_session_plans_its_statements_once() -> Outcome {
    let Some(db) = PgDb::new().await? else {
        return Ok(());
    };
    let mut log = db
        .store
        .pg_log()
        .await?
        .ok_or("no writer connection on PostgreSQL")?;
    assert_eq!(
        log.setting("plan_cache_mode").await?,
        "force_generic_plan",
        "the writer's statements are planned again at every execution"
    );
    drop(log);
    db.drop().await
}
