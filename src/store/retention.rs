//! Deleting what the hub no longer needs to keep (docs/operations.md, "Retention").

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::clock::to_millis;
use sqlx::AssertSqlSafe;

/// Rows deleted per statement: a first pass after an upgrade may find millions of ended
/// flags, and one huge DELETE would hold SQLite's write lock (and stall the audit writer's
/// group commits) for its whole duration.
const PURGE_BATCH: i64 = 1000;

impl Store {
    /// Deletes flags that ended (expired or were lifted) before `ended_before`.
    /// Audit entries about them stay: they have their own retention.
    pub async fn purge_ended_flags(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
        // One statement per end condition, so each can use its own index.
        let mut purged = 0;
        for column in ["expires_at", "lifted_at"] {
            let sql = format!(
                "DELETE FROM flags WHERE id IN \
                 (SELECT id FROM flags WHERE {column} < $1 LIMIT $2)"
            );
            loop {
                let done = sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(to_millis(ended_before))
                    .bind(PURGE_BATCH)
                    .execute(self.pool())
                    .await?;
                purged += done.rows_affected();
                if done.rows_affected() < PURGE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// Deletes indicators that ended (expired or were revoked) before `ended_before`,
    /// with their sightings and false-positive reports.
    pub async fn purge_ended_indicators(
        &self,
        ended_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut purged = 0;
        for column in ["valid_until", "revoked_at"] {
            let ended = format!("SELECT id FROM indicators WHERE {column} < $1 LIMIT $2");
            loop {
                let mut tx = self.pool().begin().await?;
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM indicator_reports WHERE indicator_id IN ({ended})"
                )))
                .bind(to_millis(ended_before))
                .bind(PURGE_BATCH)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM indicators WHERE id IN ({ended})"
                )))
                .bind(to_millis(ended_before))
                .bind(PURGE_BATCH)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                purged += done.rows_affected();
                if done.rows_affected() < PURGE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// Deletes idempotency records created at or before `created_at_or_before`.
    pub async fn delete_idempotency_keys(
        &self,
        created_at_or_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
            .bind(to_millis(created_at_or_before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
