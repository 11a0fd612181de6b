//! Mutual TLS: who the simulator lets in, what the client trusts, and the
//! simulator's generated PKI files.

use std::time::Duration;

use fraudhub::bankid::sim::{SimConfig, spawn_simulator};
use fraudhub::bankid::{BankIdClient, BankIdError, ClientIdentity, OrderRequest, TEST_BASE_URL};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;

use crate::bankid_support::{ANNA, TestResult, start};

/// The error and all its sources, to see what the TLS layer said.
fn error_chain(e: &BankIdError) -> String {
    let mut out = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = cur {
        out.push_str(" <- ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn auth() -> OrderRequest {
    OrderRequest::new("127.0.0.1")
}

/// A client trusting the simulator's CA but presenting `identity` (or none).
fn client_with(
    env: &crate::bankid_support::Env,
    identity: Option<ClientIdentity>,
) -> Result<BankIdClient, Box<dyn std::error::Error>> {
    let cfg = env.sim.client_config()?;
    let tls = match identity {
        Some(id) => fraudhub::bankid::client_tls_config(&id, &cfg.root_ca_pem)?,
        None => rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(fraudhub::bankid::root_store(&cfg.root_ca_pem)?)
        .with_no_client_auth(),
    };
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(5))
        .build()?;
    Ok(BankIdClient::from_parts(
        http,
        env.sim.base_url(),
        Duration::from_millis(10),
    )?)
}

#[tokio::test]
async fn client_without_certificate_is_refused_at_handshake() -> TestResult {
    let env = start().await?;
    let client = client_with(&env, None)?;
    let r = client.auth(&auth()).await;
    let chain = r.as_ref().err().map(error_chain).unwrap_or_default();
    assert!(matches!(r, Err(BankIdError::Transport(_))), "{r:?}");
    assert!(chain.contains("CertificateRequired"), "{chain}");
    assert!(
        env.pending().await?.is_empty(),
        "no request may have been served"
    );
    Ok(())
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused_at_handshake() -> TestResult {
    let env = start().await?;
    let other_dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let other = spawn_simulator(listener, other_dir.path(), SimConfig::default()).await?;
    let foreign = ClientIdentity::Pem {
        cert: std::fs::read(&other.tls_files().client_cert)?,
        key: std::fs::read(&other.tls_files().client_key)?,
    };
    let client = client_with(&env, Some(foreign))?;
    let r = client.auth(&auth()).await;
    let chain = r.as_ref().err().map(error_chain).unwrap_or_default();
    assert!(matches!(r, Err(BankIdError::Transport(_))), "{r:?}");
    assert!(
        chain.contains("fatal alert"),
        "server must refuse the handshake: {chain}"
    );
    assert!(env.pending().await?.is_empty());
    other.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn client_refuses_server_not_signed_by_configured_root() -> TestResult {
    let env = start().await?;
    let other_dir = tempfile::tempdir()?;
    fraudhub::bankid::sim::ensure_tls_dir(other_dir.path())?;
    let mut cfg = env.sim.client_config()?;
    cfg.root_ca_pem = std::fs::read(other_dir.path().join("ca.pem"))?;
    let client = BankIdClient::new(cfg)?;
    let r = client.auth(&auth()).await;
    let chain = r.as_ref().err().map(error_chain).unwrap_or_default();
    assert!(matches!(r, Err(BankIdError::Transport(_))), "{r:?}");
    assert!(chain.contains("invalid peer certificate"), "{chain}");
    Ok(())
}

#[tokio::test]
async fn pkcs12_identity_authenticates_like_pem() -> TestResult {
    let env = start().await?;
    let files = env.sim.tls_files();
    let cert = CertificateDer::from_pem_file(&files.client_cert)?;
    let key = match PrivateKeyDer::from_pem_file(&files.client_key)? {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => return Err("expected a PKCS#8 key".into()),
    };
    let chain = p12_keystore::PrivateKeyChain::new(
        b"rp".to_vec(),
        p12_keystore::PrivateKey::from_der(&key)?,
        [p12_keystore::Certificate::from_der(cert.as_ref())?],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("rp", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let p12 = store.writer("qwerty123").write()?;

    let mut cfg = env.sim.client_config()?;
    cfg.identity = ClientIdentity::Pkcs12 {
        bytes: p12.clone(),
        password: "qwerty123".into(),
    };
    let client = BankIdClient::new(cfg.clone())?;
    let order = client.auth(&auth()).await?;
    assert_eq!(env.pending().await?.len(), 1, "{}", order.order_ref);

    cfg.identity = ClientIdentity::Pkcs12 {
        bytes: p12,
        password: "wrong".into(),
    };
    assert!(matches!(
        BankIdClient::new(cfg),
        Err(BankIdError::Config(_))
    ));
    Ok(())
}

#[tokio::test]
async fn identity_and_secrets_have_redacted_debug() -> TestResult {
    let env = start().await?;
    let cfg = env.sim.client_config()?;
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    let order = env.client.auth(&auth()).await?;
    let shown = format!("{order:?}");
    assert!(
        !shown.contains(order.qr_start_secret.expose_secret()),
        "{shown}"
    );
    let pn = fraudhub::bankid::PersonalNumber::new(ANNA);
    assert!(!format!("{pn:?}").contains(ANNA));
    Ok(())
}

#[tokio::test]
async fn tls_dir_is_generated_once_and_reused_with_private_keys_0600() -> TestResult {
    let env = start().await?;
    let files = env.sim.tls_files().clone();
    for f in [
        &files.ca,
        &files.server_cert,
        &files.server_key,
        &files.client_cert,
        &files.client_key,
    ] {
        assert!(f.is_file(), "{}", f.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [&files.server_key, &files.client_key] {
            assert_eq!(std::fs::metadata(key)?.permissions().mode() & 0o777, 0o600);
        }
    }
    let ca_before = std::fs::read(&files.ca)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let again = spawn_simulator(listener, &files.dir, SimConfig::default()).await?;
    assert_eq!(std::fs::read(&again.tls_files().ca)?, ca_before);
    // The first simulator's client credentials work against the second.
    let mut cfg = env.sim.client_config()?;
    cfg.base_url = again.base_url().to_owned();
    BankIdClient::new(cfg)?.auth(&auth()).await?;
    again.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn base_url_is_https_loopback_v6() -> TestResult {
    let env = start().await?;
    let want = format!("https://127.0.0.1:{}/rp/v6.0/", env.sim.addr().port());
    assert_eq!(env.sim.base_url(), want);
    assert!(TEST_BASE_URL.starts_with("https://appapi2.test.bankid.com/rp/v6.0"));
    Ok(())
}
