//! Backups: `fraudhub backup` copies the SQLite database while matches keep flowing, and
//! the documented pg_dump/pg_restore procedure round-trips a PostgreSQL hub. A restored
//! database must verify (`fraudhub audit checkpoint` + `verify`) and still answer
//! "flagged" for the flagged person, with the same master key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::common::*;

/// The CLI with the keys the test hubs use: master key 32×0x2a, checkpoint seed 32×0x07.
async fn fraudhub(url: &str, data_dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(args)
        .env("FRAUDHUB_DATABASE_URL", url)
        .env("FRAUDHUB_DATA_DIR", data_dir)
        .env("FRAUDHUB_MASTER_KEY", hex::encode([42u8; 32]))
        .env("FRAUDHUB_AUDIT_SIGNING_KEY", hex::encode([7u8; 32]))
        .output()
        .await
        .expect("run fraudhub")
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Sends matches back to back until stopped; counts the answered ones.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Load {
    fn start(hub: &TestHub, key: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (http, url, key) = (
            hub.http.clone(),
            format!("{}/v1/matches", hub.base),
            key.to_string(),
        );
        let task = tokio::spawn({
            let (stop, answered) = (stop.clone(), answered.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    let resp = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&match_body(&[PN, "19811218-9876"]))
                        .send()
                        .await
                        .expect("match");
                    assert_eq!(resp.status().as_u16(), 200);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Load {
            stop,
            answered,
            task,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    async fn wait_for(&self, n: u64) {
        while self.answered() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let answered = self.answered.clone();
        self.task.await.expect("load task");
        answered.load(Ordering::Relaxed)
    }
}

/// A hub with a flag on PN, 20 answered matches and a load generator already running.
async fn busy_hub(db: TestDb) -> (TestHub, String, Load) {
    let hub = TestHub::start_on(db, |_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.place_flag(&key, PN).await.0, 201);
    for _ in 0..20 {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
    }
    let load = Load::start(&hub, &key);
    load.wait_for(10).await;
    (hub, key, load)
}

/// `audit checkpoint` then `audit verify` on the restored database, then a hub on it
/// that must still find the flag (same master key, same API key).
async fn assert_restored(url: &str, key: &str, acknowledged_before: i64) {
    let dir = tempfile::tempdir().unwrap();
    ok(
        "audit checkpoint",
        &fraudhub(url, dir.path(), &["audit", "checkpoint"]).await,
    );
    let verified = ok(
        "audit verify",
        &fraudhub(url, dir.path(), &["audit", "verify"]).await,
    );
    assert!(verified.contains("complete and unaltered"), "{verified}");

    let restored = TestHub::start_on(TestDb::at(url), |_| {}).await;
    assert!(
        restored.audit_count().await >= acknowledged_before,
        "every entry acknowledged before the backup began is in it"
    );
    let (status, answer) = restored.match_one(key, PN).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["flagged"], true, "{answer}");
    restored.stop().await;
}

/// A fresh SQLite database with 16 MiB in a table of its own, so that `VACUUM INTO` has
/// real copying to do. The hub's own tables are tiny here (about 130 KB): the whole backup
/// took 12–35 ms, the time of a few matches (each waits for an fsync'd group commit), and
/// one slow fsync on a busy machine was enough for none to be answered meanwhile. With the
/// ballast it takes 100–170 ms, and tens of matches are answered during it.
async fn sqlite_with_ballast() -> TestDb {
    use sqlx::Connection;
    let db = TestDb::sqlite();
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "CREATE TABLE test_ballast (b BLOB NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4096)
         INSERT INTO test_ballast SELECT randomblob(4096) FROM n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    db
}

#[tokio::test]
async fn sqlite_backup_taken_while_matches_flow_restores_to_a_verifying_log_that_still_matches_flags()
 {
    let (hub, key, load) = busy_hub(sqlite_with_ballast().await).await;
    let acknowledged = hub.audit_count().await;
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("fraudhub-backup.db");

    let during_start = load.answered();
    let out = fraudhub(
        &hub.db.url,
        work.path(),
        &["backup", "--to", target.to_str().unwrap()],
    )
    .await;
    let during_end = load.answered();
    load.wait_for(during_end + 10).await;
    load.stop().await;
    let _db = hub.stop().await;

    let said = ok("backup", &out);
    assert!(
        during_end > during_start,
        "matches were answered while the backup ran ({during_start} → {during_end}): {said}"
    );
    assert!(said.contains("integrity check ok"), "{said}");
    assert!(
        said.contains("master key, version 1") && said.contains("checkpoint signing key"),
        "the operator is told what the backup does not hold: {said}"
    );
    assert_restored(&format!("sqlite:{}", target.display()), &key, acknowledged).await;
}

#[tokio::test]
async fn backup_refuses_to_overwrite_an_existing_file() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    ok(
        "migrate",
        &fraudhub(&db.url, work.path(), &["migrate"]).await,
    );
    let target = work.path().join("yesterday.db");
    std::fs::write(&target, b"yesterday's backup").unwrap();

    let out = fraudhub(
        &db.url,
        work.path(),
        &["backup", "--to", target.to_str().unwrap()],
    )
    .await;

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"yesterday's backup");
}

#[tokio::test]
async fn backup_file_is_readable_by_its_owner_only() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    ok(
        "migrate",
        &fraudhub(&db.url, work.path(), &["migrate"]).await,
    );
    let target = work.path().join("backup.db");

    ok(
        "backup",
        &fraudhub(
            &db.url,
            work.path(),
            &["backup", "--to", target.to_str().unwrap()],
        )
        .await,
    );

    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

#[tokio::test]
async fn backup_on_postgresql_exits_non_zero_with_the_pg_dump_command() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("fh.dump");
    let url = "postgres://fraud:s3cret@db.internal:5432/fraudhub";

    let out = fraudhub(
        url,
        work.path(),
        &["backup", "--to", target.to_str().unwrap()],
    )
    .await;

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "pg_dump -Fc -f {} -d postgres://fraud@db.internal:5432/fraudhub",
        target.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("pg_restore --no-owner -d"), "{err}");
    assert!(err.contains("master key"), "{err}");
    assert!(
        !err.contains("s3cret"),
        "the password is never printed: {err}"
    );
    assert!(!target.exists());
}

async fn run(program: &str, args: &[&str]) {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    ok(program, &out);
}

#[tokio::test]
async fn postgres_pg_dump_and_pg_restore_round_trip_to_a_verifying_log_that_still_matches_flags() {
    let admin = match std::env::var("FRAUDHUB_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            eprintln!("skipped: set FRAUDHUB_TEST_DATABASE_URL to a PostgreSQL server");
            return;
        }
    };
    let (hub, key, load) = busy_hub(TestDb::new().await).await;
    let acknowledged = hub.audit_count().await;
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("fraudhub.dump");
    let dump_path = dump.to_str().unwrap();

    let during_start = load.answered();
    run("pg_dump", &["-Fc", "-f", dump_path, "-d", &hub.db.url]).await;
    let during_end = load.answered();
    load.stop().await;
    let _db = hub.stop().await;

    use sqlx::Connection;
    let name = format!("fh_restore_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    let restored_url = format!("{base}/{name}");
    run(
        "pg_restore",
        &["--no-owner", "-d", &restored_url, dump_path],
    )
    .await;
    assert!(
        during_end > during_start,
        "matches were answered while pg_dump ran ({during_start} → {during_end})"
    );

    assert_restored(&restored_url, &key, acknowledged).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}
