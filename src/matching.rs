//! Matching: which of the presented identifiers are flagged right now, audited.
//!
//! The decision is stated here once ([`outcome`]): an identifier is flagged when an
//! active flag sits on its token. Only personal numbers carry flags; every other kind is
//! looked at, audited, and clear.

use crate::audit::entry::{Action, Outcome, Requester};
use crate::audit::{AuditError, AuditSink, Lookup, LookupSubject};
use crate::flags::Flag;
use crate::identifiers::{IdentifierKind, Normalised};
use crate::pseudonym::Pseudonymiser;

pub use crate::audit::entry::Purpose;

/// One identifier's answer, in request order.
#[derive(Debug)]
pub struct Hit {
    pub kind: IdentifierKind,
    /// The active flags on the identifier; empty when clear.
    pub flags: Vec<Flag>,
}

impl Hit {
    pub fn flagged(&self) -> bool {
        outcome(&self.flags) == Outcome::Flagged
    }
}

/// The match decision, also what each lookup's audit entry records.
pub fn outcome(active: &[Flag]) -> Outcome {
    if active.is_empty() {
        Outcome::Clear
    } else {
        Outcome::Flagged
    }
}

/// Looks up every identifier and audits each lookup in the same group commit; the
/// answer exists only once its entries are durable.
pub async fn check(
    audit: &AuditSink,
    pseudonymiser: &Pseudonymiser,
    requester: Requester,
    purpose: Purpose,
    identifiers: &[Normalised],
) -> Result<Vec<Hit>, AuditError> {
    let subjects = identifiers
        .iter()
        .map(|id| {
            let token = pseudonymiser.token(id);
            LookupSubject {
                token,
                view: pseudonymiser.member_view(requester.member_id, &token.bytes),
                searched: id.kind() == IdentifierKind::SePersonalNumber,
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
        })
        .await?;
    Ok(identifiers
        .iter()
        .zip(found)
        .map(|(id, flags)| Hit {
            kind: id.kind(),
            flags,
        })
        .collect())
}
