//! Audit entries. Written only by the group-commit writer in [`crate::audit`].

use sqlx::Row;

use super::{Store, StoreError, placeholders};

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
    pub request_id: String,
}

const COLUMNS: usize = 9;
/// Keeps each multi-row INSERT well under SQLite's and PostgreSQL's bind limits.
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// Commits a batch of entries in one transaction: one disk sync for the lot.
    pub async fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * COLUMNS, COLUMNS)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO audit_log (at, member_id, key_id, action, purpose, subject_token, \
                 key_version, outcome, request_id) VALUES {values}"
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.at)
                    .bind(r.member_id)
                    .bind(r.key_id.as_deref())
                    .bind(r.action.as_str())
                    .bind(r.purpose.as_deref())
                    .bind(r.subject_token.as_deref())
                    .bind(r.key_version)
                    .bind(r.outcome.as_str())
                    .bind(r.request_id.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Entries about one subject, newest first: what the consumer will be shown.
    pub async fn audit_for_subject(&self, token: &[u8]) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, member_id, key_id, action, purpose, subject_token, key_version, outcome, request_id \
             FROM audit_log WHERE subject_token = $1 ORDER BY at DESC, id DESC",
        )
        .bind(token)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: r.try_get("at")?,
                    member_id: r.try_get("member_id")?,
                    key_id: r.try_get("key_id")?,
                    action: r.try_get("action")?,
                    purpose: r.try_get("purpose")?,
                    subject_token: r.try_get("subject_token")?,
                    key_version: r.try_get("key_version")?,
                    outcome: r.try_get("outcome")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_log")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}
