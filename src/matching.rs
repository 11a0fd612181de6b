//! Matching: which of the presented identifiers are flagged right now.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{AuditError, AuditSink};
use crate::clock::to_millis;
use crate::identifiers::{IdentifierKind, Normalised};
use crate::pseudonym::{Pseudonymiser, Token};
use crate::store::{AuditRow, FlagRow};

/// Why a member asks. Mandatory (GDPR purpose limitation) and shown to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    AccountOpening,
    CreditApplication,
    Payment,
    PayeeCheck,
    CustomerService,
    FraudInvestigation,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountOpening => "account_opening",
            Self::CreditApplication => "credit_application",
            Self::Payment => "payment",
            Self::PayeeCheck => "payee_check",
            Self::CustomerService => "customer_service",
            Self::FraudInvestigation => "fraud_investigation",
        }
    }
}

/// One identifier's answer, before it is shaped for the wire.
#[derive(Debug)]
pub struct Hit {
    pub token: Token,
    pub kind: IdentifierKind,
    pub flags: Vec<FlagRow>,
}

/// Looks up every identifier and audits each lookup in the same group commit; results
/// keep the request order. `entry` builds the audit entry for one token (its outcome is
/// filled in by the writer from what the lookup found).
pub async fn find_flags(
    audit: &AuditSink,
    pseudonymiser: &Pseudonymiser,
    identifiers: &[Normalised],
    now: DateTime<Utc>,
    entry: impl Fn(Token) -> AuditRow,
) -> Result<Vec<Hit>, AuditError> {
    let tokens: Vec<Token> = identifiers
        .iter()
        .map(|id| pseudonymiser.token(id))
        .collect();
    // Flags only ever sit on personal numbers; other kinds need no lookup.
    let lookups = identifiers
        .iter()
        .zip(&tokens)
        .map(|(id, t)| (id.kind() == IdentifierKind::SePersonalNumber).then_some(t.bytes))
        .collect();
    let rows = tokens.iter().map(|t| entry(*t)).collect();
    let found = audit
        .lookup_and_record(rows, lookups, to_millis(now))
        .await?;
    Ok(identifiers
        .iter()
        .zip(tokens)
        .zip(found)
        .map(|((id, token), flags)| Hit {
            kind: id.kind(),
            flags,
            token,
        })
        .collect())
}
