//! Audit entries and the Merkle tree they form. Written only by the group-commit writer.

use sqlx::Row;

use super::flags::active_flags_in;
use super::{FlagRow, Store, StoreError, backend_of, placeholders};
use crate::audit::entry::leaf_hash;
use crate::tlog::{Blake3, Frontier, NodeId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub at: i64,
    pub member_id: Option<i64>,
    pub key_id: Option<String>,
    pub action: String,
    pub purpose: Option<String>,
    pub subject_token: Option<Vec<u8>>,
    pub key_version: Option<i64>,
    pub outcome: String,
    /// The hub's own request id (never a client's).
    pub request_id: String,
    /// Leaf encoding version (`audit::entry`); 1 for entries written before version 2.
    pub entry_version: i64,
    /// `None` means a member acted; operator actions carry `operator:<user>`.
    pub actor: Option<String>,
    /// The per-member subject value shown to the member and committed in the leaf.
    pub subject_view: Option<Vec<u8>>,
    /// A client's X-Request-Id, checked and capped; stored for correlation, not hashed.
    pub correlation_id: Option<String>,
}

/// An entry as stored, with its position, leaf hash (if any) and retention state.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub leaf_index: i64,
    pub row: AuditRow,
    pub redacted: bool,
    pub leaf_hash: Option<Vec<u8>>,
}

const COLUMNS: usize = 14;
/// Keeps each multi-row INSERT well under SQLite's and PostgreSQL's bind limits.
const ROWS_PER_STATEMENT: usize = 500;
const ENTRY_COLUMNS: &str = "a.leaf_index, a.at, a.member_id, a.key_id, a.action, a.purpose, \
     a.subject_token, a.key_version, a.outcome, a.request_id, a.redacted, a.entry_version, \
     a.actor, a.subject_view, a.correlation_id, n.hash AS leaf_hash";
const ENTRY_FROM: &str =
    "audit_log a LEFT JOIN tlog_nodes n ON n.level = 0 AND n.idx = a.leaf_index";

fn entry_from(r: &sqlx::any::AnyRow) -> Result<StoredEntry, sqlx::Error> {
    let request_id: Option<String> = r.try_get("request_id")?;
    let redacted: i64 = r.try_get("redacted")?;
    Ok(StoredEntry {
        leaf_index: r.try_get("leaf_index")?,
        redacted: redacted != 0,
        leaf_hash: r.try_get("leaf_hash")?,
        row: AuditRow {
            at: r.try_get("at")?,
            member_id: r.try_get("member_id")?,
            key_id: r.try_get("key_id")?,
            action: r.try_get("action")?,
            purpose: r.try_get("purpose")?,
            subject_token: r.try_get("subject_token")?,
            key_version: r.try_get("key_version")?,
            outcome: r.try_get("outcome")?,
            request_id: request_id.unwrap_or_default(),
            entry_version: r.try_get("entry_version")?,
            actor: r.try_get("actor")?,
            subject_view: r.try_get("subject_view")?,
            correlation_id: r.try_get("correlation_id")?,
        },
    })
}

impl Store {
    /// Appends a batch of entries to the log in one transaction: one disk sync for the
    /// lot. The head row is locked first, so concurrent writers (other hub instances on
    /// the same PostgreSQL) queue here and leaf indexes stay dense and in commit order.
    pub async fn append_audit(&self, rows: &[AuditRow]) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let size = append_in(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(size)
    }

    /// One group commit with lookups: under the log head lock, reads the active flags on
    /// `tokens` (expiring after `now`), lets `settle` fill in each entry's outcome from
    /// them, appends the entries and commits. Readers of many requests thus share one
    /// query and one transaction, and a match outcome can never disagree with its entry.
    pub async fn lookup_and_append(
        &self,
        tokens: &[&[u8]],
        now: i64,
        rows: &mut [AuditRow],
        settle: impl FnOnce(&[FlagRow], &mut [AuditRow]),
    ) -> Result<Vec<FlagRow>, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The head lock first: on SQLite a read before the first write could not be
        // upgraded if a flag was placed meanwhile.
        lock_head(&mut tx).await?;
        let flags = active_flags_in(&mut tx, tokens, now).await?;
        settle(&flags, rows);
        append_in(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(flags)
    }

    /// Entries about one subject, newest first: what the consumer will be shown.
    pub async fn audit_for_subject(&self, token: &[u8]) -> Result<Vec<StoredEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE a.subject_token = $1 ORDER BY a.leaf_index DESC"
        );
        let rows = sqlx::query(&sql).bind(token).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(entry_from).collect::<Result<_, _>>()?)
    }

    /// A page of the log in leaf order, optionally only one member's entries.
    pub async fn audit_page(
        &self,
        member_id: Option<i64>,
        from_index: i64,
        limit: i64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let filter = if member_id.is_some() {
            "AND a.member_id = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE a.leaf_index >= $1 {filter} \
             ORDER BY a.leaf_index LIMIT $2"
        );
        let mut q = sqlx::query(&sql).bind(from_index).bind(limit);
        if let Some(m) = member_id {
            q = q.bind(m);
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(entry_from).collect::<Result<_, _>>()?)
    }

    pub async fn audit_entry(&self, leaf_index: i64) -> Result<StoredEntry, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE a.leaf_index = $1");
        let row = sqlx::query(&sql)
            .bind(leaf_index)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(entry_from(&row)?)
    }

    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_log")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Retention: clears the personal-data fields of entries older than `cutoff`. The
    /// leaf hashes stay in tlog_nodes, so every root and proof still verifies.
    pub async fn redact_audit_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE audit_log SET subject_token = NULL, key_version = NULL, purpose = NULL, \
             key_id = NULL, request_id = NULL, subject_view = NULL, correlation_id = NULL, \
             redacted = 1 WHERE at < $1 AND redacted = 0",
        )
        .bind(cutoff)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

/// Appends entries inside the caller's transaction: flag writes use this so that a flag
/// and its audit entry commit together or not at all.
pub(super) async fn append_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[AuditRow],
) -> Result<u64, StoreError> {
    let backend = backend_of(tx);
    lock_head(tx).await?;
    let head = sqlx::query("SELECT size, frontier FROM tlog_state WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let bytes: Vec<u8> = head.try_get("frontier")?;
    let mut frontier =
        Frontier::<Blake3>::from_bytes(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let start = frontier.size();
    let mut nodes: Vec<(NodeId, [u8; 32])> = Vec::with_capacity(rows.len() * 2);
    for (i, row) in rows.iter().enumerate() {
        let leaf = leaf_hash(row, start + i as u64);
        let made = frontier
            .append(leaf)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        nodes.extend(made.into_iter().map(|(id, h)| (id, h.0)));
    }
    for (c, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
        let values = (0..chunk.len())
            .map(|i| format!("({})", placeholders(backend, 1 + i * COLUMNS, COLUMNS)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO audit_log (leaf_index, at, member_id, key_id, action, purpose, subject_token, \
             key_version, outcome, request_id, entry_version, actor, subject_view, correlation_id) \
             VALUES {values}"
        );
        let mut q = sqlx::query(&sql);
        for (i, r) in chunk.iter().enumerate() {
            let index = start + (c * ROWS_PER_STATEMENT + i) as u64;
            q = q
                .bind(audit_index(index)?)
                .bind(r.at)
                .bind(r.member_id)
                .bind(r.key_id.as_deref())
                .bind(r.action.as_str())
                .bind(r.purpose.as_deref())
                .bind(r.subject_token.as_deref())
                .bind(r.key_version)
                .bind(r.outcome.as_str())
                .bind(r.request_id.as_str())
                .bind(r.entry_version)
                .bind(r.actor.as_deref())
                .bind(r.subject_view.as_deref())
                .bind(r.correlation_id.as_deref());
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in nodes.chunks(ROWS_PER_STATEMENT) {
        let values = (0..chunk.len())
            .map(|i| format!("({})", placeholders(backend, 1 + i * 3, 3)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO tlog_nodes (level, idx, hash) VALUES {values}");
        let mut q = sqlx::query(&sql);
        for (id, hash) in chunk {
            q = q
                .bind(i64::from(id.level))
                .bind(audit_index(id.index)?)
                .bind(hash.as_slice());
        }
        q.execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE tlog_state SET size = $1, frontier = $2 WHERE id = 1")
        .bind(audit_index(frontier.size())?)
        .bind(frontier.to_bytes())
        .execute(&mut **tx)
        .await?;
    Ok(frontier.size())
}

/// A write first: takes SQLite's write lock / PostgreSQL's row lock on the log head
/// before anything is read, so appends from every writer queue here. Idempotent within a
/// transaction.
async fn lock_head(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE tlog_state SET size = size WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub fn audit_index(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("log index beyond i64".into()))
}
