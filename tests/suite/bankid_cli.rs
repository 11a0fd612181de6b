//! BankID wired into the real binary: the standalone `fraudhub bankid-sim`
//! over real mutual TLS, the simulator embedded in `fraudhub serve`, external
//! mode, and the production guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use fraudhub::bankid::{
    BankIdClient, ClientConfig, ClientIdentity, CollectStatus, HintCode, OrderRequest,
};

use crate::common::{TestDb, TestResult};

const ERIK: &str = "198112289874";
const PEM_FILES: [&str; 5] = [
    "ca.pem",
    "server.pem",
    "server-key.pem",
    "client.pem",
    "client-key.pem",
];

/// The binary with no `FRAUDHUB_*` configuration inherited from the test's
/// environment.
fn fraudhub() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fraudhub"));
    for (k, _) in std::env::vars() {
        if k.starts_with("FRAUDHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child if the test fails before it was stopped.
struct Running(Option<Child>);

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        Running(Some(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    /// SIGTERM, then the exit status and everything it logged.
    async fn terminate(mut self) -> Output {
        let child = self.0.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `url` until it answers 200 (10 s at most).
async fn wait_ok(http: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(url).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn bankid_sim_subcommand_generates_its_pki_and_completes_an_auth_over_mutual_tls()
-> TestResult {
    let tmp = tempfile::tempdir()?;
    let tls_dir = tmp.path().join("tls");
    let (rp_port, device_port) = (free_port(), free_port());
    let sim = Running::spawn(
        fraudhub()
            .args(["bankid-sim", "--listen", &format!("127.0.0.1:{rp_port}")])
            .arg("--tls-dir")
            .arg(&tls_dir)
            .args(["--device-listen", &format!("127.0.0.1:{device_port}")])
            .env("FRAUDHUB_DATA_DIR", tmp.path()),
    );
    let http = reqwest::Client::new();
    let device = format!("http://127.0.0.1:{device_port}");
    wait_ok(&http, &format!("{device}/api/persons")).await;

    for name in PEM_FILES {
        assert!(tls_dir.join(name).is_file(), "{name} generated");
    }
    assert_eq!(mode(&tls_dir.join("server-key.pem")), 0o600);
    assert_eq!(mode(&tls_dir.join("client-key.pem")), 0o600);

    let client = BankIdClient::new(ClientConfig::new(
        format!("https://127.0.0.1:{rp_port}/rp/v6.0/"),
        ClientIdentity::Pem {
            cert: std::fs::read(tls_dir.join("client.pem"))?,
            key: std::fs::read(tls_dir.join("client-key.pem"))?,
        },
        std::fs::read(tls_dir.join("ca.pem"))?,
    ))?;
    let order = client
        .auth(&OrderRequest::new("192.0.2.7").visible_text("Log in to fraudhub"))
        .await?;
    let pending = client.collect(&order.order_ref).await?;
    assert_eq!(pending.status, CollectStatus::Pending);
    assert_eq!(pending.hint_code, Some(HintCode::OutstandingTransaction));

    let approved = http
        .post(format!("{device}/api/orders/{}/approve", order.order_ref))
        .json(&serde_json::json!({ "personalNumber": ERIK }))
        .send()
        .await?;
    assert_eq!(approved.status(), 200);
    let done = client.collect(&order.order_ref).await?;
    assert_eq!(done.status, CollectStatus::Complete);
    let data = done.completion_data.ok_or("no completionData")?;
    assert_eq!(data.user.personal_number.as_str(), ERIK);
    assert_eq!(data.user.name, "Erik Eriksson");

    let out = sim.terminate().await;
    assert!(
        out.status.success(),
        "clean exit on SIGTERM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn serve_without_bankid_config_embeds_the_simulator_and_its_device_page() -> TestResult {
    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir()?;
    let port = free_port();
    let hub = Running::spawn(
        fraudhub()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("FRAUDHUB_DATABASE_URL", &db.url)
            .env("FRAUDHUB_DATA_DIR", data_dir.path()),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&http, &format!("{base}/readyz")).await;

    let page = http.get(format!("{base}/bankid-sim/")).send().await?;
    assert_eq!(page.status(), 200);
    let ctype = page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(page.text().await?.contains("BankID"));
    let orders = http
        .get(format!("{base}/bankid-sim/api/orders"))
        .send()
        .await?;
    assert_eq!(orders.status(), 200);

    let tls_dir = data_dir.path().join("bankid-sim");
    for name in PEM_FILES {
        assert!(
            tls_dir.join(name).is_file(),
            "{name} under data_dir/bankid-sim"
        );
    }

    let out = hub.terminate().await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clean exit on SIGTERM: {logs}");
    assert!(logs.contains("BANKID IS SIMULATED"), "loud warning: {logs}");
    Ok(())
}

#[tokio::test]
async fn serve_in_external_mode_uses_the_configured_certificates_and_mounts_no_simulator()
-> TestResult {
    // A stand-in "external" BankID: the library simulator with its own PKI.
    let pki = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let external = fraudhub::bankid::spawn_simulator(
        listener,
        pki.path(),
        fraudhub::bankid::SimConfig::default(),
    )
    .await?;
    let files = external.tls_files().clone();

    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir()?;
    let port = free_port();
    let hub = Running::spawn(
        fraudhub()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("FRAUDHUB_DATABASE_URL", &db.url)
            .env("FRAUDHUB_DATA_DIR", data_dir.path())
            .env("FRAUDHUB_BANKID__MODE", "external")
            .env("FRAUDHUB_BANKID__BASE_URL", external.base_url())
            .env("FRAUDHUB_BANKID__CLIENT_CERT_FILE", &files.client_cert)
            .env("FRAUDHUB_BANKID__CLIENT_KEY_FILE", &files.client_key)
            .env("FRAUDHUB_BANKID__ROOT_CA_FILE", &files.ca),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&http, &format!("{base}/readyz")).await;

    let page = http.get(format!("{base}/bankid-sim/")).send().await?;
    assert_eq!(page.status(), 404, "no device page outside simulator mode");
    assert!(!data_dir.path().join("bankid-sim").exists());

    let out = hub.terminate().await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clean exit on SIGTERM: {logs}");
    assert!(!logs.contains("BANKID IS SIMULATED"), "{logs}");
    assert!(logs.contains("using external BankID"), "{logs}");
    external.shutdown().await;
    Ok(())
}

#[test]
fn production_refuses_the_bankid_simulator() -> TestResult {
    let data_dir = tempfile::tempdir()?;
    let db_file = data_dir.path().join("prod.db");
    let out = fraudhub()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FRAUDHUB_PRODUCTION", "true")
        .env(
            "FRAUDHUB_DATABASE_URL",
            format!("sqlite:{}?mode=rwc", db_file.display()),
        )
        .env("FRAUDHUB_MASTER_KEY", "ab".repeat(32))
        .env("FRAUDHUB_DATA_DIR", data_dir.path())
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(
        err.contains("bankid") && err.contains("production"),
        "message names bankid and production: {err}"
    );
    assert!(!db_file.exists(), "refused before opening the database");
    assert!(!data_dir.path().join("bankid-sim").exists());
    Ok(())
}

#[test]
fn external_mode_from_the_environment_without_a_base_url_is_refused() -> TestResult {
    let data_dir = tempfile::tempdir()?;
    let out = fraudhub()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FRAUDHUB_DATA_DIR", data_dir.path())
        .env("FRAUDHUB_BANKID__MODE", "external")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(err.contains("bankid.base_url"), "{err}");
    Ok(())
}

#[test]
fn serve_refuses_the_simulator_on_a_non_loopback_listen_address() -> TestResult {
    let data_dir = tempfile::tempdir()?;
    let mut child = fraudhub()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("FRAUDHUB_DATA_DIR", data_dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // A hub that starts anyway would serve forever: give it 20 s, then fail.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started on 0.0.0.0 with the simulator instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(
        err.contains("bankid.simulator_allow_non_loopback") && err.contains("0.0.0.0"),
        "message names the key and the address: {err}"
    );
    assert!(!data_dir.path().join("bankid-sim").exists());
    assert!(!data_dir.path().join("fraudhub.db").exists());
    Ok(())
}

#[tokio::test]
async fn serve_exposes_the_simulator_beyond_loopback_only_with_the_explicit_flag() -> TestResult {
    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir()?;
    let port = free_port();
    let hub = Running::spawn(
        fraudhub()
            .args(["serve", "--listen", &format!("0.0.0.0:{port}")])
            .env("FRAUDHUB_DATABASE_URL", &db.url)
            .env("FRAUDHUB_DATA_DIR", data_dir.path())
            .env("FRAUDHUB_BANKID__SIMULATOR_ALLOW_NON_LOOPBACK", "true"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&http, &format!("{base}/readyz")).await;
    // Exposed on purpose, so host names other than loopback ones are served.
    let page = http
        .get(format!("{base}/bankid-sim/"))
        .header("host", format!("devbox.internal:{port}"))
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers().get("x-frame-options").unwrap(), "DENY");

    let out = hub.terminate().await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clean exit on SIGTERM: {logs}");
    Ok(())
}

#[tokio::test]
async fn the_embedded_device_page_refuses_a_foreign_origin() -> TestResult {
    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir()?;
    let port = free_port();
    let hub = Running::spawn(
        fraudhub()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("FRAUDHUB_DATABASE_URL", &db.url)
            .env("FRAUDHUB_DATA_DIR", data_dir.path()),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&http, &format!("{base}/readyz")).await;
    let resp = http
        .post(format!("{base}/bankid-sim/api/orders/nope/approve"))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({}))
        .send()
        .await?;
    assert_eq!(resp.status(), 403);
    let same = http
        .post(format!("{base}/bankid-sim/api/orders/nope/approve"))
        .header("origin", &base)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    assert_eq!(same.status(), 404, "same origin reaches the handler");
    hub.terminate().await;
    Ok(())
}
