//! Crash and restart safety: a `kill -9` mid-load loses nothing that was acknowledged, a
//! PostgreSQL restart under load is answered 503 (never 500) and healed without a hub
//! restart, and readiness reflects the database and the audit writer.
//!
//! A test binary of its own, outside `tests/suite`: it stops and starts the machine's
//! PostgreSQL, which would break any test running beside it in the same process (cargo runs
//! test binaries one after another).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "suite/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fraudhub::audit::AuditSink;
use fraudhub::clock::ManualClock;
use fraudhub::config::Config;
use fraudhub::pseudonym::MasterKey;
use fraudhub::server::{ConnLimits, serve_app};
use fraudhub::store::Store;
use serde_json::Value;
use sqlx::Connection;

/// The PostgreSQL restart takes the shared server away: the other scenarios of this
/// binary, which run in parallel threads, wait for it (and it for them).
static SERVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Valid personal numbers with distinct birth dates and serials, so the load never looks
/// like a sweep to the enumeration guard.
fn personal_numbers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (month, day, serial) = (1 + i % 12, 1 + i % 28, 100 + i);
            let short = format!("80{month:02}{day:02}{serial:03}");
            let sum: u32 = short
                .bytes()
                .enumerate()
                .map(|(k, b)| {
                    let d = u32::from(b - b'0') * if k % 2 == 0 { 2 } else { 1 };
                    d / 10 + d % 10
                })
                .sum();
            let check = (10 - sum % 10) % 10;
            format!("1980{month:02}{day:02}-{serial:03}{check}")
        })
        .collect()
}

/// Every answer the load got, by request id: what was acknowledged, hence what must survive.
#[derive(Default)]
struct Acked {
    /// flag id → request id of the 201 that placed it
    placed: Vec<(String, String)>,
    lifted: Vec<(String, String)>,
    /// request id → identifiers in the answered match
    matched: Vec<(String, usize)>,
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on every answer")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_no_acknowledged_flag_lift_or_match_audit() -> TestResult {
    let _server = SERVER.read().await;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir()?;
    ok(&cli(
        &db,
        dir.path(),
        &[
            "member", "add", "--name", "bank-a", "--rate", "1000000", "--burst", "1000000",
        ],
    ));
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
    ))
    .trim()
    .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.path().join("serve.log"))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .env("FRAUDHUB_IP_RATE_PER_SECOND", "1000000")
        .env("FRAUDHUB_IP_BURST", "1000000")
        .env("FRAUDHUB_LOG", "warn")
        .stderr(Stdio::from(log))
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_ready(&http, &base).await;

    let pns = Arc::new(personal_numbers(40));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let liftable = Arc::new(Mutex::new(Vec::<String>::new()));
    // The lifting task ends on its next request after the kill; with nothing left to lift it
    // sends none, so it is told the hub is gone.
    let killed = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for task in 0..6usize {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        let (pns, acked, liftable) = (pns.clone(), acked.clone(), liftable.clone());
        let killed = killed.clone();
        // Each task sends until the hub dies under it; an error is the kill arriving.
        load.push(tokio::spawn(async move {
            for i in 0usize.. {
                let pn = &pns[(task * 7 + i) % pns.len()];
                match task {
                    0 | 1 => {
                        let r = http
                            .post(format!("{base}/v1/flags"))
                            .bearer_auth(&key)
                            .json(&flag_body(pn))
                            .send()
                            .await;
                        let Ok(r) = r else { return };
                        if r.status() == 201 {
                            let rid = request_id(&r);
                            let Ok(body) = r.json::<Value>().await else {
                                return;
                            };
                            let id = body["id"].as_str().unwrap().to_string();
                            acked.lock().unwrap().placed.push((id.clone(), rid));
                            liftable.lock().unwrap().push(id);
                        }
                    }
                    2 => {
                        let next = liftable.lock().unwrap().pop();
                        let Some(id) = next else {
                            if killed.load(Ordering::Acquire) {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        };
                        let r = http
                            .post(format!("{base}/v1/flags/{id}/lift"))
                            .bearer_auth(&key)
                            .send()
                            .await;
                        let Ok(r) = r else { return };
                        if r.status() == 200 {
                            let rid = request_id(&r);
                            acked.lock().unwrap().lifted.push((id, rid));
                        }
                    }
                    _ => {
                        let other = &pns[(task + i * 3) % pns.len()];
                        let r = http
                            .post(format!("{base}/v1/matches"))
                            .bearer_auth(&key)
                            .json(&match_body(&[pn, other]))
                            .send()
                            .await;
                        let Ok(r) = r else { return };
                        if r.status() == 200 {
                            let rid = request_id(&r);
                            acked.lock().unwrap().matched.push((rid, 2));
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: no drain, no flush, no final checkpoint.
    child.kill()?;
    child.wait()?;
    killed.store(true, Ordering::Release);
    for task in load {
        // Every task's next request fails; a task still running is a bug in this test.
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("every load task ends after the kill")?;
    }

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    println!(
        "acknowledged before kill -9: {} flags placed, {} lifted, {} matches",
        acked.placed.len(),
        acked.lifted.len(),
        acked.matched.len()
    );
    assert!(
        !acked.placed.is_empty() && !acked.lifted.is_empty() && !acked.matched.is_empty(),
        "the load ran every kind of request"
    );

    let store = Store::connect(&db.url, 2).await?;
    for (id, _) in &acked.placed {
        store.member_flag(1, id).await.expect("acknowledged flag");
    }
    for (id, _) in &acked.lifted {
        let flag = store.member_flag(1, id).await?;
        assert!(flag.lifted_at.is_some(), "acknowledged lift of {id}");
    }
    let mut entries: HashMap<String, Vec<String>> = HashMap::new();
    let mut from = 0;
    loop {
        let page = store.audit_page(None, from, 5_000).await?;
        let Some(last) = page.last() else { break };
        from = last.leaf_index + 1;
        for e in page {
            let e = e.entry?;
            entries
                .entry(e.request_id)
                .or_default()
                .push(e.action.as_str().to_string());
        }
    }
    let actions = |rid: &str| entries.get(rid).cloned().unwrap_or_default();
    for (id, rid) in &acked.placed {
        assert_eq!(actions(rid), ["flag.place"], "audit of placing {id}");
    }
    for (id, rid) in &acked.lifted {
        assert_eq!(actions(rid), ["flag.lift"], "audit of lifting {id}");
    }
    for (rid, n) in &acked.matched {
        assert_eq!(actions(rid), vec!["match"; *n], "audit of match {rid}");
    }
    store.close().await;

    ok(&cli(&db, dir.path(), &["audit", "checkpoint"]));
    let verified = cli(&db, dir.path(), &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "log verifies after the crash: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    Ok(())
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hub did not become ready");
}

/// The machine's PostgreSQL, stopped for a test. Whatever happens to the test, dropping
/// this starts it again.
struct PostgresOutage {
    running: bool,
}

impl PostgresOutage {
    fn begin() -> PostgresOutage {
        let mut outage = PostgresOutage { running: true };
        pg_ctl("stop");
        outage.running = false;
        outage
    }

    fn end(&mut self) {
        pg_ctl("start");
        self.running = true;
    }
}

impl Drop for PostgresOutage {
    fn drop(&mut self) {
        if !self.running {
            pg_ctl("start");
        }
    }
}

fn pg_ctl(action: &str) {
    // Tests run under `flock` (see the build rules), and this process inherited the lock's
    // descriptor: a PostgreSQL started from here would inherit it too and hold the build
    // lock for as long as it runs. So every descriptor above stderr is closed first.
    let close: String = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|fd| *fd > 2)
        .map(|fd| format!("exec {fd}<&-; "))
        .collect();
    let versions = std::fs::read_dir("/etc/postgresql").expect("/etc/postgresql");
    for version in versions.flatten() {
        let version = version.file_name().to_string_lossy().to_string();
        let script =
            format!("{close}exec pg_ctlcluster --skip-systemctl-redirect {version} main {action}");
        let status = Command::new("bash")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .status()
            .expect("pg_ctlcluster");
        assert!(status.success(), "pg_ctlcluster {action}");
    }
}

/// Status and problem type of one answer.
async fn answer(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body["type"].as_str().unwrap_or("").to_string())
}

const UNAVAILABLE: &str = "https://fraudhub.se/problems/unavailable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_answered_503_and_heals_without_a_hub_restart()
-> TestResult {
    let _server = SERVER.write().await;
    let db = TestDb::new().await;
    if !db.is_postgres() {
        println!(
            "note: the PostgreSQL restart scenario needs FRAUDHUB_TEST_DATABASE_URL=postgres://…; skipped on SQLite"
        );
        return Ok(());
    }
    let hub = TestHub::start_on(db, |c| {
        // Fail fast while the database is away instead of holding requests 5 s.
        c.db_acquire_timeout_ms = 300;
        // Keys come from the cache, so matches reach the audit writer during the outage.
        c.auth_cache_ms = 60_000;
    })
    .await;
    let (_, key) = hub.member("bank-a").await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    assert_eq!(hub.place_flag(&key, PN).await.0, 201);
    let readyz = format!("{}/readyz", hub.base);
    assert_eq!(hub.http.get(&readyz).send().await?.status(), 200);

    let stop = tokio_util::sync::CancellationToken::new();
    let seen = Arc::new(Mutex::new(Vec::<(u16, String)>::new()));
    let mut load = Vec::new();
    for task in 0..3usize {
        let (http, base, key) = (hub.http.clone(), hub.base.clone(), key.clone());
        let (stop, seen) = (stop.clone(), seen.clone());
        load.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let req = if task == 0 {
                    http.post(format!("{base}/v1/flags")).json(&flag_body(PN))
                } else {
                    http.post(format!("{base}/v1/matches"))
                        .json(&match_body(&[PN]))
                };
                if let Ok(r) = req.bearer_auth(&key).send().await {
                    let got = answer(r).await;
                    seen.lock().unwrap().push(got);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut outage = PostgresOutage::begin();
    let down = Instant::now();
    let mut match_503 = None;
    let mut ready_503 = false;
    while down.elapsed() < Duration::from_secs(3) && !(ready_503 && match_503.is_some()) {
        if match_503.is_none() {
            let r = hub
                .http
                .post(format!("{}/v1/matches", hub.base))
                .bearer_auth(&key)
                .json(&match_body(&[PN]))
                .send()
                .await?;
            let retry_after = r.headers().contains_key("retry-after");
            let (status, kind) = answer(r).await;
            if status == 503 {
                match_503 = Some((kind, retry_after));
            }
        }
        if !ready_503 {
            let r = hub.http.get(&readyz).send().await?;
            ready_503 = answer(r).await == (503, UNAVAILABLE.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outage.end();
    let outage_ms = down.elapsed().as_millis();

    let up = Instant::now();
    let mut healed = None;
    while up.elapsed() < Duration::from_secs(15) {
        if hub.match_one(&key, PN).await.0 == 200
            && hub.http.get(&readyz).send().await?.status() == 200
        {
            healed = Some(up.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    for task in load {
        task.await?;
    }
    println!("database away {outage_ms} ms; hub answering 200 again {healed:?} after it was back");

    assert_eq!(
        match_503,
        Some((UNAVAILABLE.to_string(), true)),
        "a match while the database is away: 503 unavailable with Retry-After"
    );
    assert!(ready_503, "readiness 503 while the database is away");
    assert!(
        healed.is_some(),
        "matches and readiness recovered without a restart"
    );
    let seen = seen.lock().unwrap().clone();
    let failed: Vec<_> = seen
        .iter()
        .filter(|(s, _)| *s >= 500 && *s != 503)
        .collect();
    assert!(failed.is_empty(), "never a 500: {failed:?}");
    assert!(
        seen.iter()
            .all(|(s, kind)| *s != 503 || kind == UNAVAILABLE),
        "every 503 is `unavailable`"
    );
    assert!(
        seen.iter().any(|(s, _)| *s == 503),
        "the load saw the outage"
    );
    hub.stop().await;
    Ok(())
}

#[tokio::test]
async fn readiness_fails_while_an_audit_commit_is_stuck_and_recovers_after() -> TestResult {
    let _server = SERVER.read().await;
    let hub = TestHub::start_with(|c| c.audit_stall_ms = 200).await;
    let (_, key) = hub.member("bank-a").await;
    let readyz = format!("{}/readyz", hub.base);
    assert_eq!(hub.http.get(&readyz).send().await?.status(), 200);

    // Another connection holds the log head, as a hung transaction elsewhere would.
    sqlx::any::install_default_drivers();
    let mut blocker = sqlx::AnyConnection::connect(&hub.db.url).await?;
    let mut tx = blocker.begin().await?;
    sqlx::query("UPDATE tlog_state SET size = size WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let (http, base, key2) = (hub.http.clone(), hub.base.clone(), key.clone());
    let waiting = tokio::spawn(async move {
        http.post(format!("{base}/v1/matches"))
            .bearer_auth(&key2)
            .json(&match_body(&[PN]))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = hub.http.get(&readyz).send().await?;
    let (status, body) = split(r).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], UNAVAILABLE);
    assert!(
        body["detail"].as_str().unwrap().contains("audit commit"),
        "{body}"
    );

    tx.rollback().await?;
    assert_eq!(waiting.await??, 200, "the held request completes");
    assert_eq!(hub.http.get(&readyz).send().await?.status(), 200);
    hub.stop().await;
    Ok(())
}

#[tokio::test]
async fn readiness_fails_when_the_audit_writer_has_ended() -> TestResult {
    let _server = SERVER.read().await;
    let db = TestDb::new().await;
    let config = Config {
        database_url: None,
        ..Config::default()
    };
    let store = Store::connect(&db.url, 4).await?;
    store.migrate().await?;
    let hub = fraudhub::Hub::with_store(
        &config,
        store.clone(),
        &MasterKey::from_bytes([42; 32]),
        test_signer(),
        Arc::new(ManualClock::new(start_time())),
    );
    // The same application with a writer that is gone, as after a panic in it.
    let mut state = hub.state().clone();
    let (sink, writer) = AuditSink::start(store, 16);
    writer.abort();
    assert!(writer.await.is_err(), "writer aborted");
    state.make_mut().audit = sink;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let limits = ConnLimits {
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_connections: 16,
        drain_timeout: Duration::from_secs(1),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_app(
        listener,
        fraudhub::router(state),
        limits,
        async move {
            let _ = rx.await;
        },
    ));

    let r = reqwest::get(format!("{base}/readyz")).await?;
    let (status, body) = split(r).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], UNAVAILABLE);
    assert_eq!(
        body["detail"], "not ready: the audit writer has stopped",
        "{body}"
    );
    let _ = tx.send(());
    server.await??;
    Ok(())
}
