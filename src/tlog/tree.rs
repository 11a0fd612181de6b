//! In-memory Merkle tree functions written directly from RFC 6962 §2.1. They take the full list of
//! leaf hashes, so they serve the offline verifier on small exports and act as an independent
//! oracle for the storage-oriented code in [`super::proof`] and [`super::frontier`].

use super::hash::{Hash, TreeHash};
use super::node::split_point;
use super::proof::ProofError;

fn split(n: usize) -> usize {
    // `usize` always fits in `u64` on supported targets, and the result is below `n`.
    split_point(n as u64) as usize
}

fn to_usize(v: u64) -> Result<usize, ProofError> {
    usize::try_from(v).map_err(|_| ProofError::TooLarge(v))
}

/// MTH(D\[n\]) over already-hashed leaves.
pub fn root_from_leaves<H: TreeHash>(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => H::empty(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            H::node(
                &root_from_leaves::<H>(&leaves[..k]),
                &root_from_leaves::<H>(&leaves[k..]),
            )
        }
    }
}

/// PATH(m, D\[n\]) for `n = leaves.len()`.
pub fn inclusion_proof_from_leaves<H: TreeHash>(
    index: u64,
    leaves: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path::<H>(to_usize(index)?, leaves, &mut out);
    Ok(out)
}

fn path<H: TreeHash>(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path::<H>(m, &leaves[..k], out);
        out.push(root_from_leaves::<H>(&leaves[k..]));
    } else {
        path::<H>(m - k, &leaves[k..], out);
        out.push(root_from_leaves::<H>(&leaves[..k]));
    }
}

/// PROOF(m, D\[n\]) for `n = leaves.len()`; empty for `m == 0` and `m == n`.
pub fn consistency_proof_from_leaves<H: TreeHash>(
    old: u64,
    leaves: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    let new = leaves.len() as u64;
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof::<H>(to_usize(old)?, leaves, true, &mut out);
    }
    Ok(out)
}

fn subproof<H: TreeHash>(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root_from_leaves::<H>(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof::<H>(m, &leaves[..k], complete, out);
        out.push(root_from_leaves::<H>(&leaves[k..]));
    } else {
        subproof::<H>(m - k, &leaves[k..], false, out);
        out.push(root_from_leaves::<H>(&leaves[..k]));
    }
}
