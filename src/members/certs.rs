//! Client certificates pinned to a member (mutual TLS).
//!
//! A member that pins certificates can only use its API keys from a connection that
//! presented a matching one: a stolen key alone is then worthless. Two kinds of pin:
//!
//! - a **fingerprint**: the SHA-256 of one certificate's DER bytes — what
//!   `openssl x509 -noout -fingerprint -sha256` prints — for a member with one
//!   long-lived certificate;
//! - an **issuer and subject**: any certificate the member's own CA issued (checked as
//!   a client-authentication chain, with validity dates) whose subject is the pinned
//!   one, for a member that renews certificates often and should not need the operator
//!   each time.
//!
//! The certificate reaches the hub either in the TLS handshake `serve` terminates, or
//! from a trusted proxy that terminated TLS and forwards it ([`FORWARDED_CERT_HEADER`]).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use serde::{Deserialize, Serialize};

/// The header a trusted TLS-terminating proxy puts the client's certificate in: the PEM,
/// URL-encoded (nginx: `proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`).
/// Honoured only from a trusted proxy address; from anyone else it is ignored.
pub const FORWARDED_CERT_HEADER: &str = "x-client-cert";

/// The SHA-256 fingerprint of a certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(der).into())
    }

    /// Accepts `openssl`'s colon-separated form as well as plain hex, in either case.
    pub fn parse(text: &str) -> Result<Self, CertError> {
        let hex_only: String = text.trim().chars().filter(|c| *c != ':').collect();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&hex_only, &mut bytes).map_err(|_| CertError::BadFingerprint)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({})", self.to_hex())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("not a PEM certificate")]
    NotPem,
    #[error("a fingerprint is 64 hexadecimal characters (SHA-256), colons allowed")]
    BadFingerprint,
    #[error("not a usable CA certificate: {0}")]
    BadCa(String),
    #[error("a subject is a distinguished name such as CN=bank-a client,O=Bank A")]
    BadSubject,
    #[error("stored pins are unreadable")]
    Stored,
}

/// The certificates a client presented, its own first.
#[derive(Debug, Clone)]
pub struct PresentedChain(pub Arc<[CertificateDer<'static>]>);

impl PresentedChain {
    pub fn from_der(chain: &[CertificateDer<'_>]) -> Option<Self> {
        (!chain.is_empty()).then(|| {
            Self(
                chain
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect::<Vec<_>>()
                    .into(),
            )
        })
    }

    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| CertError::NotPem)?;
        Self::from_der(&chain).ok_or(CertError::NotPem)
    }

    /// The URL-encoded PEM a proxy forwards.
    pub fn from_forwarded(value: &str) -> Result<Self, CertError> {
        let pem = percent_encoding::percent_decode_str(value).collect::<Vec<u8>>();
        Self::from_pem(&pem)
    }

    fn leaf(&self) -> &CertificateDer<'static> {
        // Never empty by construction.
        &self.0[0]
    }

    pub fn fingerprint(&self) -> CertFingerprint {
        CertFingerprint::of_der(self.leaf())
    }
}

/// A distinguished name in one canonical text form: `openssl`'s `C = SE, CN = x`, its
/// RFC 2253 form (reversed) and `x509-parser`'s all become `C=SE,CN=x`. Tools disagree
/// on the order they print attributes in, so they are sorted; values compare exactly.
pub fn canonical_dn(text: &str) -> Result<String, CertError> {
    let text = text.trim().strip_prefix("subject=").unwrap_or(text.trim());
    let mut parts = Vec::new();
    for part in text.split(',') {
        let (attr, value) = part.split_once('=').ok_or(CertError::BadSubject)?;
        let (attr, value) = (attr.trim(), value.trim());
        if attr.is_empty() || value.is_empty() {
            return Err(CertError::BadSubject);
        }
        parts.push(format!("{attr}={value}"));
    }
    parts.sort();
    Ok(parts.join(","))
}

fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    canonical_dn(&cert.subject().to_string()).ok()
}

/// Any certificate a member's CA issued for client authentication, with this subject.
#[derive(Clone)]
pub struct IssuerPin {
    ca: CertificateDer<'static>,
    subject: String,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl fmt::Debug for IssuerPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerPin")
            .field("ca", &self.ca_fingerprint())
            .field("subject", &self.subject)
            .finish()
    }
}

impl IssuerPin {
    pub fn new(ca: CertificateDer<'static>, subject: &str) -> Result<Self, CertError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| CertError::BadCa(e.to_string()))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| CertError::BadCa(e.to_string()))?;
        Ok(Self {
            ca,
            subject: canonical_dn(subject)?,
            verifier,
        })
    }

    pub fn from_pem(ca_pem: &[u8], subject: &str) -> Result<Self, CertError> {
        let ca = CertificateDer::from_pem_slice(ca_pem).map_err(|_| CertError::NotPem)?;
        Self::new(ca, subject)
    }

    pub fn ca_fingerprint(&self) -> CertFingerprint {
        CertFingerprint::of_der(&self.ca)
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    fn admits(&self, chain: &PresentedChain) -> bool {
        let verified = self
            .verifier
            .verify_client_cert(chain.leaf(), &chain.0[1..], UnixTime::now())
            .is_ok();
        verified && subject_of(chain.leaf()).as_deref() == Some(self.subject.as_str())
    }
}

/// A member's pins. None at all: its keys work without a certificate.
#[derive(Debug, Clone, Default)]
pub struct CertPins {
    pub fingerprints: Vec<CertFingerprint>,
    pub issuers: Vec<IssuerPin>,
}

/// The stored form: JSON in one column, empty when there are no pins.
#[derive(Serialize, Deserialize)]
struct StoredPins {
    fingerprints: Vec<String>,
    issuers: Vec<StoredIssuer>,
}

#[derive(Serialize, Deserialize)]
struct StoredIssuer {
    ca: String,
    subject: String,
}

impl CertPins {
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty() && self.issuers.is_empty()
    }

    /// Whether a request may use the member's key: always when the member pins
    /// nothing, otherwise only with a certificate one of the pins accepts.
    pub fn admit(&self, presented: Option<&PresentedChain>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(chain) = presented else {
            return false;
        };
        self.fingerprints.contains(&chain.fingerprint())
            || self.issuers.iter().any(|pin| pin.admits(chain))
    }

    pub fn add(&mut self, fingerprint: CertFingerprint) {
        if !self.fingerprints.contains(&fingerprint) {
            self.fingerprints.push(fingerprint);
        }
    }

    /// Removes the fingerprint pin, or the issuer pins of the CA, with this
    /// fingerprint; whether anything was removed.
    pub fn remove(&mut self, fingerprint: CertFingerprint) -> bool {
        let before = self.fingerprints.len() + self.issuers.len();
        self.fingerprints.retain(|p| *p != fingerprint);
        self.issuers.retain(|p| p.ca_fingerprint() != fingerprint);
        before != self.fingerprints.len() + self.issuers.len()
    }

    pub fn to_stored(&self) -> Result<String, CertError> {
        if self.is_empty() {
            return Ok(String::new());
        }
        let stored = StoredPins {
            fingerprints: self.fingerprints.iter().map(|p| p.to_hex()).collect(),
            issuers: self
                .issuers
                .iter()
                .map(|p| StoredIssuer {
                    ca: B64.encode(&p.ca),
                    subject: p.subject.clone(),
                })
                .collect(),
        };
        serde_json::to_string(&stored).map_err(|_| CertError::Stored)
    }

    pub fn from_stored(text: &str) -> Result<Self, CertError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        let stored: StoredPins = serde_json::from_str(text).map_err(|_| CertError::Stored)?;
        let fingerprints = stored
            .fingerprints
            .iter()
            .map(|p| CertFingerprint::parse(p))
            .collect::<Result<_, _>>()?;
        let issuers = stored
            .issuers
            .iter()
            .map(|i| {
                let der = B64.decode(&i.ca).map_err(|_| CertError::Stored)?;
                IssuerPin::new(CertificateDer::from(der), &i.subject)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            fingerprints,
            issuers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_openssl_and_plain_form() {
        let plain = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(
            CertFingerprint::parse(&plain),
            CertFingerprint::parse(&colons)
        );
        assert_eq!(
            CertFingerprint::parse("abcd"),
            Err(CertError::BadFingerprint)
        );
    }

    #[test]
    fn distinguished_names_compare_in_one_form_whatever_tool_printed_them() {
        assert_eq!(
            canonical_dn("subject=C = SE, O = Bank A, CN = client 1"),
            Ok("C=SE,CN=client 1,O=Bank A".to_string())
        );
        assert_eq!(
            canonical_dn("CN=client 1,O=Bank A,C=SE"),
            canonical_dn("C=SE, O=Bank A, CN=client 1")
        );
        assert_eq!(canonical_dn("just text"), Err(CertError::BadSubject));
        assert_eq!(canonical_dn("CN="), Err(CertError::BadSubject));
    }

    #[test]
    fn a_member_without_pins_admits_any_connection_and_one_with_pins_only_a_pinned_cert() {
        let none = CertPins::default();
        assert!(none.admit(None));
        let chain = PresentedChain::from_der(&[CertificateDer::from(vec![1u8, 2, 3])]);
        let Some(chain) = chain else {
            panic!("a one-certificate chain");
        };
        let pinned = CertPins {
            fingerprints: vec![chain.fingerprint()],
            issuers: vec![],
        };
        assert!(pinned.admit(Some(&chain)));
        assert!(!pinned.admit(None));
        let other = CertPins {
            fingerprints: vec![CertFingerprint([2; 32])],
            issuers: vec![],
        };
        assert!(!other.admit(Some(&chain)));
    }

    #[test]
    fn stored_fingerprint_pins_round_trip() {
        let pins = CertPins {
            fingerprints: vec![CertFingerprint([1; 32]), CertFingerprint([0xfe; 32])],
            issuers: vec![],
        };
        let back = pins.to_stored().and_then(|s| CertPins::from_stored(&s));
        assert_eq!(back.map(|p| p.fingerprints), Ok(pins.fingerprints));
        assert!(CertPins::from_stored("").is_ok_and(|p| p.is_empty()));
        assert!(CertPins::from_stored("{not json").is_err());
    }

    #[test]
    fn an_issuer_pin_admits_what_its_ca_issued_for_its_subject_only() {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let Ok(mut params) = CertificateParams::new(Vec::<String>::new()) else {
            panic!("params");
        };
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "CA");
        let Ok(ca) = KeyPair::generate().and_then(|k| CertifiedIssuer::self_signed(params, k))
        else {
            panic!("ca");
        };
        let leaf = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).ok()?;
            p.distinguished_name
                .push(DnType::OrganizationName, "Bank A");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().ok()?;
            let cert = p.signed_by(&key, &ca).ok()?;
            PresentedChain::from_der(&[cert.der().clone()])
        };
        let Ok(pin) = IssuerPin::from_pem(ca.pem().as_bytes(), "O=Bank A, CN=api") else {
            panic!("pin");
        };
        let (Some(api), Some(other)) = (leaf("api"), leaf("other")) else {
            panic!("leaves");
        };
        assert_eq!(subject_of(api.leaf()).as_deref(), Some("CN=api,O=Bank A"));
        assert!(pin.admits(&api));
        assert!(!pin.admits(&other));
    }
}
