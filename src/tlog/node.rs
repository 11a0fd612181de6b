//! Addressing of perfect subtrees and the decomposition of leaf ranges into them.
//!
//! The database stores one row per *perfect* subtree. Every hash a proof needs is either such a
//! node or the hash of a right-edge range `[a, size)`, which is rebuilt from O(log n) perfect
//! nodes. This keeps storage append-only: a perfect node never changes once written.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use super::hash::{Hash, TreeHash};

/// A perfect subtree: `level` 0 is a single leaf; node `(level, index)` covers the leaves
/// `[index * 2^level, (index + 1) * 2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    pub const fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// The covered leaf range, or `None` if it does not fit in `u64` (such ids never occur for a
    /// real log but can be fabricated from untrusted input).
    pub fn leaves(&self) -> Option<Range<u64>> {
        let width = 1u64.checked_shl(u32::from(self.level))?;
        let start = self.index.checked_mul(width)?;
        let end = start.checked_add(width)?;
        Some(start..end)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.level, self.index)
    }
}

/// Read access to prefetched node hashes. Implemented for the map types a caller is likely to
/// fill from a database query.
pub trait NodeLookup {
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl<S: std::hash::BuildHasher> NodeLookup for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl NodeLookup for BTreeMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

/// Largest power of two strictly below `n` (the RFC 6962 split point). Requires `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Greedy left-to-right cover of `range` by maximal aligned perfect subtrees.
///
/// For the ranges that occur in RFC 6962 trees (`start` aligned to a power of two at least as
/// large as the range) the sizes strictly decrease, so the cover is also the binary
/// decomposition of the range length and has at most 64 entries.
pub fn perfect_cover(range: Range<u64>) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut start = range.start;
    while start < range.end {
        let len = range.end - start;
        // `trailing_zeros(0) == 64`, so the alignment bound never limits a range starting at 0.
        let level = start.trailing_zeros().min(63 - len.leading_zeros());
        out.push(NodeId::new(level as u8, start >> level));
        start += 1u64 << level;
    }
    out
}

/// Hash of a right-edge subtree from its perfect cover: in an RFC 6962 tree a ragged subtree
/// splits at its largest perfect part, so the hash is a right fold over the cover.
pub fn fold_cover<H: TreeHash>(parts: &[Hash]) -> Option<Hash> {
    let (last, rest) = parts.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, p| H::node(p, &acc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn cover_of_prefix_is_binary_decomposition() {
        assert_eq!(
            perfect_cover(0..13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(
            perfect_cover(8..13),
            vec![NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(perfect_cover(0..0), vec![]);
        assert_eq!(perfect_cover(0..u64::MAX).len(), 64);
    }

    #[test]
    fn cover_of_unaligned_range_is_contiguous() {
        let cover = perfect_cover(3..17);
        let mut next = 3;
        for id in &cover {
            let r = id.leaves().unwrap_or(0..0);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, 17);
    }

    #[test]
    fn node_leaves_overflow_is_none() {
        assert_eq!(NodeId::new(3, 2).leaves(), Some(16..24));
        assert_eq!(NodeId::new(64, 1).leaves(), None);
        assert_eq!(NodeId::new(2, u64::MAX).leaves(), None);
    }
}
