//! Storage limitation (GDPR Art. 5(1)(e)): one retention pass clears or deletes what the
//! hub no longer needs. `serve` runs it from housekeeping at the checkpoint cadence, and
//! `fraudhub retention run` runs it once on demand, so both do exactly the same thing.

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Audit entries older than this lose their personal-data fields.
    pub audit_days: u32,
    /// Flags are deleted this long after they ended (expired or lifted).
    pub flag_days: u32,
    /// Idempotency records are forgotten this long after the request that made them.
    pub idempotency_ttl_hours: u32,
    /// Web sessions idle this long, or this long since login, are deleted.
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
}

impl RetentionPolicy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            audit_days: config.audit_retention_days,
            flag_days: config.flag_retention_days,
            idempotency_ttl_hours: config.idempotency_ttl_hours,
            session_idle_secs: config.web.session_idle_secs,
            session_absolute_secs: config.web.session_absolute_secs,
        }
    }

    /// Idempotency records created at or before this instant are forgotten at `now`.
    pub fn idempotency_forgotten_at_or_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::hours(i64::from(self.idempotency_ttl_hours))
    }
}

/// What one pass did; counts only, never identifiers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    pub audit_entries_redacted: u64,
    pub flags_purged: u64,
    pub indicators_purged: u64,
    pub idempotency_keys_deleted: u64,
    pub sessions_deleted: u64,
    pub caller_verifications_purged: u64,
}

impl RetentionReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Runs every retention rule once at `now`. Each rule commits on its own, so a failure in
/// one leaves the others' work done; the next pass picks up whatever is left.
pub async fn run_pass(
    store: &Store,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, StoreError> {
    let audit_cutoff = now - Duration::days(i64::from(policy.audit_days));
    let flag_cutoff = now - Duration::days(i64::from(policy.flag_days));
    Ok(RetentionReport {
        audit_entries_redacted: store.redact_audit_before(audit_cutoff).await?,
        flags_purged: store.purge_ended_flags(flag_cutoff).await?,
        indicators_purged: store.purge_ended_indicators(flag_cutoff).await?,
        idempotency_keys_deleted: store
            .delete_idempotency_keys(policy.idempotency_forgotten_at_or_before(now))
            .await?,
        // A verification's answer (with the name BankID returned) is for the call it was
        // made for; the audit log keeps that it happened.
        caller_verifications_purged: store
            .purge_ended_verifications(now - Duration::hours(CALLER_VERIFICATION_HOURS))
            .await?,
        sessions_deleted: store
            .delete_ended_sessions(
                now - secs(policy.session_idle_secs),
                now - secs(policy.session_absolute_secs),
            )
            .await?,
    })
}

/// Hours an ended caller verification is kept for the member that asked.
pub const CALLER_VERIFICATION_HOURS: i64 = 24;

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}
