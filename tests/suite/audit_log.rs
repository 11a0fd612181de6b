//! The tamper-evident audit log: dense leaf indexes, signed checkpoints, proofs a member
//! can check itself, an offline verifier that names tampering, and retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fraudhub::audit::log::AuditLog;
use fraudhub::audit::verify::verify_log;
use fraudhub::clock::Clock;
use fraudhub::tlog::{
    Blake3, Checkpoint, Hash, NoteVerifier, verify_consistency, verify_inclusion,
};
use serde_json::Value;

use crate::common::*;

fn hash(b64: &Value) -> Hash {
    Hash::from_slice(&B64.decode(b64.as_str().unwrap()).unwrap()).unwrap()
}

/// Signs a checkpoint as the housekeeping tick or `fraudhub audit checkpoint` would.
async fn seal(hub: &TestHub) {
    AuditLog::new(hub.store.clone(), test_signer(), TEST_ORIGIN.into())
        .checkpoint(hub.clock.now())
        .await
        .expect("checkpoint signed");
}

/// The published checkpoint after an operator-side signing.
async fn checkpoint(hub: &TestHub) -> Checkpoint {
    seal(hub).await;
    published(hub).await
}

/// What an anonymous client reads at /v1/audit/checkpoint.
async fn published(hub: &TestHub) -> Checkpoint {
    let note = hub
        .http
        .get(format!("{}/v1/audit/checkpoint", hub.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let vkey = hub
        .http
        .get(format!("{}/v1/audit/public-key", hub.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = NoteVerifier::from_vkey(vkey.trim()).unwrap();
    Checkpoint::open(note.as_bytes(), TEST_ORIGIN, &[verifier])
        .expect("checkpoint signature verifies")
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, as a member fetches it.
async fn inclusion_path(hub: &TestHub, key: &str, index: u64, size: u64) -> Vec<Hash> {
    let (status, proof) = hub
        .get(
            &format!("/v1/audit/entries/{index}/inclusion?tree_size={size}"),
            key,
        )
        .await;
    assert_eq!(status, 200, "{proof}");
    proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect()
}

/// Fetches the consistency proof between two signed checkpoints, as a member does, and
/// verifies it against both roots.
async fn consistent(hub: &TestHub, key: &str, old: &Checkpoint, new: &Checkpoint) -> TestResult {
    let (status, body) = hub
        .get(
            &format!("/v1/audit/consistency?from={}&to={}", old.size, new.size),
            key,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let proof: Vec<Hash> = body["proof"].as_array().unwrap().iter().map(hash).collect();
    verify_consistency::<Blake3>(old.size, new.size, &proof, &old.root, &new.root)?;
    Ok(())
}

async fn auditor(hub: &TestHub, name: &str) -> String {
    hub.member_with(name, "flags:write,matches:read,audit:read", 10_000, 10_000)
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaf_indexes_stay_dense_and_ordered_with_two_hub_instances_on_one_database() -> TestResult
{
    let a = std::sync::Arc::new(TestHub::start().await);
    let b = std::sync::Arc::new(a.second_instance().await);
    let (_, key) = a.member("bank-a").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let hub = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..8 {
                assert_eq!(
                    hub.post("/v1/matches", &key, &match_body(&[PN, PN_10]))
                        .await
                        .0,
                    200
                );
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let page = a.store.audit_page(None, 0, 10_000).await?;
    let indexes: Vec<i64> = page.iter().map(|e| e.leaf_index).collect();
    assert_eq!(indexes, (0..256).collect::<Vec<i64>>());
    assert_eq!(a.store.tree_size().await?, 256);
    // The log built from those entries verifies as a whole.
    let log = AuditLog::new(a.store.clone(), test_signer(), TEST_ORIGIN.into());
    log.checkpoint(start_time()).await?;
    let report = verify_log(&a.store, &log.verifier(), TEST_ORIGIN).await?;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.entries, 256);
    Ok(())
}

#[tokio::test]
async fn the_checkpoint_is_signed_and_covers_every_entry() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    for _ in 0..5 {
        hub.match_one(&key, PN).await;
    }
    let cp = checkpoint(&hub).await;
    assert_eq!(cp.size, 5);
    assert_eq!(cp.origin, TEST_ORIGIN);
    // A checkpoint signed by another key is refused.
    let note = hub
        .http
        .get(format!("{}/v1/audit/checkpoint", hub.base))
        .send()
        .await?
        .text()
        .await?;
    let stranger = fraudhub::tlog::NoteSigner::from_seed(TEST_ORIGIN, &[8; 32])?.verifier();
    assert!(Checkpoint::open(note.as_bytes(), TEST_ORIGIN, &[stranger]).is_err());
    Ok(())
}

#[tokio::test]
async fn a_member_can_prove_its_entry_is_in_the_signed_log() -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..7 {
        hub.match_one(&key, PN).await;
    }
    let cp = checkpoint(&hub).await;
    let (status, entries) = hub.get("/v1/audit/entries?from=0&limit=100", &key).await;
    assert_eq!(status, 200);
    assert_eq!(entries.as_array().unwrap().len(), 7);
    let third = &entries[3];
    assert_eq!(third["action"], "match");
    assert_eq!(third["purpose"], "account_opening");
    let path = inclusion_path(&hub, &key, 3, cp.size).await;
    verify_inclusion::<Blake3>(3, cp.size, &hash(&third["leaf_hash"]), &path, &cp.root)?;
    // The same proof does not fit another leaf.
    assert!(
        verify_inclusion::<Blake3>(3, cp.size, &hash(&entries[2]["leaf_hash"]), &path, &cp.root)
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn two_checkpoints_are_provably_consistent() -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..3 {
        hub.match_one(&key, PN).await;
    }
    let old = checkpoint(&hub).await;
    for _ in 0..6 {
        hub.match_one(&key, PN).await;
    }
    let new = checkpoint(&hub).await;
    consistent(&hub, &key, &old, &new).await?;
    let (status, problem) = hub.get("/v1/audit/consistency?from=1&to=999", &key).await;
    assert_eq!(status, 422, "{problem}");
    Ok(())
}

#[tokio::test]
async fn a_member_never_sees_another_members_entries_or_proofs() -> TestResult {
    let hub = TestHub::start().await;
    let a = auditor(&hub, "bank-a").await;
    let b = auditor(&hub, "bank-b").await;
    hub.match_one(&a, PN).await;
    hub.match_one(&b, PN).await;
    let (_, entries) = hub.get("/v1/audit/entries", &b).await;
    let indexes: Vec<i64> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["leaf_index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1]);
    assert_eq!(hub.get("/v1/audit/entries/0/inclusion", &b).await.0, 404);
    assert_eq!(hub.get("/v1/audit/entries/1/inclusion", &b).await.0, 200);
    // Without the audit:read scope there is nothing to read.
    let (_, plain) = hub.member("bank-c").await;
    assert_eq!(hub.get("/v1/audit/entries", &plain).await.0, 403);
    assert_eq!(hub.get("/v1/audit/entries?limit=0", &a).await.0, 422);
    assert_eq!(hub.get("/v1/audit/entries?bogus=1", &a).await.0, 422);
    Ok(())
}

#[tokio::test]
async fn retention_clears_personal_data_and_the_log_still_verifies() -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..4 {
        hub.match_one(&key, PN).await;
    }
    let log = AuditLog::new(hub.store.clone(), test_signer(), TEST_ORIGIN.into());
    log.checkpoint(start_time()).await?;
    assert_eq!(
        log.apply_retention(start_time() + chrono::Duration::days(364), 365)
            .await?,
        0
    );
    assert_eq!(
        log.apply_retention(start_time() + chrono::Duration::days(366), 365)
            .await?,
        4
    );
    let (_, entries) = hub.get("/v1/audit/entries", &key).await;
    for e in entries.as_array().unwrap() {
        assert_eq!(e["redacted"], true);
        assert!(e["subject"].is_null() && e["purpose"].is_null() && e["request_id"].is_null());
        assert!(e["leaf_hash"].is_string(), "the leaf hash stays");
    }
    let report = verify_log(&hub.store, &log.verifier(), TEST_ORIGIN).await?;
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.redacted, 4);
    Ok(())
}

/// Whether each entry of the log, in leaf order, is redacted.
async fn redacted(hub: &TestHub, key: &str) -> Vec<bool> {
    let (_, entries) = hub.get("/v1/audit/entries", key).await;
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["redacted"].as_bool().unwrap())
        .collect()
}

/// Retention goes by each entry's own time, not by its place in the log: an entry stamped
/// earlier than the one before it (another instance's clock) is redacted as soon as its
/// own time is past, and the entry before it, kept, is redacted by a later pass. On
/// PostgreSQL a pass starts at the first unredacted leaf it recorded (migration 0014).
#[tokio::test]
async fn retention_redacts_by_each_entrys_own_time_in_whatever_order_the_times_come() -> TestResult
{
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    // The second instance's clock stays at the start, ten days behind the first's.
    let behind = hub.second_instance().await;
    hub.clock.advance(chrono::Duration::days(10));
    let log = AuditLog::new(hub.store.clone(), test_signer(), TEST_ORIGIN.into());
    let days = chrono::Duration::days;
    // Leaf 0 at day 10, leaf 1 at day 0; the cutoff (day 5) is between them.
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    assert_eq!(behind.match_one(&key, PN).await.0, 200);
    assert_eq!(log.apply_retention(start_time() + days(370), 365).await?, 1);
    assert_eq!(redacted(&hub, &key).await, [false, true]);
    // Leaf 2 at day 0, behind the kept leaf 0: found by the next pass.
    assert_eq!(behind.match_one(&key, PN).await.0, 200);
    assert_eq!(log.apply_retention(start_time() + days(370), 365).await?, 1);
    assert_eq!(redacted(&hub, &key).await, [false, true, true]);
    // Leaf 0's own time passes.
    assert_eq!(log.apply_retention(start_time() + days(376), 365).await?, 1);
    assert_eq!(redacted(&hub, &key).await, [true, true, true]);
    // An entry appended after everything before it was redacted is still found.
    assert_eq!(behind.match_one(&key, PN).await.0, 200);
    assert_eq!(log.apply_retention(start_time() + days(376), 365).await?, 1);
    assert_eq!(redacted(&hub, &key).await, [true, true, true, true]);
    let report = verify_log(&hub.store, &log.verifier(), TEST_ORIGIN).await?;
    assert!(report.ok(), "{:?}", report.findings);
    Ok(())
}

#[tokio::test]
async fn anonymous_checkpoint_reads_never_make_the_hub_sign() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(published(&hub).await.size, 0, "the start-up checkpoint");
    let before = hub.store.checkpoints().await?.len();
    for _ in 0..5 {
        hub.match_one(&key, PN).await;
        let cp = published(&hub).await;
        // Only the start-up checkpoint exists: the grown log is not signed on demand.
        assert_eq!(cp.size, 0);
    }
    assert_eq!(hub.store.checkpoints().await?.len(), before);
    // The next scheduled signing covers everything.
    assert_eq!(checkpoint(&hub).await.size, 5);
    Ok(())
}

#[tokio::test]
async fn an_authenticated_proof_request_signs_a_checkpoint_covering_its_entry() -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..3 {
        hub.match_one(&key, PN).await;
    }
    let (status, proof) = hub.get("/v1/audit/entries/2/inclusion", &key).await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["tree_size"], 3);
    let cp = published(&hub).await;
    assert_eq!(cp.size, 3, "the proof's tree size is published");
    Ok(())
}

#[tokio::test]
async fn members_see_per_entry_subject_references_that_link_nothing() -> TestResult {
    let hub = TestHub::start().await;
    let a = auditor(&hub, "bank-a").await;
    let b = auditor(&hub, "bank-b").await;
    hub.match_one(&a, PN).await;
    hub.match_one(&a, PN_10).await;
    hub.match_one(&b, PN).await;
    let (_, ea) = hub.get("/v1/audit/entries", &a).await;
    let (_, eb) = hub.get("/v1/audit/entries", &b).await;
    let (a0, a1, b0) = (&ea[0]["subject"], &ea[1]["subject"], &eb[0]["subject"]);
    assert!(a0.is_string());
    // Encoding 3: a random reference per entry. A value keyed from the identifier would
    // let whoever holds that key (an old key, after a rotation) test a personal number
    // against the leaf forever.
    assert_ne!(
        a0, a1,
        "each entry has its own reference, even about one person"
    );
    assert_ne!(a0, b0, "another member's entry has another");
    // The hub-wide token is in no member-facing answer.
    let stored = hub.store.audit_page(None, 0, 10).await?;
    let first = stored[0].entry.as_ref().unwrap();
    let hub_token = hex::encode(first.subject_token.as_deref().unwrap());
    for body in [&ea, &eb] {
        assert!(!body.to_string().contains(&hub_token));
    }
    Ok(())
}

/// A verifier written from docs/audit.md ("Entry encoding", versions 2 and 3, which share
/// one layout) alone: the leaf is BLAKE3(0x00 ‖ entry), built only from what
/// `GET /v1/audit/entries` returns.
fn leaf_from_docs(e: &Value) -> [u8; 32] {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap().to_be_bytes());
        out.extend_from_slice(b);
    }
    fn opt(out: &mut Vec<u8>, v: &Value, write: impl FnOnce(&mut Vec<u8>, &Value)) {
        if v.is_null() {
            out.push(0);
        } else {
            out.push(1);
            write(out, v);
        }
    }
    let text = |v: &Value| v.as_str().unwrap().as_bytes().to_vec();
    let version = e["entry_version"].as_u64().unwrap();
    assert!(
        matches!(version, 2 | 3),
        "this verifier knows versions 2 and 3"
    );
    let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    let mut entry = vec![u8::try_from(version).unwrap()];
    entry.extend_from_slice(&e["leaf_index"].as_u64().unwrap().to_be_bytes());
    entry.extend_from_slice(&at.timestamp_millis().to_be_bytes());
    bytes(&mut entry, &text(&e["actor"]));
    opt(&mut entry, &e["member_id"], |o, v| {
        o.extend_from_slice(&v.as_i64().unwrap().to_be_bytes())
    });
    opt(&mut entry, &e["key_id"], |o, v| bytes(o, &text(v)));
    bytes(&mut entry, &text(&e["action"]));
    opt(&mut entry, &e["purpose"], |o, v| bytes(o, &text(v)));
    // `subject` is hex; the leaf commits to its bytes.
    opt(&mut entry, &e["subject"], |o, v| {
        bytes(o, &hex::decode(v.as_str().unwrap()).unwrap())
    });
    opt(&mut entry, &e["key_version"], |o, v| {
        o.extend_from_slice(&v.as_i64().unwrap().to_be_bytes())
    });
    bytes(&mut entry, &text(&e["outcome"]));
    bytes(&mut entry, &text(&e["request_id"]));
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x00]);
    hasher.update(&entry);
    *hasher.finalize().as_bytes()
}

#[tokio::test]
async fn a_verifier_written_from_the_docs_recomputes_every_leaf_from_the_entries_answer()
-> TestResult {
    let hub = TestHub::start().await;
    let (member_id, key) = hub
        .member_with(
            "bank-a",
            "flags:write,flags:read,matches:read,audit:read",
            10_000,
            10_000,
        )
        .await;
    hub.match_one(&key, PN).await;
    let (status, flag) = hub.place_flag(&key, PN).await;
    assert_eq!(status, 201, "{flag}");
    let id = flag["id"].as_str().unwrap();
    assert_eq!(hub.get(&format!("/v1/flags/{id}"), &key).await.0, 200);
    for _ in 0..2 {
        let lift = format!("/v1/flags/{id}/lift");
        assert_eq!(hub.post(&lift, &key, &serde_json::json!({})).await.0, 200);
    }
    let (_, entries) = hub.get("/v1/audit/entries", &key).await;
    let entries = entries.as_array().unwrap();
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["clear", "created", "ok", "lifted", "already_lifted"]
    );
    for e in entries {
        assert_eq!(e["member_id"], member_id, "{e}");
        assert!(e["key_version"].is_i64(), "{e}");
        // Entries written now are version 3: the subject is a random 16-byte reference.
        assert_eq!(e["entry_version"], 3, "{e}");
        let subject = e["subject"].as_str().unwrap();
        assert!(
            subject.len() == 32 && subject.bytes().all(|b| b.is_ascii_hexdigit()),
            "subject is 16 bytes in hex: {subject}"
        );
        let shown = B64.decode(e["leaf_hash"].as_str().unwrap())?;
        assert_eq!(shown, leaf_from_docs(e), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn the_request_id_is_the_servers_and_a_clients_id_is_only_a_checked_correlation() -> TestResult
{
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for client_id in ["corr-abc-1", "19900101-0017"] {
        let resp = hub
            .http
            .post(format!("{}/v1/matches", hub.base))
            .bearer_auth(&key)
            .header("x-request-id", client_id)
            .json(&match_body(&[PN]))
            .send()
            .await?;
        assert_eq!(resp.status(), 200);
        let answered = resp.headers()["x-request-id"].to_str()?.to_string();
        assert_ne!(answered, client_id);
        assert_eq!(answered.len(), 36, "a server-generated UUID");
    }
    let (_, entries) = hub.get("/v1/audit/entries", &key).await;
    assert_eq!(entries[0]["correlation_id"], "corr-abc-1");
    assert!(
        entries[1]["correlation_id"].is_null(),
        "a personal-number-like id is dropped"
    );
    for e in entries.as_array().unwrap() {
        assert_eq!(e["request_id"].as_str().unwrap().len(), 36);
    }
    Ok(())
}

/// Runs `fraudhub audit verify` against the test database with the test signing key.
fn cli_verify(hub_db: &TestDb) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["audit", "verify"])
        .env("FRAUDHUB_DATABASE_URL", &hub_db.url)
        .env("FRAUDHUB_AUDIT_SIGNING_KEY", hex::encode([7u8; 32]))
        .output()
        .expect("run fraudhub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A stopped hub with ten audited lookups and a final signed checkpoint.
async fn sealed_log() -> TestDb {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    for i in 0..10 {
        let purpose = if i % 2 == 0 {
            "payment"
        } else {
            "account_opening"
        };
        let body = serde_json::json!({"purpose": purpose, "identifiers": [{"kind": "se_personal_number", "value": PN}]});
        assert_eq!(hub.post("/v1/matches", &key, &body).await.0, 200);
    }
    hub.stop().await
}

async fn tamper(db: &TestDb, statements: &[&'static str]) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for s in statements {
        sqlx::query(*s).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

/// Leaf hashes are written in their entries' rows, not as level-0 tree nodes; a log
/// written before that (level-0 rows, no hash in the entry) still shows, proves and
/// verifies every entry, old and new alike.
#[tokio::test]
async fn entries_written_before_and_after_leaf_hashes_moved_into_their_rows_all_prove() -> TestResult
{
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..4 {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
    }
    let db = hub.stop().await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM tlog_nodes WHERE level = 0").await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE leaf_hash IS NOT NULL"
        )
        .await,
        4
    );
    // The first three as an older hub wrote them.
    tamper(&db, &[
        "INSERT INTO tlog_nodes (level, idx, hash) SELECT 0, leaf_index, leaf_hash FROM audit_log WHERE leaf_index < 3",
        "UPDATE audit_log SET leaf_hash = NULL WHERE leaf_index < 3",
    ])
    .await;

    let hub = TestHub::start_on(db, |_| {}).await;
    for _ in 0..3 {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
    }
    let cp = checkpoint(&hub).await;
    assert_eq!(cp.size, 7);
    let (status, entries) = hub.get("/v1/audit/entries?from=0&limit=100", &key).await;
    assert_eq!(status, 200);
    for index in 0..7u64 {
        let path = inclusion_path(&hub, &key, index, 7).await;
        let leaf = hash(&entries[index as usize]["leaf_hash"]);
        verify_inclusion::<Blake3>(index, 7, &leaf, &path, &cp.root)?;
    }
    let db = hub.stop().await;
    let (ok, text) = cli_verify(&db);
    assert!(ok, "{text}");
    assert!(text.contains("7 entries"), "{text}");
    Ok(())
}

/// A level-0 row of `tlog_nodes` left beside an entry that carries its own leaf hash (a
/// half-migrated or tampered database) is not what proofs are built from: the entry's
/// hash is, as in the listing, so a neighbour's proof still checks out.
#[tokio::test]
async fn a_stray_level_0_node_row_does_not_override_an_entrys_own_leaf_hash() -> TestResult {
    // Leaf 0's proof in a tree of two is leaf 1's hash.
    leaf_0_proves_despite(2, &["INSERT INTO tlog_nodes (level, idx, hash) SELECT 0, 1, leaf_hash FROM audit_log WHERE leaf_index = 0"]).await
}

/// Appends `matches` lookups, signs a checkpoint, stops the hub, runs `statements` on its
/// database, and checks on a restarted hub that leaf 0's inclusion proof still verifies
/// against that checkpoint.
async fn leaf_0_proves_despite(matches: usize, statements: &[&'static str]) -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    for _ in 0..matches {
        assert_eq!(hub.match_one(&key, PN).await.0, 200);
    }
    let cp = checkpoint(&hub).await;
    let db = hub.stop().await;
    tamper(&db, statements).await;

    let hub = TestHub::start_on(db, |_| {}).await;
    let (_, entries) = hub.get("/v1/audit/entries?from=0&limit=100", &key).await;
    let path = inclusion_path(&hub, &key, 0, cp.size).await;
    verify_inclusion::<Blake3>(0, cp.size, &hash(&entries[0]["leaf_hash"]), &path, &cp.root)?;
    Ok(())
}

/// Nodes of levels 1 to 3 are not stored: an append writes one node row per eight entries,
/// and every inclusion and consistency proof over a log that holds none of them still
/// checks out against signed checkpoints, rebuilt from the leaves.
#[tokio::test]
async fn proofs_verify_with_no_tree_node_stored_below_level_4() -> TestResult {
    let hub = TestHub::start().await;
    let key = auditor(&hub, "bank-a").await;
    let mut checkpoints = Vec::new();
    for appended in [7, 16, 17] {
        for _ in 0..appended {
            assert_eq!(hub.match_one(&key, PN).await.0, 200);
        }
        checkpoints.push(checkpoint(&hub).await);
    }
    let last = &checkpoints[2];
    assert_eq!(last.size, 40);
    let (_, entries) = hub.get("/v1/audit/entries?from=0&limit=100", &key).await;
    for cp in &checkpoints {
        for index in 0..cp.size {
            let path = inclusion_path(&hub, &key, index, cp.size).await;
            let leaf = hash(&entries[index as usize]["leaf_hash"]);
            verify_inclusion::<Blake3>(index, cp.size, &leaf, &path, &cp.root)?;
        }
    }
    for (old, new) in [(0, 1), (1, 2), (0, 2)] {
        consistent(&hub, &key, &checkpoints[old], &checkpoints[new]).await?;
    }
    let db = hub.stop().await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM tlog_nodes WHERE level BETWEEN 1 AND 3"
        )
        .await,
        0
    );
    // 40 leaves complete (4, 0), (4, 1) and (5, 0).
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM tlog_nodes WHERE level >= 4").await,
        3
    );
    let (ok, text) = cli_verify(&db);
    assert!(ok, "{text}");
    Ok(())
}

/// A log written by an older hub holds rows for levels 1 to 3; they are no longer read,
/// so a wrong one (here rewritten on purpose) cannot get into a proof.
#[tokio::test]
async fn a_level_1_to_3_row_left_by_an_older_hub_is_not_read() -> TestResult {
    // Leaf 0's proof in a tree of eight is leaf 1, node (1, 1) and node (2, 1).
    leaf_0_proves_despite(8, &[
        "INSERT INTO tlog_nodes (level, idx, hash) SELECT 1, 1, leaf_hash FROM audit_log WHERE leaf_index = 5",
        "INSERT INTO tlog_nodes (level, idx, hash) SELECT 2, 1, leaf_hash FROM audit_log WHERE leaf_index = 6",
    ])
    .await
}

#[tokio::test]
async fn audit_verify_accepts_an_intact_log() -> TestResult {
    let db = sealed_log().await;
    let (ok, text) = cli_verify(&db);
    assert!(ok, "{text}");
    assert!(
        text.contains("10 entries") && text.contains("verified"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn audit_verify_names_an_edited_entry() -> TestResult {
    let db = sealed_log().await;
    tamper(
        &db,
        &["UPDATE audit_log SET purpose = 'fraud_investigation' WHERE leaf_index = 3"],
    )
    .await;
    let (ok, text) = cli_verify(&db);
    assert!(!ok);
    assert!(text.contains("entry 3 was edited"), "{text}");
    Ok(())
}

#[tokio::test]
async fn audit_verify_names_a_deleted_entry() -> TestResult {
    let db = sealed_log().await;
    tamper(&db, &["DELETE FROM audit_log WHERE leaf_index = 6"]).await;
    let (ok, text) = cli_verify(&db);
    assert!(!ok);
    assert!(text.contains("entry 6 was deleted"), "{text}");
    Ok(())
}

#[tokio::test]
async fn audit_verify_names_reordered_entries() -> TestResult {
    let db = sealed_log().await;
    tamper(
        &db,
        &[
            "UPDATE audit_log SET leaf_index = -1 WHERE leaf_index = 4",
            "UPDATE audit_log SET leaf_index = 4 WHERE leaf_index = 5",
            "UPDATE audit_log SET leaf_index = 5 WHERE leaf_index = -1",
        ],
    )
    .await;
    let (ok, text) = cli_verify(&db);
    assert!(!ok);
    assert!(text.contains("entry 4 was edited or reordered"), "{text}");
    Ok(())
}

#[tokio::test]
async fn audit_verify_names_an_inserted_entry() -> TestResult {
    let db = sealed_log().await;
    tamper(&db, &[
        "INSERT INTO audit_log (leaf_index, at, member_id, key_id, action, purpose, subject_token, key_version, outcome, request_id) \
         SELECT 10, at, member_id, key_id, action, purpose, subject_token, key_version, outcome, request_id FROM audit_log WHERE leaf_index = 2",
    ])
    .await;
    let (ok, text) = cli_verify(&db);
    assert!(!ok);
    assert!(text.contains("entry 10 was inserted"), "{text}");
    Ok(())
}

#[tokio::test]
async fn audit_verify_catches_a_rewritten_leaf_hash_through_the_signed_root() -> TestResult {
    let db = sealed_log().await;
    // The attacker edits an entry and overwrites its stored leaf hash too.
    tamper(&db, &["UPDATE audit_log SET leaf_hash = (SELECT leaf_hash FROM audit_log WHERE leaf_index = 1) WHERE leaf_index = 2"]).await;
    let (ok, text) = cli_verify(&db);
    assert!(!ok);
    assert!(text.contains("no longer hash to its signed root"), "{text}");
    Ok(())
}
