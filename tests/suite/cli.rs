//! The operator's CLI and `serve` as a real process: admit, issue, suspend, revoke, and
//! graceful shutdown on SIGTERM with the audit log flushed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn operator_admits_a_member_issues_lists_and_revokes_keys() -> TestResult {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    ok(&cli(&db, dir.path(), &["migrate"]));
    let added = ok(&cli(
        &db,
        dir.path(),
        &[
            "member",
            "add",
            "--name",
            "bank-a",
            "--display-name",
            "Bank A AB",
            "--rate",
            "5",
            "--burst",
            "10",
        ],
    ));
    assert!(added.contains("member 1 added"), "{added}");
    let listed = ok(&cli(&db, dir.path(), &["member", "list"]));
    assert!(
        listed.contains("bank-a") && listed.contains("Bank A AB") && listed.contains("active"),
        "{listed}"
    );

    let key = ok(&cli(
        &db,
        dir.path(),
        &[
            "key",
            "issue",
            "--member",
            "1",
            "--scopes",
            "flags:write,matches:read",
        ],
    ));
    let key = key.trim();
    assert!(key.starts_with("fh_"));
    let key_id = key.split('_').nth(1).unwrap();
    let keys = ok(&cli(&db, dir.path(), &["key", "list", "--member", "1"]));
    assert!(
        keys.contains(key_id) && !keys.contains(key),
        "the secret is never listed: {keys}"
    );

    ok(&cli(&db, dir.path(), &["key", "revoke", key_id]));
    let keys = ok(&cli(&db, dir.path(), &["key", "list", "--member", "1"]));
    assert!(
        !keys.lines().nth(1).unwrap().trim_end().ends_with('-'),
        "revocation time shown: {keys}"
    );
    ok(&cli(&db, dir.path(), &["member", "suspend", "1"]));
    assert!(ok(&cli(&db, dir.path(), &["member", "list"])).contains("suspended"));
    Ok(())
}

#[tokio::test]
async fn cli_refuses_bad_operator_input_with_a_clear_message() -> TestResult {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    let out = cli(
        &db,
        dir.path(),
        &["key", "issue", "--member", "1", "--scopes", "admin"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
    let out = cli(&db, dir.path(), &["member", "suspend", "999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("member 999"));
    ok(&cli(
        &db,
        dir.path(),
        &["member", "add", "--name", "bank-a"],
    ));
    let dup = cli(&db, dir.path(), &["member", "add", "--name", "bank-a"]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    Ok(())
}

#[tokio::test]
async fn production_mode_refuses_development_defaults() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FRAUDHUB_PRODUCTION", "true")
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .env_remove("FRAUDHUB_DATABASE_URL")
        .env_remove("FRAUDHUB_MASTER_KEY")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("production"));
    Ok(())
}

#[tokio::test]
async fn serve_generates_a_private_dev_key_and_sigterm_drains_and_flushes() -> TestResult {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    ok(&cli(
        &db,
        dir.path(),
        &["member", "add", "--name", "bank-a"],
    ));
    let key = ok(&cli(
        &db,
        dir.path(),
        &["key", "issue", "--member", "1", "--scopes", "matches:read"],
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .stderr(Stdio::piped())
        .spawn()?;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "hub became ready");
    // A development master key was generated, private to the owner.
    let key_file = dir.path().join("dev-master.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file)?.permissions().mode() & 0o777,
        0o600
    );

    let mut sent = 0;
    for _ in 0..20 {
        let r = http
            .post(format!("{base}/v1/matches"))
            .bearer_auth(key.trim())
            .json(&match_body(&[PN]))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        sent += 1;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    assert!(out.status.success(), "clean exit on SIGTERM");
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("audit writer flushed"), "{logs}");
    assert!(
        logs.contains("DEVELOPMENT MASTER KEY"),
        "loud warning: {logs}"
    );
    let store = fraudhub::store::Store::connect(&db.url, 1).await?;
    // Every answered request is in the log, beside the operator's member add and key issue.
    let entries = store.audit_page(None, 0, 10_000).await?;
    let by_members = entries
        .iter()
        .filter(|e| {
            e.entry()
                .is_ok_and(|e| e.actor == fraudhub::audit::entry::Actor::Member)
        })
        .count();
    assert_eq!(by_members as i64, sent);
    assert_eq!(entries.len() as i64, sent + 2);
    Ok(())
}

#[test]
fn test_harness_and_logging_variables_are_not_mistaken_for_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["migrate"])
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .env_remove("FRAUDHUB_DATABASE_URL")
        .env("FRAUDHUB_LOG", "warn")
        .env("FRAUDHUB_LOG_FORMAT", "json")
        .env("FRAUDHUB_TEST_SOMETHING_NEW", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A real typo is still refused.
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["migrate"])
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .env("FRAUDHUB_LISTN", "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}
