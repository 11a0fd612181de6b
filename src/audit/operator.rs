//! Operator actions as audit entries: admitting, suspending, re-quotaing a member and
//! issuing or revoking its keys are written into the same Merkle log as member requests
//! (actor `operator:<user>`), so the log shows who changed access, and when.

use crate::audit::entry::ENCODING_VERSION;
use crate::store::AuditRow;

/// The operating-system user running the CLI: `SUDO_USER` first, so `sudo fraudhub …`
/// names the person rather than root. Reduced to a short, log-safe token.
pub fn operator_name() -> String {
    let raw = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(32)
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    }
}

/// The entry for one operator action on `member_id` (and `key_id` for key actions).
pub fn entry(
    operator: &str,
    action: &str,
    member_id: i64,
    key_id: Option<&str>,
    at_ms: i64,
) -> AuditRow {
    AuditRow {
        at: at_ms,
        member_id: Some(member_id),
        key_id: key_id.map(str::to_string),
        action: action.to_string(),
        purpose: None,
        subject_token: None,
        key_version: None,
        outcome: "ok".to_string(),
        request_id: uuid::Uuid::new_v4().to_string(),
        entry_version: i64::from(ENCODING_VERSION),
        actor: Some(format!("operator:{operator}")),
        subject_view: None,
        correlation_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_entries_name_the_operator_and_no_subject() {
        let e = entry("alice", "operator.key.revoke", 3, Some("00ff"), 1);
        assert_eq!(e.actor.as_deref(), Some("operator:alice"));
        assert_eq!(e.member_id, Some(3));
        assert!(e.subject_token.is_none() && e.subject_view.is_none());
    }
}
