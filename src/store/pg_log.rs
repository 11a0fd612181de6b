//! The audit writer's own connection to PostgreSQL, which pipelines each group commit.
//!
//! Through sqlx a group commit is eight statements (BEGIN, the head lock, flags, reports,
//! entries, nodes, head, COMMIT), and each waits for the server's answer before the next
//! goes out, while the next group's requests wait on the head lock. The protocol lets a
//! client send statements before reading the answers to earlier ones, and tokio-postgres
//! sends each as soon as its future is first polled. Here a commit is at most two round
//! trips: the reads (BEGIN, head, flags, reports) go out together, then the writes
//! (entries, nodes and head in one statement, COMMIT). The writes cannot join their own
//! reads, since the tree nodes are hashed from the head the reads return; but the next
//! group's reads can follow the COMMIT ([`Then::Begin`]), so under load each group commit
//! is one round trip (docs/benchmarks.md, "Issue 14", step 13).
//!
//! The statements are the pool path's (`LogTx`), with arrays in place of IN-lists and
//! multi-row VALUES, so that each is prepared once per connection whatever the batch.
//! The connection is made as the pool's are, without TLS (sqlx is built without it too).

use std::sync::Arc;

use futures_util::future::join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::audit::{ENTRY_INSERT_COLUMNS, entry_values};
use super::flags::{FlagRecord, active_flags_sql};
use super::indicators::{IndicatorRecord, live_indicators_sql};
use super::{Backend, LogHead, Store, StoreError, SubjectRead, TreeGrowth, audit_index};
use crate::audit::entry::AuditEntry;
use crate::clock::to_millis;
use crate::flags::rules::Flag;
use crate::indicators::rules::Indicator;

/// The pool's database URL, kept for the writer's own connection. Its Debug names no part
/// of it: the URL can hold a password.
#[derive(Clone)]
pub(super) struct PgUrl(Arc<str>);

impl PgUrl {
    pub(super) fn new(url: &str) -> Self {
        PgUrl(url.into())
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgUrl(..)")
    }
}

/// A PostgreSQL connection that only the audit writer uses, reconnected when it is lost.
pub struct PgLog {
    config: tokio_postgres::Config,
    conn: Option<Connected>,
    /// A transaction may still be open on the connection (it failed and so did the
    /// ROLLBACK sent after it): the next one rolls it back first.
    open: bool,
}

struct Connected {
    client: Client,
    s: Statements,
}

struct Statements {
    rollback: Statement,
    begin: Statement,
    head: Statement,
    flags: Statement,
    indicators: Statement,
    append: Statement,
    commit: Statement,
}

/// What a transaction read under the head lock, which it holds until [`PgLog::commit`]
/// or [`PgLog::rollback`].
#[derive(Debug)]
pub struct PgRead {
    pub head: LogHead,
    pub flags: Vec<Flag>,
    pub indicators: Vec<Indicator>,
}

/// What a commit sends behind its COMMIT, in the same round trip.
#[derive(Debug, Clone, Copy)]
pub enum Then<'a> {
    /// Nothing: no transaction is left open and no lock held.
    Stop,
    /// The next transaction: BEGIN, the head lock and the reads for `read`'s subjects.
    Begin(Option<SubjectRead<'a>>),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

impl Store {
    /// A connection of its own for the audit writer, on PostgreSQL; `None` on SQLite.
    pub async fn pg_log(&self) -> Result<Option<PgLog>, StoreError> {
        let Some(url) = &self.pg_url else {
            return Ok(None);
        };
        let mut config: tokio_postgres::Config = url.0.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(super::DEFAULT_ACQUIRE_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // So an operator can tell it from the pool's connections in pg_stat_activity.
            config.application_name("fraudhub audit writer");
        }
        let mut log = PgLog {
            config,
            conn: None,
            open: false,
        };
        log.connect_if_lost().await?;
        Ok(Some(log))
    }
}

impl PgLog {
    /// The connection, made again if it was lost.
    async fn connect_if_lost(&mut self) -> Result<(), StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %crate::errors::Chain(&e), "the audit writer's PostgreSQL connection ended");
                }
            });
            // The statements are prepared once and run with arrays of any length, where a
            // custom plan would be made again at every execution: planning was about a sixth
            // of the server's CPU per match (docs/benchmarks.md, "Issue 14", step 20).
            client
                .batch_execute("SET plan_cache_mode = force_generic_plan")
                .await?;
            let s = Statements::prepare(&client).await?;
            self.open = false;
            self.conn = Some(Connected { client, s });
        }
        Ok(())
    }

    /// Begins a transaction, locks and reads the head and, under the lock, the active
    /// flags and live reports on `read`'s subjects: one round trip.
    pub async fn begin_reading(
        &mut self,
        read: Option<SubjectRead<'_>>,
    ) -> Result<PgRead, StoreError> {
        self.connect_if_lost().await?;
        let (_, begun) = self.send(None, Then::Begin(read)).await;
        begun.unwrap_or_else(|| Err(StoreError::corrupt("the reads were not sent")))
    }

    /// Writes entries at the head's position, the nodes they complete and the new head
    /// (`growth`, `None` when there are no entries), commits, and sends `then` behind the
    /// COMMIT: one round trip for both. Answers whether the commit succeeded and, if
    /// `then` began a transaction, what it read.
    ///
    /// The transaction is the one [`PgLog::begin_reading`] or the previous commit began;
    /// a lost connection is not made again here, since a COMMIT on a new one would
    /// answer success for entries that were never written.
    pub async fn commit(
        &mut self,
        entries: &[AuditEntry],
        growth: Option<TreeGrowth>,
        then: Then<'_>,
    ) -> (Result<(), StoreError>, Option<Result<PgRead, StoreError>>) {
        if !self.open || self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            return (Err(StoreError::Lost), None);
        }
        let (committed, begun) = self.send(Some((entries, growth)), then).await;
        (
            committed.unwrap_or_else(|| Err(StoreError::corrupt("the commit was not sent"))),
            begun,
        )
    }

    /// A setting of the writer's session, for tests.
    #[cfg(test)]
    pub(crate) async fn setting(&mut self, name: &str) -> Result<String, StoreError> {
        self.connect_if_lost().await?;
        let conn = self.conn.as_ref().ok_or(StoreError::Lost)?;
        let row = conn
            .client
            .query_one("SELECT current_setting($1)", &[&name])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Abandons the open transaction and releases the head lock.
    pub async fn rollback(&mut self) {
        if let Some(conn) = &self.conn {
            release(&conn.client, &conn.s, &mut self.open).await;
        }
    }

    /// One pipeline: the open transaction's append and COMMIT (`commit`), then `then`.
    async fn send(
        &mut self,
        commit: Option<(&[AuditEntry], Option<TreeGrowth>)>,
        then: Then<'_>,
    ) -> (
        Option<Result<(), StoreError>>,
        Option<Result<PgRead, StoreError>>,
    ) {
        let was_open = self.open;
        let Self { conn, open, .. } = self;
        let Some(conn) = conn.as_ref() else {
            return (Some(Err(StoreError::Lost)), None);
        };
        let (c, s) = (&conn.client, &conn.s);

        let append = match commit
            .as_ref()
            .map(|(entries, growth)| Append::of(entries, growth.as_ref()))
        {
            Some(Err(e)) => {
                // Nothing was sent: end the transaction here, as after a failed read.
                release(c, s, open).await;
                return (Some(Err(e)), None);
            }
            Some(Ok(append)) => Some(append),
            None => None,
        };
        let append_params = append.as_ref().and_then(Append::params);
        let (begin, read) = match then {
            Then::Stop => (false, None),
            Then::Begin(read) => (true, read),
        };
        let now = read.map_or(0, |r| to_millis(r.at));
        let (flaggable, tokens) = read.map_or((&[][..], &[][..]), |r| (r.flaggable, r.tokens));
        let flag_params: [&(dyn ToSql + Sync); 2] = [&now, &flaggable];
        let indicator_params: [&(dyn ToSql + Sync); 2] = [&now, &tokens];

        let mut calls = Vec::with_capacity(7);
        if let Some(params) = &append_params {
            calls.push(c.query(&s.append, params));
        }
        if commit.is_some() {
            calls.push(c.query(&s.commit, &[]));
        } else if was_open && begin {
            calls.push(c.query(&s.rollback, &[]));
        }
        let ending = calls.len();
        if begin {
            calls.push(c.query(&s.begin, &[]));
            calls.push(c.query(&s.head, &[]));
            if !flaggable.is_empty() {
                calls.push(c.query(&s.flags, &flag_params));
            }
            if !tokens.is_empty() {
                calls.push(c.query(&s.indicators, &indicator_params));
            }
        }
        let mut answers = join_all(calls).await;
        let began = answers.split_off(ending);
        // The COMMIT or ROLLBACK, answered, ended the old transaction whichever way it went
        // (unanswered, the connection is gone and its replacement has none open); the
        // BEGIN, sent, may have opened the next.
        *open = begin;
        let committed = commit.is_some().then(|| first_failure(answers).map(drop));
        if !begin {
            return (committed, None);
        }
        let read = first_failure(began).and_then(|answers| {
            let mut answers = answers.into_iter().skip(1);
            let head = read_head(&answers.next().unwrap_or_default())?;
            let mut flags = Vec::new();
            if !flaggable.is_empty() {
                for r in answers.next().unwrap_or_default() {
                    flags.push(Flag::try_from(FlagRecord::from_pg(&r)?)?);
                }
            }
            let mut indicators = Vec::new();
            if !tokens.is_empty() {
                for r in answers.next().unwrap_or_default() {
                    indicators.push(Indicator::try_from(IndicatorRecord::from_pg(&r)?)?);
                }
            }
            Ok(PgRead {
                head,
                flags,
                indicators,
            })
        });
        if read.is_err() {
            release(c, s, open).await;
        }
        (committed, Some(read))
    }
}

/// Ends the transaction now rather than at the next commit: until then it would hold the
/// head lock that flag writes on the pool and other hub instances wait for. If even the
/// ROLLBACK fails, `open` stays set and the next transaction sends it first.
async fn release(c: &Client, s: &Statements, open: &mut bool) {
    match c.execute(&s.rollback, &[]).await {
        Ok(_) => *open = false,
        Err(e) => {
            tracing::warn!(error = %crate::errors::Chain(&e), "the audit writer could not roll back a failed transaction");
        }
    }
}

fn read_head(rows: &[Row]) -> Result<LogHead, StoreError> {
    let row = rows
        .first()
        .ok_or_else(|| StoreError::corrupt("the log head row is missing"))?;
    let size: i64 = row.try_get("size")?;
    Ok(LogHead {
        size: u64::try_from(size).map_err(|_| StoreError::corrupt("negative tree size"))?,
        frontier: row.try_get("frontier")?,
    })
}

/// Every answer of a pipeline, or the first error. Answers come in the order the
/// statements were sent, so the first error is the cause: the statements after it in the
/// transaction fail only because it did (25P02, "current transaction is aborted"). A
/// COMMIT after a failure answers as a rollback, not as an error (rust-postgres issue
/// 1334): success is that every statement succeeded, never the COMMIT's answer alone.
fn first_failure<T>(answers: Vec<Result<T, tokio_postgres::Error>>) -> Result<Vec<T>, StoreError> {
    Ok(answers.into_iter().collect::<Result<Vec<_>, _>>()?)
}

/// An append's values: entries, the nodes they complete and the new head, one array per
/// column. The writes are one statement: a statement whose parameters fail to encode is
/// never sent, and the COMMIT behind it must not find half of an append to commit.
struct Append<'a> {
    entries: EntryColumns<'a>,
    nodes: NodeColumns<'a>,
    size: i64,
    frontier: &'a [u8],
}

impl<'a> Append<'a> {
    /// `None` inside when there is nothing to append.
    fn of(
        entries: &'a [AuditEntry],
        growth: Option<&'a TreeGrowth>,
    ) -> Result<Option<Self>, StoreError> {
        let Some(g) = growth else {
            return Ok(None);
        };
        // The entries end where the new head does.
        let start = g
            .head
            .size
            .checked_sub(entries.len() as u64)
            .ok_or_else(|| StoreError::corrupt("the new head is shorter than the append"))?;
        Ok(Some(Append {
            entries: EntryColumns::of(entries, g.leaves_of(entries)?, start)?,
            nodes: node_columns(&g.nodes)?,
            size: audit_index(g.head.size)?,
            frontier: &g.head.frontier,
        }))
    }

    fn params(this: &Option<Self>) -> Option<Vec<&(dyn ToSql + Sync)>> {
        this.as_ref().map(|a| {
            let mut p = a.entries.params().to_vec();
            p.extend([
                &a.nodes.0 as &(dyn ToSql + Sync),
                &a.nodes.1,
                &a.nodes.2,
                &a.size,
                &a.frontier,
            ]);
            p
        })
    }
}

type NodeColumns<'a> = (Vec<i64>, Vec<i64>, Vec<&'a [u8]>);

fn node_columns(nodes: &[(crate::tlog::NodeId, [u8; 32])]) -> Result<NodeColumns<'_>, StoreError> {
    let mut columns = (
        Vec::with_capacity(nodes.len()),
        Vec::with_capacity(nodes.len()),
        Vec::with_capacity(nodes.len()),
    );
    for (id, hash) in nodes {
        columns.0.push(i64::from(id.level));
        columns.1.push(audit_index(id.index)?);
        columns.2.push(hash.as_slice());
    }
    Ok(columns)
}

/// Entries as one array per column, in [`ENTRY_INSERT_COLUMNS`]' order.
#[derive(Default)]
struct EntryColumns<'a> {
    leaf_index: Vec<i64>,
    at: Vec<i64>,
    member_id: Vec<Option<i64>>,
    key_id: Vec<Option<&'a str>>,
    action: Vec<&'a str>,
    purpose: Vec<Option<&'a str>>,
    subject_token: Vec<Option<&'a [u8]>>,
    key_version: Vec<Option<i64>>,
    outcome: Vec<&'a str>,
    request_id: Vec<&'a str>,
    entry_version: Vec<i64>,
    actor: Vec<Option<String>>,
    subject_view: Vec<Option<&'a [u8]>>,
    correlation_id: Vec<Option<&'a str>>,
    subject_token_version: Vec<Option<i64>>,
    leaf_hash: Vec<&'a [u8]>,
}

impl<'a> EntryColumns<'a> {
    fn of(
        entries: &'a [AuditEntry],
        leaves: &'a [[u8; 32]],
        start: u64,
    ) -> Result<Self, StoreError> {
        let mut c = EntryColumns::default();
        for (i, (e, leaf)) in entries.iter().zip(leaves).enumerate() {
            let v = entry_values(e, start + i as u64, leaf)?;
            c.leaf_index.push(v.0);
            c.at.push(v.1);
            c.member_id.push(v.2);
            c.key_id.push(v.3);
            c.action.push(v.4);
            c.purpose.push(v.5);
            c.subject_token.push(v.6);
            c.key_version.push(v.7);
            c.outcome.push(v.8);
            c.request_id.push(v.9);
            c.entry_version.push(v.10);
            c.actor.push(v.11);
            c.subject_view.push(v.12);
            c.correlation_id.push(v.13);
            c.subject_token_version.push(v.14);
            c.leaf_hash.push(v.15);
        }
        Ok(c)
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 16] {
        [
            &self.leaf_index,
            &self.at,
            &self.member_id,
            &self.key_id,
            &self.action,
            &self.purpose,
            &self.subject_token,
            &self.key_version,
            &self.outcome,
            &self.request_id,
            &self.entry_version,
            &self.actor,
            &self.subject_view,
            &self.correlation_id,
            &self.subject_token_version,
            &self.leaf_hash,
        ]
    }
}

/// The flag and report reads' templates with the tokens as one array parameter.
fn with_token_array(template: &str) -> String {
    template
        .replace("{now}", "$1")
        .replace("IN ({tokens})", "= ANY($2)")
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Statements, StoreError> {
        // Data-modifying WITH clauses: entries, nodes and the head in one statement.
        let append = format!(
            "WITH entries AS (INSERT INTO audit_log ({ENTRY_INSERT_COLUMNS}) SELECT * FROM unnest(\
             $1::int8[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], \
             $7::bytea[], $8::int8[], $9::text[], $10::text[], $11::int8[], $12::text[], \
             $13::bytea[], $14::text[], $15::int8[], $16::bytea[])), \
             nodes AS (INSERT INTO tlog_nodes (level, idx, hash) \
             SELECT * FROM unnest($17::int8[], $18::int8[], $19::bytea[])) \
             UPDATE tlog_state SET size = $20, frontier = $21 WHERE id = 1"
        );
        let sql = [
            "ROLLBACK".to_string(),
            "BEGIN".to_string(),
            "SELECT size, frontier FROM tlog_state WHERE id = 1 FOR UPDATE".to_string(),
            with_token_array(&active_flags_sql()),
            with_token_array(&live_indicators_sql()),
            append,
            "COMMIT".to_string(),
        ];
        let prepared = join_all(sql.iter().map(|q| client.prepare(q))).await;
        let mut p = prepared
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut next = || {
            p.next()
                .ok_or_else(|| StoreError::corrupt("a prepared statement is missing"))
        };
        Ok(Statements {
            rollback: next()?,
            begin: next()?,
            head: next()?,
            flags: next()?,
            indicators: next()?,
            append: next()?,
            commit: next()?,
        })
    }
}

/// Whether `backend` gets a [`PgLog`]: where the pool keeps the URL for it.
pub(super) fn url_for(backend: Backend, url: &str) -> Option<PgUrl> {
    (backend == Backend::Postgres).then(|| PgUrl::new(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reads_take_their_tokens_as_one_array() {
        for template in [active_flags_sql(), live_indicators_sql()] {
            let sql = with_token_array(&template);
            assert!(sql.contains("subject_token = ANY($2)"), "{sql}");
            assert!(!sql.contains('{'), "a placeholder was left: {sql}");
        }
    }

    #[test]
    fn the_url_is_not_in_debug_output() {
        let url = PgUrl::new("postgres://hub:s3cret@db.internal/fraudhub");
        assert_eq!(format!("{url:?}"), "PgUrl(..)");
    }
}
