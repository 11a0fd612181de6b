//! Proof verification, implemented from the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//! These only ever see the proof, the sizes and the trusted roots, never the log.

use super::hash::{Hash, TreeHash};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("proof has the wrong number of hashes for these tree sizes")]
    ProofLength,
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
}

/// Verify that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion<H: TreeHash>(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof::<H>(index, size, leaf_hash, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// The root implied by an inclusion proof; useful when the caller wants to compare against
/// several candidate roots or report what the proof pointed to.
pub fn root_from_inclusion_proof<H: TreeHash>(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = H::node(p, &r);
            // Skip the levels where our node is the last one and has no right sibling.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = H::node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::ProofLength);
    }
    Ok(r)
}

/// Verify that the tree of `old_size` with root `old_root` is a prefix of the tree of `new_size`
/// with root `new_root`.
///
/// Edge cases the RFC leaves to the caller: equal sizes need an empty proof and equal roots; an
/// empty old tree needs an empty proof and the empty-tree root (stricter than accepting any
/// hash, so a bogus size-0 checkpoint cannot slip through).
pub fn verify_consistency<H: TreeHash>(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::ProofLength);
        }
        let ok = if old_size == 0 {
            *old_root == H::empty()
        } else {
            old_root == new_root
        };
        return if ok {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }

    // Step 2: when the old tree is perfect its root is itself the first node of the path.
    let (first, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((f, r)) => (*f, r),
            None => return Err(VerifyError::ProofLength),
        }
    };

    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if snode == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = H::node(c, &fr);
            sr = H::node(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = H::node(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::ProofLength);
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}
