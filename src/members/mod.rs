//! Members (banks, payment providers) and their API keys.
//!
//! An API key is `fh_<key id>_<secret>`. Only BLAKE3(secret) is stored: the secret has
//! 256 bits of entropy, so a fast hash is enough and a slow password hash would only
//! cost latency on every request.

mod cache;

pub use cache::AuthCache;

use std::fmt;

use serde::Serialize;

use crate::store::{AuthRow, MemberRow, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scope {
    #[serde(rename = "flags:write")]
    FlagsWrite,
    #[serde(rename = "matches:read")]
    MatchesRead,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::FlagsWrite, Scope::MatchesRead, Scope::AuditRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::FlagsWrite => "flags:write",
            Scope::MatchesRead => "matches:read",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Parses a comma-separated scope list, rejecting unknown names so typos fail loudly.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let scope = Scope::parse(part).ok_or_else(|| format!("unknown scope {part:?}"))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("at least one scope is required".into());
    }
    Ok(scopes)
}

/// A freshly issued key. The full text is shown once and then only its hash exists.
pub struct IssuedKey {
    pub key_id: String,
    pub token: String,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuedKey({}, <redacted>)", self.key_id)
    }
}

pub async fn issue_key(
    store: &Store,
    member_id: i64,
    scopes: &[Scope],
    now: i64,
) -> Result<IssuedKey, StoreError> {
    store.member(member_id).await?;
    let key_id = hex::encode(rand::random::<[u8; 8]>());
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let list = scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    store
        .insert_api_key(
            &key_id,
            member_id,
            blake3::hash(secret.as_bytes()).as_bytes(),
            &list,
            now,
        )
        .await?;
    Ok(IssuedKey {
        token: format!("fh_{key_id}_{secret}"),
        key_id,
    })
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub scopes: Vec<Scope>,
    pub member: MemberRow,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed API key")]
    Malformed,
    #[error("unknown or revoked API key")]
    Unknown,
    /// No key with this id exists at all (answered as `Unknown`; cached briefly).
    #[error("unknown API key")]
    NoSuchKey,
    #[error("member is suspended")]
    Suspended { member_id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Splits `fh_<key id>_<secret>` into its parts.
fn split_key(presented: &str) -> Result<(&str, &str), AuthError> {
    let rest = presented.strip_prefix("fh_").ok_or(AuthError::Malformed)?;
    let (key_id, secret) = rest.split_once('_').ok_or(AuthError::Malformed)?;
    if key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed);
    }
    Ok((key_id, secret))
}

pub async fn authenticate(store: &Store, presented: &str) -> Result<Caller, AuthError> {
    let (key_id, secret) = split_key(presented)?;
    let row: AuthRow = store
        .auth_lookup(key_id)
        .await?
        .ok_or(AuthError::NoSuchKey)?;
    // blake3::Hash compares in constant time.
    let stored =
        <[u8; 32]>::try_from(row.secret_hash.as_slice()).map_err(|_| AuthError::Unknown)?;
    if blake3::hash(secret.as_bytes()) != blake3::Hash::from_bytes(stored) || row.revoked {
        return Err(AuthError::Unknown);
    }
    if row.member.status != "active" {
        return Err(AuthError::Suspended {
            member_id: row.member.id,
        });
    }
    Ok(Caller {
        key_id: row.key_id,
        scopes: row.scopes.split(',').filter_map(Scope::parse).collect(),
        member: row.member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_reject_unknown_and_empty() {
        assert_eq!(
            parse_scopes("flags:write, matches:read,flags:write"),
            Ok(vec![Scope::FlagsWrite, Scope::MatchesRead])
        );
        assert!(parse_scopes("flags:write,admin").is_err());
        assert!(parse_scopes(" , ").is_err());
    }
}
