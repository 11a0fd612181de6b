//! Web sessions. The id is never stored, only its hash; rules (timeouts, rotation) are
//! in `web::session`.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::clock::to_millis;
use sqlx::AssertSqlSafe;

/// One stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id_hash: Vec<u8>,
    pub person_token: Option<Vec<u8>>,
    pub key_version: Option<i64>,
    pub display_name: Option<String>,
    pub pending: Option<String>,
    pub notice: Option<String>,
    /// An agent console session: the enrolled agent who logged in.
    pub agent_id: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
}

const COLUMNS: &str = "id_hash, person_token, key_version, display_name, pending, notice, \
     agent_id, created_at, last_seen_at";

impl Store {
    pub async fn insert_session(&self, row: &SessionRow) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO web_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(row.id_hash.as_slice())
        .bind(row.person_token.as_deref())
        .bind(row.key_version)
        .bind(row.display_name.as_deref())
        .bind(row.pending.as_deref())
        .bind(row.notice.as_deref())
        .bind(row.agent_id.as_deref())
        .bind(row.created_at)
        .bind(row.last_seen_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM web_sessions WHERE id_hash = $1"
        )))
        .bind(id_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records activity (the idle timeout counts from here).
    pub async fn touch_session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(to_millis(now))
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets (or clears) the BankID order in progress.
    pub async fn set_session_pending(
        &self,
        id_hash: &[u8],
        pending: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET pending = $1 WHERE id_hash = $2")
            .bind(pending)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Clears the order in progress only if it is still `expected`: of two requests
    /// that saw the same completed order, one acts on it.
    pub async fn take_session_pending(
        &self,
        id_hash: &[u8],
        expected: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET pending = NULL WHERE id_hash = $1 AND pending = $2",
        )
        .bind(id_hash)
        .bind(expected)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or clears) the one-time notice shown on the next page.
    pub async fn set_session_notice(
        &self,
        id_hash: &[u8],
        notice: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET notice = $1 WHERE id_hash = $2")
            .bind(notice)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Housekeeping: sessions idle since `idle_before` or created before
    /// `created_before` can no longer be used.
    pub async fn delete_ended_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM web_sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(to_millis(idle_before))
                .bind(to_millis(created_before))
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
