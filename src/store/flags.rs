//! Flags on personal-number tokens, and idempotency records for placing them.

use chrono::{DateTime, Utc};

use super::numbered;
use super::{LogTx, Store, StoreError, is_unique_violation, rows_for_tokens};
use crate::clock::{from_millis, to_millis};
use crate::flags::rules::{Flag, FlagKind};
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

/// The stored columns of one flag.
#[derive(sqlx::FromRow)]
pub(super) struct FlagRecord {
    id: String,
    member_id: Option<i64>,
    subject_token: Vec<u8>,
    key_version: i64,
    kind: String,
    consent_reference: Option<String>,
    police_report_reference: Option<String>,
    created_at: i64,
    expires_at: i64,
    lifted_at: Option<i64>,
}

impl TryFrom<FlagRecord> for Flag {
    type Error = StoreError;

    fn try_from(r: FlagRecord) -> Result<Self, StoreError> {
        let bytes = <[u8; 32]>::try_from(r.subject_token.as_slice())
            .map_err(|_| StoreError::corrupt("flag subject token is not 32 bytes"))?;
        Ok(Flag {
            kind: r
                .kind
                .parse::<FlagKind>()
                .map_err(|e| StoreError::corrupt_because("flag kind", e))?,
            id: r.id,
            member_id: r.member_id,
            subject: Token {
                version: r.key_version,
                bytes,
            },
            consent_reference: r.consent_reference,
            police_report_reference: r.police_report_reference,
            created_at: from_millis(r.created_at),
            expires_at: from_millis(r.expires_at),
            lifted_at: r.lifted_at.map(from_millis),
        })
    }
}

writer_row_readers!(FlagRecord {
    id,
    member_id,
    subject_token,
    key_version,
    kind,
    consent_reference,
    police_report_reference,
    created_at,
    expires_at,
    lifted_at,
});

fn flags_of(records: Vec<FlagRecord>) -> Result<Vec<Flag>, StoreError> {
    records.into_iter().map(Flag::try_from).collect()
}

/// An Idempotency-Key as the store sees it: a keyed hash, never the key itself.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key_hash: &'a [u8],
    /// Keyed hash of the request body, to refuse a reused key with a different body.
    pub fingerprint: &'a [u8],
    /// Records created at or before this time are past their TTL and forgotten.
    pub forgotten_at_or_before: DateTime<Utc>,
    /// The key version both hashes are at.
    pub key_version: i64,
}

/// What an earlier request with the same Idempotency-Key stored.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub fingerprint: Vec<u8>,
    /// The id of what the first request created.
    pub resource_id: String,
}

const FLAG_COLUMNS: &str = "id, member_id, subject_token, key_version, kind, consent_reference, \
     police_report_reference, created_at, expires_at, lifted_at";

/// The active flags on any of `{tokens}` at `{now}` (a [`super::rows_for_tokens`]
/// template): the SQL form of [`Flag::is_active`].
pub(super) fn active_flags_sql() -> String {
    format!(
        "SELECT {FLAG_COLUMNS} FROM flags WHERE expires_at > {{now}} AND lifted_at IS NULL \
         AND subject_token IN ({{tokens}}) ORDER BY created_at, id"
    )
}

/// A flag with the display name of the member that placed it (none for the person's own).
#[derive(sqlx::FromRow)]
struct NamedFlagRecord {
    #[sqlx(flatten)]
    flag: FlagRecord,
    member_name: Option<String>,
}

impl Store {
    /// Every stored flag on the subject (its tokens at each key version in use), newest
    /// first, with the placing member's name.
    pub async fn subject_flags(
        &self,
        subject: &[Token],
    ) -> Result<Vec<(Flag, Option<String>)>, StoreError> {
        let columns = FLAG_COLUMNS
            .split(", ")
            .map(|c| format!("f.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, m.display_name AS member_name FROM flags f \
             LEFT JOIN members m ON m.id = f.member_id \
             WHERE f.subject_token IN ({}) ORDER BY f.created_at DESC, f.id",
            numbered(1, subject.len())
        );
        let mut q = sqlx::query_as::<_, NamedFlagRecord>(AssertSqlSafe(sql));
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let records = q.fetch_all(self.pool()).await?;
        records
            .into_iter()
            .map(|r| Ok((Flag::try_from(r.flag)?, r.member_name)))
            .collect()
    }

    /// A flag as seen by one member: other members' flags do not exist for it.
    pub async fn member_flag(&self, member_id: i64, id: &str) -> Result<Flag, StoreError> {
        let sql = format!("SELECT {FLAG_COLUMNS} FROM flags WHERE id = $1 AND member_id = $2");
        let record: FlagRecord = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(member_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        record.try_into()
    }

    pub async fn idempotency_record(
        &self,
        member_id: i64,
        key_hash: &[u8],
    ) -> Result<IdempotencyRecord, StoreError> {
        let (fingerprint, resource_id): (Vec<u8>, String) = sqlx::query_as(
            "SELECT fingerprint, resource_id FROM idempotency_keys WHERE member_id = $1 AND key_hash = $2",
        )
        .bind(member_id)
        .bind(key_hash)
        .fetch_one(self.pool())
        .await?;
        Ok(IdempotencyRecord {
            fingerprint,
            resource_id,
        })
    }
}

impl LogTx {
    /// Records the key for `resource_id` (a flag or an indicator); `false` when the member already used this key, in
    /// which case the transaction is spoilt (PostgreSQL aborts it) and must be dropped.
    pub async fn claim_idempotency(
        &mut self,
        member_id: i64,
        idem: &Idempotency<'_>,
        resource_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // A record past its TTL is forgotten even before housekeeping deletes it, so
        // the answer never depends on when the last retention pass ran.
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE member_id = $1 AND key_hash = $2 AND created_at <= $3",
        )
        .bind(member_id)
        .bind(idem.key_hash)
        .bind(to_millis(idem.forgotten_at_or_before))
        .execute(&mut *self.tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (member_id, key_hash, fingerprint, resource_id, created_at, \
             key_version) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(member_id)
        .bind(idem.key_hash)
        .bind(idem.fingerprint)
        .bind(resource_id)
        .bind(to_millis(now))
        .bind(idem.key_version)
        .execute(&mut *self.tx)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The member's record under `key_hash` if it is still within its TTL: during a key
    /// switch, a retry's key may still be stored at the version being left.
    pub async fn live_idempotency_record(
        &mut self,
        member_id: i64,
        key_hash: &[u8],
        forgotten_at_or_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let found: Option<(Vec<u8>, String)> = sqlx::query_as(
            "SELECT fingerprint, resource_id FROM idempotency_keys \
             WHERE member_id = $1 AND key_hash = $2 AND created_at > $3",
        )
        .bind(member_id)
        .bind(key_hash)
        .bind(to_millis(forgotten_at_or_before))
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(found.map(|(fingerprint, resource_id)| IdempotencyRecord {
            fingerprint,
            resource_id,
        }))
    }

    pub async fn insert_flag(&mut self, flag: &Flag) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO flags (id, member_id, subject_token, key_version, kind, consent_reference, \
             police_report_reference, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(flag.id.as_str())
        .bind(flag.member_id)
        .bind(flag.subject.bytes.as_slice())
        .bind(flag.subject.version)
        .bind(flag.kind.as_str())
        .bind(flag.consent_reference.as_deref())
        .bind(flag.police_report_reference.as_deref())
        .bind(to_millis(flag.created_at))
        .bind(to_millis(flag.expires_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Flags matching `condition` (SQL after WHERE, binding `$1` and `$2`).
    pub(super) async fn flags_where(
        &mut self,
        condition: &str,
        first: i64,
        second: i64,
    ) -> Result<Vec<Flag>, StoreError> {
        let sql = format!("SELECT {FLAG_COLUMNS} FROM flags WHERE {condition}");
        let records: Vec<FlagRecord> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(first)
            .bind(second)
            .fetch_all(&mut *self.tx)
            .await?;
        flags_of(records)
    }

    /// A flag on `subject` by its id, whoever placed it: what a person may see of the
    /// flags on their own personal number.
    pub async fn subject_flag(&mut self, subject: &[Token], id: &str) -> Result<Flag, StoreError> {
        let sql = format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE id = $1 AND subject_token IN ({})",
            numbered(2, subject.len())
        );
        let mut q = sqlx::query_as::<_, FlagRecord>(AssertSqlSafe(sql)).bind(id);
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let record: FlagRecord = q
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        record.try_into()
    }

    /// Moves the expiry of a person's own active flag; `false` when it is not active.
    pub async fn renew_own_flag(
        &mut self,
        subject: &[Token],
        id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE flags SET expires_at = $1 WHERE id = $2 AND expires_at > $3 \
             AND member_id IS NULL AND lifted_at IS NULL AND subject_token IN ({})",
            numbered(4, subject.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(expires_at))
            .bind(id)
            .bind(to_millis(now));
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let done = q.execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a person's own flag lifted at `now`; `false` when it already was.
    pub async fn lift_own_flag(
        &mut self,
        subject: &[Token],
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE flags SET lifted_at = $1 WHERE id = $2 \
             AND member_id IS NULL AND lifted_at IS NULL AND subject_token IN ({})",
            numbered(3, subject.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to_millis(now))
            .bind(id);
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let done = q.execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a member's flag lifted at `now`; `false` when it already was.
    pub async fn lift_flag(
        &mut self,
        member_id: i64,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE flags SET lifted_at = $1 WHERE id = $2 AND member_id = $3 AND lifted_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id)
        .bind(member_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Active flags for any of the given tokens: the SQL form of [`Flag::is_active`].
    /// Read inside the log transaction, so the answer a member gets and the outcome its
    /// audit entry records come from one snapshot.
    pub async fn active_flags(
        &mut self,
        tokens: &[&[u8]],
        now: DateTime<Utc>,
    ) -> Result<Vec<Flag>, StoreError> {
        let records: Vec<FlagRecord> =
            rows_for_tokens(&mut self.tx, &active_flags_sql(), to_millis(now), tokens).await?;
        flags_of(records)
    }
}
