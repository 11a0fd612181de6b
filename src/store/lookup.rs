//! What a group commit reads under the log lock: the flags and reports active on the
//! subjects of its lookups.
//!
//! This is the pool's path (PostgreSQL, in-memory SQLite); the audit writer on a SQLite
//! file reads the same rows through its own connection (`sqlite_log`).

use chrono::{DateTime, Utc};

use super::{LogTx, Store, StoreError};
use crate::flags::rules::Flag;
use crate::indicators::rules::Indicator;

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
}
