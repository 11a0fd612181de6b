//! Operator actions as audit entries: admitting, suspending, re-quotaing a member and
//! issuing or revoking its keys are written into the same Merkle log as member requests
//! (actor `operator:<user>`), so the log shows who changed access, and when.

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

#[cfg(test)]
mod tests {
    use crate::audit::entry::{Action, Actor, AuditEntry};

    #[test]
    fn operator_entries_name_the_operator_and_no_subject() {
        let at = crate::clock::from_millis(1);
        let e = AuditEntry::by_operator("alice", Action::KeyRevoke, 3, Some("00ff"), at);
        assert_eq!(e.actor, Actor::Operator("alice".into()));
        assert_eq!(e.actor.label(), "operator:alice");
        assert_eq!(e.member_id, Some(3));
        assert!(e.subject_token.is_none() && e.subject_view.is_none());
    }
}
