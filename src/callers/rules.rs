//! Caller verification rules: who called whom, the states a verification goes through,
//! what a BankID hint or error means for the agent, and the warnings an agent is shown.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::Active;
use crate::bankid::{BankIdError, CallInitiator, HintCode};
use crate::flags::FlagKind;
use crate::indicators::rules::{Category, IndicatorPolicy, Summary};
use crate::pseudonym::Token;

/// Who placed the call.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Initiator {
    /// The customer called the member.
    User,
    /// The member called the customer.
    Rp,
}

impl Initiator {
    pub fn bankid(self) -> CallInitiator {
        match self {
            Initiator::User => CallInitiator::User,
            Initiator::Rp => CallInitiator::Rp,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    Pending,
    Complete,
    Failed,
}

/// Why a verification failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Failure {
    /// The person declined the call in their BankID app: they are not on this call.
    DeclinedCall,
    /// The person cancelled in the app, or the agent cancelled.
    Cancelled,
    /// Nobody answered in time.
    Expired,
    /// Another BankID order for the person started, here or elsewhere.
    StartedElsewhere,
    /// BankID could not be reached or answered an error.
    BankidUnavailable,
    /// BankID refused the person's BankID (blocked certificate, risk).
    Refused,
}

impl Failure {
    /// The failure a final `failed` collect means.
    pub fn from_hint(hint: Option<&HintCode>) -> Failure {
        match hint {
            Some(HintCode::UserDeclinedCall) => Failure::DeclinedCall,
            Some(HintCode::UserCancel) => Failure::Cancelled,
            Some(HintCode::ExpiredTransaction | HintCode::StartFailed) => Failure::Expired,
            Some(HintCode::Cancelled) => Failure::StartedElsewhere,
            _ => Failure::Refused,
        }
    }

    /// The failure a BankID error means (at start, or while collecting).
    pub fn from_error(e: &BankIdError) -> Failure {
        match e {
            BankIdError::AlreadyInProgress { .. } => Failure::StartedElsewhere,
            _ => Failure::BankidUnavailable,
        }
    }
}

/// One warning shown to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Warning {
    /// The claimed personal number carries active flags: verify with extra care.
    Flagged { flags: Vec<FlagNote> },
    /// Live police-reported indicators on the personal number or the calling phone.
    Reported {
        /// `personal_number` or `caller_phone`.
        on: String,
        reported_by_members: usize,
        categories: Vec<Category>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlagNote {
    pub kind: FlagKind,
    pub since: DateTime<Utc>,
}

/// The warnings for what is active on the personal number and on the caller's phone.
pub fn warnings(person: &Active, phone: Option<&Active>, policy: &IndicatorPolicy) -> Vec<Warning> {
    let mut out = Vec::new();
    if !person.flags.is_empty() {
        out.push(Warning::Flagged {
            flags: person
                .flags
                .iter()
                .map(|f| FlagNote {
                    kind: f.kind,
                    since: f.created_at,
                })
                .collect(),
        });
    }
    for (on, active) in [("personal_number", Some(person)), ("caller_phone", phone)] {
        let Some(active) = active.filter(|a| !a.indicators.is_empty()) else {
            continue;
        };
        let summary = Summary::of(&active.indicators, policy);
        out.push(Warning::Reported {
            on: on.to_string(),
            reported_by_members: summary.reported_by_members,
            categories: summary.categories,
        });
    }
    out
}

/// What the person's BankID app shows: the member they are talking to.
pub fn visible_text(member: &str, english: bool) -> String {
    if english {
        format!("You are talking to {member} customer service.")
    } else {
        format!("Du pratar med {member} kundtjänst.")
    }
}

/// A pending verification's hint as a sentence for the agent.
pub fn agent_hint(hint: Option<&str>, english: bool) -> &'static str {
    match (hint, english) {
        (Some("userCallConfirm"), false) => "Kunden ombeds bekräfta samtalet i BankID-appen.",
        (Some("userCallConfirm"), true) => {
            "The customer is asked to confirm the call in the BankID app."
        }
        (Some("userSign" | "started"), false) => {
            "Kunden har öppnat BankID-appen och legitimerar sig."
        }
        (Some("userSign" | "started"), true) => {
            "The customer has opened the BankID app and is identifying."
        }
        (Some("userMrtd"), false) => "Kunden läser av sin id-handling i BankID-appen.",
        (Some("userMrtd"), true) => "The customer is scanning their ID document in the BankID app.",
        (_, false) => "Väntar på att kunden öppnar BankID-appen.",
        (_, true) => "Waiting for the customer to open the BankID app.",
    }
}

/// A caller verification.
#[derive(Debug, Clone)]
pub struct Verification {
    pub id: String,
    pub member_id: i64,
    pub subject: Token,
    pub phone: Option<Token>,
    pub initiator: Initiator,
    pub agent_reference: Option<String>,
    pub agent_id: Option<String>,
    pub order_ref: Option<String>,
    pub status: Status,
    pub hint: Option<String>,
    pub failure: Option<Failure>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub warnings: Vec<Warning>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// An agent reference: what the member's own systems call the agent or the call.
pub fn check_agent_reference(text: Option<&str>) -> Result<(), &'static str> {
    match text {
        None => Ok(()),
        Some(t) if !t.trim().is_empty() && t.len() <= 64 && !t.chars().any(char::is_control) => {
            Ok(())
        }
        Some(_) => Err("must be 1 to 64 printable characters"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_errors_map_to_the_failures_the_agent_sees() {
        assert_eq!(
            Failure::from_hint(Some(&HintCode::UserDeclinedCall)),
            Failure::DeclinedCall
        );
        assert_eq!(
            Failure::from_hint(Some(&HintCode::Cancelled)),
            Failure::StartedElsewhere
        );
        assert_eq!(
            Failure::from_hint(Some(&HintCode::ExpiredTransaction)),
            Failure::Expired
        );
        assert_eq!(Failure::from_hint(None), Failure::Refused);
        let busy = BankIdError::AlreadyInProgress {
            details: String::new(),
        };
        assert_eq!(Failure::from_error(&busy), Failure::StartedElsewhere);
        assert_eq!(
            Failure::from_error(&BankIdError::TooManyRequests),
            Failure::BankidUnavailable
        );
    }

    #[test]
    fn the_app_names_the_member_in_the_agents_language() {
        assert_eq!(
            visible_text("Bank A", false),
            "Du pratar med Bank A kundtjänst."
        );
        assert_eq!(
            visible_text("Bank A", true),
            "You are talking to Bank A customer service."
        );
    }
}
