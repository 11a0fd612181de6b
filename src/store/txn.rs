//! The transaction under a [`LogTx`](super::LogTx).
//!
//! Mostly sqlx's own. A SQLite group commit uses one it begins and ends itself, so that
//! `BEGIN` goes out with the lock and the reads and `COMMIT` with the writes: with sqlx's
//! transaction each is a call of its own, a hand-off to sqlx's SQLite thread made while
//! every waiting request holds on the write lock (docs/benchmarks.md, "Issue 14", step 7).

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};

pub(crate) enum Txn {
    Sqlx(sqlx::Transaction<'static, Any>),
    Inline(Inline),
}

/// A connection inside a transaction that sqlx does not know of.
pub(crate) struct Inline {
    conn: PoolConnection<Any>,
    committed: bool,
}

impl Inline {
    /// `conn` about to receive its `BEGIN`; until [`Inline::committed`] is called, the
    /// transaction counts as open.
    pub(crate) fn new(conn: PoolConnection<Any>) -> Inline {
        Inline {
            conn,
            committed: false,
        }
    }
}

impl Txn {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Txn::Sqlx(tx) => tx.commit().await,
            Txn::Inline(mut inline) => {
                sqlx::query("COMMIT").execute(&mut *inline.conn).await?;
                inline.committed = true;
                Ok(())
            }
        }
    }

    /// Whether the last writes should carry the `COMMIT` (see the module's note).
    pub(crate) fn commits_inline(&self) -> bool {
        matches!(self, Txn::Inline(_))
    }

    /// The call just made carried the `COMMIT` and succeeded.
    pub(crate) fn committed_inline(&mut self) {
        if let Txn::Inline(inline) = self {
            inline.committed = true;
        }
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        // sqlx cannot roll back a transaction it did not begin, and a connection back in
        // the pool with one open would hold SQLite's write lock. Closing the connection
        // rolls it back; this happens only after a failed statement or a cancelled commit.
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

impl Deref for Txn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Txn::Sqlx(tx) => tx,
            Txn::Inline(inline) => &inline.conn,
        }
    }
}

impl DerefMut for Txn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Txn::Sqlx(tx) => tx,
            Txn::Inline(inline) => &mut inline.conn,
        }
    }
}
