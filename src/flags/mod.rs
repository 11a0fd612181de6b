//! Flags on personal numbers: the use cases of placing, reading and lifting one.
//!
//! A flag means "verify, don't reject": matches report it with the advice
//! `verify_identity`, never with the identity of the member that placed it. Each use
//! case writes its own audit entries, in the same transaction as the change it audits.

pub mod own;
pub mod rules;

pub use rules::{Flag, FlagKind, FlagRuleError, FlagStatus, check_member_flag};

use crate::audit::entry::{Action, Outcome, Requester};
use crate::audit::{self, AuditError, AuditSink};
use crate::events::EventType;
use crate::idempotency::{self, Begun, RetryError, RetryKey};
use crate::identifiers::{IdentifierKind, Normalised};
use crate::pseudonym::Pseudonymiser;
use crate::store::{Store, StoreError};

/// What a use case of this module needs from the hub.
#[derive(Clone, Copy)]
pub struct Flags<'a> {
    pub store: &'a Store,
    pub audit: &'a AuditSink,
    pub pseudonymiser: &'a Pseudonymiser,
}

/// A member's request to flag a personal number on a victim's behalf.
#[derive(Debug)]
pub struct NewMemberFlag {
    pub subject: Normalised,
    pub kind: FlagKind,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
    pub duration_days: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("flags are placed on se_personal_number identifiers")]
    NotAPersonalNumber,
    #[error(transparent)]
    Rule(#[from] FlagRuleError),
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error("no such flag")]
    NotFound,
    /// The flag is not one the person may change (a member placed it, or it has ended).
    #[error("this flag cannot be changed here")]
    NotChangeable,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<RetryError> for FlagError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::KeyReused => FlagError::KeyReused,
            RetryError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for FlagError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => FlagError::NotFound,
            other => FlagError::Store(other),
        }
    }
}

/// Places a flag and returns it. With a retry key, a retry of the same request returns
/// the flag the first one placed (audited as `replayed`); the same key with another
/// body is refused.
pub async fn place(
    hub: Flags<'_>,
    who: &Requester,
    new: NewMemberFlag,
    retry: Option<RetryKey<'_>>,
) -> Result<Flag, FlagError> {
    if new.subject.kind() != IdentifierKind::SePersonalNumber {
        return Err(FlagError::NotAPersonalNumber);
    }
    let expires = check_member_flag(
        new.kind,
        new.consent_reference.as_deref(),
        new.police_report_reference.as_deref(),
        new.duration_days,
        who.at,
    )?;
    let tokens = hub.pseudonymiser.lookup_tokens(&new.subject);
    let token = hub.pseudonymiser.token(&new.subject);
    let subject = Some(token);
    let flag = Flag {
        id: format!("flg_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id: Some(who.member_id),
        subject: token,
        kind: new.kind,
        consent_reference: trimmed(new.consent_reference),
        police_report_reference: trimmed(new.police_report_reference),
        created_at: who.at,
        expires_at: expires,
        lifted_at: None,
    };
    let mut tx =
        match idempotency::begin(hub.store, hub.pseudonymiser, who, retry, &flag.id).await? {
            Begun::Fresh(tx) => tx,
            Begun::Replay(earlier) => {
                let entry = who.entry(Action::FlagPlace, None, subject, Outcome::Replayed);
                hub.audit.record(vec![entry]).await?;
                return Ok(hub.store.member_flag(who.member_id, &earlier).await?);
            }
        };
    tx.insert_flag(&flag).await?;
    let summary = crate::events::flag_summary(&flag);
    crate::events::emit(&mut tx, &tokens, EventType::FlagPlaced, who.at, &summary).await?;
    let entry = who.entry(Action::FlagPlace, None, subject, Outcome::Created);
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(flag)
}

/// One of the member's own flags; reading it is audited.
pub async fn read(hub: Flags<'_>, who: &Requester, id: &str) -> Result<Flag, FlagError> {
    let flag = hub.store.member_flag(who.member_id, id).await?;
    let entry = who.entry(Action::FlagRead, None, subject(hub, &flag), Outcome::Ok);
    hub.audit.record(vec![entry]).await?;
    Ok(flag)
}

/// Lifts one of the member's own flags. Lifting twice is harmless: the flag keeps its
/// first lift time, and the second attempt is audited as `already_lifted`.
pub async fn lift(hub: Flags<'_>, who: &Requester, id: &str) -> Result<Flag, FlagError> {
    let mut flag = hub.store.member_flag(who.member_id, id).await?;
    let subject = subject(hub, &flag);
    let mut tx = hub.store.begin_log().await?;
    if tx.lift_flag(who.member_id, id, who.at).await? {
        flag.lifted_at = Some(who.at);
        let summary = crate::events::flag_summary(&flag);
        crate::events::emit(
            &mut tx,
            &hub.pseudonymiser.consult(&flag.subject),
            EventType::FlagLifted,
            who.at,
            &summary,
        )
        .await?;
        let entry = who.entry(Action::FlagLift, None, subject, Outcome::Lifted);
        audit::append(&mut tx, &[entry]).await?;
        tx.commit().await?;
        flag.lifted_at = Some(who.at);
        return Ok(flag);
    }
    drop(tx);
    let entry = who.entry(Action::FlagLift, None, subject, Outcome::AlreadyLifted);
    hub.audit.record(vec![entry]).await?;
    Ok(hub.store.member_flag(who.member_id, id).await?)
}

/// The entry's subject index: the flag's token carried to the version the hub writes.
fn subject(hub: Flags<'_>, flag: &Flag) -> Option<crate::pseudonym::Token> {
    Some(hub.pseudonymiser.stored_pair(&flag.subject).0)
}

fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string())
}
