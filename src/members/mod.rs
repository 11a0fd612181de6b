//! Members (banks, payment providers) and their API keys.
//!
//! An API key is `fh_<key id>_<secret>`. Only BLAKE3(secret) is stored: the secret has
//! 256 bits of entropy, so a fast hash is enough and a slow password hash would only
//! cost latency on every request.

mod cache;
pub mod certs;

pub use cache::AuthCache;

use std::fmt;

use serde::Serialize;

use crate::store::{AuthRow, MemberRow, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr)]
pub enum Scope {
    #[serde(rename = "flags:write")]
    #[strum(serialize = "flags:write")]
    FlagsWrite,
    #[serde(rename = "flags:read")]
    #[strum(serialize = "flags:read")]
    FlagsRead,
    #[serde(rename = "matches:read")]
    #[strum(serialize = "matches:read")]
    MatchesRead,
    #[serde(rename = "indicators:write")]
    #[strum(serialize = "indicators:write")]
    IndicatorsWrite,
    #[serde(rename = "indicators:read")]
    #[strum(serialize = "indicators:read")]
    IndicatorsRead,
    #[serde(rename = "audit:read")]
    #[strum(serialize = "audit:read")]
    AuditRead,
    #[serde(rename = "callers:verify")]
    #[strum(serialize = "callers:verify")]
    CallersVerify,
    #[serde(rename = "agents:manage")]
    #[strum(serialize = "agents:manage")]
    AgentsManage,
    #[serde(rename = "watchlist:write")]
    #[strum(serialize = "watchlist:write")]
    WatchlistWrite,
    #[serde(rename = "events:read")]
    #[strum(serialize = "events:read")]
    EventsRead,
    #[serde(rename = "webhooks:manage")]
    #[strum(serialize = "webhooks:manage")]
    WebhooksManage,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The scopes of one API key, as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u16);

impl Scopes {
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether a key with these scopes may do what `needed` allows. A key that may write
    /// flags or indicators may also read them back.
    pub fn grants(self, needed: Scope) -> bool {
        let implied = match needed {
            Scope::FlagsRead => Some(Scope::FlagsWrite),
            Scope::IndicatorsRead => Some(Scope::IndicatorsWrite),
            _ => None,
        };
        self.contains(needed) || implied.is_some_and(|w| self.contains(w))
    }

    /// The stored form: names joined by commas; names this hub does not know are skipped.
    pub fn from_stored(list: &str) -> Scopes {
        let mut set = Scopes::default();
        for scope in list.split(',').filter_map(|p| p.trim().parse().ok()) {
            set.insert(scope);
        }
        set
    }
}

/// Whether a member may use the hub.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Suspended,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Parses a comma-separated scope list, rejecting unknown names so typos fail loudly.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let scope: Scope = part
            .parse()
            .map_err(|_| format!("unknown scope {part:?}"))?;
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
    now: chrono::DateTime<chrono::Utc>,
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
    pub scopes: Scopes,
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
    if row.member.status != MemberStatus::Active {
        return Err(AuthError::Suspended {
            member_id: row.member.id,
        });
    }
    Ok(Caller {
        key_id: row.key_id,
        scopes: Scopes::from_stored(&row.scopes),
        member: row.member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_flags_grants_reading_them_and_nothing_else() {
        let write = Scopes::from_stored("flags:write");
        assert!(write.grants(Scope::FlagsRead));
        assert!(!write.grants(Scope::MatchesRead));
        let read = Scopes::from_stored("flags:read,unknown");
        assert!(read.grants(Scope::FlagsRead) && !read.grants(Scope::FlagsWrite));
    }

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
