//! Test harness: a real hub on a real socket, on SQLite by default or on PostgreSQL when
//! `FRAUDHUB_TEST_DATABASE_URL` points at a server (each test gets its own database).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use fraudhub::clock::ManualClock;
use fraudhub::config::Config;
use fraudhub::pseudonym::{Keyring, MasterKey};
use fraudhub::store::{Backend, Store};
use fraudhub::tlog::NoteSigner;
use fraudhub::{Hub, members};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PN: &str = "19900101-0017";
pub const PN_10: &str = "900101-0017";
pub const PN_DIGITS: &str = "199001010017";

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub struct TestDb {
    pub url: String,
    /// Keeps the SQLite directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    pub sqlite_path: Option<std::path::PathBuf>,
    /// (admin URL, name) of a PostgreSQL database this value created and drops when it ends:
    /// a suite run creates ~200, and left behind they once filled the disk.
    created: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.created.take() {
            // psql, synchronously: `Drop` cannot await, and the test's runtime may already be
            // shutting down. FORCE ends the connections a hub of this test still holds.
            let _ = std::process::Command::new("psql")
                .arg(&admin)
                .arg("-qc")
                .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("FRAUDHUB_TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                use sqlx::Connection;
                let name = format!("fh_t_{}", hex::encode(rand::random::<[u8; 6]>()));
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create db");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin.clone());
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    sqlite_path: None,
                    created: Some((admin, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("hub.db");
                TestDb {
                    url: format!("sqlite:{}?mode=rwc", path.display()),
                    _dir: Some(dir),
                    sqlite_path: Some(path),
                    created: None,
                }
            }
        }
    }

    /// The same database without ownership of its directory (the owner keeps it alive).
    pub fn detached(other: &TestDb) -> TestDb {
        TestDb {
            url: other.url.clone(),
            _dir: None,
            sqlite_path: other.sqlite_path.clone(),
            created: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

pub const TEST_ORIGIN: &str = "fraudhub.local/audit";

/// The checkpoint signing key every test hub uses.
pub fn test_signer() -> NoteSigner {
    NoteSigner::from_seed(TEST_ORIGIN, &[7; 32]).expect("signer")
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

pub struct TestHub {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub store: Store,
    pub db: TestDb,
    /// `http://addr` of the metrics listener when the test set `metrics_listen`.
    pub metrics_base: Option<String>,
    /// The BankID simulator of a hub started with [`TestHub::start_web`], on the hub's
    /// clock; its device surface is mounted at `/bankid-sim` on the hub.
    pub sim: Option<fraudhub::bankid::SimHandle>,
    _sim_dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestHub {
    pub async fn start() -> TestHub {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestHub {
        Self::start_on(TestDb::new().await, tune).await
    }

    /// Another hub instance on this hub's database, as behind a load balancer.
    pub async fn second_instance(&self) -> TestHub {
        Self::start_on(TestDb::detached(&self.db), |_| {}).await
    }

    pub async fn start_on(db: TestDb, tune: impl FnOnce(&mut Config)) -> TestHub {
        Self::start_full(db, tune, false, None).await
    }

    /// A hub on `db` whose master keyring is `ring` instead of the single test key.
    pub async fn start_with_keyring(db: TestDb, ring: &Keyring) -> TestHub {
        Self::start_full(db, |_| {}, false, Some(ring)).await
    }

    /// A hub with BankID: the built-in simulator over mutual TLS, sharing the hub's
    /// manual clock, as `serve` runs it in simulator mode.
    pub async fn start_web(tune: impl FnOnce(&mut Config)) -> TestHub {
        Self::start_full(TestDb::new().await, tune, true, None).await
    }

    /// A hub with the consumer's pages and the given keyring, for rotation scenarios.
    pub async fn start_web_with_keyring(ring: &Keyring) -> TestHub {
        Self::start_full(TestDb::new().await, |_| {}, true, Some(ring)).await
    }

    /// Appends entries about nobody until the subject index's newest segment is full
    /// (`fraudhub::audit::segments`), so everything before is in a sealed segment. Straight
    /// through the log's append path, as the bench tool grows logs: 131 072 requests over
    /// HTTP would take minutes. Nothing else may be appending meanwhile.
    pub async fn seal_the_current_segment(&self) {
        use fraudhub::audit::entry::{Action, Actor, AuditEntry, Outcome};
        use fraudhub::audit::segments::{SEGMENT_BITS, segment_of};
        use fraudhub::clock::Clock as _;
        let mut size = i64::try_from(self.store.tree_size().await.expect("size")).expect("size");
        let end = (segment_of(size) + 1) << SEGMENT_BITS;
        while size < end {
            let rows: Vec<AuditEntry> = (size..end.min(size + 4096))
                .map(|i| AuditEntry {
                    at: self.clock.now(),
                    member_id: None,
                    key_id: None,
                    action: Action::Match,
                    purpose: None,
                    subject_token: None,
                    key_version: None,
                    outcome: Outcome::Clear,
                    request_id: format!("00000000-0000-4000-8000-{i:012x}"),
                    entry_version: 3,
                    actor: Actor::Operator("filler".into()),
                    subject_view: None,
                    correlation_id: None,
                })
                .collect();
            let grown = fraudhub::audit::write(&self.store, &rows)
                .await
                .expect("append");
            size = i64::try_from(grown).expect("size");
        }
    }

    async fn start_full(
        db: TestDb,
        tune: impl FnOnce(&mut Config),
        bankid: bool,
        ring: Option<&Keyring>,
    ) -> TestHub {
        // Key checks hit the database every time unless a test opts into the cache,
        // so revocation scenarios see their effect immediately.
        let mut config = Config {
            database_url: None,
            auth_cache_ms: 0,
            // One address (loopback) sends every test request; tests of the per-client
            // limit set their own.
            ip_rate_per_second: 1_000_000,
            ip_burst: 1_000_000,
            ..Config::default()
        };
        tune(&mut config);
        let store = Store::connect_with_timeout(
            &db.url,
            config.db_max_connections,
            std::time::Duration::from_millis(config.db_acquire_timeout_ms),
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let clock = ManualClock::new(start_time());
        let ring = ring
            .cloned()
            .unwrap_or_else(|| Keyring::single(MasterKey::from_bytes([42; 32]), 1));
        let mut hub = Hub::with_keyring(
            &config,
            store.clone(),
            &ring,
            test_signer(),
            Arc::new(clock.clone()),
        );
        let (sim, sim_dir) = if bankid {
            let dir = tempfile::tempdir().expect("sim dir");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind sim");
            let sim = fraudhub::bankid::sim::spawn_simulator_with_clock(
                listener,
                dir.path(),
                config.bankid.sim.clone(),
                Arc::new(clock.clone()),
            )
            .await
            .expect("simulator");
            let bankid = fraudhub::bankid::BankId::with_simulator(
                &sim,
                std::time::Duration::from_secs(config.bankid.timeout_secs),
                std::time::Duration::from_millis(config.bankid.poll_interval_ms),
            )
            .expect("bankid client");
            hub.set_bankid(Arc::new(bankid));
            (Some(sim), Some(dir))
        } else {
            (None, None)
        };
        let metrics_base = hub
            .bind_metrics()
            .await
            .expect("metrics listener")
            .map(|a| format!("http://{a}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(fraudhub::serve(listener, hub, async move {
            let _ = rx.await;
        }));
        TestHub {
            base,
            http: reqwest::Client::new(),
            clock,
            store,
            db,
            metrics_base,
            sim,
            _sim_dir: sim_dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Admits a member and issues a key with the given scopes; returns (member id, key).
    pub async fn member_with(
        &self,
        name: &str,
        scopes: &str,
        rate: i64,
        burst: i64,
    ) -> (i64, String) {
        let now = start_time();
        let m = self
            .store
            .insert_member(name, name, rate, burst, now)
            .await
            .expect("member");
        let scopes = members::parse_scopes(scopes).expect("scopes");
        let key = members::issue_key(&self.store, m.id, &scopes, now)
            .await
            .expect("key");
        (m.id, key.token)
    }

    pub async fn member(&self, name: &str) -> (i64, String) {
        self.member_with(name, "flags:write,matches:read", 10_000, 10_000)
            .await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        split(resp).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        split(resp).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        split(resp).await
    }

    pub async fn place_flag(&self, key: &str, pn: &str) -> (u16, Value) {
        self.post("/v1/flags", key, &flag_body(pn)).await
    }

    pub async fn match_one(&self, key: &str, pn: &str) -> (u16, Value) {
        self.post("/v1/matches", key, &match_body(&[pn])).await
    }

    pub async fn audit_count(&self) -> i64 {
        self.store.audit_count().await.expect("count")
    }

    /// Stops the server gracefully (drain, audit flush) and hands back its database, still
    /// on disk.
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
        self.db
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}

pub fn flag_body(pn: &str) -> Value {
    serde_json::json!({
        "identifier": {"kind": "se_personal_number", "value": pn},
        "kind": "identity_theft",
        "consent_reference": "consent-2026-001",
        "duration_days": 365
    })
}

pub fn match_body(pns: &[&str]) -> Value {
    let ids: Vec<Value> = pns
        .iter()
        .map(|p| serde_json::json!({"kind": "se_personal_number", "value": p}))
        .collect();
    serde_json::json!({"purpose": "account_opening", "identifiers": ids})
}

/// Status and JSON body; also checks that every error is problem+json.
pub async fn split(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.expect("body");
    if status >= 400 {
        assert_eq!(
            ctype, "application/problem+json",
            "status {status} body {text}"
        );
    }
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body)
}

impl TestDb {
    /// A fresh SQLite database even when the suite runs on PostgreSQL, for SQLite-only
    /// features such as `fraudhub backup`.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hub.db");
        TestDb {
            url: format!("sqlite:{}?mode=rwc", path.display()),
            _dir: Some(dir),
            sqlite_path: Some(path),
            created: None,
        }
    }

    /// An existing database that something else owns (a restored backup).
    pub fn at(url: &str) -> TestDb {
        TestDb {
            url: url.to_string(),
            _dir: None,
            sqlite_path: None,
            created: None,
        }
    }
}

/// The Luhn check digit of the first nine digits of a ten-digit personal number.
pub fn check_digit(nine: &str) -> u32 {
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if d > 9 { d - 9 } else { d }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A valid twelve-digit personal number for a birth date `yyyymmdd` and serial 1..=999.
pub fn pn(yyyymmdd: &str, serial: u32) -> String {
    let nine = format!("{}{serial:03}", &yyyymmdd[2..]);
    format!("{yyyymmdd}{serial:03}{}", check_digit(&nine))
}

/// A `tracing` writer that keeps everything written, for tests that read the logs.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the `fraudhub` binary on `db` with `data_dir`, as an operator would.
pub fn cli(db: &TestDb, data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    cli_command(db, data_dir, args)
        .output()
        .expect("run fraudhub")
}

/// The operator's CLI on `db`, without the master key in its environment.
pub fn cli_command(
    db: &TestDb,
    data_dir: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fraudhub"));
    command
        .args(args)
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", data_dir)
        .env_remove("FRAUDHUB_MASTER_KEY");
    command
}

/// As [`cli`], awaited: a test's hub shares its runtime, and blocking that thread while
/// the CLI waits for a lock the hub holds would stall both.
pub async fn cli_async(
    db: &TestDb,
    data_dir: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    tokio::process::Command::from(cli_command(db, data_dir, args))
        .output()
        .await
        .expect("run fraudhub")
}

/// Stdout of a command that must have succeeded (stderr shown when it did not).
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
