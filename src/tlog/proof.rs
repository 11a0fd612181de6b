//! Storage-independent proof generation in two steps: first list the perfect nodes a proof needs
//! (so an async caller can fetch them in one query), then assemble the proof from those nodes.
//!
//! The recursion of RFC 6962 §2.1.1/§2.1.2 is walked top-down over leaf ranges; each range in the
//! result is either a perfect node or a right-edge range rebuilt from its perfect cover. That is
//! at most 64 ranges of at most 64 nodes each, independent of how the log is stored.

use std::collections::HashSet;
use std::ops::Range;

use super::hash::{Hash, TreeHash};
use super::node::{NodeId, NodeLookup, fold_cover, perfect_cover, split_point};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("node {0} is missing from the supplied nodes")]
    MissingNode(NodeId),
    #[error("tree size {0} does not fit in memory on this platform")]
    TooLarge(u64),
}

/// Leaf ranges whose hashes form the inclusion proof of `index` in a tree of `size`, in proof
/// order (sibling of the leaf first).
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            out.push(mid..hi);
            hi = mid;
        } else {
            out.push(lo..mid);
            lo = mid;
        }
    }
    out.reverse();
    Ok(out)
}

/// Leaf ranges whose hashes form the consistency proof from `old` to `new` (RFC 6962 §2.1.2
/// SUBPROOF), in proof order. Empty when `old` is 0 or equal to `new`.
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    let mut out = Vec::new();
    if old == 0 || old == new {
        return Ok(out);
    }
    let (mut lo, mut hi) = (0u64, new);
    // `complete` mirrors SUBPROOF's flag: true while the current subtree is the whole old tree's
    // ancestor path from the root, in which case the verifier already knows its hash.
    let mut complete = true;
    loop {
        if old == hi {
            if !complete {
                out.push(lo..hi);
            }
            break;
        }
        let mid = lo + split_point(hi - lo);
        if old <= mid {
            out.push(mid..hi);
            hi = mid;
        } else {
            out.push(lo..mid);
            lo = mid;
            complete = false;
        }
    }
    out.reverse();
    Ok(out)
}

fn nodes_for(ranges: &[Range<u64>]) -> Vec<NodeId> {
    let mut seen = HashSet::new();
    ranges
        .iter()
        .flat_map(|r| perfect_cover(r.clone()))
        .filter(|id| seen.insert(*id))
        .collect()
}

fn assemble<H: TreeHash>(
    ranges: &[Range<u64>],
    nodes: &impl NodeLookup,
) -> Result<Vec<Hash>, ProofError> {
    ranges
        .iter()
        .map(|r| range_hash::<H>(r.clone(), nodes))
        .collect()
}

/// Hash of an RFC 6962 subtree `[start, end)` (aligned to a power of two at least its length, or
/// a right-edge range of the tree) from prefetched perfect nodes.
pub fn range_hash<H: TreeHash>(
    range: Range<u64>,
    nodes: &impl NodeLookup,
) -> Result<Hash, ProofError> {
    let parts = perfect_cover(range)
        .into_iter()
        .map(|id| nodes.node(id).ok_or(ProofError::MissingNode(id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold_cover::<H>(&parts).unwrap_or_else(H::empty))
}

/// Perfect nodes needed by [`inclusion_proof`].
pub fn inclusion_proof_nodes(index: u64, size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(nodes_for(&inclusion_ranges(index, size)?))
}

/// Inclusion proof (RFC 9162 §2.1.3.1 audit path) from the nodes listed by
/// [`inclusion_proof_nodes`].
pub fn inclusion_proof<H: TreeHash>(
    index: u64,
    size: u64,
    nodes: &impl NodeLookup,
) -> Result<Vec<Hash>, ProofError> {
    assemble::<H>(&inclusion_ranges(index, size)?, nodes)
}

/// Perfect nodes needed by [`consistency_proof`].
pub fn consistency_proof_nodes(old: u64, new: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(nodes_for(&consistency_ranges(old, new)?))
}

/// Consistency proof (RFC 9162 §2.1.4.1) from the nodes listed by [`consistency_proof_nodes`].
pub fn consistency_proof<H: TreeHash>(
    old: u64,
    new: u64,
    nodes: &impl NodeLookup,
) -> Result<Vec<Hash>, ProofError> {
    assemble::<H>(&consistency_ranges(old, new)?, nodes)
}

/// Perfect nodes needed by [`root_hash`]: the binary decomposition of `size`.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    perfect_cover(0..size)
}

/// Root hash of the tree of `size` leaves from the nodes listed by [`root_nodes`].
pub fn root_hash<H: TreeHash>(size: u64, nodes: &impl NodeLookup) -> Result<Hash, ProofError> {
    range_hash::<H>(0..size, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_ranges_for_small_trees() -> Result<(), ProofError> {
        assert_eq!(inclusion_ranges(0, 1)?, vec![]);
        assert_eq!(inclusion_ranges(0, 8)?, vec![1..2, 2..4, 4..8]);
        assert_eq!(inclusion_ranges(5, 8)?, vec![4..5, 6..8, 0..4]);
        assert_eq!(inclusion_ranges(1, 5)?, vec![0..1, 2..4, 4..5]);
        assert_eq!(inclusion_ranges(4, 5)?, vec![0..4]);
        assert_eq!(
            inclusion_ranges(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        Ok(())
    }

    #[test]
    fn consistency_ranges_for_small_trees() -> Result<(), ProofError> {
        assert_eq!(consistency_ranges(1, 8)?, vec![1..2, 2..4, 4..8]);
        assert_eq!(consistency_ranges(6, 8)?, vec![4..6, 6..8, 0..4]);
        assert_eq!(consistency_ranges(2, 5)?, vec![2..4, 4..5]);
        assert_eq!(consistency_ranges(4, 8)?, vec![4..8]);
        assert_eq!(consistency_ranges(3, 3)?, vec![]);
        assert_eq!(consistency_ranges(0, 3)?, vec![]);
        assert_eq!(
            consistency_ranges(4, 3),
            Err(ProofError::SizeOrder { old: 4, new: 3 })
        );
        Ok(())
    }

    #[test]
    fn node_lists_stay_small_for_huge_logs() -> Result<(), ProofError> {
        let size = (1u64 << 62) + 12_345_678_901;
        for index in [0, 1, size / 3, size - 2, size - 1] {
            assert!(inclusion_proof_nodes(index, size)?.len() <= 64 * 2);
        }
        assert!(consistency_proof_nodes(size / 7, size)?.len() <= 64 * 2);
        assert!(root_nodes(u64::MAX).len() == 64);
        Ok(())
    }

    #[test]
    fn missing_node_is_reported() {
        let empty = std::collections::HashMap::new();
        assert_eq!(
            inclusion_proof::<crate::tlog::Sha256>(0, 2, &empty),
            Err(ProofError::MissingNode(NodeId::leaf(1)))
        );
    }
}
