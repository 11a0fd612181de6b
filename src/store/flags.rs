//! Flags on personal-number tokens, and idempotency records for placing them.

use sqlx::Row;

use super::audit::append_in;
use super::{AuditRow, Store, StoreError, backend_of, is_unique_violation, placeholders};

#[derive(Debug, Clone)]
pub struct FlagRow {
    pub id: String,
    pub member_id: i64,
    pub subject_token: Vec<u8>,
    pub key_version: i64,
    pub kind: String,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub lifted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewFlag<'a> {
    pub id: &'a str,
    pub member_id: i64,
    pub subject_token: &'a [u8],
    pub key_version: i64,
    pub kind: &'a str,
    pub consent_reference: Option<&'a str>,
    pub police_report_reference: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An Idempotency-Key as the store sees it: a keyed hash, never the key itself.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key_hash: &'a [u8],
    /// Keyed hash of the request body, to refuse a reused key with a different body.
    pub fingerprint: &'a [u8],
    /// Records created at or before this time (ms) are past their TTL and forgotten.
    pub forgotten_at_or_before: i64,
}

/// Where a retried request with a known Idempotency-Key should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome {
    Created,
    Replayed { flag_id: String },
}

const FLAG_COLUMNS: &str = "id, member_id, subject_token, key_version, kind, consent_reference, \
     police_report_reference, created_at, expires_at, lifted_at";

fn flag_from(r: &sqlx::any::AnyRow) -> Result<FlagRow, sqlx::Error> {
    Ok(FlagRow {
        id: r.try_get("id")?,
        member_id: r.try_get("member_id")?,
        subject_token: r.try_get("subject_token")?,
        key_version: r.try_get("key_version")?,
        kind: r.try_get("kind")?,
        consent_reference: r.try_get("consent_reference")?,
        police_report_reference: r.try_get("police_report_reference")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        lifted_at: r.try_get("lifted_at")?,
    })
}

impl Store {
    /// Inserts a flag with its audit entry; with an idempotency record, the record, the
    /// flag and the entry commit together so a retry either finds all of them or none.
    pub async fn insert_flag(
        &self,
        flag: &NewFlag<'_>,
        idempotency: Option<&Idempotency<'_>>,
        audit: &AuditRow,
    ) -> Result<IdempotentOutcome, StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(idem) = idempotency {
            // A record past its TTL is forgotten even before housekeeping deletes it, so
            // the answer never depends on when the last retention pass ran.
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE member_id = $1 AND key_hash = $2 AND created_at <= $3",
            )
            .bind(flag.member_id)
            .bind(idem.key_hash)
            .bind(idem.forgotten_at_or_before)
            .execute(&mut *tx)
            .await?;
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (member_id, key_hash, fingerprint, flag_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(flag.member_id)
            .bind(idem.key_hash)
            .bind(idem.fingerprint)
            .bind(flag.id)
            .bind(flag.created_at)
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                if !is_unique_violation(&e) {
                    return Err(e.into());
                }
                drop(tx);
                return self.replay(flag.member_id, idem).await;
            }
        }
        sqlx::query(
            "INSERT INTO flags (id, member_id, subject_token, key_version, kind, consent_reference, \
             police_report_reference, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(flag.id)
        .bind(flag.member_id)
        .bind(flag.subject_token)
        .bind(flag.key_version)
        .bind(flag.kind)
        .bind(flag.consent_reference)
        .bind(flag.police_report_reference)
        .bind(flag.created_at)
        .bind(flag.expires_at)
        .execute(&mut *tx)
        .await?;
        append_in(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await?;
        Ok(IdempotentOutcome::Created)
    }

    async fn replay(
        &self,
        member_id: i64,
        idem: &Idempotency<'_>,
    ) -> Result<IdempotentOutcome, StoreError> {
        let row = sqlx::query(
            "SELECT fingerprint, flag_id FROM idempotency_keys WHERE member_id = $1 AND key_hash = $2",
        )
        .bind(member_id)
        .bind(idem.key_hash)
        .fetch_one(self.pool())
        .await?;
        let stored: Vec<u8> = row.try_get("fingerprint")?;
        if stored != idem.fingerprint {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was used with a different request body",
            ));
        }
        Ok(IdempotentOutcome::Replayed {
            flag_id: row.try_get("flag_id")?,
        })
    }

    /// A flag as seen by one member: other members' flags do not exist for it.
    pub async fn member_flag(&self, member_id: i64, id: &str) -> Result<FlagRow, StoreError> {
        let sql = format!("SELECT {FLAG_COLUMNS} FROM flags WHERE id = $1 AND member_id = $2");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(member_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(flag_from(&row)?)
    }

    /// Lifts an active flag, committing the audit entry `audit(flag)` with the change.
    /// Lifting twice is harmless: it reports the first lift time and writes nothing.
    pub async fn lift_flag(
        &self,
        member_id: i64,
        id: &str,
        now: i64,
        audit: impl FnOnce(&FlagRow) -> AuditRow,
    ) -> Result<(FlagRow, bool), StoreError> {
        let flag = self.member_flag(member_id, id).await?;
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE flags SET lifted_at = $1 WHERE id = $2 AND member_id = $3 AND lifted_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        let lifted = done.rows_affected() == 1;
        if lifted {
            append_in(&mut tx, &[audit(&flag)]).await?;
        }
        tx.commit().await?;
        Ok((self.member_flag(member_id, id).await?, lifted))
    }
}

/// How many tokens go into one IN-list.
const TOKENS_PER_QUERY: usize = 500;

/// Active flags (not lifted, not expired at `now`) for any of the given tokens, read on
/// the caller's connection: the audit writer runs it inside its transaction, so the
/// answer a member gets and the outcome its audit entry records come from one snapshot.
pub(crate) async fn active_flags_in(
    conn: &mut sqlx::AnyConnection,
    tokens: &[&[u8]],
    now: i64,
) -> Result<Vec<FlagRow>, StoreError> {
    let backend = backend_of(conn);
    let mut out = Vec::new();
    for chunk in tokens.chunks(TOKENS_PER_QUERY) {
        let sql = format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE expires_at > {} AND lifted_at IS NULL \
             AND subject_token IN ({}) ORDER BY created_at, id",
            // One placeholder style per statement: sqlx-sqlite numbers anonymous `?`
            // independently of `$n`, so mixing them binds the wrong values.
            placeholders(backend, 1, 1),
            placeholders(backend, 2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(now);
        for t in chunk {
            q = q.bind(*t);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(flag_from(&row)?);
        }
    }
    Ok(out)
}
