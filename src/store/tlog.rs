//! Merkle tree nodes, the log head and signed checkpoints.

use std::collections::HashMap;

use super::audit::audit_index;
use super::{Backend, Store, StoreError};
use crate::tlog::{Hash, NodeId};
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckpointRow {
    pub size: i64,
    pub root: Vec<u8>,
    pub note: String,
    pub created_at: i64,
}

/// How many node ids go into one lookup statement.
const NODES_PER_QUERY: usize = 200;

impl Store {
    pub async fn tree_size(&self) -> Result<u64, StoreError> {
        let (size,): (i64,) = sqlx::query_as("SELECT size FROM tlog_state WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        u64::try_from(size).map_err(|_| StoreError::corrupt("negative tree size"))
    }

    /// Fetches the given stored perfect-subtree hashes; missing ones are simply absent.
    /// Levels 1 to 3 are not stored: `audit::log::tree_nodes` rebuilds them from leaves.
    pub async fn tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(NODES_PER_QUERY) {
            // Anonymous `?` on SQLite, as everywhere else: sqlx resolves a named `$n` there
            // with a linear scan per parameter (see `placeholders`).
            let cond = (0..chunk.len())
                .map(|i| match self.backend() {
                    Backend::Sqlite => "(level = ? AND idx = ?)".to_string(),
                    Backend::Postgres => {
                        format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2)
                    }
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!("SELECT level, idx, hash FROM tlog_nodes WHERE {cond}");
            let mut q = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(i64::from(id.level)).bind(audit_index(id.index)?);
            }
            for (level, idx, hash) in q.fetch_all(self.pool()).await? {
                let id = NodeId {
                    level: u8::try_from(level).map_err(|_| StoreError::corrupt("node level"))?,
                    index: u64::try_from(idx).map_err(|_| StoreError::corrupt("node index"))?,
                };
                let hash = Hash::from_slice(&hash)
                    .map_err(|e| StoreError::corrupt_because("node hash", e))?;
                out.insert(id, hash);
            }
        }
        self.leaf_hashes(ids, &mut out).await?;
        Ok(out)
    }

    /// Adds the leaf hashes among `ids` written in their entry's row (since migration 0012),
    /// over any level-0 row of `tlog_nodes` for the same leaf: the entry's own column wins,
    /// as it does where entries are listed, so a proof and a listing never disagree.
    async fn leaf_hashes(
        &self,
        ids: &[NodeId],
        out: &mut HashMap<NodeId, Hash>,
    ) -> Result<(), StoreError> {
        let leaves = ids
            .iter()
            .filter(|id| id.level == 0)
            .map(|id| audit_index(id.index))
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in leaves.chunks(NODES_PER_QUERY) {
            let sql = format!(
                "SELECT leaf_index, leaf_hash FROM audit_log \
                 WHERE leaf_hash IS NOT NULL AND leaf_index IN ({})",
                super::placeholders(self.backend(), 1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(AssertSqlSafe(sql));
            for index in chunk {
                q = q.bind(*index);
            }
            for (index, hash) in q.fetch_all(self.pool()).await? {
                let index = u64::try_from(index).map_err(|_| StoreError::corrupt("leaf index"))?;
                let hash = Hash::from_slice(&hash)
                    .map_err(|e| StoreError::corrupt_because("leaf hash", e))?;
                out.insert(NodeId::leaf(index), hash);
            }
        }
        Ok(())
    }

    /// Stores a checkpoint; a concurrent instance may have signed the same size first,
    /// in which case its note is kept and returned.
    pub async fn insert_checkpoint(&self, cp: &CheckpointRow) -> Result<CheckpointRow, StoreError> {
        sqlx::query(
            "INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size)
        .bind(cp.root.as_slice())
        .bind(cp.note.as_str())
        .bind(cp.created_at)
        .execute(self.pool())
        .await?;
        self.checkpoint_at(cp.size)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn checkpoint_at(&self, size: i64) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT size, root, note, created_at FROM tlog_checkpoints WHERE size = $1",
        )
        .bind(size)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT size, root, note, created_at FROM tlog_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT size, root, note, created_at FROM tlog_checkpoints ORDER BY size",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
