//! Master-key rotation by chained tokens (docs/operations.md, "Key rotation"): every
//! stored token is re-keyed by `fraudhub keys rotate` while the hub serves, no lookup
//! misses meanwhile, the audit log still verifies, and afterwards the old key alone tests
//! nothing against a copy of the database. On both database engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fraudhub::identifiers::{IdentifierKind, normalise};
use fraudhub::pseudonym::{Keyring, MasterKey, Pseudonymiser};
use serde_json::{Value, json};

use crate::common::{TestDb, TestHub, cli_command, flag_body, match_body, pn, start_time};

const SCOPES: &str = "flags:write,matches:read,indicators:write,watchlist:write,events:read,agents:manage,audit:read";

/// The test hubs' key (`MasterKey::from_bytes([42; 32])`) as version 1, and a new key.
fn ring_text() -> String {
    format!(
        "# version 1 is the key every test hub uses\n1:{}\n2:{}\n",
        "2a".repeat(32),
        "2b".repeat(32)
    )
}

fn ring() -> Keyring {
    Keyring::parse(&ring_text(), 1).expect("the test keyring parses")
}

/// Personal numbers on distinct birth dates, so that matching them again and again is
/// not a sweep.
fn people(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| pn(&format!("19{:02}0{}1{}", 60 + i, 1 + i % 9, i % 3), 10 + i))
        .collect()
}

/// `fraudhub` with the two-key ring, as an operator on the hub's machine runs it.
/// Awaited: the hub shares this test's runtime thread.
async fn fraudhub(db: &TestDb, dir: &std::path::Path, key: &str, args: &[&str]) -> Output {
    let mut command = cli_command(db, dir, args);
    command.env("FRAUDHUB_MASTER_KEY", key);
    tokio::process::Command::from(command)
        .env("FRAUDHUB_AUDIT_SIGNING_KEY", hex::encode([7u8; 32]))
        .env("USER", "olle")
        .env_remove("SUDO_USER")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fraudhub")
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn rotate(hub: &TestHub, dir: &std::path::Path, extra: &[&str]) -> Output {
    let mut args = vec!["keys", "rotate", "--to", "2"];
    args.extend_from_slice(extra);
    fraudhub(&hub.db, dir, &ring_text(), &args).await
}

async fn flagged(hub: &TestHub, key: &str, person: &str) -> bool {
    let (code, answer) = hub.post("/v1/matches", key, &match_body(&[person])).await;
    assert_eq!(code, 200, "{answer}");
    answer["results"][0]["flagged"] == true
}

/// A direct connection to the hub's database: what someone with a copy of it sees.
async fn raw(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&db.url).await.expect("connect")
}

async fn blobs(pool: &sqlx::AnyPool, table: &str, column: &str) -> Vec<Vec<u8>> {
    let rows: Vec<(Option<Vec<u8>>,)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {column} FROM {table}")))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
    rows.into_iter().filter_map(|(b,)| b).collect()
}

async fn rows_at_version(pool: &sqlx::AnyPool, table: &str, column: &str, v: i64) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} WHERE {column} = $1"
    )))
    .bind(v)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{table}: {e}"));
    n
}

/// The token columns' version columns, per table.
const VERSIONS: [(&str, &str); 8] = [
    ("watchlist", "key_version"),
    ("agents", "key_version"),
    ("audit_log", "subject_token_version"),
    ("idempotency_keys", "key_version"),
    ("flags", "key_version"),
    ("indicators", "key_version"),
    ("caller_verifications", "key_version"),
    ("web_sessions", "key_version"),
];

/// Rows at version `v` in the whole database.
async fn moved(pool: &sqlx::AnyPool, v: i64) -> i64 {
    let mut n = 0;
    for (table, column) in VERSIONS {
        n += rows_at_version(pool, table, column, v).await;
    }
    n
}

/// A member (id, key) watching the first person, with flags on `people`, an indicator on
/// the first and an agent enrolment of the second: a row in every kind of table rotation
/// re-keys.
async fn populated(hub: &TestHub, people: &[String]) -> (i64, String) {
    let (id, key) = hub.member_with("bank-a", SCOPES, 100_000, 100_000).await;
    let watch = json!({"identifier": {"kind": "se_personal_number", "value": people[0]}, "reference": "case-1"});
    let (code, body) = hub.post("/v1/watchlist", &key, &watch).await;
    assert_eq!(code, 201, "{body}");
    for p in people {
        assert_eq!(hub.place_flag(&key, p).await.0, 201);
    }
    let report = json!({
        "identifier": {"kind": "se_personal_number", "value": people[0]},
        "category": "money_mule",
        "police_report_reference": "5000-k123456-24",
        "confidence": "medium",
    });
    let (code, body) = hub.post("/v1/indicators", &key, &report).await;
    assert_eq!(code, 201, "{body}");
    let agent = json!({"personal_number": people[1], "display_name": "Erik E"});
    let (code, body) = hub.post("/v1/agents", &key, &agent).await;
    assert_eq!(code, 201, "{body}");
    (id, key)
}

#[tokio::test]
async fn rotating_under_traffic_loses_no_match_and_the_log_still_verifies() {
    let hub = TestHub::start_with_keyring(TestDb::new().await, &ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let people = people(8);
    let (_, key) = populated(&hub, &people).await;

    // Members keep matching the flagged people for the whole rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let (answers, misses) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = {
        let (http, base, key) = (hub.http.clone(), hub.base.clone(), key.clone());
        let (stop, answers, misses, people) = (
            stop.clone(),
            answers.clone(),
            misses.clone(),
            people.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let person = &people[i % people.len()];
                i += 1;
                let resp = http
                    .post(format!("{base}/v1/matches"))
                    .bearer_auth(&key)
                    .json(&match_body(&[person]))
                    .send()
                    .await
                    .expect("request");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                answers.fetch_add(1, Ordering::SeqCst);
                if status != 200 || body["results"][0]["flagged"] != true {
                    misses.fetch_add(1, Ordering::SeqCst);
                    eprintln!("missed {person}: {status} {body}");
                }
            }
        })
    };
    let before = answers.load(Ordering::SeqCst);
    let out = rotate(&hub, dir.path(), &["--batch", "2", "--grace-ms", "1000"]).await;
    let during = answers.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        printed(&out).contains("every stored token is at key version 2"),
        "{}",
        printed(&out)
    );
    assert!(during > 10, "the traffic ran during the rotation: {during}");
    assert_eq!(misses.load(Ordering::SeqCst), 0, "no lookup missed a flag");

    // Every row moved; the hub finds everything at version 2 alone.
    let pool = raw(&hub.db).await;
    for (table, column) in [
        ("flags", "key_version"),
        ("indicators", "key_version"),
        ("watchlist", "key_version"),
        ("agents", "key_version"),
        ("audit_log", "subject_token_version"),
    ] {
        assert_eq!(rows_at_version(&pool, table, column, 1).await, 0, "{table}");
        assert!(
            rows_at_version(&pool, table, column, 2).await > 0,
            "{table}"
        );
    }
    for p in &people {
        assert!(flagged(&hub, &key, p).await, "{p} is still flagged");
    }
    // The watch still fires: a new flag on the watched person reaches the feed.
    assert_eq!(hub.place_flag(&key, &people[0]).await.0, 201);
    let (code, feed) = hub.get("/v1/events?after=0", &key).await;
    assert_eq!(code, 200, "{feed}");
    let placed = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "flag.placed")
        .count();
    assert_eq!(
        placed, 2,
        "the watch saw the flag placed before and after: {feed}"
    );
    // The agent is still enrolled: enrolling the same person again is a conflict.
    let agent = json!({"personal_number": people[1], "display_name": "Erik again"});
    assert_eq!(hub.post("/v1/agents", &key, &agent).await.0, 409);

    let db = hub.stop().await;
    let verified = fraudhub(&db, dir.path(), &ring_text(), &["audit", "verify"]).await;
    assert!(verified.status.success(), "{}", printed(&verified));
}

#[tokio::test]
async fn after_rotation_a_database_copy_and_the_old_key_cannot_test_a_personal_number() {
    let hub = TestHub::start_with_keyring(TestDb::new().await, &ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let people = people(2);
    let (member_id, key) = populated(&hub, &people).await;
    let target = &people[0];
    // A member whose retry keys are personal numbers: the key's hash is stored too.
    let resp = hub
        .http
        .post(format!("{}/v1/flags", hub.base))
        .bearer_auth(&key)
        .header("Idempotency-Key", target.as_str())
        .json(&flag_body(target))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let first: Value = resp.json().await.unwrap();

    let out = rotate(&hub, dir.path(), &["--grace-ms", "300"]).await;
    assert!(out.status.success(), "{}", printed(&out));

    // Whoever has the old key alone computes the old token and the old key hash...
    let day = start_time().date_naive();
    let id = normalise(IdentifierKind::SePersonalNumber, target, day).unwrap();
    let old = Pseudonymiser::new(&MasterKey::from_bytes([42; 32]), 1);
    let old_token = old.token(&id).bytes.to_vec();
    let (old_key_hash, _) = old
        .idempotency_at(member_id, target, b"", 1)
        .expect("version 1 is the old key's");
    // ...and finds neither anywhere in the database.
    let pool = raw(&hub.db).await;
    for (table, column) in [
        ("flags", "subject_token"),
        ("indicators", "subject_token"),
        ("watchlist", "subject_token"),
        ("agents", "subject_token"),
        ("caller_verifications", "subject_token"),
        ("caller_verifications", "phone_token"),
        ("web_sessions", "person_token"),
        ("audit_log", "subject_token"),
        ("audit_log", "subject_view"),
        ("idempotency_keys", "key_hash"),
        ("idempotency_keys", "fingerprint"),
    ] {
        let stored = blobs(&pool, table, column).await;
        assert!(
            !stored.contains(&old_token),
            "{table}.{column} holds the old token"
        );
        assert!(
            !stored.contains(&old_key_hash.to_vec()),
            "{table}.{column} holds the old key hash"
        );
    }
    // What is stored is the token the full keyring makes, so the look was in the right place.
    let new_token = Pseudonymiser::from_ring(&ring())
        .token_at(&id, 2)
        .unwrap()
        .bytes
        .to_vec();
    assert!(
        blobs(&pool, "flags", "subject_token")
            .await
            .contains(&new_token)
    );
    // The hub with the full keyring still matches, and a retry is still a retry.
    assert!(flagged(&hub, &key, target).await);
    let retry = hub
        .http
        .post(format!("{}/v1/flags", hub.base))
        .bearer_auth(&key)
        .header("Idempotency-Key", target.as_str())
        .json(&flag_body(target))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 201);
    let replayed: Value = retry.json().await.unwrap();
    assert_eq!(
        replayed["id"], first["id"],
        "the retry replays the first flag"
    );
}

#[tokio::test]
async fn leaves_of_every_encoding_still_verify_after_rotation() {
    use fraudhub::audit::entry::{Action, Actor, AuditEntry, Outcome, Purpose};
    let hub = TestHub::start_with_keyring(TestDb::new().await, &ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let (member, key) = hub.member_with("bank-a", SCOPES, 100_000, 100_000).await;
    let person = &people(1)[0];
    let token = Pseudonymiser::new(&MasterKey::from_bytes([42; 32]), 1).token(
        &normalise(
            IdentifierKind::SePersonalNumber,
            person,
            start_time().date_naive(),
        )
        .unwrap(),
    );
    // Entries as hubs before encoding 3 wrote them: version 1 commits to the hub-wide
    // token itself, version 2 to a member view keyed from the identifier.
    let old = |version: u8| AuditEntry {
        at: start_time(),
        actor: Actor::Member,
        member_id: Some(member),
        key_id: Some("0123456789abcdef".into()),
        action: Action::Match,
        purpose: Some(Purpose::Payment),
        subject_token: Some(token.bytes.to_vec()),
        key_version: Some(1),
        subject_view: (version == 2).then(|| vec![0xbb; 32]),
        outcome: Outcome::Clear,
        request_id: format!("r-{version}"),
        correlation_id: None,
        entry_version: version,
    };
    fraudhub::audit::write(&hub.store, &[old(1), old(2)])
        .await
        .unwrap();
    assert!(!flagged(&hub, &key, person).await);
    let out = rotate(&hub, dir.path(), &["--grace-ms", "300"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        printed(&out).contains("1 version-1 audit entries cleared"),
        "{}",
        printed(&out)
    );
    // The version-1 leaf's token is gone (it counts as redacted); the others moved on.
    let pool = raw(&hub.db).await;
    assert!(
        !blobs(&pool, "audit_log", "subject_token")
            .await
            .contains(&token.bytes.to_vec())
    );
    assert_eq!(
        moved(&pool, 2).await,
        2,
        "the version-2 and the version-3 entry"
    );
    let db = hub.stop().await;
    let verified = fraudhub(&db, dir.path(), &ring_text(), &["audit", "verify"]).await;
    assert!(verified.status.success(), "{}", printed(&verified));
}

#[tokio::test]
async fn an_interrupted_rotation_resumes_where_it_stopped() {
    let hub = TestHub::start_with_keyring(TestDb::new().await, &ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let people = people(6);
    let (_, key) = hub.member_with("bank-a", SCOPES, 100_000, 100_000).await;
    for p in &people {
        assert_eq!(hub.place_flag(&key, p).await.0, 201);
    }
    let pool = raw(&hub.db).await;

    let first = rotate(
        &hub,
        dir.path(),
        &["--batch", "2", "--max-batches", "1", "--grace-ms", "300"],
    )
    .await;
    assert!(first.status.success(), "{}", printed(&first));
    assert!(printed(&first).contains("run the same command again"));
    // One batch of two rows moved (audit subject index rows: that table comes before the
    // flags); the rest waits, and matching finds all six flags meanwhile.
    assert_eq!(moved(&pool, 2).await, 2);
    assert_eq!(rows_at_version(&pool, "flags", "key_version", 1).await, 6);
    for p in &people {
        assert!(flagged(&hub, &key, p).await, "{p} is found mid-switch");
    }

    let second = rotate(&hub, dir.path(), &["--batch", "2", "--grace-ms", "300"]).await;
    assert!(second.status.success(), "{}", printed(&second));
    assert!(printed(&second).contains("resuming the switch to key version 2"));
    assert_eq!(moved(&pool, 1).await, 0);
    assert_eq!(rows_at_version(&pool, "flags", "key_version", 2).await, 6);
    let (current, next): (i64, Option<i64>) =
        sqlx::query_as("SELECT current_version, next_version FROM key_rotation")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((current, next), (2, None));
    for p in &people {
        assert!(
            flagged(&hub, &key, p).await,
            "{p} is found after the switch"
        );
    }
    // Running it again changes nothing.
    let again = rotate(&hub, dir.path(), &["--grace-ms", "0"]).await;
    assert!(again.status.success(), "{}", printed(&again));
    assert!(printed(&again).contains("at version 2 already"));
}

#[tokio::test]
async fn a_hub_without_the_next_key_answers_503_once_a_switch_starts() {
    // The ordinary test hub: only the version-1 key.
    let hub = TestHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = hub.member_with("bank-a", SCOPES, 100_000, 100_000).await;
    let person = &people(1)[0];
    assert_eq!(hub.place_flag(&key, person).await.0, 201);
    let started = rotate(&hub, dir.path(), &["--max-batches", "0", "--grace-ms", "0"]).await;
    assert!(started.status.success(), "{}", printed(&started));
    // It learns of the switch through the change signal and refuses rather than miss.
    let mut code = 0;
    for _ in 0..50 {
        code = hub
            .post("/v1/matches", &key, &match_body(&[person]))
            .await
            .0;
        if code == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code, 503);
}

#[tokio::test]
async fn a_hub_without_the_next_key_refuses_to_start_during_a_switch() {
    let hub = TestHub::start_with_keyring(TestDb::new().await, &ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let started = rotate(&hub, dir.path(), &["--max-batches", "0", "--grace-ms", "0"]).await;
    assert!(started.status.success(), "{}", printed(&started));
    let only_v1 = "2a".repeat(32);
    let serve = tokio::time::timeout(
        Duration::from_secs(60),
        fraudhub(
            &hub.db,
            dir.path(),
            &only_v1,
            &["serve", "--listen", "127.0.0.1:0"],
        ),
    )
    .await
    .expect("serve gives up at once instead of serving");
    assert!(!serve.status.success());
    assert!(
        printed(&serve).contains("key version 2"),
        "{}",
        printed(&serve)
    );
}

/// Rotation re-keys the tokens in a sealed segment of the subject index, whose filter
/// held the old ones: the filter goes with the re-keying, so the person's page still
/// finds the lookup there, before the filter is built again and after.
#[tokio::test]
async fn who_checked_me_still_finds_a_sealed_segments_lookups_after_rotation() {
    use crate::web_support::{ANNA, WebClient};
    let hub = TestHub::start_web_with_keyring(&ring()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = hub.member("bank-a").await;
    hub.match_one(&key, ANNA).await;
    hub.seal_the_current_segment().await;
    let built = fraudhub::audit::segments::build_filters(&hub.store, 64)
        .await
        .unwrap();
    assert_eq!(built, 1, "the sealed segment got its filter");

    let out = rotate(&hub, dir.path(), &["--grace-ms", "300"]).await;
    assert!(out.status.success(), "{}", printed(&out));

    let mut web = WebClient::new(&hub);
    let my = web.login(&hub, ANNA).await;
    assert_eq!(my.status, 200, "{}", my.body);
    for filter in ["dropped by the rotation", "built again from the new tokens"] {
        let page = web.get("/my/lookups").await;
        assert_eq!(page.status, 200);
        assert_eq!(
            page.body.matches("<tr><td>").count(),
            1,
            "with the segment's filter {filter}: {}",
            page.body
        );
        let built = fraudhub::audit::segments::build_filters(&hub.store, 64)
            .await
            .unwrap();
        if filter == "dropped by the rotation" {
            assert_eq!(built, 1, "the filter is built again");
        }
    }
}
