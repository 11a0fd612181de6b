//! RFC 6962 SHA-256 vectors (Certificate Transparency reference test data, as published in
//! transparency-dev/merkle proof/verify_test.go) and property tests comparing the storage-style
//! proofs with the in-memory oracle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use fraudhub::tlog::{
    Blake3, Frontier, Hash, NodeId, Sha256, TreeHash, consistency_proof,
    consistency_proof_from_leaves, consistency_proof_nodes, inclusion_proof,
    inclusion_proof_from_leaves, inclusion_proof_nodes, root_from_leaves, root_hash, root_nodes,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

const LEAF_DATA: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots for sizes 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based leaf index, tree size, proof). The published table numbers leaves from 1.
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    Hash::from_hex(s).unwrap()
}

fn hashes(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

fn leaves<T: TreeHash>() -> Vec<Hash> {
    LEAF_DATA
        .iter()
        .map(|d| T::leaf(&hex::decode(d).unwrap()))
        .collect()
}

/// What the database would hold after appending `leaves`: every node emitted by the frontier.
fn stored_nodes<T: TreeHash>(leaves: &[Hash]) -> (Frontier<T>, HashMap<NodeId, Hash>) {
    let mut f = Frontier::<T>::new();
    let mut db = HashMap::new();
    for l in leaves {
        db.extend(f.append(*l).unwrap());
    }
    (f, db)
}

/// Only the requested nodes, so a proof that needs something it did not ask for fails.
fn fetch(db: &HashMap<NodeId, Hash>, ids: &[NodeId]) -> HashMap<NodeId, Hash> {
    ids.iter().map(|id| (*id, db[id])).collect()
}

#[test]
fn rfc6962_roots() {
    let l = leaves::<Sha256>();
    let (_, db) = stored_nodes::<Sha256>(&l);
    let mut f = Frontier::<Sha256>::new();
    for n in 0..=8usize {
        let want = h(ROOTS[n]);
        assert_eq!(root_from_leaves::<Sha256>(&l[..n]), want, "mth {n}");
        assert_eq!(f.root(), want, "frontier {n}");
        let ids = root_nodes(n as u64);
        assert_eq!(
            root_hash::<Sha256>(n as u64, &fetch(&db, &ids)).unwrap(),
            want
        );
        if n < 8 {
            f.append(l[n]).unwrap();
        }
    }
}

#[test]
fn rfc6962_inclusion_proofs() {
    let l = leaves::<Sha256>();
    let (_, db) = stored_nodes::<Sha256>(&l);
    for (index, size, proof) in INCLUSION {
        let want = hashes(proof);
        let n = size as usize;
        assert_eq!(
            inclusion_proof_from_leaves::<Sha256>(index, &l[..n]).unwrap(),
            want
        );
        let ids = inclusion_proof_nodes(index, size).unwrap();
        assert_eq!(
            inclusion_proof::<Sha256>(index, size, &fetch(&db, &ids)).unwrap(),
            want
        );
        let root = h(ROOTS[n]);
        verify_inclusion::<Sha256>(index, size, &l[index as usize], &want, &root).unwrap();
        // Corruptions in the style of the reference tests.
        let leaf = l[index as usize];
        assert!(verify_inclusion::<Sha256>(index + 1, size, &leaf, &want, &root).is_err());
        assert!(verify_inclusion::<Sha256>(index ^ 2, size, &leaf, &want, &root).is_err());
        assert!(verify_inclusion::<Sha256>(index, size * 2, &leaf, &want, &root).is_err());
        assert!(verify_inclusion::<Sha256>(index, size / 2, &leaf, &want, &root).is_err());
        assert!(verify_inclusion::<Sha256>(index, size, &root, &want, &root).is_err());
        assert!(verify_inclusion::<Sha256>(index, size, &leaf, &want, &h(ROOTS[0])).is_err());
        let mut longer = want.clone();
        longer.push(root);
        assert!(verify_inclusion::<Sha256>(index, size, &leaf, &longer, &root).is_err());
        longer.rotate_right(1);
        assert!(verify_inclusion::<Sha256>(index, size, &leaf, &longer, &root).is_err());
        assert!(
            verify_inclusion::<Sha256>(index, size, &leaf, &want[..want.len() - 1], &root).is_err()
        );
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i].0[0] ^= 8;
            assert!(verify_inclusion::<Sha256>(index, size, &leaf, &bad, &root).is_err());
        }
    }
}

#[test]
fn rfc6962_consistency_proofs() {
    let l = leaves::<Sha256>();
    let (_, db) = stored_nodes::<Sha256>(&l);
    for (old, new, proof) in CONSISTENCY {
        let want = hashes(proof);
        assert_eq!(
            consistency_proof_from_leaves::<Sha256>(old, &l[..new as usize]).unwrap(),
            want
        );
        let ids = consistency_proof_nodes(old, new).unwrap();
        assert_eq!(
            consistency_proof::<Sha256>(old, new, &fetch(&db, &ids)).unwrap(),
            want
        );
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency::<Sha256>(old, new, &want, &r1, &r2).unwrap();
        if want.is_empty() {
            continue;
        }
        assert!(verify_consistency::<Sha256>(old - 1, new, &want, &r1, &r2).is_err());
        assert!(verify_consistency::<Sha256>(old + 1, new, &want, &r1, &r2).is_err());
        assert!(verify_consistency::<Sha256>(old, new * 2, &want, &r1, &r2).is_err());
        assert!(verify_consistency::<Sha256>(old, new / 2, &want, &r1, &r2).is_err());
        assert!(verify_consistency::<Sha256>(old, new, &want, &r2, &r1).is_err());
        assert!(verify_consistency::<Sha256>(old, new, &[], &r1, &r2).is_err());
        let mut longer = want.clone();
        longer.push(r1);
        assert!(verify_consistency::<Sha256>(old, new, &longer, &r1, &r2).is_err());
        let mut front = vec![want[0]];
        front.extend_from_slice(&want);
        assert!(verify_consistency::<Sha256>(old, new, &front, &r1, &r2).is_err());
        assert!(verify_consistency::<Sha256>(old, new, &want[..want.len() - 1], &r1, &r2).is_err());
        for i in 0..want.len() {
            let mut bad = want.clone();
            bad[i].0[0] ^= 16;
            assert!(verify_consistency::<Sha256>(old, new, &bad, &r1, &r2).is_err());
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let e = Sha256::empty();
    let x = h(ROOTS[3]);
    assert!(verify_consistency::<Sha256>(0, 0, &[], &e, &e).is_ok());
    assert!(verify_consistency::<Sha256>(0, 3, &[], &e, &x).is_ok());
    assert!(verify_consistency::<Sha256>(0, 3, &[], &x, &x).is_err());
    assert!(verify_consistency::<Sha256>(3, 3, &[], &x, &x).is_ok());
    assert!(verify_consistency::<Sha256>(3, 3, &[], &x, &e).is_err());
    assert!(verify_consistency::<Sha256>(3, 3, &[x], &x, &x).is_err());
    assert!(verify_consistency::<Sha256>(3, 2, &[], &x, &x).is_err());
    assert!(verify_inclusion::<Sha256>(0, 0, &x, &[], &e).is_err());
    assert!(verify_inclusion::<Sha256>(0, 1, &x, &[], &x).is_ok());
    assert!(verify_inclusion::<Sha256>(0, 1, &x, &[x], &x).is_err());
}

fn blake_leaves(n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| Blake3::leaf(&[i.to_le_bytes(), salt.to_le_bytes()].concat()))
        .collect()
}

/// Left/right pattern of an inclusion path: all the verifier's computation depends on.
fn inclusion_shape(index: u64, size: u64) -> Option<Vec<bool>> {
    let ranges = fraudhub::tlog::proof::inclusion_ranges(index, size).ok()?;
    Some(ranges.iter().map(|r| r.start < index).collect())
}

fn consistency_shape(old: u64, new: u64) -> Option<(bool, Vec<bool>)> {
    let ranges = fraudhub::tlog::proof::consistency_ranges(old, new).ok()?;
    Some((
        old.is_power_of_two(),
        ranges.iter().map(|r| r.start < old).collect(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frontier_root_matches_mth_at_every_size(n in 0usize..300, salt in any::<u64>()) {
        let l = blake_leaves(n, salt);
        let mut f = Frontier::<Blake3>::new();
        prop_assert_eq!(f.root(), Blake3::empty());
        for i in 0..n {
            let emitted = f.append(l[i]).unwrap();
            // Amortised O(1): never more than log2(size) + 1 nodes.
            prop_assert!(emitted.len() <= 65);
            prop_assert_eq!(f.root(), root_from_leaves::<Blake3>(&l[..=i]));
        }
        prop_assert_eq!(Frontier::<Blake3>::from_bytes(&f.to_bytes()).unwrap(), f);
    }

    #[test]
    fn stored_inclusion_proofs_match_oracle_and_verify(
        n in 1usize..300, pick in any::<u64>(), salt in any::<u64>()
    ) {
        let l = blake_leaves(n, salt);
        let (f, db) = stored_nodes::<Blake3>(&l);
        let size = n as u64;
        let index = pick % size;
        let ids = inclusion_proof_nodes(index, size).unwrap();
        let proof = inclusion_proof::<Blake3>(index, size, &fetch(&db, &ids)).unwrap();
        prop_assert_eq!(&proof, &inclusion_proof_from_leaves::<Blake3>(index, &l).unwrap());
        let root = f.root();
        let leaf = l[index as usize];
        prop_assert!(verify_inclusion::<Blake3>(index, size, &leaf, &proof, &root).is_ok());
        for wrong in [index.wrapping_sub(1), index + 1, index ^ 1, size] {
            if wrong != index {
                prop_assert!(verify_inclusion::<Blake3>(wrong, size, &leaf, &proof, &root).is_err());
            }
        }
        // A different size can only verify when it yields the very same path shape, i.e. the
        // same tree as far as this leaf is concerned; the size itself is authenticated by the
        // signed checkpoint, not by the proof.
        for wrong_size in [size - 1, size + 1, size * 2, size / 2] {
            if wrong_size != size
                && verify_inclusion::<Blake3>(index, wrong_size, &leaf, &proof, &root).is_ok()
            {
                prop_assert_eq!(inclusion_shape(index, wrong_size), inclusion_shape(index, size));
            }
        }
        if size > 1 {
            prop_assert!(verify_inclusion::<Blake3>(index, size * 2, &leaf, &proof, &root).is_err());
        }
        let other = Blake3::leaf(b"not in the log");
        prop_assert!(verify_inclusion::<Blake3>(index, size, &other, &proof, &root).is_err());
        prop_assert!(verify_inclusion::<Blake3>(index, size, &leaf, &proof, &other).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i].0[31] ^= 1;
            prop_assert!(verify_inclusion::<Blake3>(index, size, &leaf, &bad, &root).is_err());
        }
    }

    #[test]
    fn stored_consistency_proofs_match_oracle_and_verify(
        n in 1usize..300, pick in any::<u64>(), salt in any::<u64>()
    ) {
        let l = blake_leaves(n, salt);
        let (_, db) = stored_nodes::<Blake3>(&l);
        let new = n as u64;
        let old = pick % (new + 1);
        let ids = consistency_proof_nodes(old, new).unwrap();
        let proof = consistency_proof::<Blake3>(old, new, &fetch(&db, &ids)).unwrap();
        prop_assert_eq!(&proof, &consistency_proof_from_leaves::<Blake3>(old, &l).unwrap());
        let r1 = root_from_leaves::<Blake3>(&l[..old as usize]);
        let r2 = root_from_leaves::<Blake3>(&l);
        prop_assert!(verify_consistency::<Blake3>(old, new, &proof, &r1, &r2).is_ok());
        // Stored root for the old size agrees with the oracle.
        let rid = root_nodes(old);
        prop_assert_eq!(root_hash::<Blake3>(old, &fetch(&db, &rid)).unwrap(), r1);
        if old > 0 && old < new {
            for wrong in [old - 1, old + 1] {
                if wrong > 0 && wrong < new {
                    prop_assert!(verify_consistency::<Blake3>(wrong, new, &proof, &r1, &r2).is_err());
                }
            }
            for wrong_new in [new + 1, new - 1, new * 2] {
                if wrong_new > old
                    && verify_consistency::<Blake3>(old, wrong_new, &proof, &r1, &r2).is_ok()
                {
                    prop_assert_eq!(consistency_shape(old, wrong_new), consistency_shape(old, new));
                }
            }
            let other = Blake3::leaf(b"x");
            prop_assert!(verify_consistency::<Blake3>(old, new, &proof, &other, &r2).is_err());
            prop_assert!(verify_consistency::<Blake3>(old, new, &proof, &r1, &other).is_err());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i].0[0] ^= 0x80;
                prop_assert!(verify_consistency::<Blake3>(old, new, &bad, &r1, &r2).is_err());
            }
        }
    }
}

#[test]
fn proofs_on_a_large_sparse_log_need_few_nodes() {
    // A 10-million-entry log: only the node lists are computed (no hashing of 10M leaves here);
    // the bound is what makes DB-backed proofs millisecond-fast.
    let size = 10_000_000u64;
    for index in [0, 1, 4_999_999, 9_999_998, 9_999_999] {
        let ids = inclusion_proof_nodes(index, size).unwrap();
        assert!(ids.len() <= 2 * 24, "{} ids", ids.len());
    }
    for old in [1, 3, 8_388_608, 9_999_999] {
        assert!(consistency_proof_nodes(old, size).unwrap().len() <= 2 * 24);
    }
}
