//! Caller verification: a member's contact centre (through the API) or one of its agents
//! (in the agent console) asks BankID to have the person whose number a caller claims
//! confirm, in their own app, that they are on this call with this member (BankID
//! `phone/auth` with `callInitiator`). An impostor who only knows the number cannot pass.
//!
//! Each step is audited with purpose `customer_service` as a lookup of the personal
//! number (and of the calling phone, when given): `caller.verify.start` records what was
//! active then (the warnings), `caller.verify.end` how it ended, and the warnings are
//! checked again at that moment. The person sees both in "who checked me".

pub mod agents;
pub mod rules;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit::entry::{Action, Outcome, Purpose, Requester};
use crate::audit::{Active, AuditError, AuditSink, Lookup, LookupSubject};
use crate::bankid::{
    BankIdClient, CollectStatus, CompletionData, PersonalNumber, PhoneOrderRequest,
};
use crate::idempotency::{self, Begun, RetryError, RetryKey};
use crate::identifiers::{IdentifierKind, Normalised};
use crate::indicators::rules::IndicatorPolicy;
use crate::pseudonym::Pseudonymiser;
use crate::store::{Store, StoreError};
use rules::{Failure, Initiator, Status, Verification, warnings};

/// What the use cases need from the hub.
#[derive(Clone, Copy)]
pub struct Callers<'a> {
    pub store: &'a Store,
    pub audit: &'a AuditSink,
    pub pseudonymiser: &'a Pseudonymiser,
    pub policy: &'a IndicatorPolicy,
    pub bankid: &'a BankIdClient,
    /// How often a waiting status request collects (BankID asks for 2 s).
    pub poll: Duration,
}

#[derive(Debug)]
pub struct NewVerification {
    pub personal_number: Normalised,
    pub initiator: Initiator,
    pub caller_phone: Option<Normalised>,
    pub agent_reference: Option<String>,
    pub agent_id: Option<String>,
    /// The member's name as the person's app shows it.
    pub member_name: String,
    /// Show the app text in English rather than Swedish.
    pub english: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error("no such verification")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<StoreError> for CallerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => CallerError::NotFound,
            other => CallerError::Store(other),
        }
    }
}

impl From<RetryError> for CallerError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::KeyReused => CallerError::KeyReused,
            RetryError::Store(s) => s.into(),
        }
    }
}

/// Starts a verification: records it (claiming the retry key), looks up the number and
/// phone (audited; the warnings), and starts BankID's phone order. A BankID refusal or
/// outage does not fail the request: the verification is returned as failed, saying why.
pub async fn start(
    hub: Callers<'_>,
    who: &Requester,
    new: NewVerification,
    retry: Option<RetryKey<'_>>,
) -> Result<Verification, CallerError> {
    if new.personal_number.kind() != IdentifierKind::SePersonalNumber {
        return Err(CallerError::Invalid {
            field: "personal_number",
            reason: "must be a Swedish personal number",
        });
    }
    rules::check_agent_reference(new.agent_reference.as_deref()).map_err(|reason| {
        CallerError::Invalid {
            field: "agent_reference",
            reason,
        }
    })?;
    // At the current version even during a key switch: the verification looks flags up
    // by these tokens later, and only an older token can be carried to a newer version.
    let subject = hub.pseudonymiser.settled_token(&new.personal_number);
    let phone = new
        .caller_phone
        .as_ref()
        .map(|p| hub.pseudonymiser.settled_token(p));
    let mut v = Verification {
        id: format!("cv_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id: who.member_id,
        subject,
        phone,
        initiator: new.initiator,
        agent_reference: new.agent_reference.map(|r| r.trim().to_string()),
        agent_id: new.agent_id,
        order_ref: None,
        status: Status::Pending,
        hint: None,
        failure: None,
        name: None,
        given_name: None,
        surname: None,
        warnings: Vec::new(),
        created_at: who.at,
        ended_at: None,
    };
    let mut tx = match idempotency::begin(hub.store, hub.pseudonymiser, who, retry, &v.id).await? {
        Begun::Fresh(tx) => tx,
        Begun::Replay(earlier) => {
            return Ok(hub.store.verification(who.member_id, &earlier).await?);
        }
    };
    tx.insert_verification(&v).await?;
    tx.commit().await?;

    let found = lookup(
        hub,
        who,
        &v,
        Action::CallerVerifyStart,
        crate::matching::outcome,
    )
    .await?;
    v.warnings = warnings_of(hub, &found);
    let order = PhoneOrderRequest::new(
        PersonalNumber::new(new.personal_number.value()),
        new.initiator.bankid(),
    )
    .visible_text(&rules::visible_text(&new.member_name, new.english));
    match hub.bankid.phone_auth(&order).await {
        Ok(started) => v.order_ref = Some(started.order_ref),
        Err(e) => {
            tracing::warn!(error = %e, verification = %v.id, "starting a BankID phone order failed");
            return end(hub, who, v, Err(Failure::from_error(&e)), who.at).await;
        }
    }
    hub.store.update_verification(&v).await?;
    Ok(v)
}

/// The member's verification, collected from BankID while it is pending, for up to
/// `wait` (a long poll: it returns as soon as the verification ends).
pub async fn status(
    hub: Callers<'_>,
    who: &Requester,
    id: &str,
    wait: Duration,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Verification, CallerError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut v = hub.store.verification(who.member_id, id).await?;
        let Some(order_ref) = v.order_ref.clone().filter(|_| v.status == Status::Pending) else {
            return Ok(v);
        };
        v = match hub.bankid.collect(&order_ref).await {
            Ok(c) if c.status == CollectStatus::Pending => {
                v.hint = c.hint_code.map(|h| h.as_str().to_string());
                hub.store.update_verification(&v).await?;
                v
            }
            Ok(c) if c.status == CollectStatus::Complete => {
                let done = c.completion_data.ok_or(Failure::Refused);
                end(hub, who, v, done, now()).await?
            }
            Ok(c) => {
                end(
                    hub,
                    who,
                    v,
                    Err(Failure::from_hint(c.hint_code.as_ref())),
                    now(),
                )
                .await?
            }
            Err(e) => {
                tracing::warn!(error = %e, verification = id, "collecting a BankID phone order failed");
                if let Err(e) = hub.bankid.cancel(&order_ref).await {
                    tracing::info!(error = %e, "cancelling the BankID phone order failed");
                }
                end(hub, who, v, Err(Failure::from_error(&e)), now()).await?
            }
        };
        if v.status != Status::Pending || tokio::time::Instant::now() + hub.poll > deadline {
            return Ok(v);
        }
        tokio::time::sleep(hub.poll).await;
    }
}

/// Cancels a pending verification (at BankID too); an ended one is returned as it is.
pub async fn cancel(
    hub: Callers<'_>,
    who: &Requester,
    id: &str,
) -> Result<Verification, CallerError> {
    let v = hub.store.verification(who.member_id, id).await?;
    if v.status != Status::Pending {
        return Ok(v);
    }
    if let Some(order_ref) = &v.order_ref
        && let Err(e) = hub.bankid.cancel(order_ref).await
    {
        tracing::info!(error = %e, "cancelling the BankID phone order failed");
    }
    end(hub, who, v, Err(Failure::Cancelled), who.at).await
}

/// Ends a pending verification once: the first request to store the end audits it and
/// checks the warnings again; a request that lost the race returns what the winner stored.
async fn end(
    hub: Callers<'_>,
    who: &Requester,
    mut v: Verification,
    result: Result<CompletionData, Failure>,
    at: DateTime<Utc>,
) -> Result<Verification, CallerError> {
    let result = result.and_then(|done| {
        // BankID answers for the number it was asked about; anything else is refused.
        let same = crate::identifiers::normalise(
            IdentifierKind::SePersonalNumber,
            done.user.personal_number.as_str(),
            at.date_naive(),
        )
        .is_ok_and(|n| hub.pseudonymiser.is_token_of(&v.subject, &n));
        if same {
            Ok(done)
        } else {
            Err(Failure::Refused)
        }
    });
    match &result {
        Ok(done) => {
            v.status = Status::Complete;
            v.name = Some(done.user.name.clone());
            v.given_name = Some(done.user.given_name.clone());
            v.surname = Some(done.user.surname.clone());
        }
        Err(failure) => {
            v.status = Status::Failed;
            v.failure = Some(*failure);
        }
    }
    v.hint = None;
    v.ended_at = Some(at);
    if !hub.store.update_verification(&v).await? {
        return Ok(hub.store.verification(who.member_id, &v.id).await?);
    }
    let decide = match result {
        Ok(_) => verified,
        Err(Failure::DeclinedCall) => declined,
        Err(Failure::Cancelled) => cancelled,
        Err(Failure::Expired) => expired,
        Err(_) => failed,
    };
    let mut ending = who.clone();
    ending.at = at;
    let found = lookup(hub, &ending, &v, Action::CallerVerifyEnd, decide).await?;
    v.warnings = warnings_of(hub, &found);
    hub.store.set_verification_warnings(&v).await?;
    Ok(v)
}

fn verified(_: &Active) -> Outcome {
    Outcome::Verified
}
fn declined(_: &Active) -> Outcome {
    Outcome::DeclinedCall
}
fn cancelled(_: &Active) -> Outcome {
    Outcome::Cancelled
}
fn expired(_: &Active) -> Outcome {
    Outcome::Expired
}
fn failed(_: &Active) -> Outcome {
    Outcome::Failed
}

/// The audited lookup of the verification's number (and phone).
async fn lookup(
    hub: Callers<'_>,
    who: &Requester,
    v: &Verification,
    action: Action,
    decide: fn(&Active) -> Outcome,
) -> Result<Vec<Active>, CallerError> {
    let subject = |stored: crate::pseudonym::Token, flaggable: bool| {
        // The verification's tokens were stored at the version current when it began.
        let (token, previous) = hub.pseudonymiser.stored_pair(&stored);
        LookupSubject {
            token,
            previous,
            flaggable,
        }
    };
    let mut subjects = vec![subject(v.subject, true)];
    subjects.extend(v.phone.map(|p| subject(p, false)));
    Ok(hub
        .audit
        .lookup(Lookup {
            requester: who.clone(),
            action,
            purpose: Some(Purpose::CustomerService),
            subjects,
            decide,
            policy: *hub.policy,
        })
        .await?)
}

fn warnings_of(hub: Callers<'_>, found: &[Active]) -> Vec<rules::Warning> {
    let Some(person) = found.first() else {
        return Vec::new();
    };
    warnings(person, found.get(1), hub.policy)
}
