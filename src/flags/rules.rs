//! Flag rules: kinds, who may place them, how long they last, when they are active.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::pseudonym::Token;

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
pub enum FlagKind {
    /// Placed by the person after BankID login.
    Consumer,
    /// Placed by a member on a victim's behalf, with a consent reference.
    IdentityTheft,
    /// Backed by a police report reference, which allows a longer duration.
    PoliceReport,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A flag on one personal number's token.
#[derive(Debug, Clone)]
pub struct Flag {
    pub id: String,
    /// The member that placed it; `None` for a person's own flag (kind `consumer`).
    pub member_id: Option<i64>,
    pub subject: Token,
    pub kind: FlagKind,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FlagStatus {
    Active,
    Lifted,
    Expired,
}

impl Flag {
    /// The one statement of when a flag counts: not lifted, and `now` before its expiry.
    /// (`LogTx::active_flags` is the same rule in SQL, for the lookup.)
    pub fn status(&self, now: DateTime<Utc>) -> FlagStatus {
        match self.lifted_at {
            Some(_) => FlagStatus::Lifted,
            None if self.expires_at <= now => FlagStatus::Expired,
            None => FlagStatus::Active,
        }
    }
}

pub const DEFAULT_DAYS: i64 = 365;
/// Durations a flag may have without a police report (30 days, 1 year, 2 years).
pub const STANDARD_DAYS: [i64; 3] = [30, 365, 730];
/// With a police report reference a flag may last up to five years.
pub const MAX_POLICE_REPORT_DAYS: i64 = 5 * 365 + 1;

/// A rule violation, naming the request field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FlagRuleError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn rule(field: &'static str, reason: &'static str) -> FlagRuleError {
    FlagRuleError { field, reason }
}

/// Validates the member-supplied parts of a new flag and returns its expiry.
pub fn check_member_flag(
    kind: FlagKind,
    consent_reference: Option<&str>,
    police_report_reference: Option<&str>,
    duration_days: Option<i64>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FlagRuleError> {
    if kind == FlagKind::Consumer {
        return Err(rule(
            "kind",
            "consumer flags are placed by the person after BankID login",
        ));
    }
    match consent_reference.map(str::trim) {
        Some(c) if !c.is_empty() && c.len() <= 128 => {}
        _ => {
            return Err(rule(
                "consent_reference",
                "a consent reference of 1 to 128 characters is required",
            ));
        }
    }
    if let Some(p) = police_report_reference {
        if !crate::police_report::is_valid(p) {
            return Err(rule(
                "police_report_reference",
                crate::police_report::EXPECTED,
            ));
        }
    } else if kind == FlagKind::PoliceReport {
        return Err(rule(
            "police_report_reference",
            "a police_report flag requires a police report reference",
        ));
    }
    expiry(
        duration_days.unwrap_or(DEFAULT_DAYS),
        police_report_reference.is_some(),
        now,
    )
}

/// How long a flag may last: 30 days, one or two years, or with a police report any
/// number of days up to five years.
fn expiry(
    days: i64,
    with_police_report: bool,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FlagRuleError> {
    let allowed = STANDARD_DAYS.contains(&days)
        || (with_police_report && (1..=MAX_POLICE_REPORT_DAYS).contains(&days));
    if !allowed {
        return Err(rule(
            "duration_days",
            "must be 30, 365 or 730, or up to 1826 with a police report reference",
        ));
    }
    Ok(now + Duration::days(days))
}

/// Validates a person's own new flag: its duration and optional police report number.
/// Returns the expiry and the normalised police report number.
pub fn check_own_flag(
    police_report_reference: Option<&str>,
    duration_days: i64,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Option<String>), FlagRuleError> {
    let report = match police_report_reference.map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(crate::police_report::normalise(text).ok_or(rule(
            "police_report_reference",
            crate::police_report::EXPECTED,
        ))?),
    };
    Ok((expiry(duration_days, report.is_some(), now)?, report))
}

/// The new expiry of a renewed flag: counted from `now`, within the flag's allowed
/// durations, and later than the expiry it replaces (renewing never shortens a flag).
pub fn renewed_expiry(
    flag: &Flag,
    duration_days: i64,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FlagRuleError> {
    let until = expiry(duration_days, flag.police_report_reference.is_some(), now)?;
    if until <= flag.expires_at {
        return Err(rule(
            "duration_days",
            "the flag already lasts longer than that; choose a longer duration",
        ));
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn long_durations_need_a_police_report() {
        let five_years = Some(MAX_POLICE_REPORT_DAYS);
        assert!(
            check_member_flag(FlagKind::IdentityTheft, Some("c1"), None, five_years, now())
                .is_err()
        );
        assert!(
            check_member_flag(
                FlagKind::PoliceReport,
                Some("c1"),
                Some("5000-K1-24"),
                five_years,
                now()
            )
            .is_ok()
        );
        assert!(
            check_member_flag(FlagKind::IdentityTheft, Some("c1"), None, Some(31), now()).is_err()
        );
    }

    #[test]
    fn defaults_to_one_year_and_requires_consent() {
        let exp = check_member_flag(FlagKind::IdentityTheft, Some("c1"), None, None, now());
        assert_eq!(exp, Ok(now() + Duration::days(365)));
        let err = check_member_flag(FlagKind::IdentityTheft, None, None, None, now());
        assert_eq!(err.map_err(|e| e.field), Err("consent_reference"));
    }
}
