//! The store: every SQL statement lives under this module.
//!
//! One `sqlx::AnyPool` serves both SQLite (embedded default) and PostgreSQL (production).
//! Statements use `$n` placeholders in ascending order on PostgreSQL and anonymous `?`
//! on SQLite where lists are built (see [`placeholders`]), and only portable types
//! (BIGINT, TEXT, BLOB/BYTEA), so one code path has one behaviour. Rows are mapped once
//! per table, into the domain's types (times, kinds, statuses); the store applies no
//! rule of its own beyond what a query states.

/// Defines how a record is read from a row of the audit writer's own connections, column
/// by column under the field's name: `read` for its SQLite connection (`sqlite_log`),
/// `from_pg` for its PostgreSQL one (`pg_log`). The pool reads the same records through
/// `sqlx::FromRow`.
macro_rules! writer_row_readers {
    ($record:ident { $($field:ident),* $(,)? }) => {
        impl $record {
            pub(super) fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok($record { $($field: r.get(stringify!($field))?,)* })
            }

            pub(super) fn from_pg(r: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
                Ok($record { $($field: r.try_get(stringify!($field))?,)* })
            }
        }
    };
}

mod audit;
mod availability;
mod backup;
mod callers;
mod events;
mod flags;
mod indicators;
mod lookup;
mod members;
mod person;
mod pg_log;
mod retention;
mod revocation;
mod rotation;
mod segments;
mod sessions;
mod sqlite_log;
mod tlog;

pub use audit::{LogHead, LogTx, StoredEntry, TreeGrowth, Undecodable, audit_index};
pub use backup::{BackupContents, inspect_sqlite_backup, sqlite_file};
pub use flags::{Idempotency, IdempotencyRecord};
pub use indicators::ReportKind;
pub use lookup::{LockedRead, SubjectRead};
pub use members::{ApiKeyRow, AuthRow, MemberRow};
pub use person::SubjectLookup;
pub use pg_log::{PgLog, PgRead, Then};
pub use revocation::AuthChanges;
pub use rotation::{Batch, Cursor, TABLES, TokenTable};
pub use sessions::SessionRow;
pub use sqlite_log::{SqliteLocked, SqliteLog, SqliteLogTx};
pub use tlog::CheckpointRow;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Further attempts at SQLite migrations after one failed (see [`Store::migrate`]).
const MIGRATE_RETRIES: u32 = 5;

use sqlx::AssertSqlSafe;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the audit writer's own SQLite connection ([`SqliteLog`]).
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// From the PostgreSQL audit writer's own connection ([`PgLog`]).
    #[error("database error: {0}")]
    Postgres(#[source] tokio_postgres::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not found")]
    NotFound,
    #[error("stored data is inconsistent: {what}")]
    Corrupt {
        what: String,
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The connection a transaction was open on is gone, and the transaction with it.
    #[error("the database connection was lost")]
    Lost,
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            cause: None,
        }
    }

    pub(crate) fn corrupt_because(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            cause: Some(Box::new(cause)),
        }
    }
}

/// What `Store::connect` waits for a pooled connection.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database file, for SQLite on disk.
    file: Option<PathBuf>,
    signal: revocation::AuthSignal,
    /// For the audit writer's own connection, on PostgreSQL.
    pg_url: Option<pg_log::PgUrl>,
    /// The subject index's segment filters read so far, shared by every clone.
    filters: Arc<crate::audit::segments::FilterCache>,
}

impl Store {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// `acquire_timeout` bounds how long a request waits for a connection, including
    /// reconnecting while the database is away; after it the request fails as
    /// unavailable (503) instead of holding its client.
    pub async fn connect_with_timeout(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        // Statement logging would print bound parameters' SQL at INFO; keep it quiet.
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            // PostgreSQL connections die with a database restart; the ping before handing
            // one out drops them and reconnects, so the hub recovers by itself. A SQLite
            // connection is a file handle that cannot go away like that, and the ping cost
            // every audit commit one more hand-off to sqlx's worker thread
            // (docs/benchmarks.md, "Issue 14").
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(AssertSqlSafe(sqlite_pragmas())).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let file = match backend {
            Backend::Sqlite => database_file(url),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            signal: revocation::AuthSignal::for_url(url),
            pg_url: pg_log::url_for(backend, url),
            file,
            filters: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                // SQLite has no advisory lock for the migrator (PostgreSQL's takes one), so
                // processes that open a fresh or older database together (hub instances,
                // `serve` and a CLI command) can both apply a migration. Each migration is
                // one transaction: the loser's rolls back, and a second look finds it done.
                let mut attempt = 0;
                loop {
                    match sqlx::migrate!("./migrations/sqlite").run(&self.pool).await {
                        Err(e) if attempt < MIGRATE_RETRIES && lost_migration_race(&e) => {
                            attempt += 1;
                            tracing::info!(error = %e, attempt, "migration raced another process; retrying");
                            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt)))
                                .await;
                        }
                        other => break other?,
                    }
                }
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// SQLite: copies what the WAL holds into the database without waiting for readers
    /// or the writer (a passive checkpoint); nothing on PostgreSQL. The audit writer runs it
    /// between its commits often enough that the WAL seldom reaches SQLite's automatic
    /// checkpoint (1000 pages), which runs inside the commit that crosses it: it copies the
    /// pages into the database and syncs it while every request of that group commit
    /// waits. The automatic one stays on for processes without a hub (the CLI, tools),
    /// whose WAL would otherwise grow without bound.
    pub async fn checkpoint_wal(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Whether a SQLite migration failed because another process applied it first: its
/// statements failed on what the other had made (a table or column that exists), or, for a
/// migration whose statements can run twice (0013 changes no table), recording its version
/// did, on the row the other had recorded.
fn lost_migration_race(e: &sqlx::migrate::MigrateError) -> bool {
    match e {
        sqlx::migrate::MigrateError::ExecuteMigration(..) => true,
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db)) => db.is_unique_violation(),
        _ => false,
    }
}

/// The settings of every SQLite connection: the pool's and the audit writer's own.
fn sqlite_pragmas() -> String {
    [
        // WAL lets readers proceed during the audit writer's commits; synchronous=FULL
        // keeps each group commit durable.
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA busy_timeout = 5000",
        "PRAGMA foreign_keys = ON",
        // The default 2 MiB page cache makes every index insert on random subject tokens
        // a read syscall once the file outgrows it.
        "PRAGMA cache_size = -65536",
        // No memory-mapped reads (SQLite's default, stated because a 1 GiB map was set
        // here before): on a file that grows with every commit the map is redone as it
        // grows (munmap, a TLB flush on every core, page faults), 7 % of SQLite's thread
        // in a profile, and without it audited matches ran 9–18 % faster
        // (docs/benchmarks.md, step 10).
        "PRAGMA mmap_size = 0",
    ]
    .join("; ")
}

/// The file a `sqlite:` URL names, unless the database is in memory.
pub(crate) fn database_file(url: &str) -> Option<PathBuf> {
    let path = sqlite_file(url).ok()?;
    // sqlx names an in-memory database `file:sqlx-in-memory-N`.
    let in_memory = path.as_os_str().is_empty()
        || path == Path::new(":memory:")
        || path.to_str().is_some_and(|p| p.starts_with("file:"))
        || url.contains("mode=memory");
    (!in_memory).then_some(path)
}

/// Placeholders for `n` values starting at parameter `first`, for IN-lists and multi-row
/// inserts (the Any driver's query builder emits `?`, which PostgreSQL rejects, so we
/// build them ourselves). PostgreSQL gets `$first, …`. SQLite gets anonymous `?`: sqlx
/// resolves each named `$n` with `sqlite3_bind_parameter_name`, a linear scan, which made
/// a 5 000-parameter insert quadratic (measured: 43 % of the audit writer's CPU).
/// Callers bind in textual order, so both forms bind identically.
pub(crate) fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    match backend {
        Backend::Sqlite => vec!["?"; n].join(", "),
        Backend::Postgres => (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `$first, …` for the few tokens of one subject (its token at each key version in use):
/// numbered on both engines, so it mixes with a statement's other `$n` parameters.
pub(crate) fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many tokens go into one IN-list.
pub(super) const TOKENS_PER_QUERY: usize = 500;

/// Rows of `template` for any of `tokens`, in IN-lists of bounded length: `{now}` in the
/// template is bound to `now` and `{tokens}` to one chunk of tokens. One placeholder style
/// per statement: sqlx-sqlite numbers anonymous `?` independently of `$n`, so mixing them
/// binds the wrong values.
pub(crate) async fn rows_for_tokens<R>(
    conn: &mut sqlx::AnyConnection,
    template: &str,
    now: i64,
    tokens: &[&[u8]],
) -> Result<Vec<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let backend = backend_of(conn);
    let mut out = Vec::new();
    for chunk in tokens.chunks(TOKENS_PER_QUERY) {
        let sql = template
            .replace("{now}", &placeholders(backend, 1, 1))
            .replace("{tokens}", &placeholders(backend, 2, chunk.len()));
        let mut q = sqlx::query_as::<_, R>(AssertSqlSafe(sql)).bind(now);
        for t in chunk {
            q = q.bind(*t);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

pub(crate) fn backend_of(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// `NotFound` when a statement that names one row by its keys touched none.
pub(crate) fn one_row(done: &sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub's WAL checkpoints, while other connections commit, are safe only on an SQLite
    /// without the WAL-reset bug (3.7.0 to 3.51.2): a dependency change that links an older
    /// one fails here instead of corrupting databases under load (docs/operations.md).
    #[tokio::test]
    async fn the_linked_sqlite_is_free_of_the_wal_reset_bug()
    -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::connect("sqlite::memory:", 1).await?;
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&store.pool)
            .await?;
        let parts = version
            .split('.')
            .map(str::parse::<u32>)
            .collect::<Result<Vec<_>, _>>()?;
        assert!(
            parts >= vec![3, 51, 3],
            "SQLite {version} has the WAL-reset bug"
        );
        Ok(())
    }

    /// A process that applied a migration whose statements can run twice loses the race
    /// when it records the version another process recorded first: that is retried (a
    /// second look finds the migration done), while other migrator failures are not.
    #[tokio::test]
    async fn recording_a_migration_another_process_recorded_counts_as_a_lost_race()
    -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::connect("sqlite::memory:", 1).await?;
        sqlx::query("CREATE TABLE versions (version BIGINT PRIMARY KEY)")
            .execute(&store.pool)
            .await?;
        let record = "INSERT INTO versions (version) VALUES (13)";
        sqlx::query(record).execute(&store.pool).await?;
        let Err(duplicate) = sqlx::query(record).execute(&store.pool).await else {
            return Err("the second insert of one version succeeded".into());
        };
        assert!(lost_migration_race(&sqlx::migrate::MigrateError::Execute(
            duplicate
        )));

        let Err(other) = sqlx::query("SELECT * FROM no_such_table")
            .execute(&store.pool)
            .await
        else {
            return Err("a query on a missing table succeeded".into());
        };
        assert!(!lost_migration_race(&sqlx::migrate::MigrateError::Execute(
            other
        )));
        assert!(!lost_migration_race(
            &sqlx::migrate::MigrateError::VersionMissing(13)
        ));
        Ok(())
    }
}
