//! rustls configuration for mutual TLS towards BankID: the RP's client
//! identity (PEM or PKCS#12), trust in exactly one configured root CA, and
//! TLS 1.2+ only. The `ring` provider is used explicitly so that the process
//! does not depend on a process-wide default provider being installed.

use std::fmt;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretString};

use super::error::BankIdError;

/// The RP's client certificate and private key.
#[derive(Clone)]
pub enum ClientIdentity {
    /// PEM certificate chain (leaf first) and PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    Pem { cert: Vec<u8>, key: Vec<u8> },
    /// A PKCS#12 (.p12/.pfx) file as BankID hands out for its test RP
    /// certificate, with its password.
    Pkcs12 {
        bytes: Vec<u8>,
        password: SecretString,
    },
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { cert, .. } => f
                .debug_struct("Pem")
                .field("cert_bytes", &cert.len())
                .field("key", &"<redacted>")
                .finish(),
            Self::Pkcs12 { bytes, .. } => f
                .debug_struct("Pkcs12")
                .field("bytes", &bytes.len())
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_err(what: &str, e: impl fmt::Display) -> BankIdError {
    BankIdError::Config(format!("{what}: {e}"))
}

pub fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, BankIdError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_err("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(BankIdError::Config("no certificate in PEM".into()));
    }
    Ok(certs)
}

pub fn parse_pem_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, BankIdError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| config_err("private key PEM", e))
}

type Chain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load_pkcs12(bytes: &[u8], password: &SecretString) -> Result<Chain, BankIdError> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password.expose_secret(),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| config_err("PKCS#12", e))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| BankIdError::Config("PKCS#12 holds no private key".into()))?;
    let certs: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(BankIdError::Config("PKCS#12 key has no certificate".into()));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

impl ClientIdentity {
    pub(crate) fn load(&self) -> Result<Chain, BankIdError> {
        match self {
            Self::Pem { cert, key } => Ok((parse_pem_certs(cert)?, parse_pem_key(key)?)),
            Self::Pkcs12 { bytes, password } => load_pkcs12(bytes, password),
        }
    }
}

/// Root store holding only the configured CA(s): BankID's server certificates
/// chain to BankID's own root, never to a public web CA.
pub fn root_store(ca_pem: &[u8]) -> Result<RootCertStore, BankIdError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_pem_certs(ca_pem)? {
        roots
            .add(cert)
            .map_err(|e| config_err("root CA certificate", e))?;
    }
    Ok(roots)
}

/// Builds the client-side rustls configuration used by [`super::BankIdClient`].
pub fn client_tls_config(
    identity: &ClientIdentity,
    root_ca_pem: &[u8],
) -> Result<rustls::ClientConfig, BankIdError> {
    let roots = root_store(root_ca_pem)?;
    let (chain, key) = identity.load()?;
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| config_err("TLS versions", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| config_err("client certificate", e))
}
