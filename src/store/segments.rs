//! The subject index's segment filters as stored (migration 0015); what they are and
//! when they are built is `audit::segments`'.

use sqlx::AssertSqlSafe;

use super::{Store, StoreError};
use crate::audit::segments::{FilterCache, SEGMENT_BITS};

/// The index's leading expression, spelt as migration 0015 spells it so that both
/// engines' planners recognise it.
pub(super) fn segment_expr(column: &str) -> String {
    format!("({column} >> {SEGMENT_BITS})")
}

impl Store {
    pub fn filter_cache(&self) -> &FilterCache {
        &self.filters
    }

    /// The log's size, and every stored filter's segment and generation: what a lookup
    /// reads before its probes, in one statement (one round trip on PostgreSQL).
    pub async fn segment_filters(&self) -> Result<(i64, Vec<(i64, i64)>), StoreError> {
        let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT s.size, f.segment, f.generation FROM tlog_state s \
             LEFT JOIN audit_subject_filters f ON 1 = 1 WHERE s.id = 1",
        )
        .fetch_all(self.pool())
        .await?;
        let size = rows
            .first()
            .map(|r| r.0)
            .ok_or(StoreError::corrupt("no tree state"))?;
        let filters = rows
            .into_iter()
            .filter_map(|(_, segment, generation)| Some((segment?, generation?)))
            .collect();
        Ok((size, filters))
    }

    /// The filter of `segment` if it is still the one built at `generation`.
    pub async fn segment_filter(
        &self,
        segment: i64,
        generation: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT bits FROM audit_subject_filters WHERE segment = $1 AND generation = $2",
        )
        .bind(segment)
        .bind(generation)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(bits,)| bits))
    }

    pub async fn subject_index_generation(&self) -> Result<i64, StoreError> {
        let (g,): (i64,) =
            sqlx::query_as("SELECT generation FROM audit_subject_state WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        Ok(g)
    }

    /// The subject tokens in one segment, read from the index (in its order, so one
    /// contiguous range of it).
    pub async fn segment_tokens(&self, segment: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let sql = format!(
            "SELECT subject_token FROM audit_log WHERE {} = $1 AND subject_token IS NOT NULL",
            segment_expr("leaf_index")
        );
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(segment)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// Stores a filter built from tokens read at `generation`; `false`, storing nothing,
    /// if the generation has moved on since. The generation's row is locked first, so
    /// a rotation's batch either commits before (and this sees the new generation) or
    /// waits, and then deletes this filter with the segments it re-keyed.
    pub async fn insert_segment_filter(
        &self,
        segment: i64,
        generation: i64,
        bits: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let current = sqlx::query(
            "UPDATE audit_subject_state SET generation = generation \
             WHERE id = 1 AND generation = $1",
        )
        .bind(generation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if current == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO audit_subject_filters (segment, generation, bits) VALUES ($1, $2, $3) \
             ON CONFLICT (segment) DO NOTHING",
        )
        .bind(segment)
        .bind(generation)
        .bind(bits.to_vec())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// For key rotation: after re-keying the audit entries between leaves `first` and
/// `last` (inclusive), in the same transaction. The generation moves on first, so a
/// filter being built from the old tokens is refused, and the filters of the touched
/// segments go.
pub(super) async fn forget_filters(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    first: i64,
    last: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_subject_state SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM audit_subject_filters WHERE segment >= $1 AND segment <= $2")
        .bind(crate::audit::segments::segment_of(first))
        .bind(crate::audit::segments::segment_of(last))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard of the race between building a filter and a rotation: a rotation batch
    /// deletes the filters of the segments it re-keyed, and a filter built from tokens
    /// read before that batch (at the older generation) is refused.
    #[tokio::test]
    async fn a_rotation_batch_drops_its_segments_filters_and_refuses_ones_read_before_it()
    -> Result<(), Box<dyn std::error::Error>> {
        let store = Store::connect("sqlite::memory:", 1).await?;
        store.migrate().await?;
        let before = store.subject_index_generation().await?;
        assert!(store.insert_segment_filter(0, before, &[1, 0xff]).await?);
        assert!(store.insert_segment_filter(2, before, &[1, 0xff]).await?);

        let mut tx = store.pool().begin().await?;
        forget_filters(&mut tx, 5, (1 << SEGMENT_BITS) + 5).await?;
        tx.commit().await?;

        let (_, left) = store.segment_filters().await?;
        assert_eq!(left, vec![(2, before)], "segments 0 and 1 were re-keyed");
        assert!(!store.insert_segment_filter(1, before, &[1, 0xff]).await?);
        assert_eq!(store.segment_filters().await?.1.len(), 1, "nothing stored");
        let after = store.subject_index_generation().await?;
        assert!(after > before);
        assert!(store.insert_segment_filter(1, after, &[1, 0xff]).await?);
        Ok(())
    }
}
