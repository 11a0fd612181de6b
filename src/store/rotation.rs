//! Key rotation as stored: the key state row and the re-keying of every stored token.
//!
//! The store knows which columns hold tokens and how to move a batch of rows one chain
//! step; the chain step itself (a keyed hash) is the caller's, so no key reaches here.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, is_unique_violation};
use crate::clock::to_millis;
use crate::pseudonym::KeyState;
use sqlx::AssertSqlSafe;

/// A column's type, for reading and binding primary keys generically.
#[derive(Debug, Clone, Copy)]
enum Col {
    Text,
    Int,
    Blob,
}

/// A table holding tokens: its primary key, its token columns (re-keyed together) and
/// the column saying which version they are at.
#[derive(Debug)]
pub struct TokenTable {
    pub name: &'static str,
    key: &'static [(&'static str, Col)],
    tokens: &'static [&'static str],
    version: &'static str,
    /// Whether (member_id, first token column) is unique: a row re-keyed onto a value
    /// another row already has would break the constraint (see `rekey_batch`).
    unique_per_member: bool,
}

/// Every table with tokens, in the order rotation re-keys them. Rows that look other
/// rows up by a stored token (web sessions, caller verifications; flags and indicators
/// for watchlist fan-out) come after the rows they look up: a stored token at the old
/// version can be carried forward to the new one, never back, so a looked-up row must
/// never be older than the row looking it up.
pub const TABLES: &[TokenTable] = &[
    TokenTable {
        name: "watchlist",
        key: &[("member_id", Col::Int), ("subject_token", Col::Blob)],
        tokens: &["subject_token"],
        version: "key_version",
        unique_per_member: true,
    },
    TokenTable {
        name: "agents",
        key: &[("id", Col::Text)],
        tokens: &["subject_token"],
        version: "key_version",
        unique_per_member: true,
    },
    TokenTable {
        name: "audit_log",
        key: &[("leaf_index", Col::Int)],
        tokens: &["subject_token"],
        version: "subject_token_version",
        unique_per_member: false,
    },
    TokenTable {
        name: "idempotency_keys",
        key: &[("member_id", Col::Int), ("key_hash", Col::Blob)],
        tokens: &["key_hash", "fingerprint"],
        version: "key_version",
        unique_per_member: true,
    },
    TokenTable {
        name: "flags",
        key: &[("id", Col::Text)],
        tokens: &["subject_token"],
        version: "key_version",
        unique_per_member: false,
    },
    TokenTable {
        name: "indicators",
        key: &[("id", Col::Text)],
        tokens: &["subject_token"],
        version: "key_version",
        unique_per_member: false,
    },
    TokenTable {
        name: "caller_verifications",
        key: &[("id", Col::Text)],
        tokens: &["subject_token", "phone_token"],
        version: "key_version",
        unique_per_member: false,
    },
    TokenTable {
        name: "web_sessions",
        key: &[("id_hash", Col::Blob)],
        tokens: &["person_token"],
        version: "key_version",
        unique_per_member: false,
    },
];

/// A primary-key value as read back.
#[derive(Debug, Clone)]
enum Val {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}

fn read(row: &sqlx::any::AnyRow, i: usize, col: Col) -> Result<Val, StoreError> {
    Ok(match col {
        Col::Text => Val::Text(row.try_get(i)?),
        Col::Int => Val::Int(row.try_get(i)?),
        Col::Blob => Val::Blob(row.try_get(i)?),
    })
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    v: &Val,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        Val::Text(t) => q.bind(t.clone()),
        Val::Int(i) => q.bind(*i),
        Val::Blob(b) => q.bind(b.clone()),
    }
}

/// `$first = …` conditions for `cols`, joined with AND.
fn equals(cols: &[&str], first: usize) -> String {
    cols.iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Where a pass over one table stands: the last primary key it handled.
#[derive(Debug, Default, Clone)]
pub struct Cursor(Option<Vec<Val>>);

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Batch {
    /// Rows read at the old version.
    pub seen: u64,
    pub rekeyed: u64,
    /// Rows whose re-keyed token another row already had (the newer row supersedes).
    pub superseded: u64,
    /// Audit entries of encoding version 1, whose leaf commits to the token itself: their
    /// token is cleared as retention clears it, and they count as redacted.
    pub cleared: u64,
}

impl Store {
    /// The stored key state, created at `base` (the keyring's base version) when there is
    /// none yet: every token written before rotation existed is at that version.
    pub async fn key_state(&self, base: i64) -> Result<KeyState, StoreError> {
        if let Some(state) = self.stored_key_state().await? {
            return Ok(state);
        }
        // Two statements of their own, each idempotent, rather than one transaction: a
        // hub starting beside a CLI command on SQLite holds no write lock across an await.
        sqlx::query(
            "INSERT INTO key_rotation (id, current_version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(base)
        .execute(self.pool())
        .await?;
        sqlx::query("UPDATE idempotency_keys SET key_version = $1 WHERE key_version IS NULL")
            .bind(base)
            .execute(self.pool())
            .await?;
        self.stored_key_state()
            .await?
            .ok_or(StoreError::corrupt("key state row missing after creation"))
    }

    pub async fn stored_key_state(&self) -> Result<Option<KeyState>, StoreError> {
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT current_version, next_version FROM key_rotation WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(current, next)| KeyState { current, next }))
    }

    /// Starts (or confirms) the switch from the current version to `next`; `Conflict` when
    /// the state is elsewhere.
    pub async fn begin_key_switch(&self, next: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE key_rotation SET next_version = $1, started_at = $2, finished_at = NULL \
             WHERE id = 1 AND current_version = $3 AND next_version IS NULL",
        )
        .bind(next)
        .bind(to_millis(now))
        .bind(next - 1)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        match self.stored_key_state().await? {
            Some(s) if s.next == Some(next) => Ok(()),
            _ => Err(StoreError::Conflict(
                "the key state is not at the version before this one",
            )),
        }
    }

    /// Ends the switch: tokens are at the next version now.
    pub async fn finish_key_switch(&self, next: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE key_rotation SET current_version = next_version, next_version = NULL, \
             finished_at = $1 WHERE id = 1 AND next_version = $2",
        )
        .bind(to_millis(now))
        .bind(next)
        .execute(self.pool())
        .await?;
        super::one_row(&done)
    }

    /// Rows of `table` whose tokens are at `version`.
    pub async fn count_at_version(
        &self,
        table: &TokenTable,
        version: i64,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {} WHERE {} = $1",
            table.name, table.version
        )))
        .bind(version)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Moves up to `limit` rows of `table` after `cursor` from version `to - 1` to `to`,
    /// in one transaction, with `rekey` as the chain step. Each row is updated only if it
    /// is still at the old version, so rows changed meanwhile are left to a later pass.
    pub async fn rekey_batch(
        &self,
        table: &TokenTable,
        to: i64,
        limit: i64,
        cursor: &mut Cursor,
        rekey: &(dyn Fn(&[u8]) -> Option<[u8; 32]> + Sync),
    ) -> Result<Batch, StoreError> {
        let from = to - 1;
        let key_cols: Vec<&str> = table.key.iter().map(|(c, _)| *c).collect();
        let key_list = key_cols.join(", ");
        // The member id of unique-per-member tables (or a filler), then the audit
        // entry's encoding version (or a filler): always at the same two positions.
        let member = if table.unique_per_member {
            "member_id"
        } else {
            "CAST(0 AS BIGINT)"
        };
        let version_of_entry = if table.name == "audit_log" {
            "entry_version"
        } else {
            "CAST(0 AS BIGINT)"
        };
        let extra = format!(", {member} AS rk_member, {version_of_entry} AS rk_entry_version");
        let after = match &cursor.0 {
            None => String::new(),
            Some(_) => format!(
                "AND ({key_list}) > ({})",
                (0..key_cols.len())
                    .map(|i| format!("${}", i + 3))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let sql = format!(
            "SELECT {key_list}, {tokens}{extra} FROM {name} WHERE {version} = $1 {after} \
             ORDER BY {key_list} LIMIT $2",
            tokens = table.tokens.join(", "),
            name = table.name,
            version = table.version,
        );
        let mut tx = self.pool().begin().await?;
        // A write first: SQLite then takes its write lock now, waiting for it under the
        // busy timeout, instead of failing when a read transaction tries to upgrade after
        // a hub's commit.
        sqlx::query("UPDATE key_rotation SET current_version = current_version WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(from).bind(limit);
        if let Some(last) = &cursor.0 {
            for v in last {
                q = bind(q, v);
            }
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let mut batch = Batch::default();
        for row in &rows {
            batch.seen += 1;
            let key = table
                .key
                .iter()
                .enumerate()
                .map(|(i, (_, col))| read(row, i, *col))
                .collect::<Result<Vec<_>, _>>()?;
            let n = key_cols.len();
            let old: Vec<Option<Vec<u8>>> = (0..table.tokens.len())
                .map(|i| row.try_get::<Option<Vec<u8>>, _>(n + i))
                .collect::<Result<_, _>>()?;
            let t = table.tokens.len();
            let member: i64 = row.try_get(n + t)?;
            let entry_version: i64 = row.try_get(n + t + 1)?;
            let at_key = equals(&key_cols, 1);
            if table.name == "audit_log" && entry_version == 1 {
                let sql = format!(
                    "UPDATE audit_log SET subject_token = NULL, subject_token_version = NULL, \
                     redacted = 1 WHERE {at_key}"
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for v in &key {
                    q = bind(q, v);
                }
                q.execute(&mut *tx).await?;
                batch.cleared += 1;
                cursor.0 = Some(key);
                continue;
            }
            let new = old
                .iter()
                .map(|t| {
                    t.as_deref()
                        .map(|b| rekey(b).ok_or(StoreError::corrupt("token not re-keyable")))
                        .transpose()
                })
                .collect::<Result<Vec<Option<[u8; 32]>>, _>>()?;
            if let (true, Some(Some(first))) = (table.unique_per_member, new.first()) {
                // A row written meanwhile at the new version for the same member and
                // subject (a re-watch, a retry key claimed again) is the newer one.
                let sql = format!(
                    "SELECT 1 FROM {} WHERE member_id = $1 AND {} = $2",
                    table.name, table.tokens[0]
                );
                let taken = sqlx::query(AssertSqlSafe(sql))
                    .bind(member)
                    .bind(first.to_vec())
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    let sql = format!("DELETE FROM {} WHERE {at_key}", table.name);
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for v in &key {
                        q = bind(q, v);
                    }
                    q.execute(&mut *tx).await?;
                    batch.superseded += 1;
                    cursor.0 = Some(key);
                    continue;
                }
            }
            let sets = table
                .tokens
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE {name} SET {sets}, {version} = ${v} WHERE {cond} AND {version} = ${w}",
                name = table.name,
                version = table.version,
                v = t + 1,
                cond = equals(&key_cols, t + 2),
                w = t + 2 + key_cols.len(),
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for b in &new {
                q = q.bind(b.map(|b| b.to_vec()));
            }
            q = q.bind(to);
            for v in &key {
                q = bind(q, v);
            }
            q = q.bind(from);
            match q.execute(&mut *tx).await {
                Ok(done) => batch.rekeyed += done.rows_affected(),
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict(
                        "a re-keyed token collided with a row written meanwhile; run the rotation again",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            cursor.0 = Some(key);
        }
        if table.name == "audit_log" {
            // The batch read its rows in leaf order: the first and last bound what it
            // touched, and the filters of those segments now describe old tokens.
            let leaf = |row: Option<&sqlx::any::AnyRow>| -> Result<Option<i64>, StoreError> {
                Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
            };
            if let (Some(first), Some(last)) = (leaf(rows.first())?, leaf(rows.last())?) {
                super::segments::forget_filters(&mut tx, first, last).await?;
            }
        }
        tx.commit().await?;
        Ok(batch)
    }
}
