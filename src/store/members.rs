//! Members and their API keys.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, is_unique_violation};
use crate::clock::{from_millis, to_millis};
use crate::members::MemberStatus;
use crate::members::certs::CertPins;
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub status: MemberStatus,
    pub rate_per_second: i64,
    pub burst: i64,
    pub created_at: DateTime<Utc>,
    /// Distinct personal numbers per UTC day; `None` means the configured default.
    pub daily_subject_budget: Option<i64>,
    /// How often the sweep detector has tripped, and when it last did.
    pub sweep_events: i64,
    pub last_sweep_at: Option<DateTime<Utc>>,
    /// Client certificates the member's keys require (none: no requirement).
    pub cert_pins: CertPins,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: String,
    pub member_id: i64,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The stored columns of an API key (its secret's hash is only read to authenticate).
#[derive(sqlx::FromRow)]
struct ApiKeyRecord {
    id: String,
    member_id: i64,
    scopes: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<ApiKeyRecord> for ApiKeyRow {
    fn from(r: ApiKeyRecord) -> Self {
        ApiKeyRow {
            id: r.id,
            member_id: r.member_id,
            scopes: r.scopes,
            created_at: from_millis(r.created_at),
            revoked_at: r.revoked_at.map(from_millis),
        }
    }
}

/// Everything authentication needs, fetched in one round trip.
#[derive(Debug, Clone)]
pub struct AuthRow {
    pub key_id: String,
    pub secret_hash: Vec<u8>,
    pub scopes: String,
    pub revoked: bool,
    pub member: MemberRow,
}

const MEMBER_COLUMNS: &str = "id, name, display_name, status, rate_per_second, burst, created_at, \
     daily_subject_budget, sweep_events, last_sweep_at, client_cert_pins";

/// An update that touched no row means the thing did not exist.
fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The stored columns of a member.
#[derive(sqlx::FromRow)]
struct MemberRecord {
    id: i64,
    name: String,
    display_name: String,
    status: String,
    rate_per_second: i64,
    burst: i64,
    created_at: i64,
    daily_subject_budget: Option<i64>,
    sweep_events: i64,
    last_sweep_at: Option<i64>,
    client_cert_pins: String,
}

impl TryFrom<MemberRecord> for MemberRow {
    type Error = StoreError;

    fn try_from(r: MemberRecord) -> Result<Self, StoreError> {
        Ok(MemberRow {
            status: r
                .status
                .parse()
                .map_err(|e| StoreError::corrupt_because("member status", e))?,
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            rate_per_second: r.rate_per_second,
            burst: r.burst,
            created_at: from_millis(r.created_at),
            daily_subject_budget: r.daily_subject_budget,
            sweep_events: r.sweep_events,
            last_sweep_at: r.last_sweep_at.map(from_millis),
            cert_pins: CertPins::from_stored(&r.client_cert_pins)
                .map_err(|e| StoreError::corrupt_because("member certificate pins", e))?,
        })
    }
}

/// A key joined with its member: everything authentication needs.
#[derive(sqlx::FromRow)]
struct AuthRecord {
    key_id: String,
    secret_hash: Vec<u8>,
    scopes: String,
    revoked_at: Option<i64>,
    #[sqlx(flatten)]
    member: MemberRecord,
}

impl Store {
    pub async fn insert_member(
        &self,
        name: &str,
        display_name: &str,
        rate_per_second: i64,
        burst: i64,
        now: DateTime<Utc>,
    ) -> Result<MemberRow, StoreError> {
        let sql = format!(
            "INSERT INTO members (name, display_name, status, rate_per_second, burst, created_at) \
             VALUES ($1, $2, 'active', $3, $4, $5) RETURNING {MEMBER_COLUMNS}"
        );
        let row: MemberRecord = sqlx::query_as(AssertSqlSafe(sql))
            .bind(name)
            .bind(display_name)
            .bind(rate_per_second)
            .bind(burst)
            .bind(to_millis(now))
            .fetch_one(self.pool())
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a member with this name already exists")
                } else {
                    e.into()
                }
            })?;
        row.try_into()
    }

    pub async fn list_members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members ORDER BY id");
        let rows: Vec<MemberRecord> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(MemberRow::try_from).collect()
    }

    pub async fn member(&self, id: i64) -> Result<MemberRow, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = $1");
        let row: MemberRecord = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    pub async fn set_member_status(&self, id: i64, status: MemberStatus) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE members SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())?;
        self.announce_auth_change().await
    }

    pub async fn set_member_quota(&self, id: i64, rate: i64, burst: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE members SET rate_per_second = $1, burst = $2 WHERE id = $3")
            .bind(rate)
            .bind(burst)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())?;
        self.announce_auth_change().await
    }

    pub async fn set_member_subject_budget(
        &self,
        id: i64,
        per_day: Option<i64>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE members SET daily_subject_budget = $1 WHERE id = $2")
            .bind(per_day)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())?;
        self.announce_auth_change().await
    }

    /// Replaces a member's pinned client certificates; takes effect on every instance
    /// at once.
    pub async fn set_member_cert_pins(&self, id: i64, pins: &CertPins) -> Result<(), StoreError> {
        let stored = pins
            .to_stored()
            .map_err(|e| StoreError::corrupt_because("member certificate pins", e))?;
        let done = sqlx::query("UPDATE members SET client_cert_pins = $1 WHERE id = $2")
            .bind(stored)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())?;
        self.announce_auth_change().await
    }

    pub async fn record_sweep(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE members SET sweep_events = sweep_events + 1, last_sweep_at = $1 WHERE id = $2",
        )
        .bind(to_millis(at))
        .bind(id)
        .execute(self.pool())
        .await?;
        found(done.rows_affected())
    }

    pub async fn insert_api_key(
        &self,
        id: &str,
        member_id: i64,
        secret_hash: &[u8],
        scopes: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, member_id, secret_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(member_id)
        .bind(secret_hash)
        .bind(scopes)
        .bind(to_millis(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self, member_id: i64) -> Result<Vec<ApiKeyRow>, StoreError> {
        let records: Vec<ApiKeyRecord> = sqlx::query_as(
            "SELECT id, member_id, scopes, created_at, revoked_at FROM api_keys \
             WHERE member_id = $1 ORDER BY created_at, id",
        )
        .bind(member_id)
        .fetch_all(self.pool())
        .await?;
        Ok(records.into_iter().map(ApiKeyRow::from).collect())
    }

    pub async fn revoke_api_key(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(to_millis(now))
                .bind(id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.announce_auth_change().await
    }

    pub async fn auth_lookup(&self, key_id: &str) -> Result<Option<AuthRow>, StoreError> {
        let row: Option<AuthRecord> = sqlx::query_as(
            "SELECT k.id AS key_id, k.secret_hash, k.scopes, k.revoked_at, \
                    m.id, m.name, m.display_name, m.status, m.rate_per_second, m.burst, m.created_at, \
                    m.daily_subject_budget, m.sweep_events, m.last_sweep_at, m.client_cert_pins \
             FROM api_keys k JOIN members m ON m.id = k.member_id WHERE k.id = $1",
        )
        .bind(key_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AuthRow {
            key_id: row.key_id,
            secret_hash: row.secret_hash,
            scopes: row.scopes,
            revoked: row.revoked_at.is_some(),
            member: row.member.try_into()?,
        }))
    }
}
