//! Three hub instances on one database, as behind a load balancer: what the database
//! shares (flags, keys, members, one audit log) is seen by every instance at once, and
//! what each instance keeps in memory (limits, the key cache) is split or bounded.
//! On SQLite the three instances share one file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fraudhub::audit::log::AuditLog;
use fraudhub::audit::verify::verify_log;
use fraudhub::clock::Clock;
use fraudhub::config::Config;
use fraudhub::tlog::{Blake3, Checkpoint, verify_consistency};
use serde_json::json;

use crate::common::*;

/// Three instances on one fresh database, each configured by `tune`.
async fn three(tune: fn(&mut Config)) -> [Arc<TestHub>; 3] {
    let a = TestHub::start_with(tune).await;
    let b = TestHub::start_on(TestDb::detached(&a.db), tune).await;
    let c = TestHub::start_on(TestDb::detached(&a.db), tune).await;
    [Arc::new(a), Arc::new(b), Arc::new(c)]
}

fn defaults(_: &mut Config) {}

fn flagged(answer: &serde_json::Value) -> bool {
    answer["results"][0]["flagged"].as_bool().unwrap()
}

/// A valid personal number: birth date 1970-01-01 plus `day` days, serial 101.
fn person(day: i64) -> String {
    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(day);
    let ymd = date.format("%Y%m%d").to_string();
    let nine = format!("{}101", &ymd[2..]);
    format!("{ymd}101{}", check_digit(&nine))
}

/// The operator's CLI, as a separate process on the instances' database.
fn fraudhub(db: &TestDb, data_dir: &std::path::Path, args: &[&str]) -> Output {
    let out = cli(db, data_dir, args);
    ok(&out);
    out
}

/// Statuses of one match per instance with `key`.
async fn statuses(hubs: &[Arc<TestHub>; 3], key: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for hub in hubs {
        out.push(hub.match_one(key, PN).await.0);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flag_placed_on_one_instance_is_matched_on_the_others_at_once_and_so_is_its_lift()
-> TestResult {
    let hubs = three(defaults).await;
    let (_, bank_a) = hubs[0].member("bank-a").await;
    let (_, bank_b) = hubs[0].member("bank-b").await;
    let (status, flag) = hubs[0].place_flag(&bank_a, PN).await;
    assert_eq!(status, 201, "{flag}");
    // No sleep: the flag is in the database every instance reads.
    for hub in &hubs {
        let (status, answer) = hub.match_one(&bank_b, PN_10).await;
        assert_eq!(status, 200, "{answer}");
        assert!(flagged(&answer), "{answer}");
    }
    let id = flag["id"].as_str().unwrap();
    let (status, lifted) = hubs[1]
        .post(&format!("/v1/flags/{id}/lift"), &bank_a, &json!({}))
        .await;
    assert_eq!(status, 200, "{lifted}");
    for hub in [&hubs[0], &hubs[2]] {
        let (status, answer) = hub.match_one(&bank_b, PN).await;
        assert_eq!(status, 200);
        assert!(!flagged(&answer), "{answer}");
        let (_, shown) = hub.get(&format!("/v1/flags/{id}"), &bank_a).await;
        assert_eq!(shown["status"], "lifted");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_matches_over_three_instances_make_one_dense_log_and_every_instances_checkpoints_verify()
-> TestResult {
    let hubs = three(defaults).await;
    let (_, key) = hubs[0].member("bank-a").await;
    let logs: Vec<AuditLog> = hubs
        .iter()
        .map(|h| AuditLog::new(h.store.clone(), test_signer(), TEST_ORIGIN.into()))
        .collect();
    // Per burst: 3 instances × 4 clients × 5 requests × 2 identifiers.
    const PER_BURST: u64 = 120;
    let mut signed = Vec::new();
    for burst in 0..3u64 {
        let mut tasks = Vec::new();
        for client in 0..12 {
            let hub = Arc::clone(&hubs[client % 3]);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let (status, body) = hub
                        .post("/v1/matches", &key, &match_body(&[PN, PN_10]))
                        .await;
                    assert_eq!(status, 200, "{body}");
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        // Each burst is sealed by a different instance, as its housekeeping tick would.
        let i = usize::try_from(burst)?;
        let row = logs[i].checkpoint(hubs[i].clock.now()).await?;
        assert_eq!(u64::try_from(row.size)?, PER_BURST * (burst + 1));
        signed.push(Checkpoint::open(
            row.note.as_bytes(),
            TEST_ORIGIN,
            &[logs[i].verifier()],
        )?);
    }
    let total = PER_BURST * 3;
    let page = hubs[2].store.audit_page(None, 0, 10_000).await?;
    let indexes: Vec<i64> = page.iter().map(|e| e.leaf_index).collect();
    assert_eq!(indexes, (0..i64::try_from(total)?).collect::<Vec<_>>());
    assert_eq!(hubs[1].store.tree_size().await?, total);

    let report = verify_log(&hubs[0].store, &logs[0].verifier(), TEST_ORIGIN).await?;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, total);
    assert!(report.checkpoints >= 3, "{report:?}");
    // Every pair of checkpoints, whichever instance signed them, is provably consistent,
    // with the proof served by yet another instance.
    for (i, old) in signed.iter().enumerate() {
        for new in &signed[i + 1..] {
            let proof = logs[(i + 2) % 3].consistency(old.size, new.size).await?;
            verify_consistency::<Blake3>(old.size, new.size, &proof, &old.root, &new.root)?;
        }
    }
    Ok(())
}

/// Sends `rounds` requests to each instance in turn and counts those admitted.
async fn admitted(hubs: &[Arc<TestHub>; 3], key: &str, rounds: usize) -> usize {
    let mut ok = 0;
    for _ in 0..rounds {
        for hub in hubs {
            match hub.match_one(key, PN).await.0 {
                200 => ok += 1,
                429 => {}
                other => panic!("unexpected status {other}"),
            }
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_quota_instances_three_instances_together_admit_one_members_burst() -> TestResult {
    let hubs = three(|c| c.quota_instances = 3).await;
    let (_, key) = hubs[0].member_with("bank-a", "matches:read", 1, 30).await;
    let started = Instant::now();
    let ok = admitted(&hubs, &key, 40).await;
    // The hub-wide rate (1/s) may have refilled a unit or two meanwhile.
    let refill = usize::try_from(started.elapsed().as_secs())? + 1;
    assert!((30..=30 + refill).contains(&ok), "admitted {ok}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_split_three_instances_admit_three_times_a_members_burst() -> TestResult {
    let hubs = three(defaults).await;
    let (_, key) = hubs[0].member_with("bank-a", "matches:read", 1, 30).await;
    let started = Instant::now();
    let ok = admitted(&hubs, &key, 40).await;
    let refill = 3 * (usize::try_from(started.elapsed().as_secs())? + 1);
    assert!((90..=90 + refill).contains(&ok), "admitted {ok}");
    Ok(())
}

#[tokio::test]
async fn with_quota_instances_one_request_may_carry_only_an_instances_share_of_the_burst()
-> TestResult {
    let hub = TestHub::start_with(|c| c.quota_instances = 3).await;
    let (_, key) = hub.member_with("bank-a", "matches:read", 1, 30).await;
    let eleven: Vec<String> = (0..11).map(person).collect();
    let refs: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let (status, body) = hub.post("/v1/matches", &key, &match_body(&refs)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "identifiers");
    assert!(
        body["detail"].as_str().unwrap().contains("at most 10"),
        "{body}"
    );
    // The refused request paid its first unit; a member with a full bucket gets ten in.
    let (_, other) = hub.member_with("bank-b", "matches:read", 1, 30).await;
    assert_eq!(
        hub.post("/v1/matches", &other, &match_body(&refs[..10]))
            .await
            .0,
        200
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_quota_instances_the_daily_subject_budget_holds_across_instances() -> TestResult {
    let hubs = three(|c| {
        c.quota_instances = 3;
        c.default_daily_subject_budget = 9;
    })
    .await;
    let (_, key) = hubs[0].member("bank-a").await;
    let mut ok = 0;
    for day in 0..18 {
        let hub = &hubs[usize::try_from(day % 3)?];
        match hub.match_one(&key, &person(day)).await {
            (200, _) => ok += 1,
            (429, body) => assert!(
                body["type"]
                    .as_str()
                    .unwrap()
                    .ends_with("/subject-budget-exhausted"),
                "{body}"
            ),
            (status, body) => panic!("{status} {body}"),
        }
    }
    assert_eq!(ok, 9, "distinct personal numbers looked up hub-wide");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_quota_instances_the_per_address_limit_holds_across_instances() -> TestResult {
    let hubs = three(|c| {
        c.quota_instances = 3;
        c.ip_rate_per_second = 1;
        c.ip_burst = 30;
    })
    .await;
    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..40 {
        for hub in &hubs {
            let resp = hub.http.get(format!("{}/healthz", hub.base)).send().await?;
            match split(resp).await.0 {
                200 => ok += 1,
                429 => {}
                other => panic!("unexpected status {other}"),
            }
        }
    }
    let refill = usize::try_from(started.elapsed().as_secs())? + 1;
    assert!((30..=30 + refill).contains(&ok), "admitted {ok}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_with_the_cli_is_refused_by_every_instance_at_once() -> TestResult {
    let hubs = three(defaults).await;
    let (_, key) = hubs[0].member("bank-a").await;
    assert_eq!(statuses(&hubs, &key).await, [200, 200, 200]);
    let dir = tempfile::tempdir()?;
    let key_id = key.split('_').nth(1).unwrap();
    fraudhub(&hubs[0].db, dir.path(), &["key", "revoke", key_id]);
    assert_eq!(statuses(&hubs, &key).await, [401, 401, 401]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_suspended_with_the_cli_is_refused_by_every_instance_at_once() -> TestResult {
    let hubs = three(defaults).await;
    let (member, key) = hubs[0].member("bank-a").await;
    assert_eq!(statuses(&hubs, &key).await, [200, 200, 200]);
    let dir = tempfile::tempdir()?;
    fraudhub(
        &hubs[0].db,
        dir.path(),
        &["member", "suspend", &member.to_string()],
    );
    assert_eq!(statuses(&hubs, &key).await, [403, 403, 403]);
    Ok(())
}

/// Long enough that only the revocation signal, never expiry, can explain a refusal.
fn cached(c: &mut Config) {
    c.auth_cache_ms = 600_000;
}

/// Statuses of one match per instance once the change has reached them. On SQLite the
/// signal is a file every lookup checks, so the first request after the CLI returns must
/// already be refused. On PostgreSQL it is a notification each instance receives on
/// its own connection a moment after the commit; the wait is bounded far below the
/// cache's ttl.
async fn statuses_after_signal(
    hubs: &[Arc<TestHub>; 3],
    key: &str,
    expected: [u16; 3],
) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = statuses(hubs, key).await;
        if seen == expected || !hubs[0].db.is_postgres() || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_auth_cache_warm_a_cli_revocation_is_refused_by_every_instance_at_once()
-> TestResult {
    let hubs = three(cached).await;
    let (_, key) = hubs[0].member("bank-a").await;
    // Every instance now holds the key check in its cache.
    assert_eq!(statuses(&hubs, &key).await, [200, 200, 200]);
    let dir = tempfile::tempdir()?;
    let key_id = key.split('_').nth(1).unwrap();
    fraudhub(&hubs[0].db, dir.path(), &["key", "revoke", key_id]);
    assert_eq!(
        statuses_after_signal(&hubs, &key, [401, 401, 401]).await,
        [401, 401, 401]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_auth_cache_warm_a_cli_suspension_is_refused_by_every_instance_at_once()
-> TestResult {
    let hubs = three(cached).await;
    let (member, key) = hubs[0].member("bank-a").await;
    assert_eq!(statuses(&hubs, &key).await, [200, 200, 200]);
    let dir = tempfile::tempdir()?;
    fraudhub(
        &hubs[0].db,
        dir.path(),
        &["member", "suspend", &member.to_string()],
    );
    assert_eq!(
        statuses_after_signal(&hubs, &key, [403, 403, 403]).await,
        [403, 403, 403]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_auth_cache_warm_a_reinstated_member_is_served_again_by_every_instance()
-> TestResult {
    let hubs = three(cached).await;
    let (member, key) = hubs[0].member("bank-a").await;
    let dir = tempfile::tempdir()?;
    let id = member.to_string();
    fraudhub(&hubs[0].db, dir.path(), &["member", "suspend", &id]);
    assert_eq!(
        statuses_after_signal(&hubs, &key, [403, 403, 403]).await,
        [403, 403, 403]
    );
    fraudhub(&hubs[0].db, dir.path(), &["member", "reinstate", &id]);
    assert_eq!(
        statuses_after_signal(&hubs, &key, [200, 200, 200]).await,
        [200, 200, 200]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_starting_together_on_a_fresh_database_migrate_it_once_and_all_serve()
-> TestResult {
    let db = TestDb::new().await;
    let (a, b, c) = tokio::join!(
        TestHub::start_on(TestDb::detached(&db), defaults),
        TestHub::start_on(TestDb::detached(&db), defaults),
        TestHub::start_on(TestDb::detached(&db), defaults),
    );
    let hubs = [Arc::new(a), Arc::new(b), Arc::new(c)];
    let (_, key) = hubs[1].member("bank-a").await;
    assert_eq!(statuses(&hubs, &key).await, [200, 200, 200]);
    Ok(())
}
