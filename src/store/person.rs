//! What the hub holds about one person, found by their token: the audit entries about
//! them ("who checked me"). Their flags are in `flags.rs`.

use chrono::{DateTime, Utc};

use super::audit::{Undecodable, decode_actor, field};
use super::{Store, StoreError};
use crate::audit::entry::{Action, Actor, Outcome, Purpose};
use crate::clock::from_millis;
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

/// One audited event about a person, as "who checked me" shows it.
#[derive(Debug, Clone)]
pub struct SubjectLookup {
    pub leaf_index: i64,
    pub at: DateTime<Utc>,
    /// The member it was, or `None` for the person's own action or an operator's.
    pub member_name: Option<String>,
    pub actor: Actor,
    pub action: Action,
    pub purpose: Option<Purpose>,
    pub outcome: Outcome,
}

/// What the page reads: the member's name, and columns the `audit_log_subject` index
/// carries (migration 0011).
#[derive(sqlx::FromRow)]
struct LookupRecord {
    leaf_index: i64,
    at: i64,
    actor: Option<String>,
    action: String,
    purpose: Option<String>,
    outcome: String,
    member_name: Option<String>,
}

impl TryFrom<LookupRecord> for SubjectLookup {
    type Error = Undecodable;

    fn try_from(r: LookupRecord) -> Result<Self, Undecodable> {
        Ok(SubjectLookup {
            leaf_index: r.leaf_index,
            at: from_millis(r.at),
            member_name: r.member_name,
            actor: decode_actor(r.actor.as_deref())?,
            action: field(&r.action, "action")?,
            purpose: r
                .purpose
                .as_deref()
                .map(|p| field(p, "purpose"))
                .transpose()?,
            outcome: field(&r.outcome, "outcome")?,
        })
    }
}

fn lookups_sql(segments: usize, tokens: usize) -> String {
    format!(
        "SELECT a.leaf_index, a.at, a.actor, a.action, a.purpose, a.outcome, \
         m.display_name AS member_name FROM audit_log a \
         LEFT JOIN members m ON m.id = a.member_id \
         WHERE {} IN ({}) AND a.subject_token IN ({}) AND a.leaf_index < $1 \
         ORDER BY a.leaf_index DESC LIMIT $2",
        super::segments::segment_expr("a.leaf_index"),
        super::numbered(3, segments),
        super::numbered(3 + segments, tokens)
    )
}

impl Store {
    /// Entries about `subject` in the given segments with a leaf index below `before`,
    /// newest (last appended) first, each with the display name of the member it belongs
    /// to. Redacted entries no longer carry the token and drop out. Which segments to ask
    /// is `audit::segments::lookups`' choice.
    ///
    /// Answered from the `audit_log_subject` index alone, which carries every column read
    /// here: at 100 M entries the log is larger than memory and a person's entries lie on
    /// random pages of it, so each row fetched from the table (and each leaf hash from the
    /// tree, which the export reads with [`Store::tree_nodes`]) would be a disk read.
    pub async fn subject_lookups(
        &self,
        subject: &[Token],
        segments: &[i64],
        before: i64,
        limit: i64,
    ) -> Result<Vec<SubjectLookup>, StoreError> {
        if segments.is_empty() || subject.is_empty() {
            return Ok(Vec::new());
        }
        let sql = lookups_sql(segments.len(), subject.len());
        // `$2` (the limit) is bound before the segments and tokens `$3…`: placeholders
        // bind in number order on both engines.
        let mut q = sqlx::query_as::<_, LookupRecord>(AssertSqlSafe(sql))
            .bind(before)
            .bind(limit);
        for s in segments {
            q = q.bind(*s);
        }
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        q.fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|r| {
                SubjectLookup::try_from(r)
                    .map_err(|e| StoreError::corrupt_because("audit entry", e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column added to the page's query but not to the index would send every row back
    /// to the table: on a log larger than memory, a disk read per entry (docs/benchmarks.md,
    /// "Who checked me at 100 M"). SQLite's plan names the index it reads alone.
    #[tokio::test]
    async fn who_checked_me_is_read_from_the_subject_index_alone()
    -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::connect("sqlite::memory:", 1).await?;
        store.migrate().await?;
        for (segments, tokens) in [(1, 1), (1, 2), (16, 2)] {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {}",
                lookups_sql(segments, tokens)
            )))
            .fetch_all(store.pool())
            .await?;
            let audit_log = plan
                .iter()
                .map(|(_, _, _, detail)| detail.as_str())
                .find(|d| d.contains(" a "))
                .ok_or("no step reads audit_log")?;
            assert!(
                audit_log.starts_with("SEARCH a USING COVERING INDEX audit_log_subject"),
                "with {segments} segment(s) and {tokens} token(s) the plan reads audit_log \
                 as: {audit_log}"
            );
        }
        Ok(())
    }
}
