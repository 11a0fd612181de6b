//! Hash values and the RFC 6962 / RFC 9162 hashing rules, generic over the hash function.

use std::fmt;

/// Length of every hash handled by the log. Both supported functions emit 32 bytes, and fixing
/// the width keeps hashes `Copy` and lets proofs be stored as plain arrays.
pub const HASH_LEN: usize = 32;

/// A 32-byte tree hash (leaf, interior node or root).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Accepts exactly 32 bytes; anything else is a caller or storage bug worth surfacing.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        let arr: [u8; HASH_LEN] = bytes
            .try_into()
            .map_err(|_| HashParseError::Length(bytes.len()))?;
        Ok(Self(arr))
    }

    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = hex::decode(text.trim()).map_err(|_| HashParseError::Hex)?;
        Self::from_slice(&bytes)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("hash must be {HASH_LEN} bytes, got {0}")]
    Length(usize),
    #[error("hash is not valid hex")]
    Hex,
}

/// Domain-separation prefix for leaves (RFC 6962 §2.1). Without it a leaf whose data happens to be
/// `left || right` would hash like an interior node, enabling second-preimage forgeries.
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix for interior nodes.
pub const NODE_PREFIX: u8 = 0x01;

/// The hashing rules of an RFC 6962-style tree. Implementors are zero-sized markers so that the
/// hash choice is part of the type and trees built with different functions cannot be mixed.
pub trait TreeHash {
    /// Short name used in documentation and diagnostics.
    const NAME: &'static str;

    /// `H(0x00 || data)`.
    fn leaf(data: &[u8]) -> Hash;
    /// `H(0x01 || left || right)`.
    fn node(left: &Hash, right: &Hash) -> Hash;
    /// Root of the empty tree: `H("")`.
    fn empty() -> Hash;
}

/// BLAKE3 — the production hash of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Blake3;

impl TreeHash for Blake3 {
    const NAME: &'static str = "blake3";

    fn leaf(data: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[LEAF_PREFIX]);
        h.update(data);
        Hash(*h.finalize().as_bytes())
    }

    fn node(left: &Hash, right: &Hash) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[NODE_PREFIX]);
        h.update(&left.0);
        h.update(&right.0);
        Hash(*h.finalize().as_bytes())
    }

    fn empty() -> Hash {
        Hash(*blake3::hash(b"").as_bytes())
    }
}

/// SHA-256 — exactly RFC 6962; used to check the tree code against published test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sha256;

impl TreeHash for Sha256 {
    const NAME: &'static str = "sha256";

    fn leaf(data: &[u8]) -> Hash {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update([LEAF_PREFIX]);
        h.update(data);
        Hash(h.finalize().into())
    }

    fn node(left: &Hash, right: &Hash) -> Hash {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update([NODE_PREFIX]);
        h.update(left.0);
        h.update(right.0);
        Hash(h.finalize().into())
    }

    fn empty() -> Hash {
        use sha2::Digest;
        Hash(sha2::Sha256::digest(b"").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_empty_and_leaf_match_rfc6962() -> Result<(), HashParseError> {
        assert_eq!(
            Sha256::empty(),
            Hash::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")?
        );
        assert_eq!(
            Sha256::leaf(b""),
            Hash::from_hex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")?
        );
        Ok(())
    }

    #[test]
    fn blake3_uses_domain_prefixes() {
        let a = Blake3::leaf(b"x");
        assert_eq!(a.0, *blake3::hash(&[0x00, b'x']).as_bytes());
        let mut cat = vec![0x01];
        cat.extend_from_slice(&a.0);
        cat.extend_from_slice(&a.0);
        assert_eq!(Blake3::node(&a, &a).0, *blake3::hash(&cat).as_bytes());
        assert_eq!(Blake3::empty().0, *blake3::hash(b"").as_bytes());
    }

    #[test]
    fn hex_round_trip_and_errors() -> Result<(), HashParseError> {
        let h = Blake3::leaf(b"abc");
        assert_eq!(Hash::from_hex(&h.to_string())?, h);
        assert_eq!(Hash::from_hex("00"), Err(HashParseError::Length(1)));
        assert_eq!(Hash::from_hex("zz"), Err(HashParseError::Hex));
        Ok(())
    }
}
