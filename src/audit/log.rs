//! The audit log as a verifiable Merkle tree: signed checkpoints and proofs.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::to_millis;
use crate::store::{CheckpointRow, Store, StoreError, audit_index};
use crate::tlog::{
    Blake3, Checkpoint, CheckpointError, Hash, NodeId, NoteSigner, NoteVerifier, ProofError,
    TreeHash, consistency_proof, consistency_proof_nodes, inclusion_proof, inclusion_proof_nodes,
    root_hash, root_nodes, stored,
};

/// The hashes of tree nodes `ids`: stored ones as read, the others rebuilt from their
/// leaves (read in the same store call). Every reader of tree nodes goes through here.
pub(crate) async fn tree_nodes(
    store: &Store,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let mut nodes = store.tree_nodes(&stored::to_read(ids)).await?;
    stored::rebuild::<Blake3>(ids, &mut nodes);
    Ok(nodes)
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A requested index or size the log cannot prove; `field` is the request parameter
    /// at fault.
    #[error("{field}: {why}")]
    BadRange { field: &'static str, why: String },
    #[error("the stored tree cannot answer")]
    Tree(#[from] ProofError),
    #[error("the checkpoint cannot be signed")]
    Sign(#[from] CheckpointError),
}

fn bad_range(field: &'static str, why: impl ToString) -> LogError {
    LogError::BadRange {
        field,
        why: why.to_string(),
    }
}

/// Handle on the log: where checkpoints are signed and proofs assembled.
#[derive(Clone, Debug)]
pub struct AuditLog {
    store: Store,
    signer: Arc<NoteSigner>,
    origin: String,
}

impl AuditLog {
    pub fn new(store: Store, signer: NoteSigner, origin: String) -> Self {
        Self {
            store,
            signer: Arc::new(signer),
            origin,
        }
    }

    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The newest stored checkpoint; never signs.
    pub async fn latest(&self) -> Result<Option<CheckpointRow>, LogError> {
        Ok(self.store.latest_checkpoint().await?)
    }

    /// The size of the newest checkpoint that covers `leaf_index`, signing a new one only
    /// when none does yet (for authenticated proof requests).
    pub async fn covering(&self, leaf_index: u64, now: DateTime<Utc>) -> Result<u64, LogError> {
        if let Some(latest) = self.latest().await?
            && let Ok(size) = u64::try_from(latest.size)
            && size > leaf_index
        {
            return Ok(size);
        }
        let signed = self.checkpoint(now).await?;
        Ok(u64::try_from(signed.size).unwrap_or(0))
    }

    /// The newest checkpoint, signing a new one first if the tree has grown since.
    pub async fn checkpoint(&self, now: DateTime<Utc>) -> Result<CheckpointRow, LogError> {
        let size = self.store.tree_size().await?;
        if let Some(latest) = self.store.latest_checkpoint().await?
            && u64::try_from(latest.size).ok() == Some(size)
        {
            return Ok(latest);
        }
        let root = self.root(size).await?;
        let note = Checkpoint::new(self.origin.clone(), size, root).sign(&self.signer)?;
        let row = CheckpointRow {
            size: audit_index(size)?,
            root: root.0.to_vec(),
            note,
            created_at: to_millis(now),
        };
        Ok(self.store.insert_checkpoint(&row).await?)
    }

    /// Root hash of the first `size` entries, from O(log n) stored nodes.
    pub async fn root(&self, size: u64) -> Result<Hash, LogError> {
        if size == 0 {
            return Ok(Blake3::empty());
        }
        let nodes = tree_nodes(&self.store, &root_nodes(size)).await?;
        Ok(root_hash::<Blake3>(size, &nodes)?)
    }

    pub async fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size("tree_size", size).await?;
        if index >= size {
            return Err(bad_range("tree_size", "must be above leaf_index"));
        }
        let ids = inclusion_proof_nodes(index, size).map_err(|e| bad_range("tree_size", e))?;
        let nodes = tree_nodes(&self.store, &ids).await?;
        Ok(inclusion_proof::<Blake3>(index, size, &nodes)?)
    }

    pub async fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size("to", new).await?;
        if old > new {
            return Err(bad_range("from", "must not exceed to"));
        }
        let ids = consistency_proof_nodes(old, new).map_err(|e| bad_range("from", e))?;
        let nodes = tree_nodes(&self.store, &ids).await?;
        Ok(consistency_proof::<Blake3>(old, new, &nodes)?)
    }

    async fn check_size(&self, field: &'static str, size: u64) -> Result<(), LogError> {
        let current = self.store.tree_size().await?;
        if size > current {
            return Err(bad_range(field, format!("exceeds the log size {current}")));
        }
        Ok(())
    }

    /// Retention: personal-data fields of entries older than `days` are cleared.
    pub async fn apply_retention(&self, now: DateTime<Utc>, days: u32) -> Result<u64, LogError> {
        let cutoff = now - chrono::Duration::days(i64::from(days));
        Ok(self.store.redact_audit_before(cutoff).await?)
    }
}
