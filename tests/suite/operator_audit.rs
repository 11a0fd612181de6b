//! Operator actions leave a trace: each CLI change of access is logged and written into
//! the Merkle audit log with the operator's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use fraudhub::store::Store;

use crate::common::*;

fn fraudhub(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(args)
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", dir)
        .env("USER", "alice")
        .env_remove("SUDO_USER")
        .output()
        .expect("run fraudhub");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn every_change_of_access_is_logged_and_audited_with_the_operator() -> TestResult {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    fraudhub(&db, dir.path(), &["migrate"]);
    let added = fraudhub(&db, dir.path(), &["member", "add", "--name", "bank-a"]);
    let added_log = String::from_utf8_lossy(&added.stderr).to_string();
    assert!(
        added_log.contains("operator action") && added_log.contains("alice"),
        "{added_log}"
    );
    let issued = fraudhub(
        &db,
        dir.path(),
        &["key", "issue", "--member", "1", "--scopes", "matches:read"],
    );
    let token = String::from_utf8_lossy(&issued.stdout).trim().to_string();
    let key_id = token.split('_').nth(1).unwrap().to_string();
    fraudhub(
        &db,
        dir.path(),
        &["member", "quota", "1", "--rate", "5", "--burst", "9"],
    );
    fraudhub(&db, dir.path(), &["key", "revoke", &key_id]);
    fraudhub(&db, dir.path(), &["member", "suspend", "1"]);
    fraudhub(&db, dir.path(), &["member", "reinstate", "1"]);

    let store = Store::connect(&db.url, 2).await?;
    let entries = store.audit_page(None, 0, 100).await?;
    let entries: Vec<_> = entries.into_iter().map(|e| e.entry.unwrap()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.member.add",
            "operator.key.issue",
            "operator.member.quota",
            "operator.key.revoke",
            "operator.member.suspend",
            "operator.member.reinstate",
        ]
    );
    for e in &entries {
        assert_eq!(e.actor.label(), "operator:alice");
        assert_eq!(e.member_id, Some(1));
    }
    assert_eq!(entries[1].key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(entries[3].key_id.as_deref(), Some(key_id.as_str()));
    store.close().await;

    fraudhub(&db, dir.path(), &["audit", "checkpoint"]);
    let verified = fraudhub(&db, dir.path(), &["audit", "verify"]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("6 entries"));
    Ok(())
}
