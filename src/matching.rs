//! Matching: which of the presented identifiers are flagged right now.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::to_millis;
use crate::identifiers::{IdentifierKind, Normalised};
use crate::pseudonym::{Pseudonymiser, Token};
use crate::store::{FlagRow, Store, StoreError};

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

/// Looks up all identifiers with one query; results keep the request order.
pub async fn find_flags(
    store: &Store,
    pseudonymiser: &Pseudonymiser,
    identifiers: &[Normalised],
    now: DateTime<Utc>,
) -> Result<Vec<Hit>, StoreError> {
    let tokens: Vec<Token> = identifiers
        .iter()
        .map(|id| pseudonymiser.token(id))
        .collect();
    // Flags only ever sit on personal numbers; other kinds cannot match a flag.
    let lookup: Vec<&[u8]> = identifiers
        .iter()
        .zip(&tokens)
        .filter(|(id, _)| id.kind() == IdentifierKind::SePersonalNumber)
        .map(|(_, t)| t.bytes.as_slice())
        .collect();
    let rows = store.active_flags(&lookup, to_millis(now)).await?;
    Ok(identifiers
        .iter()
        .zip(tokens)
        .map(|(id, token)| Hit {
            kind: id.kind(),
            flags: rows
                .iter()
                .filter(|r| {
                    id.kind() == IdentifierKind::SePersonalNumber && r.subject_token == token.bytes
                })
                .cloned()
                .collect(),
            token,
        })
        .collect())
}
