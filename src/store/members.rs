//! Members and their API keys.

use sqlx::Row;

use super::{Store, StoreError, is_unique_violation};

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub status: String,
    pub rate_per_second: i64,
    pub burst: i64,
    pub created_at: i64,
    /// Distinct personal numbers per UTC day; `None` means the configured default.
    pub daily_subject_budget: Option<i64>,
    /// How often the sweep detector has tripped, and when it last did.
    pub sweep_events: i64,
    pub last_sweep_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: String,
    pub member_id: i64,
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
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
     daily_subject_budget, sweep_events, last_sweep_at";

/// An update that touched no row means the thing did not exist.
fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn member_from(row: &sqlx::any::AnyRow) -> Result<MemberRow, sqlx::Error> {
    Ok(MemberRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        status: row.try_get("status")?,
        rate_per_second: row.try_get("rate_per_second")?,
        burst: row.try_get("burst")?,
        created_at: row.try_get("created_at")?,
        daily_subject_budget: row.try_get("daily_subject_budget")?,
        sweep_events: row.try_get("sweep_events")?,
        last_sweep_at: row.try_get("last_sweep_at")?,
    })
}

impl Store {
    pub async fn insert_member(
        &self,
        name: &str,
        display_name: &str,
        rate_per_second: i64,
        burst: i64,
        now: i64,
    ) -> Result<MemberRow, StoreError> {
        let sql = format!(
            "INSERT INTO members (name, display_name, status, rate_per_second, burst, created_at) \
             VALUES ($1, $2, 'active', $3, $4, $5) RETURNING {MEMBER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(display_name)
            .bind(rate_per_second)
            .bind(burst)
            .bind(now)
            .fetch_one(self.pool())
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a member with this name already exists")
                } else {
                    e.into()
                }
            })?;
        Ok(member_from(&row)?)
    }

    pub async fn list_members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(member_from).collect::<Result<_, _>>()?)
    }

    pub async fn member(&self, id: i64) -> Result<MemberRow, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(member_from(&row)?)
    }

    pub async fn set_member_status(&self, id: i64, status: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE members SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }

    pub async fn set_member_quota(&self, id: i64, rate: i64, burst: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE members SET rate_per_second = $1, burst = $2 WHERE id = $3")
            .bind(rate)
            .bind(burst)
            .bind(id)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
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
        found(done.rows_affected())
    }

    pub async fn record_sweep(&self, id: i64, at: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE members SET sweep_events = sweep_events + 1, last_sweep_at = $1 WHERE id = $2",
        )
        .bind(at)
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
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, member_id, secret_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(member_id)
        .bind(secret_hash)
        .bind(scopes)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self, member_id: i64) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, member_id, scopes, created_at, revoked_at FROM api_keys \
             WHERE member_id = $1 ORDER BY created_at, id",
        )
        .bind(member_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyRow {
                    id: r.try_get("id")?,
                    member_id: r.try_get("member_id")?,
                    scopes: r.try_get("scopes")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_api_key(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn auth_lookup(&self, key_id: &str) -> Result<Option<AuthRow>, StoreError> {
        let row = sqlx::query(
            "SELECT k.id AS key_id, k.secret_hash, k.scopes, k.revoked_at, \
                    m.id, m.name, m.display_name, m.status, m.rate_per_second, m.burst, m.created_at, \
                    m.daily_subject_budget, m.sweep_events, m.last_sweep_at \
             FROM api_keys k JOIN members m ON m.id = k.member_id WHERE k.id = $1",
        )
        .bind(key_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        Ok(Some(AuthRow {
            key_id: row.try_get("key_id")?,
            secret_hash: row.try_get("secret_hash")?,
            scopes: row.try_get("scopes")?,
            revoked: revoked_at.is_some(),
            member: member_from(&row)?,
        }))
    }
}
