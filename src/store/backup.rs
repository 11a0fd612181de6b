//! The SQL behind `fraudhub backup` (SQLite only: PostgreSQL is backed up with pg_dump).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use super::{Backend, Store, StoreError};
use sqlx::AssertSqlSafe;

/// What a finished backup file holds, read back from the file itself.
#[derive(Debug, Clone)]
pub struct BackupContents {
    pub audit_entries: i64,
    pub checkpoints: i64,
    pub flags: i64,
}

impl Store {
    /// Writes a transactionally consistent copy of the live database into `target`, which
    /// must not exist or be an empty file. `VACUUM INTO` reads inside one read transaction
    /// on an ordinary pool connection: in WAL mode the hub's writers carry on meanwhile,
    /// and the copy holds exactly the commits that preceded that transaction.
    pub async fn vacuum_into(&self, target: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Conflict("VACUUM INTO exists on SQLite only"));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// The database file a `sqlite:` URL names.
pub fn sqlite_file(url: &str) -> Result<PathBuf, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Opens a backup file read-only and immutable (no locks, and no `-wal`/`-shm` files
/// appear next to the backup), checks its integrity and counts what it holds.
pub async fn inspect_sqlite_backup(path: &Path) -> Result<BackupContents, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut conn)
        .await?;
    if problems != ["ok"] {
        return Err(StoreError::corrupt(format!(
            "backup integrity check: {}",
            problems.join("; ")
        )));
    }
    let count = |table: &'static str| format!("SELECT COUNT(*) FROM {table}");
    let mut counts = [0i64; 3];
    for (n, table) in counts
        .iter_mut()
        .zip(["audit_log", "tlog_checkpoints", "flags"])
    {
        *n = sqlx::query_scalar(AssertSqlSafe(count(table)))
            .fetch_one(&mut conn)
            .await?;
    }
    conn.close().await?;
    let [audit_entries, checkpoints, flags] = counts;
    Ok(BackupContents {
        audit_entries,
        checkpoints,
        flags,
    })
}
