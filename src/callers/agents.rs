//! A member's customer-service agents: enrolled by the member through the API (the
//! agent's personal number kept only as a token), and allowed into the agent console
//! only while enrolled, not disabled, not expired, and their member not suspended.

use chrono::{DateTime, Utc};

use crate::identifiers::{IdentifierKind, Normalised};
use crate::members::MemberStatus;
use crate::pseudonym::{Pseudonymiser, Token};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub member_id: i64,
    pub display_name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Agent {
    /// The one statement of when an enrolment lets its agent in (the member's own status
    /// is checked beside it, in [`console_login`]).
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.disabled_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agents are enrolled by their personal number")]
    NotAPersonalNumber,
    #[error("{field}: {reason}")]
    Rule {
        field: &'static str,
        reason: &'static str,
    },
    #[error("this person is already enrolled")]
    AlreadyEnrolled,
    #[error("no such agent")]
    NotFound,
    /// Console login refused: not enrolled, disabled, expired, or the member suspended.
    #[error("not an active agent")]
    NotAllowed,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AgentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AgentError::NotFound,
            StoreError::Conflict(_) => AgentError::AlreadyEnrolled,
            other => AgentError::Store(other),
        }
    }
}

/// Enrols a person as the member's agent.
pub async fn enrol(
    store: &Store,
    pseudonymiser: &Pseudonymiser,
    member_id: i64,
    person: &Normalised,
    display_name: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Agent, AgentError> {
    if person.kind() != IdentifierKind::SePersonalNumber {
        return Err(AgentError::NotAPersonalNumber);
    }
    let name = display_name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(AgentError::Rule {
            field: "display_name",
            reason: "must be 1 to 100 printable characters",
        });
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(AgentError::Rule {
            field: "expires_at",
            reason: "must be in the future",
        });
    }
    let agent = Agent {
        id: format!("agt_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id,
        display_name: name.to_string(),
        expires_at,
        disabled_at: None,
        created_at: now,
    };
    store
        .insert_agent(&agent, &pseudonymiser.lookup_tokens(person))
        .await?;
    Ok(agent)
}

/// The agent whose BankID login this is, if the person may use the console now. A person
/// enrolled at several members gets the newest active enrolment.
pub async fn console_login(
    store: &Store,
    person: &[Token],
    now: DateTime<Utc>,
) -> Result<Agent, AgentError> {
    let mut candidates = store.agents_of(person).await?;
    candidates.retain(|a| a.active(now));
    while let Some(agent) = candidates.pop() {
        if store.member(agent.member_id).await?.status == MemberStatus::Active {
            return Ok(agent);
        }
    }
    Err(AgentError::NotAllowed)
}

/// The agent of a console session, still allowed in (checked on every request, so a
/// disabled agent or a suspended member is out at once).
pub async fn still_allowed(
    store: &Store,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Result<Agent, AgentError> {
    let agent = store.agent(agent_id).await?;
    if !agent.active(now) || store.member(agent.member_id).await?.status != MemberStatus::Active {
        return Err(AgentError::NotAllowed);
    }
    Ok(agent)
}
