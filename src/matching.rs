//! Matching: what is known right now about each presented identifier, audited.
//!
//! The decision is stated here once ([`outcome`]): an identifier is flagged when an
//! active flag sits on its token, and reported when live police-reported indicators do.
//! Only personal numbers carry flags; reports can sit on any kind. The advice per
//! identifier comes from `indicators::rules::advice`.

use crate::audit::entry::{Action, Outcome, Requester};
use crate::audit::{Active, AuditError, AuditSink, Lookup, LookupSubject};
use crate::enumeration::{EnumerationGuard, Refusal};
use crate::flags::Flag;
use crate::identifiers::{IdentifierKind, Normalised};
use crate::indicators::rules::{Advice, IndicatorPolicy, Summary, advice};
use crate::pseudonym::Pseudonymiser;
use crate::store::Store;

/// What matching needs from the hub.
#[derive(Clone, Copy)]
pub struct Matching<'a> {
    pub store: &'a Store,
    pub audit: &'a AuditSink,
    pub pseudonymiser: &'a Pseudonymiser,
    pub enumeration: &'a EnumerationGuard,
    pub policy: &'a IndicatorPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// Refused by the enumeration defences (`crate::enumeration`); nothing was looked up.
    #[error("refused by the enumeration defences")]
    Refused(Refusal),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

pub use crate::audit::entry::Purpose;

/// One identifier's answer, in request order.
#[derive(Debug)]
pub struct Hit {
    pub kind: IdentifierKind,
    /// The active flags on the identifier; empty when clear.
    pub flags: Vec<Flag>,
    /// The live reports on it, as members are told about them.
    pub summary: Summary,
    pub advice: Advice,
}

impl Hit {
    pub fn flagged(&self) -> bool {
        !self.flags.is_empty()
    }
}

/// The match decision, also what each lookup's audit entry records.
pub fn outcome(active: &Active) -> Outcome {
    match (active.flags.is_empty(), active.indicators.is_empty()) {
        (true, true) => Outcome::Clear,
        (false, true) => Outcome::Flagged,
        (true, false) => Outcome::Reported,
        (false, false) => Outcome::FlaggedReported,
    }
}

/// Checks the identifiers for a member: admitted by the enumeration defences first
/// (`daily_budget` is the member's own distinct-subject budget, if it has one), then
/// looked up with each lookup audited in the same group commit; the answer exists only
/// once its entries are durable.
pub async fn check(
    hub: Matching<'_>,
    requester: Requester,
    purpose: Purpose,
    identifiers: &[Normalised],
    daily_budget: Option<i64>,
) -> Result<Vec<Hit>, MatchError> {
    let member = requester.member_id;
    if let Err(refusal) = hub
        .enumeration
        .admit(member, daily_budget, identifiers, requester.at)
    {
        if let Refusal::Sweep { first: true, .. } = refusal {
            tracing::warn!(
                member,
                key_id = %requester.key_id,
                "personal-number sweep suspected: member refused for one window"
            );
            let store = hub.store.clone();
            let at = requester.at;
            // Recorded off the request path: the refusal must not wait on it.
            tokio::spawn(async move {
                if let Err(e) = store.record_sweep(member, at).await {
                    tracing::error!(error = %crate::errors::Chain(&e), member, "recording a sweep failed");
                }
            });
        }
        return Err(MatchError::Refused(refusal));
    }
    let (audit, pseudonymiser) = (hub.audit, hub.pseudonymiser);
    let subjects = identifiers
        .iter()
        .map(|id| {
            let (token, previous) = pseudonymiser.lookup_pair(id);
            LookupSubject {
                token,
                previous,
                flaggable: id.kind() == IdentifierKind::SePersonalNumber,
            }
        })
        .collect();
    let found = audit
        .lookup(Lookup {
            requester,
            action: Action::Match,
            purpose: Some(purpose),
            subjects,
            decide: outcome,
            policy: *hub.policy,
        })
        .await?;
    Ok(identifiers
        .iter()
        .zip(found)
        .map(|(id, active)| Hit {
            kind: id.kind(),
            summary: Summary::of(&active.indicators, hub.policy),
            advice: advice(
                id.kind(),
                !active.flags.is_empty(),
                &active.indicators,
                hub.policy,
            ),
            flags: active.flags,
        })
        .collect())
}
