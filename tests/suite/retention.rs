//! Storage limitation: ended flags are purged after `flag_retention_days`, idempotency
//! keys are stored only as keyed hashes and forgotten after `idempotency_ttl_hours`, and
//! the audit log still verifies after a purge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use chrono::Duration;
use fraudhub::clock::Clock;
use fraudhub::config::Config;
use fraudhub::retention::{RetentionPolicy, RetentionReport, run_pass};
use serde_json::{Value, json};
use sqlx::{Row, ValueRef};

use crate::common::*;

/// One retention pass with the default policy at the hub's (manual) time.
async fn retention_pass(hub: &TestHub) -> RetentionReport {
    let policy = RetentionPolicy::from_config(&Config::default());
    run_pass(&hub.store, &policy, hub.clock.now())
        .await
        .expect("retention pass")
}

async fn place_with_key(hub: &TestHub, key: &str, idem: &str, body: &Value) -> (u16, Value) {
    let resp = hub
        .http
        .post(format!("{}/v1/flags", hub.base))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(body)
        .send()
        .await
        .expect("request");
    split(resp).await
}

async fn db_pool(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&db.url).await.expect("connect")
}

async fn idempotency_rows(db: &TestDb) -> i64 {
    let pool = db_pool(db).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM idempotency_keys")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    pool.close().await;
    n
}

fn fraudhub(
    db: &TestDb,
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(args)
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", data_dir)
        .env("FRAUDHUB_AUDIT_SIGNING_KEY", hex::encode([7u8; 32]))
        .env_remove("FRAUDHUB_MASTER_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run fraudhub")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn a_lifted_flag_is_kept_for_the_retention_window_then_purged() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = hub.place_flag(&key, PN).await;
    let path = format!("/v1/flags/{}", flag["id"].as_str().unwrap());
    assert_eq!(
        hub.post(&format!("{path}/lift"), &key, &json!({})).await.0,
        200
    );

    hub.clock.advance(Duration::days(90));
    assert_eq!(retention_pass(&hub).await.flags_purged, 0);
    let (status, shown) = hub.get(&path, &key).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("lifted")));

    hub.clock.advance(Duration::minutes(1));
    assert_eq!(retention_pass(&hub).await.flags_purged, 1);
    assert_eq!(hub.get(&path, &key).await.0, 404);
    Ok(())
}

#[tokio::test]
async fn an_expired_flag_is_kept_for_the_retention_window_then_purged() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let mut body = flag_body(PN);
    body["duration_days"] = json!(30);
    let (_, flag) = hub.post("/v1/flags", &key, &body).await;
    let path = format!("/v1/flags/{}", flag["id"].as_str().unwrap());

    hub.clock.advance(Duration::days(30 + 90));
    assert_eq!(retention_pass(&hub).await.flags_purged, 0);
    let (status, shown) = hub.get(&path, &key).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("expired")));

    hub.clock.advance(Duration::minutes(1));
    assert_eq!(retention_pass(&hub).await.flags_purged, 1);
    assert_eq!(hub.get(&path, &key).await.0, 404);
    Ok(())
}

#[tokio::test]
async fn an_active_flag_is_never_purged_however_old() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let mut body = flag_body(PN);
    body["kind"] = json!("police_report");
    body["police_report_reference"] = json!("5000-K123456-24");
    body["duration_days"] = json!(1826);
    let (_, flag) = hub.post("/v1/flags", &key, &body).await;
    let path = format!("/v1/flags/{}", flag["id"].as_str().unwrap());

    // Older than any retention window, yet still in force.
    hub.clock.advance(Duration::days(1825));
    assert_eq!(retention_pass(&hub).await.flags_purged, 0);
    let (status, shown) = hub.get(&path, &key).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("active")));
    assert_eq!(
        hub.match_one(&key, PN).await.1["results"][0]["flagged"],
        true
    );
    Ok(())
}

/// Every value of every column of `idempotency_keys`, as bytes.
async fn idempotency_table_bytes(db: &TestDb) -> Vec<Vec<u8>> {
    let pool = db_pool(db).await;
    let rows = sqlx::query("SELECT * FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .expect("rows");
    let mut values = Vec::new();
    for row in &rows {
        for i in 0..row.len() {
            if row.try_get_raw(i).expect("column").is_null() {
                continue;
            }
            let v = row
                .try_get::<Vec<u8>, _>(i)
                .or_else(|_| row.try_get::<String, _>(i).map(String::into_bytes))
                .or_else(|_| row.try_get::<i64, _>(i).map(|n| n.to_string().into_bytes()))
                .expect("a blob, text or integer column");
            values.push(v);
        }
    }
    pool.close().await;
    values
}

#[tokio::test]
async fn the_idempotency_table_never_holds_the_raw_key() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    // Members do put case numbers and personal numbers in their keys.
    let raw = "case-19900101-0017";
    assert_eq!(place_with_key(&hub, &key, raw, &flag_body(PN)).await.0, 201);

    let values = idempotency_table_bytes(&hub.db).await;
    assert!(values.len() >= 5, "one row read: {values:?}");
    for v in &values {
        assert!(
            !v.windows(raw.len()).any(|w| w == raw.as_bytes()),
            "raw Idempotency-Key stored"
        );
        // Nor a plain unkeyed hash of it, which anyone could recompute.
        assert_ne!(v.as_slice(), blake3::hash(raw.as_bytes()).as_bytes());
    }
    Ok(())
}

#[tokio::test]
async fn a_replay_within_the_ttl_returns_the_original_flag() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (s1, first) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    hub.clock
        .advance(Duration::hours(24) - Duration::seconds(1));
    let (s2, second) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first["id"], second["id"]);
    Ok(())
}

#[tokio::test]
async fn after_the_ttl_the_same_key_places_a_new_flag_even_before_housekeeping() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, first) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    hub.clock.advance(Duration::hours(24));
    // No retention pass ran: the request itself must treat the key as forgotten.
    let (status, second) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(first["id"], second["id"]);
    // And the new record is remembered in its turn.
    let (_, third) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    assert_eq!(second["id"], third["id"]);
    Ok(())
}

#[tokio::test]
async fn the_retention_pass_deletes_idempotency_records_past_the_ttl() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    hub.clock.advance(Duration::hours(23));
    assert_eq!(retention_pass(&hub).await.idempotency_keys_deleted, 0);
    assert_eq!(idempotency_rows(&hub.db).await, 1);

    hub.clock.advance(Duration::hours(1));
    assert_eq!(retention_pass(&hub).await.idempotency_keys_deleted, 1);
    assert_eq!(idempotency_rows(&hub.db).await, 0);
    Ok(())
}

#[tokio::test]
async fn audit_verify_passes_after_flags_are_purged() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = hub.place_flag(&key, PN).await;
    let id = flag["id"].as_str().unwrap();
    hub.post(&format!("/v1/flags/{id}/lift"), &key, &json!({}))
        .await;
    let entries = hub.audit_count().await;

    hub.clock.advance(Duration::days(91));
    assert_eq!(retention_pass(&hub).await.flags_purged, 1);
    assert_eq!(hub.audit_count().await, entries, "audit entries stay");
    let db = hub.stop().await;

    let dir = tempfile::tempdir()?;
    let text = stdout_of(&fraudhub(&db, dir.path(), &["audit", "verify"], &[]));
    assert!(text.contains("audit log verified"), "{text}");
    Ok(())
}

#[tokio::test]
async fn retention_run_on_the_cli_purges_and_prints_counts() -> TestResult {
    let hub = TestHub::start().await;
    // The CLI runs on the wall clock, so the flag is placed and lifted 200 days ago.
    hub.clock.advance(Duration::days(-200));
    let (_, key) = hub.member("bank-a").await;
    let (_, flag) = place_with_key(&hub, &key, "retry-1", &flag_body(PN)).await;
    let id = flag["id"].as_str().unwrap().to_string();
    hub.post(&format!("/v1/flags/{id}/lift"), &key, &json!({}))
        .await;
    let db = hub.stop().await;

    let dir = tempfile::tempdir()?;
    let text = stdout_of(&fraudhub(&db, dir.path(), &["retention", "run"], &[]));
    assert!(text.contains("flags purged: 1"), "{text}");
    assert!(text.contains("idempotency keys deleted: 1"), "{text}");
    let again = stdout_of(&fraudhub(&db, dir.path(), &["retention", "run"], &[]));
    assert!(again.contains("flags purged: 0"), "{again}");
    Ok(())
}

#[tokio::test]
async fn retention_settings_out_of_range_are_refused_naming_the_key() -> TestResult {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("FRAUDHUB_FLAG_RETENTION_DAYS", "0")],
            "flag_retention_days",
        ),
        (
            &[("FRAUDHUB_IDEMPOTENCY_TTL_HOURS", "0")],
            "idempotency_ttl_hours",
        ),
        // A remembered key must not outlive the flag it points at.
        (
            &[
                ("FRAUDHUB_FLAG_RETENTION_DAYS", "1"),
                ("FRAUDHUB_IDEMPOTENCY_TTL_HOURS", "25"),
            ],
            "idempotency_ttl_hours",
        ),
    ];
    for (env, field) in cases {
        let out = fraudhub(&db, dir.path(), &["retention", "run"], env);
        assert!(!out.status.success(), "{env:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field), "{env:?}: {err}");
    }
    Ok(())
}
