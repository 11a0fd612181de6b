//! Indicator rules: categories, confidence, how long a report stands, when it counts, and
//! what a match advises.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identifiers::IdentifierKind;
use crate::pseudonym::Token;

macro_rules! wire_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            ToSchema, strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}

wire_enum! {
    /// What kind of fraud the identifier was used in.
    pub enum Category {
        Vishing, Smishing, Phishing, AccountTakeover, MoneyMule, InvoiceFraud, IdentityTheft,
        CardFraud, InvestmentScam, RomanceScam, Other,
    }
}

wire_enum! {
    /// How sure the publisher is; ordered, so the highest of several reports is `max`.
    pub enum Confidence { Low, Medium, High }
}

wire_enum! {
    /// One combined piece of advice per identifier; ordered from least to most severe, and
    /// the most severe that any rule gives wins.
    pub enum Advice { None, Investigate, VerifyIdentity, HoldPayment, DoNotPay }
}

/// How long a report stands unless the publisher says otherwise, and at most.
pub const DEFAULT_VALID_DAYS: i64 = 365;
pub const MAX_VALID_DAYS: i64 = 5 * 365 + 1;
/// The publisher's private note, in characters.
pub const NOTE_MAX: usize = 1000;
/// A member's own reference on a sighting, false-positive report or dispute.
pub const REFERENCE_MAX: usize = 128;

/// The tunables of the indicator rules (`indicator_under_review_after`,
/// `indicator_dispute_answer_days` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct IndicatorPolicy {
    /// From this many false-positive reports on, an indicator is under review.
    pub under_review_after: i64,
    /// A dispute the publisher has not upheld within this many days ends the indicator.
    pub dispute_answer_days: i64,
}

impl Default for IndicatorPolicy {
    fn default() -> Self {
        IndicatorPolicy {
            under_review_after: 3,
            dispute_answer_days: 30,
        }
    }
}

/// One published report.
#[derive(Debug, Clone)]
pub struct Indicator {
    pub id: String,
    pub member_id: i64,
    pub kind: IdentifierKind,
    pub subject: Token,
    pub category: Category,
    pub police_report_reference: String,
    pub confidence: Confidence,
    pub disclose_member: bool,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub sightings: i64,
    pub false_positive_reports: i64,
    pub disputed_at: Option<DateTime<Utc>>,
    pub dispute_upheld_at: Option<DateTime<Utc>>,
    /// The publisher's display name, only when it chose to be named.
    pub disclosed_as: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorStatus {
    Active,
    Revoked,
    Expired,
    /// Disputed by its subject and not upheld by the publisher in time.
    DisputeLapsed,
}

impl Indicator {
    /// The one statement of when a report counts in matches.
    pub fn status(&self, now: DateTime<Utc>, policy: &IndicatorPolicy) -> IndicatorStatus {
        if self.revoked_at.is_some() {
            IndicatorStatus::Revoked
        } else if self.valid_until <= now {
            IndicatorStatus::Expired
        } else if self.disputed()
            && self
                .disputed_at
                .is_some_and(|d| d + Duration::days(policy.dispute_answer_days) <= now)
        {
            IndicatorStatus::DisputeLapsed
        } else {
            IndicatorStatus::Active
        }
    }

    /// Disputed by its subject and not (yet) upheld by the publisher.
    pub fn disputed(&self) -> bool {
        self.disputed_at.is_some() && self.dispute_upheld_at.is_none()
    }

    pub fn under_review(&self, policy: &IndicatorPolicy) -> bool {
        self.false_positive_reports >= policy.under_review_after
    }

    /// Neither disputed nor under review: the report carries its full weight.
    fn standing(&self, policy: &IndicatorPolicy) -> bool {
        !self.disputed() && !self.under_review(policy)
    }
}

/// A rule violation, naming the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct IndicatorRuleError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn rule(field: &'static str, reason: &'static str) -> IndicatorRuleError {
    IndicatorRuleError { field, reason }
}

/// The checked, normalised parts of a new report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedReport {
    pub police_report_reference: String,
    pub valid_until: DateTime<Utc>,
    pub note: Option<String>,
}

/// Validates the publisher-supplied parts of a new report.
pub fn check_report(
    police_report_reference: &str,
    valid_until: Option<DateTime<Utc>>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CheckedReport, IndicatorRuleError> {
    let reference = crate::police_report::normalise(police_report_reference).ok_or(rule(
        "police_report_reference",
        crate::police_report::EXPECTED,
    ))?;
    let valid_until = valid_until.unwrap_or(now + Duration::days(DEFAULT_VALID_DAYS));
    if valid_until <= now {
        return Err(rule("valid_until", "must be in the future"));
    }
    if valid_until > now + Duration::days(MAX_VALID_DAYS) {
        return Err(rule("valid_until", "must be at most five years ahead"));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > NOTE_MAX) {
        return Err(rule("note", "must be at most 1000 characters"));
    }
    Ok(CheckedReport {
        police_report_reference: reference,
        valid_until,
        note: note.map(str::to_string),
    })
}

/// A member's own reference (on a sighting, false-positive report or dispute): trimmed,
/// 1 to 128 characters.
pub fn check_reference(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<String>, IndicatorRuleError> {
    match text.map(str::trim) {
        None => Ok(None),
        Some(t) if !t.is_empty() && t.chars().count() <= REFERENCE_MAX => Ok(Some(t.to_string())),
        Some(_) => Err(rule(field, "must be 1 to 128 characters")),
    }
}

/// What a matching member is told about the live reports on one identifier: counts and
/// dates, never who reported unless they chose to be named, never a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub reported_by_members: usize,
    pub categories: Vec<Category>,
    pub first_reported: Option<DateTime<Utc>>,
    pub last_reported: Option<DateTime<Utc>>,
    pub highest_confidence: Option<Confidence>,
    pub sightings: i64,
    pub false_positive_reports: i64,
    pub disputed: bool,
    pub under_review: bool,
    pub disclosed_members: Vec<String>,
    /// The reports' ids, so a member can confirm or contest one.
    pub ids: Vec<String>,
}

impl Summary {
    pub fn of(reports: &[Indicator], policy: &IndicatorPolicy) -> Summary {
        let mut members: Vec<i64> = reports.iter().map(|r| r.member_id).collect();
        members.sort_unstable();
        members.dedup();
        let mut categories: Vec<Category> = reports.iter().map(|r| r.category).collect();
        categories.sort_unstable();
        categories.dedup();
        let mut disclosed: Vec<String> = reports
            .iter()
            .filter_map(|r| r.disclosed_as.clone())
            .collect();
        disclosed.sort_unstable();
        disclosed.dedup();
        Summary {
            reported_by_members: members.len(),
            categories,
            first_reported: reports.iter().map(|r| r.created_at).min(),
            last_reported: reports.iter().map(|r| r.created_at).max(),
            highest_confidence: reports.iter().map(|r| r.confidence).max(),
            sightings: reports.iter().map(|r| r.sightings).sum(),
            false_positive_reports: reports.iter().map(|r| r.false_positive_reports).sum(),
            disputed: reports.iter().any(Indicator::disputed),
            under_review: reports.iter().any(|r| r.under_review(policy)),
            disclosed_members: disclosed,
            ids: reports.iter().map(|r| r.id.clone()).collect(),
        }
    }
}

fn pays_to(kind: IdentifierKind) -> bool {
    matches!(
        kind,
        IdentifierKind::Iban | IdentifierKind::SeBankgiro | IdentifierKind::SePlusgiro
    )
}

/// The advice for one identifier, from whether it carries an active flag and the active
/// reports on it (docs/indicators.md, "Advice"):
///
/// - an active flag: `verify_identity`;
/// - reports that are disputed or under review only: `investigate`;
/// - standing reports on an account (IBAN, bankgiro, plusgiro): `do_not_pay` when one has
///   high confidence or two or more members reported it, otherwise `hold_payment`;
/// - standing reports on a personal number, phone, e-mail, domain, IP or device:
///   `investigate`.
///
/// The most severe advice wins.
pub fn advice(
    kind: IdentifierKind,
    flagged: bool,
    reports: &[Indicator],
    policy: &IndicatorPolicy,
) -> Advice {
    let from_flag = if flagged {
        Advice::VerifyIdentity
    } else {
        Advice::None
    };
    if reports.is_empty() {
        return from_flag;
    }
    let standing: Vec<&Indicator> = reports.iter().filter(|r| r.standing(policy)).collect();
    let from_reports = if standing.is_empty() || !pays_to(kind) {
        Advice::Investigate
    } else {
        let high = standing.iter().any(|r| r.confidence == Confidence::High);
        let mut members: Vec<i64> = standing.iter().map(|r| r.member_id).collect();
        members.sort_unstable();
        members.dedup();
        if high || members.len() >= 2 {
            Advice::DoNotPay
        } else {
            Advice::HoldPayment
        }
    };
    from_flag.max(from_reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
    }

    fn report(member_id: i64, confidence: Confidence) -> Indicator {
        Indicator {
            id: "ind_1".into(),
            member_id,
            kind: IdentifierKind::Iban,
            subject: Token {
                version: 1,
                bytes: [0; 32],
            },
            category: Category::MoneyMule,
            police_report_reference: "5000-K1-24".into(),
            confidence,
            disclose_member: false,
            note: None,
            created_at: now(),
            valid_until: now() + Duration::days(30),
            revoked_at: None,
            sightings: 0,
            false_positive_reports: 0,
            disputed_at: None,
            dispute_upheld_at: None,
            disclosed_as: None,
        }
    }

    const POLICY: IndicatorPolicy = IndicatorPolicy {
        under_review_after: 3,
        dispute_answer_days: 30,
    };

    #[test]
    fn accounts_with_a_high_confidence_or_repeated_report_are_not_paid() {
        let iban = IdentifierKind::Iban;
        let one_medium = [report(1, Confidence::Medium)];
        assert_eq!(
            advice(iban, false, &one_medium, &POLICY),
            Advice::HoldPayment
        );
        let one_high = [report(1, Confidence::High)];
        assert_eq!(advice(iban, false, &one_high, &POLICY), Advice::DoNotPay);
        let two_members = [report(1, Confidence::Low), report(2, Confidence::Low)];
        assert_eq!(advice(iban, false, &two_members, &POLICY), Advice::DoNotPay);
        let same_member_twice = [report(1, Confidence::Low), report(1, Confidence::Low)];
        assert_eq!(
            advice(iban, false, &same_member_twice, &POLICY),
            Advice::HoldPayment
        );
    }

    #[test]
    fn disputed_or_contested_reports_only_ask_for_investigation() {
        let mut disputed = report(1, Confidence::High);
        disputed.disputed_at = Some(now());
        assert_eq!(
            advice(IdentifierKind::Iban, false, &[disputed], &POLICY),
            Advice::Investigate
        );
        let mut contested = report(1, Confidence::High);
        contested.false_positive_reports = 3;
        assert_eq!(
            advice(IdentifierKind::Iban, false, &[contested], &POLICY),
            Advice::Investigate
        );
    }

    #[test]
    fn a_flag_asks_for_identity_verification_and_the_most_severe_advice_wins() {
        let pn = IdentifierKind::SePersonalNumber;
        assert_eq!(advice(pn, true, &[], &POLICY), Advice::VerifyIdentity);
        assert_eq!(
            advice(pn, false, &[report(1, Confidence::High)], &POLICY),
            Advice::Investigate
        );
        assert_eq!(
            advice(pn, true, &[report(1, Confidence::High)], &POLICY),
            Advice::VerifyIdentity
        );
        assert_eq!(
            advice(
                IdentifierKind::Phone,
                false,
                &[report(1, Confidence::High)],
                &POLICY
            ),
            Advice::Investigate
        );
        assert_eq!(advice(pn, false, &[], &POLICY), Advice::None);
    }

    #[test]
    fn a_dispute_left_unanswered_ends_the_report() {
        let mut r = report(1, Confidence::High);
        r.valid_until = now() + Duration::days(300);
        r.disputed_at = Some(now());
        assert_eq!(
            r.status(now() + Duration::days(29), &POLICY),
            IndicatorStatus::Active
        );
        assert_eq!(
            r.status(now() + Duration::days(30), &POLICY),
            IndicatorStatus::DisputeLapsed
        );
        r.dispute_upheld_at = Some(now() + Duration::days(1));
        assert_eq!(
            r.status(now() + Duration::days(30), &POLICY),
            IndicatorStatus::Active
        );
    }

    #[test]
    fn reports_need_a_police_reference_and_a_bounded_life() {
        assert!(check_report("5000-K1-24", None, None, now()).is_ok());
        let err = |r: Result<CheckedReport, IndicatorRuleError>| r.map_err(|e| e.field);
        assert_eq!(
            err(check_report("K1", None, None, now())),
            Err("police_report_reference")
        );
        assert_eq!(
            err(check_report("5000-K1-24", Some(now()), None, now())),
            Err("valid_until")
        );
        let far = now() + Duration::days(MAX_VALID_DAYS + 1);
        assert_eq!(
            err(check_report("5000-K1-24", Some(far), None, now())),
            Err("valid_until")
        );
        let long = "x".repeat(NOTE_MAX + 1);
        assert_eq!(
            err(check_report("5000-K1-24", None, Some(&long), now())),
            Err("note")
        );
    }
}
