//! Which perfect nodes a log keeps, and how the others are rebuilt for a proof.
//!
//! Each appended leaf completes one node on average: half of them at level 1, a quarter at
//! level 2, and so on. Storing every one doubles the rows an append writes. Nodes of levels
//! 1 to 3 (below [`LOWEST_STORED_LEVEL`]) are therefore not kept: a proof rebuilds each from
//! its 2 to 8 leaves, which are read together with the stored nodes it needs. An append then
//! writes one node per eight leaves instead of one per leaf.

use std::collections::{HashMap, HashSet};

use super::hash::{Hash, TreeHash};
use super::node::NodeId;
use super::tree::root_from_leaves;

/// The lowest level above the leaves whose nodes are stored. Each level below it doubles
/// the leaves a proof reads for the nodes it rebuilds (15 leaves at most with 4).
pub const LOWEST_STORED_LEVEL: u8 = 4;

/// Whether node `id` is stored: the leaves (with their entries) and every level from
/// [`LOWEST_STORED_LEVEL`] up.
pub const fn is_stored(id: NodeId) -> bool {
    id.level == 0 || id.level >= LOWEST_STORED_LEVEL
}

/// What to read to answer `ids`: each stored id itself, and for each other one its leaves.
pub fn to_read(ids: &[NodeId]) -> Vec<NodeId> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if is_stored(id) {
            if seen.insert(id) {
                out.push(id);
            }
            continue;
        }
        // A level below LOWEST_STORED_LEVEL covers at most 8 leaves; an id whose range
        // overflows cannot belong to a log and has no leaves to read.
        for leaf in id.leaves().into_iter().flatten() {
            let leaf = NodeId::leaf(leaf);
            if seen.insert(leaf) {
                out.push(leaf);
            }
        }
    }
    out
}

/// Adds to `nodes` each id of `ids` that is not stored, rebuilt from its leaves in `nodes`;
/// one whose leaves are not all there stays absent, as a missing stored node would.
pub fn rebuild<H: TreeHash>(ids: &[NodeId], nodes: &mut HashMap<NodeId, Hash>) {
    for &id in ids {
        if is_stored(id) || nodes.contains_key(&id) {
            continue;
        }
        let Some(range) = id.leaves() else { continue };
        let leaves: Option<Vec<Hash>> = range
            .map(|i| nodes.get(&NodeId::leaf(i)).copied())
            .collect();
        if let Some(leaves) = leaves {
            nodes.insert(id, root_from_leaves::<H>(&leaves));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::{Blake3, Frontier};

    /// The nodes a frontier emits for `n` leaves, and the leaves.
    fn tree(n: u64) -> Result<(Vec<Hash>, HashMap<NodeId, Hash>), crate::tlog::FrontierError> {
        let mut frontier = Frontier::<Blake3>::new();
        let mut leaves = Vec::new();
        let mut all = HashMap::new();
        for i in 0..n {
            let leaf = Blake3::leaf(&i.to_be_bytes());
            leaves.push(leaf);
            all.extend(frontier.append(leaf)?);
        }
        Ok((leaves, all))
    }

    #[test]
    fn rebuilt_nodes_equal_the_ones_the_frontier_completed()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_, all) = tree(64)?;
        let low: Vec<NodeId> = all.keys().copied().filter(|id| !is_stored(*id)).collect();
        assert_eq!(low.len(), 32 + 16 + 8, "levels 1 to 3 of a 64-leaf tree");
        let mut read: HashMap<NodeId, Hash> = to_read(&low)
            .into_iter()
            .map(|id| {
                all.get(&id)
                    .map(|h| (id, *h))
                    .ok_or("a leaf the frontier did not emit")
            })
            .collect::<Result<_, _>>()?;
        assert!(
            read.keys().all(|id| id.level == 0),
            "only leaves are read for them"
        );
        rebuild::<Blake3>(&low, &mut read);
        for id in low {
            assert_eq!(read.get(&id), all.get(&id), "node {id}");
        }
        Ok(())
    }

    #[test]
    fn stored_ids_are_read_as_they_are_and_leaves_once() {
        let ids = [
            NodeId::new(5, 1),
            NodeId::leaf(9),
            NodeId::new(1, 4),
            NodeId::new(3, 1),
        ];
        let read = to_read(&ids);
        let mut expected = vec![NodeId::new(5, 1), NodeId::leaf(9), NodeId::leaf(8)];
        expected.extend((10..16).map(NodeId::leaf));
        assert_eq!(read, expected);
    }

    #[test]
    fn a_node_with_a_missing_leaf_is_not_rebuilt() {
        let mut nodes: HashMap<NodeId, Hash> = [(NodeId::leaf(0), Blake3::leaf(b"a"))]
            .into_iter()
            .collect();
        rebuild::<Blake3>(&[NodeId::new(1, 0)], &mut nodes);
        assert_eq!(nodes.get(&NodeId::new(1, 0)), None);
    }

    #[test]
    fn an_overflowing_id_reads_nothing() {
        assert_eq!(to_read(&[NodeId::new(2, u64::MAX)]), vec![]);
    }
}
