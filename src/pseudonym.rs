//! Pseudonymisation: identifier tokens are keyed BLAKE3 hashes.
//!
//! A plain hash of a personal number falls to brute force in seconds (~3.6e7 valid
//! values), so every token is keyed with a per-kind key derived from the hub's secret
//! master key. The master key lives outside the database and is never returned.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::identifiers::{IdentifierKind, Normalised};

/// Context strings for `blake3::derive_key` are fixed forever: changing one changes every
/// token. Rotation is done by bumping the key version, never by editing these.
fn token_context(kind: IdentifierKind) -> String {
    format!("fraudhub 2026-11 identifier token v1 {}", kind.as_str())
}
const IDEMPOTENCY_CONTEXT: &str = "fraudhub 2026-11 idempotency fingerprint v1";
const MEMBER_VIEW_CONTEXT: &str = "fraudhub 2026-11 member subject view v1";
const IDEMPOTENCY_KEY_CONTEXT: &str = "fraudhub 2026-11 idempotency key v1";

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the 64-hex-character form used in key files and the environment.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::Malformed)?;
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key must be 64 hexadecimal characters (32 bytes)")]
    Malformed,
}

/// A pseudonymous identifier: 32 bytes plus the version of the key that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    pub version: i64,
    pub bytes: [u8; 32],
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A short prefix is enough to correlate log lines and reveals nothing.
        write!(
            f,
            "Token(v{}:{})",
            self.version,
            hex::encode(&self.bytes[..6])
        )
    }
}

/// A key derived from the master key. Whoever holds one can brute-force the tokens of its
/// kind as easily as with the master key, so it is wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct DerivedKey([u8; 32]);

/// Holds the derived per-kind keys; cloning is cheap enough (a few hundred bytes). Every
/// key is a [`DerivedKey`], so dropping a `Pseudonymiser` wipes them all.
#[derive(Clone)]
pub struct Pseudonymiser {
    version: i64,
    /// Indexed by [`IdentifierKind::index`]: every kind has its own key by construction,
    /// so there is no lookup that could fall back to another kind's key.
    kind_keys: [DerivedKey; IdentifierKind::ALL.len()],
    idempotency_key: DerivedKey,
    member_view_key: DerivedKey,
    idempotency_key_hash_key: DerivedKey,
}

impl ZeroizeOnDrop for Pseudonymiser {}

impl fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonymiser(v{}, <keys redacted>)", self.version)
    }
}

impl Pseudonymiser {
    pub fn new(master: &MasterKey, version: i64) -> Self {
        let kind_keys = IdentifierKind::ALL
            .map(|k| DerivedKey(blake3::derive_key(&token_context(k), &master.0)));
        Self {
            version,
            kind_keys,
            idempotency_key: DerivedKey(blake3::derive_key(IDEMPOTENCY_CONTEXT, &master.0)),
            member_view_key: DerivedKey(blake3::derive_key(MEMBER_VIEW_CONTEXT, &master.0)),
            idempotency_key_hash_key: DerivedKey(blake3::derive_key(
                IDEMPOTENCY_KEY_CONTEXT,
                &master.0,
            )),
        }
    }

    /// The value a member is shown for a subject in its audit entries: keyed per member,
    /// so two members' entries about one person cannot be linked with each other or with
    /// the hub-wide token (which stays out of every member-facing answer).
    pub fn member_view(&self, member_id: i64, token: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.member_view_key.0);
        h.update(&member_id.to_be_bytes());
        h.update(token);
        *h.finalize().as_bytes()
    }

    /// The value committed in the audit entries of a person's own actions: the member
    /// view keyed with member id 0, which no member has (ids start at 1), so it links to
    /// no member's entries either.
    pub fn person_view(&self, token: &[u8]) -> [u8; 32] {
        self.member_view(0, token)
    }

    pub fn token(&self, id: &Normalised) -> Token {
        let key = &self.kind_keys[id.kind().index()];
        Token {
            version: self.version,
            bytes: *blake3::keyed_hash(&key.0, id.value().as_bytes()).as_bytes(),
        }
    }

    /// Fingerprint of a request body for Idempotency-Key checks. Keyed, because bodies
    /// contain raw identifiers.
    pub fn fingerprint(&self, body: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.idempotency_key.0, body).as_bytes()
    }

    /// What the hub stores instead of a member's Idempotency-Key. Keyed, because members
    /// choose keys freely and some use case numbers or even personal numbers, which a
    /// plain hash would not hide; the member id goes in so that two members who pick the
    /// same key cannot be linked through the table.
    pub fn idempotency_key_hash(&self, member_id: i64, key: &str) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.idempotency_key_hash_key.0);
        h.update(&member_id.to_le_bytes());
        h.update(key.as_bytes());
        *h.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifiers::normalise;
    use chrono::NaiveDate;

    #[test]
    fn kinds_get_independent_tokens_for_the_same_text() {
        let p = Pseudonymiser::new(&MasterKey::from_bytes([7; 32]), 1);
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let a = normalise(IdentifierKind::DeviceId, "abc", day).map(|n| p.token(&n));
        let b = normalise(IdentifierKind::Email, "abc@x.se", day).map(|n| p.token(&n));
        assert_ne!(a.ok(), b.ok());
    }

    #[test]
    fn each_kind_is_keyed_with_its_own_derived_key() {
        let master = MasterKey::from_bytes([7; 32]);
        let p = Pseudonymiser::new(&master, 1);
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        for kind in IdentifierKind::ALL {
            let sample = match kind {
                IdentifierKind::SePersonalNumber => "19900101-0017",
                IdentifierKind::Phone => "0701234567",
                IdentifierKind::Email => "a@b.se",
                IdentifierKind::Iban => "SE4550000000058398257466",
                IdentifierKind::SeBankgiro => "5050-1055",
                IdentifierKind::SePlusgiro => "4 77 11-7",
                IdentifierKind::Domain => "example.se",
                IdentifierKind::Ip => "192.0.2.1",
                IdentifierKind::DeviceId => "device-1",
            };
            let Ok(id) = normalise(kind, sample, day) else {
                panic!("sample for {kind:?} is valid");
            };
            let own_key = blake3::derive_key(&token_context(kind), &[7; 32]);
            let expected = *blake3::keyed_hash(&own_key, id.value().as_bytes()).as_bytes();
            assert_eq!(p.token(&id).bytes, expected, "{kind:?}");
        }
    }

    #[test]
    fn different_master_keys_give_different_tokens() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let id = normalise(IdentifierKind::SePersonalNumber, "19900101-0017", day);
        let id = id.ok();
        let t1 = id
            .as_ref()
            .map(|n| Pseudonymiser::new(&MasterKey::from_bytes([1; 32]), 1).token(n));
        let t2 = id
            .as_ref()
            .map(|n| Pseudonymiser::new(&MasterKey::from_bytes([2; 32]), 1).token(n));
        assert!(t1.is_some());
        assert_ne!(t1, t2);
    }

    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn key_material_is_wiped_on_drop() {
        // Compile-time: removing the derive or marker from any of these fails this test.
        wiped_on_drop::<MasterKey>();
        wiped_on_drop::<DerivedKey>();
        wiped_on_drop::<Pseudonymiser>();
        let mut key = DerivedKey([0xab; 32]);
        key.zeroize();
        assert_eq!(key.0, [0; 32]);
    }

    #[test]
    fn pseudonymiser_debug_is_redacted() {
        let p = Pseudonymiser::new(&MasterKey::from_bytes([0xab; 32]), 3);
        let shown = format!("{p:?}");
        assert_eq!(shown, "Pseudonymiser(v3, <keys redacted>)");
    }

    #[test]
    fn master_key_debug_is_redacted() {
        let k = MasterKey::from_bytes([0xab; 32]);
        assert!(!format!("{k:?}").contains("abab"));
    }
}
