//! HTTPS in `serve`: TLS 1.2 and 1.3 only, HSTS, and certificate reloads (file change,
//! SIGHUP) that reach new connections without dropping open ones. The tests make their
//! own certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::common::{TestDb, TestHub};

/// A CA and a server certificate for 127.0.0.1 it issued, written to `dir`; returns the
/// CA's PEM.
pub fn issue(dir: &Path) -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    ca.pem()
}

pub fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

pub fn https(hub: &TestHub) -> String {
    hub.base.replacen("http://", "https://", 1)
}

pub async fn tls_hub(dir: &Path) -> TestHub {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    TestHub::start_with(move |c| {
        c.tls = Some(fraudhub::tls::TlsSettings {
            cert_file: cert,
            key_file: key,
        })
    })
    .await
}

#[tokio::test]
async fn serve_speaks_https_with_tls_1_2_and_1_3_only_and_sends_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = issue(dir.path());
    let hub = tls_hub(dir.path()).await;
    let resp = client_trusting(&ca)
        .get(format!("{}/healthz", https(&hub)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let tls12 = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(
        tls12
            .get(format!("{}/healthz", https(&hub)))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // TLS 1.1 and 1.0 are refused (openssl, which can still speak them, tries); the same
    // call with TLS 1.2 shows the method works.
    let port = hub.base.rsplit(':').next().unwrap().to_string();
    for old in ["-tls1_2", "-tls1_1", "-tls1"] {
        // Async: the hub answers on this test's own runtime thread.
        let run = tokio::process::Command::new("openssl")
            .args([
                "s_client",
                old,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
                "-connect",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(std::process::Stdio::null())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("openssl finished")
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let accepted = text.contains("Cipher is ECDHE");
        assert_eq!(accepted, old == "-tls1_2", "{old}: {text}");
    }
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::get(format!("{}/healthz", hub.base)).await.is_err());
}

#[tokio::test]
async fn a_changed_certificate_reaches_new_connections_and_open_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = issue(dir.path());
    let hub = tls_hub(dir.path()).await;
    let old_client = client_trusting(&old_ca);
    assert_eq!(
        old_client
            .get(format!("{}/healthz", https(&hub)))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // a different modification time
    let new_ca = issue(dir.path());
    let new_client = client_trusting(&new_ca);
    let mut served = false;
    for _ in 0..60 {
        if new_client
            .get(format!("{}/healthz", https(&hub)))
            .send()
            .await
            .is_ok()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "new connections get the new certificate");
    // The connection opened before the reload is still served.
    assert_eq!(
        old_client
            .get(format!("{}/healthz", https(&hub)))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A fresh client that trusts only the old CA no longer connects.
    assert!(
        client_trusting(&old_ca)
            .get(format!("{}/healthz", https(&hub)))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_a_running_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let old_ca = issue(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = TestDb::sqlite();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .arg("serve")
        .env("FRAUDHUB_DATABASE_URL", &db.url)
        .env("FRAUDHUB_DATA_DIR", data.path())
        .env("FRAUDHUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("FRAUDHUB_BANKID__SIM_LISTEN", "127.0.0.1:0")
        .env("FRAUDHUB_TLS__CERT_FILE", dir.path().join("cert.pem"))
        .env("FRAUDHUB_TLS__KEY_FILE", dir.path().join("key.pem"))
        .env("FRAUDHUB_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/healthz");
    let mut up = false;
    for _ in 0..100 {
        if client_trusting(&old_ca).get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve came up with HTTPS");
    // New files with the old modification times: only the signal can tell.
    // Each file keeps its own time: the two were written a moment apart, and giving the
    // key the certificate's time would itself be a change the watcher sees.
    let stamps = ["cert.pem", "key.pem"].map(|f| {
        let path = dir.path().join(f);
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        (path, stamp)
    });
    let new_ca = issue(dir.path());
    for (path, stamp) in &stamps {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(*stamp)
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        client_trusting(&new_ca).get(&url).send().await.is_err(),
        "not reloaded without a signal"
    );
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut reloaded = false;
    for _ in 0..50 {
        if client_trusting(&new_ca).get(&url).send().await.is_ok() {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let _ = child.wait();
    assert!(reloaded, "SIGHUP reloaded the certificate");
}
