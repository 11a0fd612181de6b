//! Server-side sessions and CSRF tokens.
//!
//! The browser holds a random 256-bit id in a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Lax, Path=/); the database holds only a hash of it, so a copy of the table
//! cannot be replayed as a cookie. The CSRF token is derived from the id with another
//! context: a page can show it, but neither it nor the stored hash gives back the id.
//! Login always issues a new id (no session fixation), logout deletes the row.

use chrono::{DateTime, Utc};

use super::config::WebConfig;
use crate::clock::to_millis;
use crate::pseudonym::Token;
use crate::store::{SessionRow, Store, StoreError};

pub const COOKIE: &str = "__Host-fh_session";
const ID_CONTEXT: &str = "fraudhub web session id v1";
const CSRF_CONTEXT: &str = "fraudhub web csrf token v1";

/// A session the request presented and the store still holds, within its timeouts.
#[derive(Debug, Clone)]
pub struct Session {
    id: [u8; 32],
    pub row: SessionRow,
}

impl Session {
    pub fn id_hash(&self) -> &[u8] {
        &self.row.id_hash
    }

    /// The token to put in every form of this session.
    pub fn csrf(&self) -> String {
        hex::encode(blake3::derive_key(CSRF_CONTEXT, &self.id))
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let Ok(bytes) = hex::decode(presented) else {
            return false;
        };
        // blake3::Hash compares in constant time.
        blake3::Hash::from(blake3::derive_key(CSRF_CONTEXT, &self.id)) == *bytes.as_slice()
    }

    /// The logged-in person, if any.
    pub fn person(&self) -> Option<Token> {
        let bytes = <[u8; 32]>::try_from(self.row.person_token.as_deref()?).ok()?;
        Some(Token {
            version: self.row.key_version?,
            bytes,
        })
    }

    /// `Set-Cookie` value for this session.
    pub fn cookie(&self) -> String {
        format!(
            "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax",
            hex::encode(self.id)
        )
    }
}

/// Clears the session cookie in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The session id a cookie value carries: 64 hex digits, or nothing.
pub fn session_id(cookie: &str) -> Option<[u8; 32]> {
    hex::decode(cookie)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

fn hash_id(id: &[u8; 32]) -> Vec<u8> {
    blake3::derive_key(ID_CONTEXT, id).to_vec()
}

/// The session rules over the store.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub config: &'a WebConfig,
}

impl Sessions<'_> {
    /// The live session a cookie value names, recording this use; `None` for an unknown,
    /// malformed or ended one (an ended one is deleted).
    pub async fn load(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let Some(id) = session_id(cookie) else {
            return Ok(None);
        };
        let id_hash = hash_id(&id);
        let Some(row) = self.store.session(&id_hash).await? else {
            return Ok(None);
        };
        if self.ended(&row, now) {
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        self.store.touch_session(&id_hash, now).await?;
        Ok(Some(Session { id, row }))
    }

    fn ended(&self, row: &SessionRow, now: DateTime<Utc>) -> bool {
        let now = to_millis(now);
        let idle = secs_ms(self.config.session_idle_secs);
        let absolute = secs_ms(self.config.session_absolute_secs);
        now.saturating_sub(row.last_seen_at) >= idle
            || now.saturating_sub(row.created_at) >= absolute
    }

    /// A new session without a person (before login).
    pub async fn start(&self, now: DateTime<Utc>) -> Result<Session, StoreError> {
        self.insert(None, None, None, now).await
    }

    /// Login: the old session (if any) is deleted and a new id is issued for the person.
    /// `agent_id` names the enrolled agent of an agent-console login.
    pub async fn log_in(
        &self,
        old: &Session,
        person: Token,
        display_name: &str,
        agent_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        self.store.delete_session(old.id_hash()).await?;
        self.insert(Some(person), Some(display_name), agent_id, now)
            .await
    }

    pub async fn end(&self, session: &Session) -> Result<(), StoreError> {
        self.store.delete_session(session.id_hash()).await
    }

    async fn insert(
        &self,
        person: Option<Token>,
        display_name: Option<&str>,
        agent_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let id: [u8; 32] = rand::random();
        let row = SessionRow {
            id_hash: hash_id(&id),
            person_token: person.map(|t| t.bytes.to_vec()),
            key_version: person.map(|t| t.version),
            display_name: display_name.map(str::to_string),
            pending: None,
            notice: None,
            agent_id: agent_id.map(str::to_string),
            created_at: to_millis(now),
            last_seen_at: to_millis(now),
        };
        self.store.insert_session(&row).await?;
        Ok(Session { id, row })
    }
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
