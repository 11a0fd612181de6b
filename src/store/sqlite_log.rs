//! The audit writer's own connection to a SQLite database file.
//!
//! Through sqlx every statement of a group commit is a hand-off: from the writer task to
//! sqlx's SQLite thread and back, and each return waits for a tokio worker to poll the
//! writer again, behind the request tasks queued there. The write lock is held, with the
//! next group's requests waiting on it, through all of those waits. This connection is
//! used from one thread that runs the whole group commit (lock, reads, appends, commit)
//! without leaving it (docs/benchmarks.md, "Issue 14", step 11).
//!
//! The statements are the ones the sqlx path runs (`LogTx`); the rows are decoded into the
//! same records. PostgreSQL and in-memory SQLite keep the sqlx path.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params_from_iter};

use super::audit::{entry_values, insert_entries_sql, insert_nodes_sql};
use super::flags::{FlagRecord, active_flags_sql};
use super::indicators::{IndicatorRecord, live_indicators_sql};
use super::{Backend, LogHead, Store, StoreError, SubjectRead, TreeGrowth, audit_index};
use crate::clock::to_millis;
use crate::flags::rules::Flag;
use crate::indicators::rules::Indicator;

/// Statements kept prepared: the reads' IN-lists come in as many lengths as there are
/// distinct token counts in a group, and each length is its own statement.
const STATEMENT_CACHE: usize = 256;

/// A SQLite connection that only the audit writer's thread uses.
pub struct SqliteLog {
    conn: Connection,
}

/// A log transaction on [`SqliteLog`]: `BEGIN IMMEDIATE` took the write lock before the
/// head was read, as [`super::LogTx`] does on the pool.
pub struct SqliteLogTx<'c> {
    tx: rusqlite::Transaction<'c>,
    head: LogHead,
}

/// [`super::LockedRead`] for [`SqliteLog`].
pub struct SqliteLocked<'c> {
    pub tx: SqliteLogTx<'c>,
    pub flags: Vec<Flag>,
    pub indicators: Vec<Indicator>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl Store {
    /// A connection of its own for the audit writer, when the store is a SQLite file;
    /// `None` on PostgreSQL and for an in-memory database (another connection would open
    /// another database).
    pub fn sqlite_log(&self) -> Result<Option<SqliteLog>, StoreError> {
        match (self.backend(), self.file()) {
            (Backend::Sqlite, Some(path)) => SqliteLog::open(path).map(Some),
            _ => Ok(None),
        }
    }
}

impl SqliteLog {
    fn open(path: &Path) -> Result<Self, StoreError> {
        // The pool created and migrated the file; this connection only opens it.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.execute_batch(&super::sqlite_pragmas())?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteLog { conn })
    }

    /// Takes the write lock, reads the head and, under the lock, the active flags and
    /// live reports on `read`'s subjects.
    pub fn begin_reading(
        &mut self,
        read: Option<SubjectRead<'_>>,
    ) -> Result<SqliteLocked<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = tx
            .prepare_cached("SELECT size, frontier FROM tlog_state WHERE id = 1")?
            .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let size = u64::try_from(head.0).map_err(|_| StoreError::corrupt("negative tree size"))?;
        let (mut flags, mut indicators) = (Vec::new(), Vec::new());
        if let Some(read) = read {
            let now = to_millis(read.at);
            for chunk in read.flaggable.chunks(super::TOKENS_PER_QUERY) {
                let records = select(&tx, &active_flags_sql(), now, chunk, FlagRecord::read)?;
                for r in records {
                    flags.push(Flag::try_from(r)?);
                }
            }
            for chunk in read.tokens.chunks(super::TOKENS_PER_QUERY) {
                let records = select(
                    &tx,
                    &live_indicators_sql(),
                    now,
                    chunk,
                    IndicatorRecord::read,
                )?;
                for r in records {
                    indicators.push(Indicator::try_from(r)?);
                }
            }
        }
        Ok(SqliteLocked {
            tx: SqliteLogTx {
                tx,
                head: LogHead {
                    size,
                    frontier: head.1,
                },
            },
            flags,
            indicators,
        })
    }

    /// A passive checkpoint of the WAL, as [`Store::checkpoint_wal`].
    pub fn checkpoint_wal(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Rows of a `{now}`/`{tokens}` template for one chunk of tokens.
fn select<R>(
    tx: &rusqlite::Transaction<'_>,
    template: &str,
    now: i64,
    tokens: &[&[u8]],
    read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
) -> Result<Vec<R>, StoreError> {
    let sql = template.replace("{now}", "?").replace(
        "{tokens}",
        &super::placeholders(Backend::Sqlite, 1, tokens.len()),
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let values = std::iter::once(rusqlite::types::Value::Integer(now)).chain(
        tokens
            .iter()
            .map(|t| rusqlite::types::Value::Blob(t.to_vec())),
    );
    let rows = statement.query_map(params_from_iter(values), read)?;
    Ok(rows.collect::<Result<Vec<R>, _>>()?)
}

impl SqliteLogTx<'_> {
    pub fn head(&self) -> &LogHead {
        &self.head
    }

    /// Writes entries at the head's position, the nodes they complete and the new head,
    /// one prepared row at a time: without a hand-off per statement, a multi-row
    /// statement would only save SQLite's per-row step.
    pub fn append(
        &mut self,
        entries: &[crate::audit::entry::AuditEntry],
        growth: TreeGrowth,
    ) -> Result<(), StoreError> {
        let start = self.head.size;
        let leaves = growth.leaves_of(entries)?;
        {
            let mut insert = self
                .tx
                .prepare_cached(&insert_entries_sql(Backend::Sqlite, 1, 1))?;
            for (i, (e, leaf)) in entries.iter().zip(leaves).enumerate() {
                insert.execute(entry_values(e, start + i as u64, leaf)?)?;
            }
            let mut insert = self
                .tx
                .prepare_cached(&insert_nodes_sql(Backend::Sqlite, 1, 1))?;
            for (id, hash) in &growth.nodes {
                insert.execute((i64::from(id.level), audit_index(id.index)?, hash.as_slice()))?;
            }
            self.tx
                .prepare_cached("UPDATE tlog_state SET size = ?, frontier = ? WHERE id = 1")?
                .execute((
                    audit_index(growth.head.size)?,
                    growth.head.frontier.as_slice(),
                ))?;
        }
        self.head = growth.head;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Setup = Result<(tempfile::TempDir, Store, SqliteLog), Box<dyn std::error::Error>>;

    /// A migrated database file, its pool and the writer's own connection to it.
    async fn migrated_file() -> Setup {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("hub.db").display());
        let store = Store::connect(&url, 2).await?;
        store.migrate().await?;
        let log = store
            .sqlite_log()?
            .ok_or("a file database gets its own writer")?;
        Ok((dir, store, log))
    }

    #[tokio::test]
    async fn an_in_memory_database_keeps_the_writer_on_the_pool() -> Result<(), StoreError> {
        let store = Store::connect("sqlite::memory:", 1).await?;
        assert!(store.sqlite_log()?.is_none());
        Ok(())
    }

    /// Durability is the connection's: a writer connection without `synchronous = FULL`
    /// would answer matches before their entries survive a power loss.
    #[tokio::test]
    async fn the_writers_connection_commits_as_durably_as_the_pool()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, _store, log) = migrated_file().await?;
        let pragma = |name: &str| -> rusqlite::Result<String> {
            log.conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0).map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })
        };
        assert_eq!(pragma("journal_mode")?, "wal");
        assert_eq!(pragma("synchronous")?, "2", "2 is FULL");
        assert_eq!(pragma("foreign_keys")?, "1");
        assert_eq!(pragma("busy_timeout")?, "5000");
        Ok(())
    }

    /// The writer's transaction is taken with the write lock held from its first statement,
    /// so no other connection's commit falls between its read of the head and its append.
    #[tokio::test]
    async fn the_writers_transaction_holds_the_write_lock_from_the_start()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, _store, mut log) = migrated_file().await?;
        let other = Connection::open(dir.path().join("hub.db"))?;
        let locked = log.begin_reading(None)?;
        let refused = other.execute("UPDATE tlog_state SET size = size WHERE id = 1", []);
        assert!(
            matches!(&refused, Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)),
            "another connection wrote while the writer held the log: {refused:?}"
        );
        locked.tx.commit()?;
        other.execute("UPDATE tlog_state SET size = size WHERE id = 1", [])?;
        Ok(())
    }
}
