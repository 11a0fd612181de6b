//! Audit entries and the Merkle tree they form, as stored.
//!
//! The store keeps what the audit module hands it: entries, tree nodes and the log head.
//! It computes no hashes; [`LogTx`] is the transaction every append goes through, holding
//! the head lock from its first statement.

use super::{Backend, Store, StoreError, backend_of, placeholders};
use crate::audit::entry::{Action, Actor, AuditEntry, Outcome, Purpose};
use crate::clock::{from_millis, to_millis};
use crate::tlog::NodeId;
use sqlx::AssertSqlSafe;
use sqlx::Row;
use sqlx::any::AnyRow;

/// An entry as stored, with its position, leaf hash (if any) and retention state.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub leaf_index: i64,
    /// The entry, or why its stored fields no longer form one (an edit outside the hub,
    /// which `audit verify` reports rather than stops at).
    pub entry: Result<AuditEntry, Undecodable>,
    pub redacted: bool,
    pub leaf_hash: Option<Vec<u8>>,
}

/// A stored field that is not one of the values the hub writes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit entry field {field} holds an unknown value")]
pub struct Undecodable {
    pub field: &'static str,
}

impl StoredEntry {
    pub fn entry(&self) -> Result<&AuditEntry, StoreError> {
        self.entry
            .as_ref()
            .map_err(|e| StoreError::corrupt_because("audit entry", e.clone()))
    }
}

/// The stored columns of one entry, as the database returns them.
#[derive(sqlx::FromRow)]
pub(super) struct EntryRecord {
    leaf_index: i64,
    at: i64,
    member_id: Option<i64>,
    key_id: Option<String>,
    action: String,
    purpose: Option<String>,
    subject_token: Option<Vec<u8>>,
    key_version: Option<i64>,
    outcome: String,
    request_id: Option<String>,
    redacted: i64,
    entry_version: i64,
    actor: Option<String>,
    subject_view: Option<Vec<u8>>,
    correlation_id: Option<String>,
    leaf_hash: Option<Vec<u8>>,
}

pub(super) fn field<T: std::str::FromStr>(
    text: &str,
    field: &'static str,
) -> Result<T, Undecodable> {
    text.parse().map_err(|_| Undecodable { field })
}

pub(super) fn decode_actor(actor: Option<&str>) -> Result<Actor, Undecodable> {
    Ok(match actor {
        None => Actor::Member,
        Some("person") => Actor::Person,
        Some(a) => Actor::Operator(
            a.strip_prefix("operator:")
                .ok_or(Undecodable { field: "actor" })?
                .to_string(),
        ),
    })
}

fn decode(r: &EntryRecord) -> Result<AuditEntry, Undecodable> {
    Ok(AuditEntry {
        at: from_millis(r.at),
        actor: decode_actor(r.actor.as_deref())?,
        member_id: r.member_id,
        key_id: r.key_id.clone(),
        action: field::<Action>(&r.action, "action")?,
        purpose: r
            .purpose
            .as_deref()
            .map(|p| field::<Purpose>(p, "purpose"))
            .transpose()?,
        subject_token: r.subject_token.clone(),
        key_version: r.key_version,
        subject_view: r.subject_view.clone(),
        outcome: field::<Outcome>(&r.outcome, "outcome")?,
        request_id: r.request_id.clone().unwrap_or_default(),
        correlation_id: r.correlation_id.clone(),
        entry_version: u8::try_from(r.entry_version).map_err(|_| Undecodable {
            field: "entry_version",
        })?,
    })
}

impl From<EntryRecord> for StoredEntry {
    fn from(r: EntryRecord) -> Self {
        StoredEntry {
            entry: decode(&r),
            leaf_index: r.leaf_index,
            redacted: r.redacted != 0,
            leaf_hash: r.leaf_hash,
        }
    }
}

const COLUMNS: usize = 16;
/// Keeps each multi-row INSERT well under SQLite's and PostgreSQL's bind limits.
const ROWS_PER_STATEMENT: usize = 500;
const ENTRY_COLUMNS: &str = "a.leaf_index, a.at, a.member_id, a.key_id, a.action, a.purpose, \
     a.subject_token, a.key_version, a.outcome, a.request_id, a.redacted, a.entry_version, \
     a.actor, a.subject_view, a.correlation_id, COALESCE(a.leaf_hash, n.hash) AS leaf_hash";
/// Leaf hashes of entries written before migration 0012 are level-0 rows of `tlog_nodes`.
const ENTRY_FROM: &str =
    "audit_log a LEFT JOIN tlog_nodes n ON n.level = 0 AND n.idx = a.leaf_index";

/// The log head as read under its lock: the size and the serialised frontier.
#[derive(Debug, Clone)]
pub struct LogHead {
    pub size: u64,
    pub frontier: Vec<u8>,
}

/// What an append writes besides the entries: their leaf hashes, the stored tree nodes
/// they completed (level 4 and up, `tlog::stored`) and the new head. Computed by the audit module from
/// [`LogHead`].
///
/// A leaf hash is written in its entry's row (`audit_log.leaf_hash`), not as a level-0
/// row of `tlog_nodes`: one row and one index entry fewer per entry (docs/audit.md, "Node
/// ids and what is stored"). Logs written before migration 0012 keep their level-0 rows,
/// and every read of a leaf hash falls back to them.
#[derive(Debug)]
pub struct TreeGrowth {
    /// One per appended entry, in order.
    pub leaves: Vec<[u8; 32]>,
    /// Level 4 and up: levels 1 to 3 are rebuilt from the leaves, not stored.
    pub nodes: Vec<(NodeId, [u8; 32])>,
    pub head: LogHead,
}

impl TreeGrowth {
    /// The leaf hashes of `entries`; refused unless there is exactly one per entry, as
    /// entries would otherwise be written that the tree does not hold.
    pub(super) fn leaves_of(&self, entries: &[AuditEntry]) -> Result<&[[u8; 32]], StoreError> {
        if entries.len() != self.leaves.len() {
            return Err(StoreError::corrupt(
                "an append without a leaf hash per entry",
            ));
        }
        Ok(&self.leaves)
    }
}

/// A transaction on the log. Beginning one takes SQLite's write lock / PostgreSQL's row
/// lock on the log head before anything is read, so appends from every writer (other
/// hub instances on the same PostgreSQL too) queue here and leaf indexes stay dense and
/// in commit order. Flag writes go through it so a change and its entry commit together.
pub struct LogTx {
    pub(super) tx: sqlx::Transaction<'static, sqlx::Any>,
    head: LogHead,
}

/// Takes SQLite's write lock (which comes with a write, here a no-op one) and reads the head.
const LOCK_HEAD_SQLITE: &str =
    "UPDATE tlog_state SET size = size WHERE id = 1 RETURNING size, frontier";

impl Store {
    pub async fn begin_log(&self) -> Result<LogTx, StoreError> {
        let mut tx = self.pool().begin().await?;
        // One statement takes the lock and reads the head: each statement is a round trip
        // to the database (or to sqlx's SQLite thread). SQLite's write lock comes with a
        // write, here a no-op one. PostgreSQL's FOR UPDATE locks the row without writing a
        // new version of it, so a commit leaves one dead version of the head, not two
        // (measured: docs/benchmarks.md, "Issue 14").
        let sql = match self.backend() {
            Backend::Sqlite => LOCK_HEAD_SQLITE,
            Backend::Postgres => "SELECT size, frontier FROM tlog_state WHERE id = 1 FOR UPDATE",
        };
        let head = sqlx::query(sql).fetch_all(&mut *tx).await?;
        LogTx::locked(tx, head)
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
        let mut q = sqlx::query_as::<_, EntryRecord>(AssertSqlSafe(sql))
            .bind(from_index)
            .bind(limit);
        if let Some(m) = member_id {
            q = q.bind(m);
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(StoredEntry::from).collect())
    }

    pub async fn audit_entry(&self, leaf_index: i64) -> Result<StoredEntry, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM {ENTRY_FROM} WHERE a.leaf_index = $1");
        let row: EntryRecord = sqlx::query_as(AssertSqlSafe(sql))
            .bind(leaf_index)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.into())
    }

    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) AS n FROM audit_log")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// Retention: clears the personal-data fields of entries older than `cutoff`. The
    /// leaf hashes stay (`leaf_hash`, or a level-0 row of tlog_nodes for entries written
    /// before migration 0012), so every root and proof still verifies.
    pub async fn redact_audit_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let cutoff = to_millis(cutoff);
        match self.backend() {
            // SQLite's partial index on unredacted entries finds them directly.
            Backend::Sqlite => {
                let sql = format!("{REDACT} WHERE at < $1 AND redacted = 0");
                let done = sqlx::query(AssertSqlSafe(sql))
                    .bind(cutoff)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected())
            }
            Backend::Postgres => self.redact_from_first_unredacted(cutoff).await,
        }
    }

    /// PostgreSQL's index on `at` is a BRIN index on `(leaf_index, at)` (migration 0014),
    /// which also matches the ranges redacted by earlier passes; `audit_redaction` keeps
    /// the first unredacted leaf, and a pass reads from there on. Every entry from that
    /// leaf on with `at` before the cutoff is redacted, whatever its neighbours' times, so
    /// the pass is exact; the record then moves to the first entry still unredacted (or
    /// the log's end).
    async fn redact_from_first_unredacted(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The row lock makes passes of several instances take turns.
        let (first, index_scan, seq_scan): (i64, String, String) =
            sqlx::query_as(FIRST_UNREDACTED).fetch_one(&mut *tx).await?;
        sqlx::query(PLAN_REDACTION_BY_BRIN)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(AssertSqlSafe(redact_from_leaf_sql()))
            .bind(cutoff)
            .bind(first)
            .execute(&mut *tx)
            .await?;
        // The next statement walks the primary key, as the planner would anyway.
        sqlx::query("SELECT set_config('enable_indexscan', $1, true), set_config('enable_seqscan', $2, true)")
            .bind(index_scan)
            .bind(seq_scan)
            .execute(&mut *tx)
            .await?;
        // Entries committed after this statement's snapshot lie at or beyond the size it
        // reads, so the record never passes an entry it has not seen.
        sqlx::query(
            "UPDATE audit_redaction SET first_unredacted = COALESCE(\
             (SELECT leaf_index FROM audit_log WHERE leaf_index >= $1 AND redacted = 0 \
             ORDER BY leaf_index LIMIT 1), (SELECT size FROM tlog_state WHERE id = 1)) \
             WHERE id = 1",
        )
        .bind(first)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// The first unredacted leaf (locked), and the planner settings the pass changes.
const FIRST_UNREDACTED: &str = "SELECT first_unredacted, current_setting('enable_indexscan'), \
     current_setting('enable_seqscan') FROM audit_redaction WHERE id = 1 FOR UPDATE";

/// The planner takes the cutoff and the leaf as independent, does not know that `at`
/// follows the leaf, and would walk the primary key from the leaf to the log's end
/// (measured: 400 000 entries read to redact 10 000). With plain index and sequential
/// scans off for this transaction it reads the BRIN index's matching ranges only.
const PLAN_REDACTION_BY_BRIN: &str = "SELECT set_config('enable_indexscan', 'off', true), \
     set_config('enable_seqscan', 'off', true)";

fn redact_from_leaf_sql() -> String {
    format!("{REDACT} WHERE leaf_index >= $2 AND at < $1 AND redacted = 0")
}

/// What retention clears in an entry; the statement's WHERE clause says which entries.
const REDACT: &str = "UPDATE audit_log SET subject_token = NULL, subject_token_version = NULL, \
     key_version = NULL, purpose = NULL, key_id = NULL, request_id = NULL, subject_view = NULL, \
     correlation_id = NULL, redacted = 1";

impl LogTx {
    /// The transaction, with the head row its first statement locked and returned.
    fn locked(
        tx: sqlx::Transaction<'static, sqlx::Any>,
        head: Vec<AnyRow>,
    ) -> Result<LogTx, StoreError> {
        let row = head
            .first()
            .ok_or_else(|| StoreError::corrupt("the log head row is missing"))?;
        let size: i64 = row.try_get("size")?;
        let frontier: Vec<u8> = row.try_get("frontier")?;
        let size = u64::try_from(size).map_err(|_| StoreError::corrupt("negative tree size"))?;
        Ok(LogTx {
            tx,
            head: LogHead { size, frontier },
        })
    }

    /// The head as it stands in this transaction (after any earlier append in it).
    pub fn head(&self) -> &LogHead {
        &self.head
    }

    /// Writes entries at the head's position with the nodes they complete and the new
    /// head, both computed by the caller from [`LogTx::head`].
    pub async fn append(
        &mut self,
        entries: &[AuditEntry],
        growth: TreeGrowth,
    ) -> Result<(), StoreError> {
        let backend = backend_of(&self.tx);
        let start = self.head.size;
        let leaves = growth.leaves_of(entries)?;
        // Each call is a hand-off to sqlx's SQLite thread, made while every waiting request
        // holds on the write lock: on SQLite the last (for a group commit, the only) chunk
        // of entries, of nodes and the head update go as one call. PostgreSQL takes one
        // statement per call; folding the three into one with data-modifying WITH clauses
        // gained nothing there and cost 10-identifier batches a third of their rate
        // (docs/benchmarks.md, "Issue 14", step 6), so there they stay apart.
        let (entries_split, nodes_split) = match backend {
            Backend::Sqlite => (
                last_chunk_start(entries.len()),
                last_chunk_start(growth.nodes.len()),
            ),
            Backend::Postgres => (entries.len(), growth.nodes.len()),
        };
        for (c, chunk) in entries[..entries_split]
            .chunks(ROWS_PER_STATEMENT)
            .enumerate()
        {
            let sql = insert_entries_sql(backend, 1, chunk.len());
            let first = c * ROWS_PER_STATEMENT;
            let hashes = &leaves[first..first + chunk.len()];
            bind_entries(
                sqlx::query(AssertSqlSafe(sql)),
                chunk,
                hashes,
                start + first as u64,
            )?
            .execute(&mut *self.tx)
            .await?;
        }
        for chunk in growth.nodes[..nodes_split].chunks(ROWS_PER_STATEMENT) {
            let sql = insert_nodes_sql(backend, 1, chunk.len());
            bind_nodes(sqlx::query(AssertSqlSafe(sql)), chunk)?
                .execute(&mut *self.tx)
                .await?;
        }
        let (entries, nodes) = (&entries[entries_split..], &growth.nodes[nodes_split..]);
        let mut writes = Vec::new();
        let mut next = 1;
        if !entries.is_empty() {
            writes.push(insert_entries_sql(backend, next, entries.len()));
            next += entries.len() * COLUMNS;
        }
        if !nodes.is_empty() {
            writes.push(insert_nodes_sql(backend, next, nodes.len()));
            next += nodes.len() * 3;
        }
        let update = format!(
            "UPDATE tlog_state SET size = {}, frontier = {} WHERE id = 1",
            placeholders(backend, next, 1),
            placeholders(backend, next + 1, 1)
        );
        // On SQLite sqlx runs the string of statements in one call, binding `?` in order;
        // on PostgreSQL only the update is left here.
        writes.push(update);
        let sql = writes.join("; ");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if !entries.is_empty() {
            q = bind_entries(
                q,
                entries,
                &leaves[entries_split..],
                start + entries_split as u64,
            )?;
        }
        if !nodes.is_empty() {
            q = bind_nodes(q, nodes)?;
        }
        q.bind(audit_index(growth.head.size)?)
            .bind(growth.head.frontier.as_slice())
            .execute(&mut *self.tx)
            .await?;
        self.head = growth.head;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Where the last chunk of `len` rows starts: rows before it are written on their own.
fn last_chunk_start(len: usize) -> usize {
    len.saturating_sub(1) / ROWS_PER_STATEMENT * ROWS_PER_STATEMENT
}

fn values_rows(backend: Backend, first: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|i| format!("({})", placeholders(backend, first + i * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns an entry is written to, in [`entry_values`]' order.
pub(super) const ENTRY_INSERT_COLUMNS: &str = "leaf_index, at, member_id, key_id, action, purpose, \
     subject_token, key_version, outcome, request_id, entry_version, actor, subject_view, \
     correlation_id, subject_token_version, leaf_hash";

pub(super) fn insert_entries_sql(backend: Backend, first: usize, rows: usize) -> String {
    format!(
        "INSERT INTO audit_log ({ENTRY_INSERT_COLUMNS}) VALUES {}",
        values_rows(backend, first, rows, COLUMNS)
    )
}

pub(super) fn insert_nodes_sql(backend: Backend, first: usize, rows: usize) -> String {
    format!(
        "INSERT INTO tlog_nodes (level, idx, hash) VALUES {}",
        values_rows(backend, first, rows, 3)
    )
}

/// One entry's values in [`insert_entries_sql`]'s column order, at leaf `index`.
pub(super) type EntryValues<'a> = (
    i64,
    i64,
    Option<i64>,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Option<&'a [u8]>,
    Option<i64>,
    &'a str,
    &'a str,
    i64,
    Option<String>,
    Option<&'a [u8]>,
    Option<&'a str>,
    Option<i64>,
    &'a [u8],
);

pub(super) fn entry_values<'a>(
    e: &'a AuditEntry,
    index: u64,
    leaf_hash: &'a [u8; 32],
) -> Result<EntryValues<'a>, StoreError> {
    Ok((
        audit_index(index)?,
        to_millis(e.at),
        e.member_id,
        e.key_id.as_deref(),
        e.action.as_str(),
        e.purpose.map(Purpose::as_str),
        e.subject_token.as_deref(),
        e.key_version,
        e.outcome.as_str(),
        e.request_id.as_str(),
        i64::from(e.entry_version),
        match &e.actor {
            Actor::Member => None,
            operator => Some(operator.label()),
        },
        e.subject_view.as_deref(),
        e.correlation_id.as_deref(),
        // The subject index starts at the version the leaf records.
        e.subject_token.as_ref().and(e.key_version),
        leaf_hash.as_slice(),
    ))
}

/// Binds `rows` with their leaf hashes in [`insert_entries_sql`]'s order, the first at
/// leaf `first_index`.
fn bind_entries<'q>(
    mut q: AnyQuery<'q>,
    rows: &'q [AuditEntry],
    leaves: &'q [[u8; 32]],
    first_index: u64,
) -> Result<AnyQuery<'q>, StoreError> {
    for (i, (e, leaf)) in rows.iter().zip(leaves).enumerate() {
        let v = entry_values(e, first_index + i as u64, leaf)?;
        q = q
            .bind(v.0)
            .bind(v.1)
            .bind(v.2)
            .bind(v.3)
            .bind(v.4)
            .bind(v.5)
            .bind(v.6)
            .bind(v.7)
            .bind(v.8)
            .bind(v.9)
            .bind(v.10)
            .bind(v.11)
            .bind(v.12)
            .bind(v.13)
            .bind(v.14)
            .bind(v.15);
    }
    Ok(q)
}

fn bind_nodes<'q>(
    mut q: AnyQuery<'q>,
    nodes: &'q [(NodeId, [u8; 32])],
) -> Result<AnyQuery<'q>, StoreError> {
    for (id, hash) in nodes {
        q = q
            .bind(i64::from(id.level))
            .bind(audit_index(id.index)?)
            .bind(hash.as_slice());
    }
    Ok(q)
}

pub fn audit_index(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::corrupt("log index beyond i64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::pg_writer_tests::{Outcome, PgDb};

    /// The pass reads the BRIN index's ranges, not the primary key from the first
    /// unredacted leaf to the log's end, whatever the planner estimates (one million
    /// entries: 250 heap blocks read instead of 400 000 rows; docs/benchmarks.md, step 18).
    #[tokio::test]
    async fn the_redaction_pass_on_postgresql_reads_the_brin_index() -> Outcome {
        let Some(mut db) = PgDb::new().await? else {
            return Ok(());
        };
        db.side
            .batch_execute(
                "INSERT INTO audit_log (leaf_index, at, action, outcome) \
                 SELECT i, i, 'match', 'clear' FROM generate_series(0, 9999) i; \
                 ANALYZE audit_log",
            )
            .await?;
        let tx = db.side.transaction().await?;
        tx.batch_execute(PLAN_REDACTION_BY_BRIN).await?;
        let plan = tx
            .query(
                &format!("EXPLAIN {}", redact_from_leaf_sql()),
                &[&5000_i64, &4000_i64],
            )
            .await?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()?
            .join("\n");
        tx.rollback().await?;
        assert!(
            plan.contains("Bitmap Index Scan on audit_log_at"),
            "the pass's plan:\n{plan}"
        );
        db.drop().await
    }
}
