//! What the hub holds about one person, found by their token: the audit entries about
//! them ("who checked me"). Their flags are in `flags.rs`.

use super::audit::{ENTRY_FIELDS, EntryRecord};
use super::{Store, StoreError, StoredEntry};
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct NamedEntryRecord {
    #[sqlx(flatten)]
    entry: EntryRecord,
    member_name: Option<String>,
}

impl Store {
    /// Entries about `subject` with a leaf index below `before`, newest (last appended) first, each with
    /// the display name of the member it belongs to. Served by the `(subject_token, leaf_index)`
    /// index; redacted entries no longer carry the token and drop out.
    ///
    /// Without leaf hashes ([`Store::tree_nodes`] has them): at 100 M entries the log is larger
    /// than memory and a person's entries lie on random pages, so each page this query reads
    /// is a likely disk read, and the tree's join cost two more per entry.
    pub async fn subject_entries(
        &self,
        subject: &[Token],
        before: i64,
        limit: i64,
    ) -> Result<Vec<(StoredEntry, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_FIELDS}, m.display_name AS member_name FROM audit_log a \
             LEFT JOIN members m ON m.id = a.member_id \
             WHERE a.leaf_index < $1 AND a.subject_token IN ({}) \
             ORDER BY a.leaf_index DESC LIMIT $2",
            super::numbered(3, subject.len())
        );
        // `$2` (the limit) is bound before the tokens `$3…`: placeholders bind in number
        // order on both engines.
        let mut q = sqlx::query_as::<_, NamedEntryRecord>(AssertSqlSafe(sql))
            .bind(before)
            .bind(limit);
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|r| (StoredEntry::from(r.entry), r.member_name))
            .collect())
    }
}
