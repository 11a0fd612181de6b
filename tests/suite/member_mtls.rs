//! Member mTLS: a member whose client certificate is pinned through the CLI can use its
//! keys only over a connection that presented that certificate — in the handshake
//! `serve` terminates, or forwarded by a trusted TLS proxy. The tests make their own
//! certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::common::*;
use crate::https::{https, issue, tls_hub};

/// A self-signed client certificate; returns (certificate PEM, key PEM).
fn client_cert(name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A member's own CA; returns it and its PEM.
fn member_ca(name: &str) -> (CertifiedIssuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem = ca.pem();
    (ca, pem)
}

/// A client certificate `ca` issued for `common_name`; returns (certificate PEM, key PEM).
fn issued_by(ca: &CertifiedIssuer<'static, KeyPair>, common_name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Bank A");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// An HTTPS client trusting the hub's CA, presenting `identity` if given.
fn client(ca: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn match_status(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    client
        .post(format!("{base}/v1/matches"))
        .bearer_auth(key)
        .json(&match_body(&[PN]))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn pin(db: &TestDb, dir: &Path, member: i64, cert_pem: &str) -> String {
    let file = dir.join(format!("member-{member}.pem"));
    std::fs::write(&file, cert_pem).unwrap();
    let out = cli_async(
        db,
        dir,
        &[
            "member",
            "pin-cert",
            &member.to_string(),
            "--cert",
            file.to_str().unwrap(),
        ],
    )
    .await;
    ok(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_pinned_certificate_is_served_only_over_a_connection_that_presented_it()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let ca = issue(dir.path());
    let hub = tls_hub(dir.path()).await;
    let base = https(&hub);
    let (bank_a, key_a) = hub.member("bank-a").await;
    let (_, key_b) = hub.member("bank-b").await;
    let pinned = client_cert("bank-a client");
    let other = client_cert("someone else");
    assert_eq!(match_status(&client(&ca, None), &base, &key_a).await, 200);

    let said = pin(&hub.db, dir.path(), bank_a, &pinned.0).await;
    assert!(said.contains("pinned"), "{said}");

    // The key alone, or with a certificate that is not the pinned one, is refused.
    assert_eq!(match_status(&client(&ca, None), &base, &key_a).await, 401);
    assert_eq!(
        match_status(&client(&ca, Some(&other)), &base, &key_a).await,
        401
    );
    let refused = client(&ca, None)
        .post(format!("{base}/v1/matches"))
        .bearer_auth(&key_a)
        .json(&match_body(&[PN]))
        .send()
        .await?;
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert!(refused.text().await?.contains("client certificate"));
    // With the pinned certificate it works; a member without a pin is unaffected.
    assert_eq!(
        match_status(&client(&ca, Some(&pinned)), &base, &key_a).await,
        200
    );
    assert_eq!(match_status(&client(&ca, None), &base, &key_b).await, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinning_the_last_certificate_lets_the_key_work_without_one_again() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ca = issue(dir.path());
    let hub = tls_hub(dir.path()).await;
    let base = https(&hub);
    let (bank_a, key_a) = hub.member("bank-a").await;
    let pinned = client_cert("bank-a client");
    pin(&hub.db, dir.path(), bank_a, &pinned.0).await;
    let id = bank_a.to_string();
    let listed = ok(&cli_async(&hub.db, dir.path(), &["member", "certs", &id]).await);
    let fingerprint = listed.trim().trim_start_matches("certificate ").to_string();
    assert_eq!(fingerprint.len(), 64, "{listed}");
    assert_eq!(match_status(&client(&ca, None), &base, &key_a).await, 401);

    let bad = cli_async(&hub.db, dir.path(), &["member", "unpin-cert", &id, "00"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fingerprint"));
    ok(&cli_async(
        &hub.db,
        dir.path(),
        &["member", "unpin-cert", &id, &fingerprint],
    )
    .await);
    assert_eq!(match_status(&client(&ca, None), &base, &key_a).await, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_pinning_its_ca_and_a_subject_is_served_with_any_certificate_that_ca_issued_for_it()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let server_ca = issue(dir.path());
    let hub = tls_hub(dir.path()).await;
    let base = https(&hub);
    let (bank_a, key_a) = hub.member("bank-a").await;
    let (ca, ca_pem) = member_ca("Bank A client CA");
    let (stranger_ca, _) = member_ca("Bank A client CA");
    let ca_file = dir.path().join("bank-a-ca.pem");
    std::fs::write(&ca_file, &ca_pem)?;
    let said = ok(&cli_async(
        &hub.db,
        dir.path(),
        &[
            "member",
            "pin-cert",
            &bank_a.to_string(),
            "--ca",
            ca_file.to_str().unwrap(),
            // openssl's way of printing a subject is accepted as well.
            "--subject",
            "O = Bank A, CN = bank-a api",
        ],
    )
    .await);
    assert!(said.contains("CN=bank-a api,O=Bank A"), "{said}");

    let status = |identity: (String, String)| {
        let client = client(&server_ca, Some(&identity));
        let (base, key) = (base.clone(), key_a.clone());
        async move { match_status(&client, &base, &key).await }
    };
    // This year's certificate and next year's renewal both work without the operator.
    assert_eq!(status(issued_by(&ca, "bank-a api")).await, 200);
    assert_eq!(status(issued_by(&ca, "bank-a api")).await, 200);
    // Another subject from the same CA, the subject from another CA, or a self-signed
    // look-alike: refused.
    assert_eq!(status(issued_by(&ca, "bank-a intern")).await, 401);
    assert_eq!(status(issued_by(&stranger_ca, "bank-a api")).await, 401);
    assert_eq!(status(client_cert("bank-a api")).await, 401);
    assert_eq!(
        match_status(&client(&server_ca, None), &base, &key_a).await,
        401
    );
    Ok(())
}

/// The URL-encoded PEM nginx puts in `$ssl_client_escaped_cert`.
fn escaped(pem: &str) -> String {
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn forwarded_status(hub: &TestHub, key: &str, cert_pem: Option<&str>) -> u16 {
    let mut req = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .bearer_auth(key)
        .json(&match_body(&[PN]));
    if let Some(pem) = cert_pem {
        req = req.header("X-Client-Cert", escaped(pem));
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_certificate_counts_and_from_anyone_else_it_does_not()
-> TestResult {
    let behind_proxy = TestHub::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // The same database, but the loopback peer is not a trusted proxy here.
    let direct = behind_proxy.second_instance().await;
    let dir = tempfile::tempdir()?;
    let (bank_a, key_a) = behind_proxy.member("bank-a").await;
    let pinned = client_cert("bank-a client");
    let other = client_cert("someone else");
    pin(&behind_proxy.db, dir.path(), bank_a, &pinned.0).await;

    assert_eq!(
        forwarded_status(&behind_proxy, &key_a, Some(&pinned.0)).await,
        200
    );
    assert_eq!(
        forwarded_status(&behind_proxy, &key_a, Some(&other.0)).await,
        401
    );
    assert_eq!(forwarded_status(&behind_proxy, &key_a, None).await, 401);
    assert_eq!(
        forwarded_status(&behind_proxy, &key_a, Some("garbage")).await,
        401
    );
    // Anyone can write the header; only a trusted proxy's is believed.
    assert_eq!(
        forwarded_status(&direct, &key_a, Some(&pinned.0)).await,
        401
    );
    Ok(())
}
