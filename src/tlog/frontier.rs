//! Compact frontier: the roots of the perfect subtrees that make up `[0, size)` (the compact range
//! of the whole log). It is all an appender needs to extend the tree and compute the root, so the
//! cost of an append never depends on how many entries the log already holds.

use std::marker::PhantomData;

use super::hash::{HASH_LEN, Hash, TreeHash};
use super::node::{NodeId, NodeLookup, fold_cover};
use super::proof::{ProofError, root_nodes};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    #[error("frontier bytes are too short")]
    Truncated,
    #[error("frontier for size {size} needs {expected} hashes, found {found}")]
    HashCount {
        size: u64,
        expected: usize,
        found: usize,
    },
    #[error("log is full")]
    Full,
}

/// Frontier of a log hashed with `H`. The hash type parameter prevents feeding BLAKE3 nodes to a
/// SHA-256 frontier by mistake.
pub struct Frontier<H> {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first; one per set bit of `size`.
    hashes: Vec<Hash>,
    _hash: PhantomData<fn() -> H>,
}

// Manual impls: derives would needlessly require `H: Clone/Debug/PartialEq`.
impl<H> Clone for Frontier<H> {
    fn clone(&self) -> Self {
        Self {
            size: self.size,
            hashes: self.hashes.clone(),
            _hash: PhantomData,
        }
    }
}

impl<H> std::fmt::Debug for Frontier<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontier")
            .field("size", &self.size)
            .field("hashes", &self.hashes)
            .finish()
    }
}

impl<H> PartialEq for Frontier<H> {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.hashes == other.hashes
    }
}

impl<H> Eq for Frontier<H> {}

impl<H> Default for Frontier<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> Frontier<H> {
    pub const fn new() -> Self {
        Self {
            size: 0,
            hashes: Vec::new(),
            _hash: PhantomData,
        }
    }

    /// Rebuild from stored parts, checking that the hash count matches the size.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierError::HashCount {
                size,
                expected,
                found: hashes.len(),
            });
        }
        Ok(Self {
            size,
            hashes,
            _hash: PhantomData,
        })
    }

    /// Rebuild from perfect nodes fetched by [`root_nodes`] (e.g. after losing the cached row).
    pub fn from_nodes(size: u64, nodes: &impl NodeLookup) -> Result<Self, ProofError> {
        let hashes = root_nodes(size)
            .into_iter()
            .map(|id| nodes.node(id).ok_or(ProofError::MissingNode(id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            size,
            hashes,
            _hash: PhantomData,
        })
    }

    pub const fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Node ids of [`Self::hashes`], in the same order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        root_nodes(self.size)
    }

    /// `size` as big-endian u64 followed by the hashes: fits one database row.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.hashes.len() * HASH_LEN);
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h.as_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrontierError> {
        let (size_bytes, rest) = bytes
            .split_first_chunk::<8>()
            .ok_or(FrontierError::Truncated)?;
        let size = u64::from_be_bytes(*size_bytes);
        let (chunks, tail) = rest.as_chunks::<HASH_LEN>();
        if !tail.is_empty() {
            return Err(FrontierError::Truncated);
        }
        Self::from_parts(size, chunks.iter().map(|c| Hash(*c)).collect())
    }
}

impl<H: TreeHash> Frontier<H> {
    /// Root of the current tree, O(log n).
    pub fn root(&self) -> Hash {
        fold_cover::<H>(&self.hashes).unwrap_or_else(H::empty)
    }

    /// Append a leaf hash. Returns every perfect node completed by this leaf, starting with the
    /// leaf itself at level 0, so the caller can persist them; amortised one node per append.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<(NodeId, Hash)>, FrontierError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(FrontierError::Full)?;
        let mut completed = vec![(NodeId::leaf(index), leaf)];
        let mut acc = leaf;
        let mut level = 0u8;
        // Each set low bit of the old size is a left sibling waiting for exactly this subtree.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // Unreachable while the count invariant holds; refuse rather than corrupt.
                return Err(FrontierError::HashCount {
                    size: self.size,
                    expected: self.size.count_ones() as usize,
                    found: self.hashes.len(),
                });
            };
            acc = H::node(&left, &acc);
            level += 1;
            completed.push((NodeId::new(level, index >> level), acc));
        }
        self.hashes.push(acc);
        self.size = new_size;
        Ok(completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::{Blake3, tree::root_from_leaves};

    #[test]
    fn append_emits_completed_nodes() -> Result<(), FrontierError> {
        let mut f = Frontier::<Blake3>::new();
        let leaves: Vec<Hash> = (0u8..4).map(|i| Blake3::leaf(&[i])).collect();
        assert_eq!(f.append(leaves[0])?.len(), 1);
        let two = f.append(leaves[1])?;
        assert_eq!(two[1].0, NodeId::new(1, 0));
        assert_eq!(f.append(leaves[2])?.len(), 1);
        let four = f.append(leaves[3])?;
        assert_eq!(
            four.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![NodeId::leaf(3), NodeId::new(1, 1), NodeId::new(2, 0)]
        );
        assert_eq!(four[2].1, root_from_leaves::<Blake3>(&leaves));
        assert_eq!(f.root(), root_from_leaves::<Blake3>(&leaves));
        Ok(())
    }

    #[test]
    fn bytes_round_trip_and_validation() -> Result<(), FrontierError> {
        let mut f = Frontier::<Blake3>::new();
        assert_eq!(f.root(), Blake3::empty());
        for i in 0u32..11 {
            f.append(Blake3::leaf(&i.to_be_bytes()))?;
        }
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), 8 + 3 * HASH_LEN);
        assert_eq!(Frontier::<Blake3>::from_bytes(&bytes)?, f);
        assert_eq!(
            Frontier::<Blake3>::from_bytes(&bytes[..bytes.len() - 1]),
            Err(FrontierError::Truncated)
        );
        assert!(Frontier::<Blake3>::from_bytes(&bytes[..8 + HASH_LEN]).is_err());
        assert_eq!(
            Frontier::<Blake3>::from_bytes(&[0; 4]),
            Err(FrontierError::Truncated)
        );
        Ok(())
    }
}
