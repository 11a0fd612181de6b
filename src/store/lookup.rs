//! What a group commit reads under the log lock: the flags and reports active on the
//! subjects of its lookups.
//!
//! On SQLite the lock, the head and both reads go to sqlx's SQLite thread as one call:
//! every call is a hand-off between threads, and the write lock is held (with requests
//! waiting on it) for the whole chain. PostgreSQL takes one statement per call, so there
//! they stay three.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::Either;
use sqlx::any::AnyRow;

use super::audit::LOCK_HEAD_SQLITE;
use super::flags::{active_flags_sql, decode_flags};
use super::indicators::{decode_indicators, live_indicators_sql};
use super::{Backend, LogTx, Store, StoreError, TOKENS_PER_QUERY, placeholders};
use crate::clock::to_millis;
use crate::flags::rules::Flag;
use crate::indicators::rules::Indicator;
use sqlx::AssertSqlSafe;

/// The subjects of a group commit's lookups, as tokens.
#[derive(Debug, Clone, Copy)]
pub struct SubjectRead<'a> {
    /// Tokens of subjects a flag can sit on.
    pub flaggable: &'a [&'a [u8]],
    /// Tokens of every subject (reports can sit on any).
    pub tokens: &'a [&'a [u8]],
    pub at: DateTime<Utc>,
}

/// A log transaction and what was active on the subjects when its lock was taken.
pub struct LockedRead {
    pub tx: LogTx,
    pub flags: Vec<Flag>,
    pub indicators: Vec<Indicator>,
}

impl Store {
    /// Begins a log transaction ([`Store::begin_log`]) and reads, under its lock, the
    /// active flags and live reports on `read`'s subjects.
    pub async fn begin_log_reading(&self, read: SubjectRead<'_>) -> Result<LockedRead, StoreError> {
        let fits =
            read.tokens.len() <= TOKENS_PER_QUERY && read.flaggable.len() <= TOKENS_PER_QUERY;
        if self.backend() == Backend::Sqlite && fits {
            return self.begin_log_reading_at_once(read).await;
        }
        let mut tx = self.begin_log().await?;
        let flags = if read.flaggable.is_empty() {
            Vec::new()
        } else {
            tx.active_flags(read.flaggable, read.at).await?
        };
        let indicators = if read.tokens.is_empty() {
            Vec::new()
        } else {
            tx.live_indicators(read.tokens, read.at).await?
        };
        Ok(LockedRead {
            tx,
            flags,
            indicators,
        })
    }

    async fn begin_log_reading_at_once(
        &self,
        read: SubjectRead<'_>,
    ) -> Result<LockedRead, StoreError> {
        let mut tx = self.pool().begin().await?;
        let now = to_millis(read.at);
        let reads = [
            (active_flags_sql(), read.flaggable),
            (live_indicators_sql(), read.tokens),
        ];
        // Anonymous `?` only: sqlx binds them in order across the statements.
        let mut sql = vec![LOCK_HEAD_SQLITE.to_string()];
        for (template, tokens) in reads.iter().filter(|(_, t)| !t.is_empty()) {
            let list = placeholders(Backend::Sqlite, 1, tokens.len());
            sql.push(template.replace("{now}", "?").replace("{tokens}", &list));
        }
        let sql = sql.join("; ");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (_, tokens) in reads.iter().filter(|(_, t)| !t.is_empty()) {
            q = q.bind(now);
            for t in tokens.iter() {
                q = q.bind(*t);
            }
        }
        // Each statement's rows come, then its completion: the completions split them.
        let results: Vec<Either<_, AnyRow>> = sqlx::Executor::fetch_many(&mut *tx, q)
            .try_collect()
            .await?;
        let mut statements = Vec::new();
        let mut rows = Vec::new();
        for r in results {
            match r {
                Either::Left(_) => statements.push(std::mem::take(&mut rows)),
                Either::Right(row) => rows.push(row),
            }
        }
        let mut statements = statements.into_iter();
        let mut next = || {
            statements
                .next()
                .ok_or_else(|| StoreError::corrupt("fewer results than statements sent"))
        };
        let head = next()?;
        let flags = if read.flaggable.is_empty() {
            Vec::new()
        } else {
            decode_flags(next()?)?
        };
        let indicators = if read.tokens.is_empty() {
            Vec::new()
        } else {
            decode_indicators(next()?)?
        };
        Ok(LockedRead {
            tx: LogTx::locked(tx, head)?,
            flags,
            indicators,
        })
    }
}
